//! schemathesis (a property-based API tester, from PyPI) against a real `iocd serve`: it reads
//! the served `/openapi.json` and sends generated requests, valid and invalid, to every
//! operation with a token of each role. No answer may be a 5xx, have a status the document
//! does not list for the operation, or break its documented schema; the server must still be
//! healthy afterwards. It runs once on a SQLite data directory and once on a PostgreSQL
//! database of its own.
//!
//! The tool is found at `$IOCD_SCHEMATHESIS`, else at `.venv/bin/st` in the workspace;
//! `scripts/test-tools` installs it there (and `.ci/run` calls that script).

mod common;
use common::{Server, database, token_for};
use std::path::{Path, PathBuf};
use std::process::Command;

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("IOCD_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = workspace.join(".venv/bin/st");
    assert!(
        path.exists(),
        "schemathesis is not installed: run scripts/test-tools (it makes .venv), or set IOCD_SCHEMATHESIS to the st program"
    );
    path
}

/// Limits high enough that the generated requests test the API, not the rate limiter.
const CONFIG: &str = r#"
[rate_limits]
list = { per_minute = 10000000 }
submit = { per_minute = 10000000 }
import = { per_minute = 10000000 }
delete = { per_minute = 10000000 }
batch_delete = { per_minute = 10000000 }
bulk = { per_minute = 10000000 }
match = { per_minute = 10000000 }
events = { per_minute = 10000000 }
alerts = { per_minute = 10000000 }
"#;

const ROLES: [&str; 7] = [
    "Ti.Read.All",
    "Ti.ReadWrite",
    "Ti.ReadWrite.All",
    "Metrics.Read",
    "Events.Write",
    "Alert.Read.All",
    "Alert.ReadWrite.All",
];

/// Runs schemathesis with a token of each role, then of all roles, against a server on the
/// PostgreSQL database `postgres` names, or else on SQLite in a data directory.
fn generated_requests_get_documented_answers(postgres: Option<&str>) {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("iocd.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.to_str().expect("a UTF-8 temporary path");
    let data_dir = dir.path().join("data");
    let store: Vec<String> = match postgres {
        Some(url) => vec!["--store".to_owned(), url.to_owned()],
        None => vec![
            "--data-dir".to_owned(),
            data_dir
                .to_str()
                .expect("a UTF-8 temporary path")
                .to_owned(),
        ],
    };
    let mut arguments: Vec<&str> = vec!["--config", config];
    if let Some(url) = postgres {
        arguments.extend(["--store", url]);
    }
    let server = Server::start_with(&data_dir, &arguments);
    let examples = std::env::var("IOCD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());

    let mut token_sets: Vec<Vec<&str>> = ROLES.iter().map(|role| vec![*role]).collect();
    token_sets.push(ROLES.to_vec());
    let mut failures = Vec::new();
    for roles in &token_sets {
        let store: Vec<&str> = store.iter().map(String::as_str).collect();
        let token = token_for("tenant-st", roles, "schemathesis", &store);
        let output = Command::new(&st)
            .arg("run")
            .arg(server.url("/openapi.json"))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                &examples,
                "--seed",
                "2026",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--no-color",
            ])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .current_dir(dir.path())
            .output()
            .expect("run schemathesis");
        if !output.status.success() {
            failures.push(format!(
                "roles {roles:?}: schemathesis exited with {}\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    let health = reqwest::blocking::get(server.url("/healthz")).expect("the server answers");
    assert_eq!(health.status().as_u16(), 200, "unhealthy after the run");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn generated_requests_get_documented_answers_for_every_role() {
    generated_requests_get_documented_answers(None);
}

/// The same on a PostgreSQL store (a database of the test's own): what PostgreSQL refuses and
/// SQLite accepts must still be a 4xx.
#[test]
fn generated_requests_get_documented_answers_on_postgresql() {
    let db = database();
    generated_requests_get_documented_answers(Some(db.url()));
}
