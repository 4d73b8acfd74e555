//! `iocd import` and `iocd export` with the field's formats, against a real server: a STIX
//! bundle (with a revocation), a MISP event and a plain list go in, each recognised by its
//! content; STIX, Zeek, Suricata, block lists and 500-row MDE CSV files come out.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{IOCD, Server, token};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../iocd-interop/tests/fixtures")
        .join(name)
}

fn iocd(args: &[&str]) -> Output {
    Command::new(IOCD).args(args).output().expect("run iocd")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn feeds_go_in_and_sensor_files_come_out() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir);
    let admin = token(&data_dir, "Ti.ReadWrite.All");
    let base = server.base.clone();
    let import = |file: &Path, extra: &[&str]| {
        let mut args = vec!["import", "--quiet", "--server", &base, "--token", &admin];
        args.extend_from_slice(extra);
        let file = file.to_str().unwrap().to_owned();
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(file);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        iocd(&refs)
    };

    // A revoked object removes what an earlier import created: put cdn.example in first.
    let list = dir.path().join("first.txt");
    std::fs::write(&list, "cdn.example\n").unwrap();
    let first = import(&list, &["--action", "block"]);
    assert!(first.status.success(), "{}", stderr(&first));

    let stix = import(&fixture("feed-bundle.json"), &[]);
    let report = stderr(&stix);
    assert_eq!(
        stix.status.code(),
        Some(1),
        "unreadable objects fail the run: {report}"
    );
    assert!(report.contains("STIX: imported 4 of"), "{report}");
    assert!(report.contains("1 removed (revoked)"), "{report}");
    assert!(
        report.contains("object indicator--a1b2c3d4-0001-4000-8000-000000000004: pattern not supported: the REPEATS qualifier"),
        "{report}"
    );
    assert!(report.contains("pattern_type sigma"), "{report}");

    let misp = import(&fixture("misp-event.json"), &["--group", "Finance"]);
    let report = stderr(&misp);
    assert!(report.contains("MISP: imported 5 of"), "{report}");
    assert!(report.contains("to_ids is not set"), "{report}");

    let plain = import(
        &fixture("blocklist.txt"),
        &["--action", "block", "--severity", "high"],
    );
    let report = stderr(&plain);
    assert!(
        report.contains("list: imported 5 of 6 rows; 1 failed"),
        "{report}"
    );
    assert!(
        report.contains("line 8: \"not a value\" is not a hash"),
        "{report}"
    );

    // What the server now holds.
    let client = reqwest::blocking::Client::new();
    let all: Value = client
        .get(server.url("/api/indicators"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let values: Vec<(&str, &str)> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["indicatorValue"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        !values.iter().any(|(v, _)| *v == "cdn.example"),
        "revoked: {values:?}"
    );
    assert!(values.contains(&("phish.example", "Block")), "{values:?}");
    assert!(values.contains(&("203.0.113.7", "Audit")), "{values:?}");
    assert!(
        values.contains(&("login-phish.example", "Audit")),
        "{values:?}"
    );
    assert!(values.contains(&("malware.example", "Block")), "{values:?}");
    let misp_one = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["indicatorValue"] == "login-phish.example")
        .unwrap();
    assert_eq!(misp_one["rbacGroupNames"], serde_json::json!(["Finance"]));

    // Out again, in every format.
    let export = |format: &str, target: &[&str]| {
        let mut args = vec![
            "export", "--server", &base, "--token", &admin, "--format", format,
        ];
        args.extend_from_slice(target);
        iocd(&args)
    };
    let bundle_path = dir.path().join("out.json");
    let out = export("stix", &["--output", bundle_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    assert_eq!(bundle["type"], "bundle");
    let indicators = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .count();
    assert_eq!(indicators, values.len());

    let zeek = export("zeek", &[]);
    let intel = String::from_utf8(zeek.stdout).unwrap();
    assert!(intel.starts_with("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n"));
    assert!(
        intel.contains("malware.example/payload.bin\tIntel::URL\tiocd\t"),
        "{intel}"
    );

    let suricata_dir = dir.path().join("suricata");
    let out = export(
        "suricata",
        &["--output-dir", suricata_dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for name in [
        "iocd-domains.lst",
        "iocd-iprep.list",
        "iocd-categories.txt",
        "iocd.rules",
    ] {
        assert!(suricata_dir.join(name).exists(), "{name}");
    }
    let refused = export("suricata", &[]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--output-dir"));

    let text = export("text", &[]);
    let blocked = String::from_utf8(text.stdout).unwrap();
    assert!(blocked.lines().any(|l| l == "malware.example"), "{blocked}");
    assert!(
        !blocked.lines().any(|l| l == "203.0.113.7"),
        "Audit does not block: {blocked}"
    );

    let csv_dir = dir.path().join("csv");
    let out = export("csv", &["--output-dir", csv_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(csv_dir.join("iocd-0001.csv")).unwrap();
    assert_eq!(csv.lines().count(), values.len() + 1);
}
