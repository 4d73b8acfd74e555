//! The exports against golden files written from the sensors' documented formats, STIX
//! exports read back, and the OASIS validator over a STIX export.
//!
//! `IOCD_BLESS=1 cargo test -p iocd-interop` rewrites the golden files from the code; review
//! the diff against the formats (docs/interop.md) before committing it.

use iocd_interop::sensors;
use iocd_model::IndicatorEntity;
use std::path::{Path, PathBuf};

fn fixture() -> Vec<IndicatorEntity> {
    let text = std::fs::read_to_string(dir().join("fixtures/indicators.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Compares `contents` with the golden file `name` (or writes it under `IOCD_BLESS`).
fn golden(name: &str, contents: &[u8]) {
    let path = dir().join("golden").join(name);
    if std::env::var_os("IOCD_BLESS").is_some() {
        std::fs::write(&path, contents).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| panic!("no golden file {name}"));
    assert_eq!(
        String::from_utf8_lossy(contents),
        String::from_utf8_lossy(&expected),
        "{name} differs from its golden file"
    );
}

#[test]
fn zeek_intel_matches_its_golden_file() {
    let (name, contents) = sensors::zeek_intel(&fixture());
    assert_eq!(name, "iocd.intel");
    golden("iocd.intel", &contents);
    // The format's own rules, checked independently of the golden file.
    let text = String::from_utf8(contents).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc")
    );
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line:?}");
        assert!(fields[1].starts_with("Intel::"), "{line:?}");
        if fields[1] == "Intel::URL" {
            assert!(
                !fields[0].contains("://"),
                "URLs without the scheme: {line:?}"
            );
        }
        assert!(
            !fields[0].contains("trusted.example"),
            "Allowed is not exported"
        );
    }
}

#[test]
fn suricata_files_match_their_golden_files() {
    let (files, skipped) = sensors::suricata(&fixture());
    // SHA-1, the certificate and the two URLs have no Suricata dataset here.
    assert_eq!(skipped, 4);
    for (name, contents) in &files {
        golden(name, contents);
    }
    let file = |name: &str| {
        String::from_utf8(
            files
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no {name}"))
                .1
                .clone(),
        )
        .unwrap()
    };
    // Datasets of type string hold base64 values, one per line.
    use base64::Engine;
    let decoded: Vec<String> = file("iocd-domains.lst")
        .lines()
        .map(|l| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(l).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(decoded, ["evil.example"]);
    // iprep: address or network, category id, score 0-127; every category is defined.
    let categories = file("iocd-categories.txt");
    for line in file("iocd-iprep.list").lines() {
        let parts: Vec<&str> = line.split(',').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(
            categories
                .lines()
                .any(|c| c.starts_with(&format!("{},", parts[1])))
        );
        assert!(parts[2].parse::<u8>().unwrap() <= 127);
    }
}

#[test]
fn block_lists_and_mde_csv_files_match_their_golden_files() {
    let entities = fixture();
    for (name, contents) in sensors::block_lists(&entities) {
        golden(&name, &contents);
    }
    golden("iocd-blocklist.txt", &sensors::block_list(&entities));
    // 1,201 indicators make three MDE CSV files of 500, 500 and 201 rows, each with its header.
    let many: Vec<IndicatorEntity> = (0..1201)
        .map(|n| {
            let mut e = entities[7].clone();
            e.indicator_value = format!("d{n}.evil.example");
            e
        })
        .collect();
    let files = sensors::mde_csv_files(&many).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["iocd-0001.csv", "iocd-0002.csv", "iocd-0003.csv"]);
    let rows: Vec<usize> = files
        .iter()
        .map(|(_, c)| String::from_utf8_lossy(c).lines().count() - 1)
        .collect();
    assert_eq!(rows, [500, 500, 201]);
    golden(
        "iocd-0001.csv",
        &sensors::mde_csv_files(&entities).unwrap()[0].1,
    );
}

#[test]
fn a_stix_export_reads_back_as_the_same_indicators() {
    let entities = fixture();
    let bundle = iocd_interop::stix::bundle(&entities);
    golden(
        "bundle.json",
        format!("{}\n", serde_json::to_string_pretty(&bundle).unwrap()).as_bytes(),
    );
    // Stable: the same indicators make the same ids, and each id leads back to its indicator.
    assert_eq!(bundle, iocd_interop::stix::bundle(&entities));
    for entity in &entities {
        let id = iocd_interop::stix::stix_id(entity);
        assert_eq!(
            iocd_interop::stix::embedded_indicator_id(&id),
            entity.id.parse().ok(),
            "{id}"
        );
    }
    // An indicator imported from one STIX object exports that object's id.
    let mut imported = entities[0].clone();
    imported.external_id = Some("indicator--a1b2c3d4-0001-4000-8000-000000000002".into());
    assert_eq!(
        iocd_interop::stix::stix_id(&imported),
        "indicator--a1b2c3d4-0001-4000-8000-000000000002"
    );
    let batch = iocd_interop::stix::read(&bundle, &Default::default());
    assert!(batch.problems.is_empty(), "{:?}", batch.problems);
    assert!(batch.removals.is_empty());
    assert_eq!(batch.items.len(), entities.len());
    for (entity, item) in entities.iter().zip(&batch.items) {
        let s = &item.submission;
        assert_eq!(s["indicatorValue"], entity.indicator_value.as_str());
        assert_eq!(s["indicatorType"], entity.indicator_type.as_str());
        assert_eq!(
            s["action"],
            entity.action.as_str(),
            "{}",
            entity.indicator_value
        );
        assert_eq!(s["title"], entity.title.as_str());
        assert_eq!(s["description"], entity.description.as_str());
        assert_eq!(s["severity"], entity.severity.as_str());
        assert_eq!(s["generateAlert"], entity.generate_alert);
        assert_eq!(s["category"], entity.category);
        let groups = s
            .get("rbacGroupNames")
            .cloned()
            .unwrap_or(serde_json::json!([]));
        assert_eq!(groups, serde_json::json!(entity.rbac_group_names));
        let techniques = s
            .get("mitreTechniques")
            .cloned()
            .unwrap_or(serde_json::json!([]));
        assert_eq!(techniques, serde_json::json!(entity.mitre_techniques));
        match &entity.expiration_time {
            Some(_) => assert_eq!(s["expirationTime"], "2027-01-01T00:00:00.000Z"),
            None => assert!(s.get("expirationTime").is_none()),
        }
    }
}

/// The OASIS validator (`stix2_validator` from PyPI, installed by scripts/test-tools) finds no
/// error and no warning in an export.
#[test]
fn the_oasis_validator_accepts_a_stix_export() {
    let validator = match std::env::var_os("IOCD_STIX2_VALIDATOR") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/stix2_validator"),
    };
    assert!(
        validator.exists(),
        "stix2_validator is not installed: run scripts/test-tools, or set IOCD_STIX2_VALIDATOR"
    );
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    let bundle = iocd_interop::stix::bundle(&fixture());
    std::fs::write(file.path(), serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    let output = std::process::Command::new(&validator)
        .arg("--strict")
        .arg(file.path())
        .output()
        .expect("run stix2_validator");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(
        !report.contains("[!]") && !report.contains("[X]"),
        "{report}"
    );
}
