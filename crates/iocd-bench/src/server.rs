//! The release `iocd` server as a child process for the benchmarks: started on a loopback port
//! with a fresh data directory and a given configuration file, with tokens made by
//! `iocd token create` and its memory read from `/proc`.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Rate limits far above what a benchmark sends, so it measures the server, not the limiter.
pub const UNLIMITED_RATES: &str = "[rate_limits]
list = { per_minute = 1000000000 }
submit = { per_minute = 1000000000 }
import = { per_minute = 1000000000 }
delete = { per_minute = 1000000000 }
batch_delete = { per_minute = 1000000000 }
bulk = { per_minute = 1000000000 }
match = { per_minute = 1000000000 }
events = { per_minute = 1000000000 }
alerts = { per_minute = 1000000000 }
";

/// Makes rustls's `ring` provider the process default, which reqwest's clients need (the
/// workspace builds reqwest without a provider of its own; decision 0016).
#[allow(deprecated)]
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `iocd` binary next to the running benchmark (both come from `cargo build --release`).
pub fn iocd_binary() -> io::Result<PathBuf> {
    let iocd = std::env::current_exe()?.with_file_name("iocd");
    if iocd.exists() {
        Ok(iocd)
    } else {
        Err(io::Error::other(format!(
            "{} not found; build it with `cargo build --release -p iocd`",
            iocd.display()
        )))
    }
}

/// A running `iocd serve`; stopped, and its data directory removed, when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    iocd: PathBuf,
    data: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `iocd` with a fresh `data` directory and `config` as its configuration file;
    /// each line the server logs is handed to `on_log`.
    pub fn start(
        iocd: &Path,
        data: PathBuf,
        config: &str,
        on_log: impl Fn(&str) + Send + 'static,
    ) -> io::Result<Server> {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let config_path = data.join("bench.toml");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(iocd)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "info"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config_path)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::other(format!("cannot start {}: {e}", iocd.display())))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next()
                .ok_or_else(|| io::Error::other("iocd exited before listening"))??;
            if let Some(start) = line.find("listening on http://") {
                break line[start + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
            }
        };
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                on_log(&line);
            }
        });
        Ok(Server {
            child,
            iocd: iocd.to_owned(),
            data,
            base,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A token of `tenant` with `roles`, valid for two hours.
    pub fn token(&self, tenant: &str, roles: &[&str]) -> io::Result<String> {
        let mut command = Command::new(&self.iocd);
        command.args(["token", "create", "--tenant", tenant, "--ttl", "2h"]);
        for role in roles {
            command.args(["--role", role]);
        }
        let output = command.arg("--data-dir").arg(&self.data).output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "token create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// The server's resident memory now and at its peak, in bytes (Linux only).
    pub fn memory(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
                .map(|kib| kib * 1024)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
