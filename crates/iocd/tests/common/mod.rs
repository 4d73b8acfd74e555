//! The harness the end-to-end test files share: a real `iocd serve` on a free port, tokens
//! made by `iocd token create`, and PostgreSQL databases of their own for tests of the shared
//! store (on the server `IOCD_TEST_POSTGRES` names, by default the machine's).
#![allow(dead_code)] // Each test file uses a different subset.

use iocd_store::scratch::ScratchDatabase;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub(crate) const IOCD: &str = env!("CARGO_BIN_EXE_iocd");

/// A running `iocd serve` and the address it printed.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// Starts `iocd serve` on a free port with `extra` arguments (such as `--config FILE`).
    pub(crate) fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        // The tests' HTTP clients (reqwest, built without a TLS provider of its own) need one.
        iocd_server::tls::install_default_provider();
        let mut child = Command::new(IOCD)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start iocd serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            assert!(
                Instant::now() < deadline,
                "iocd did not report its address in time"
            );
            let line = lines
                .next()
                .expect("iocd exited before listening")
                .expect("read stderr");
            if let Some(start) = line.find("listening on http") {
                let rest = &line[start + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token of `tenant-e2e` with `role`, for a server on SQLite in `data_dir`.
pub(crate) fn token(data_dir: &Path, role: &str) -> String {
    let data_dir = data_dir.to_str().expect("a UTF-8 path");
    token_for("tenant-e2e", &[role], "e2e", &["--data-dir", data_dir])
}

/// A token made by `iocd token create` for `tenant` with `roles`, in the name of `app`;
/// `store` names the server's store (`--data-dir DIR` or `--store URL`).
pub(crate) fn token_for(tenant: &str, roles: &[&str], app: &str, store: &[&str]) -> String {
    let mut command = Command::new(IOCD);
    command.args(["token", "create", "--tenant", tenant, "--name", app]);
    for role in roles {
        command.args(["--role", role]);
    }
    let output = command.args(store).output().expect("run iocd token create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout");
    stdout.trim().to_owned()
}

pub(crate) fn admin_url() -> String {
    std::env::var("IOCD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own, dropped at the end.
pub(crate) fn database() -> ScratchDatabase {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "iocd_e2e_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = admin_url();
    ScratchDatabase::create(&admin, &name)
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} must answer for these tests: {e}"))
}
