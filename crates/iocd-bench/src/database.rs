//! A PostgreSQL database made for one benchmark run, on the server `IOCD_BENCH_POSTGRES` names
//! (by default the machine's), and dropped when the run ends.

use anyhow::{Context, Result};
use iocd_store::scratch::ScratchDatabase;

fn admin_url() -> String {
    std::env::var("IOCD_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Makes the run's database, named `{stem}_{pid}`; dropped with the value.
pub fn create(stem: &str) -> Result<ScratchDatabase> {
    let admin = admin_url();
    ScratchDatabase::create(&admin, &format!("{stem}_{}", std::process::id()))
        .with_context(|| format!("PostgreSQL at {admin}"))
}

/// A token of tenant `tenant` with `role`, minted with the signing key in the store at `url`.
pub fn store_token(iocd: &std::path::Path, url: &str, tenant: &str, role: &str) -> Result<String> {
    let output = std::process::Command::new(iocd)
        .args([
            "token", "create", "--tenant", tenant, "--role", role, "--ttl", "2h", "--store", url,
        ])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
