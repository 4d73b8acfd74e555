//! A PostgreSQL database made for one benchmark run, on the server `IOCD_BENCH_POSTGRES` names
//! (by default the machine's), and dropped when the run ends.

use anyhow::{Context, Result};

fn admin_url() -> String {
    std::env::var("IOCD_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The run's database; dropped with the value.
#[derive(Debug)]
pub struct Database {
    name: String,
    /// Its URL, for `store = …`.
    pub url: String,
}

impl Database {
    /// Makes a fresh database named `{stem}_{pid}`.
    pub fn create(stem: &str) -> Result<Database> {
        let name = format!("{stem}_{}", std::process::id());
        let admin = admin_url();
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .with_context(|| format!("PostgreSQL at {admin}"))?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let (server, _) = admin
            .rsplit_once('/')
            .context("a URL with a database name")?;
        Ok(Database {
            url: format!("{server}/{name}"),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
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
