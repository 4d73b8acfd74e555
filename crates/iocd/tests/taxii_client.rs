//! The OASIS `taxii2-client` (from PyPI) against a real `iocd serve`: discovery, the API root,
//! the collection, adding objects and reading their status, paging with `as_pages`, the
//! manifest, one object, its versions, delete, and a read-only token (`taxii_client.py`).
//!
//! The Python interpreter with taxii2-client is found at `$IOCD_TOOLS_PYTHON`, else in the
//! workspace's `.venv` (scripts/test-tools installs it; `.ci/run` calls that script).

mod common;
use common::{Server, token};
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("IOCD_TOOLS_PYTHON") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        path.exists(),
        "taxii2-client is not installed: run scripts/test-tools (it makes .venv), or set IOCD_TOOLS_PYTHON"
    );
    path
}

#[test]
fn the_oasis_taxii_client_works_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir);
    let writer = token(&data_dir, "Ti.ReadWrite.All");
    let reader = token(&data_dir, "Ti.Read.All");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/taxii_client.py");
    let output = Command::new(python())
        .arg(script)
        .args([&server.base, &writer, &reader])
        .output()
        .expect("run taxii_client.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
