//! End-to-end runs of the real `iocd` binary over a socket: token creation, CSV import, list
//! with a filter, delete, export and re-import, graceful shutdown, and durability across
//! `kill -9`.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{IOCD, Server, token};

const CSV: &str = "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert
FileSha1,da39a3ee5e6b4b0d3255bfef95601890afd80709,2099-09-16T12:11:06.0Z,BlockAndRemediate,Informational,\"File SHA1 custom TI example\",\"malware downloader\",\"Recommended actions should be here\",\"GroupName1,GroupName2\",\"SuspiciousActivity\",\"T0000,T0001\",true
IpAddress,10.10.10.10,,Allowed,Informational,\"Ip Address custom TI example\",\"malware downloader\",\"\",\"\",\"\",\"\",false
Url,http://www.facebook.com,,AlertAndBlock,Informational,\"Url custom TI example\",d,\"\",\"\",\"\",\"\",true
DomainName,www.facebook.com,,Audit,Low,Domain custom TI example,\"Red Team Activity\",\"\",\"\",\"None\",\"\",true
FileSha256,not-a-hash,,Block,Low,x,y,,,,,false
";

#[test]
fn import_list_delete_export_over_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir);
    assert!(data_dir.join("iocd.db").exists());
    let admin = token(&data_dir, "Ti.ReadWrite.All");
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        client.get(server.url("/healthz")).send().unwrap().status(),
        200
    );

    let csv_path = dir.path().join("indicators.csv");
    std::fs::write(&csv_path, CSV).unwrap();
    let run_import = |path: &Path| {
        Command::new(IOCD)
            .args([
                "import",
                "--quiet",
                "--server",
                &server.base,
                "--token",
                &admin,
            ])
            .arg(path)
            .output()
            .unwrap()
    };
    let import = run_import(&csv_path);
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert_eq!(
        import.status.code(),
        Some(1),
        "a failed line makes the exit code non-zero: {stderr}"
    );
    assert!(
        stderr.contains("line 4: Error in parsing field Action, value: AlertAndBlock"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6: Hash value not-a-hash is invalid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("imported 3 of 5 rows; 2 failed"),
        "{stderr}"
    );

    let listed: Value = client
        .get(server.url("/api/indicators"))
        .query(&[(
            "$filter",
            "indicatorType eq 'DomainName' or startswith(title,'Ip ')",
        )])
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let values: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["indicatorValue"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["10.10.10.10", "www.facebook.com"]);

    // Export, re-import: nothing new is created and a second export is identical.
    let export = |path: &Path| {
        let status = Command::new(IOCD)
            .args([
                "export",
                "--format",
                "csv",
                "--server",
                &server.base,
                "--token",
                &admin,
                "--output",
            ])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(path).unwrap()
    };
    let first = export(&dir.path().join("export1.csv"));
    assert_eq!(first.lines().count(), 4, "{first}");
    let reimport = run_import(&dir.path().join("export1.csv"));
    assert!(
        reimport.status.success(),
        "{}",
        String::from_utf8_lossy(&reimport.stderr)
    );
    assert_eq!(export(&dir.path().join("export2.csv")), first);
    let count: Value = client
        .get(server.url("/api/indicators?$count=true&$top=0"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count["@odata.count"], 3);

    let json_export = Command::new(IOCD)
        .args([
            "export",
            "--format",
            "json",
            "--server",
            &server.base,
            "--token",
            &admin,
        ])
        .output()
        .unwrap();
    let exported: Value = serde_json::from_slice(&json_export.stdout).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 3);

    let deleted = client
        .delete(server.url("/api/indicators/1"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = client
        .get(server.url("/api/indicators/1"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(gone.status(), 404);
    let gone_body: Value = gone.json().unwrap();
    assert_eq!(gone_body["error"]["code"], "NotFound");
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "iocd did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn acknowledged_indicators_survive_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let admin = token(dir.path(), "Ti.ReadWrite.All");
    let url = server.url("/api/indicators/import");
    let writer_token = admin.clone();
    // Import batches of 100 continuously; remember which batches were acknowledged.
    let importer = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut acknowledged = Vec::new();
        let mut attempted = 0u32;
        for batch in 0..10_000u32 {
            attempted = batch + 1;
            let items: Vec<Value> = (0..100)
                .map(|i| json!({"indicatorValue": format!("b{batch}-i{i}.example"), "indicatorType": "DomainName",
                    "action": "Block", "title": format!("batch {batch}"), "description": "durability"}))
                .collect();
            match client
                .post(&url)
                .bearer_auth(&writer_token)
                .json(&json!({"Indicators": items}))
                .send()
            {
                Ok(response) if response.status() == 200 => acknowledged.push(batch),
                _ => break,
            }
        }
        (acknowledged, attempted)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut server = server;
    server.child.kill().expect("kill -9");
    server.child.wait().unwrap();
    let (acknowledged, attempted) = importer.join().unwrap();
    assert!(
        acknowledged.len() >= 3,
        "too few batches were acknowledged before the kill: {}",
        acknowledged.len()
    );

    let restarted = Server::start(dir.path());
    let client = reqwest::blocking::Client::new();
    let mut stored: std::collections::BTreeMap<String, usize> = Default::default();
    let mut next = Some(restarted.url("/api/indicators?$top=10000"));
    while let Some(url) = next.take() {
        let page: Value = client
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        for item in page["value"].as_array().unwrap() {
            assert_eq!(item["description"], "durability", "a complete row: {item}");
            *stored
                .entry(item["title"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    for batch in &acknowledged {
        assert_eq!(
            stored.get(&format!("batch {batch}")),
            Some(&100),
            "acknowledged batch {batch} is incomplete"
        );
    }
    // Nothing half-written: every stored batch is whole, and only batches that were sent exist.
    for (title, count) in &stored {
        assert_eq!(*count, 100, "{title} is partly stored");
        let batch: u32 = title.trim_start_matches("batch ").parse().unwrap();
        assert!(batch < attempted);
    }
    let _ = std::io::stdout().flush();
}

#[test]
fn an_acknowledged_bulk_load_survives_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let admin = token(dir.path(), "Ti.ReadWrite.All");
    // More rows than one bulk transaction, so earlier batches commit unsynced and the last
    // commit's sync must cover them.
    let rows = 120_000;
    let body: String = (0..rows)
        .map(|i| {
            format!(
                "{{\"indicatorValue\":\"{:064x}\",\"indicatorType\":\"FileSha256\",\"action\":\"Block\",\"title\":\"t\",\"description\":\"bulk\"}}\n",
                i + 1
            )
        })
        .collect();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let answer: Value = client
        .post(server.url("/api/indicators/bulk"))
        .bearer_auth(&admin)
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["created"], rows);
    server.child.kill().expect("kill -9");
    server.child.wait().unwrap();
    drop(server);
    let restarted = Server::start(dir.path());
    let count: Value = client
        .get(restarted.url("/api/indicators?$count=true&$top=1&$filter=description eq 'bulk'"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count["@odata.count"], rows);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(IOCD)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let first = BufReader::new(stderr).lines().next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line: Value = serde_json::from_str(&first).expect("a JSON log line");
    assert_eq!(line["level"], "INFO");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("iocd listening on http://127.0.0.1:")
    );
    assert!(line["address"].as_str().unwrap().starts_with("127.0.0.1:"));
}

const MATCH_CSV: &str = "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert
DomainName,example.com,,Allowed,Low,ok,d,,,,,false
Url,http://a.example.com/x,,Block,High,bad path,d,,,,,true
FileSha256,9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08,,Block,High,bad file,d,,Finance,,,true
";

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(IOCD)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run iocd")
}

#[test]
fn scan_writes_matches_as_jsonl_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("indicators.csv"), MATCH_CSV).unwrap();
    let events = [
        r#"{"DeviceId":"d1","RemoteUrl":"http://a.example.com/x/y","Timestamp":"2026-03-01T00:00:00Z"}"#,
        r#"{"DeviceId":"d1","MachineGroup":"Finance","SHA256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#,
        r#"{"DeviceId":"d2","SHA256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#,
        r#"{"DeviceId":"d3","RemoteUrl":"www.example.com"}"#,
        "not json",
        r#"{"DeviceId":"d4","RemoteIP":"10.0.0.1"}"#,
    ];
    std::fs::write(dir.path().join("events.jsonl"), events.join("\n")).unwrap();
    let output = run(
        &[
            "scan",
            "events.jsonl",
            "--indicators",
            "indicators.csv",
            "--quiet",
            "--threads",
            "2",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "line 5 is not JSON");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 5: invalid JSON"), "{stderr}");
    let matches: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(u64, &str, &str)> = matches
        .iter()
        .map(|m| {
            (
                m["line"].as_u64().unwrap(),
                m["action"].as_str().unwrap(),
                m["rule"].as_str().unwrap(),
            )
        })
        .collect();
    // Line 3's device is not in Finance, so the scoped file indicator does not apply.
    assert_eq!(
        summary,
        vec![
            (1, "Block", "longest-match"),
            (2, "Block", "only-match"),
            (4, "Allowed", "only-match"),
        ]
    );
    assert_eq!(matches[0]["deviceId"], "d1");
    assert_eq!(matches[0]["indicatorId"], "3", "ids are CSV line numbers");
}

#[test]
fn match_prints_the_verdict_offline_and_from_a_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("indicators.csv"), MATCH_CSV).unwrap();
    let output = run(
        &[
            "match",
            "http://a.example.com/x/y",
            "--indicators",
            "indicators.csv",
        ],
        dir.path(),
    );
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("action: Block (indicator 3, decided by longest-match)"),
        "{text}"
    );
    assert!(text.contains("DomainName"), "{text}");

    let output = run(
        &[
            "match",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "--group",
            "finance",
            "--indicators",
            "indicators.csv",
            "--json",
        ],
        dir.path(),
    );
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict["action"], "Block");
    assert_eq!(verdict["type"], "FileSha256");

    // The same question asked of a running server.
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let admin = token(&data, "Ti.ReadWrite.All");
    let import = run(
        &[
            "import",
            "indicators.csv",
            "--server",
            &server.base,
            "--token",
            &admin,
        ],
        dir.path(),
    );
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let output = run(
        &[
            "match",
            "https://www.example.com/",
            "--server",
            &server.base,
            "--token",
            &admin,
            "--json",
        ],
        dir.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict["action"], "Allowed");
    assert_eq!(verdict["indicatorId"], "1");

    let output = run(
        &[
            "match",
            "x",
            "--type",
            "Nope",
            "--indicators",
            "indicators.csv",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown --type"));
}

/// The data directory is readable by its owner only (0700), the database files too (0600),
/// a signing key others can read stops the server with the reason, and a token may not live
/// longer than the server accepts (30 days unless the configuration says otherwise).
#[cfg(unix)]
#[test]
fn the_data_directory_and_tokens_are_private_and_bounded() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let admin = token(&dir, "Ti.ReadWrite.All");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    {
        let server = Server::start(&dir);
        let reply = reqwest::blocking::Client::new()
            .post(server.url("/api/indicators"))
            .bearer_auth(&admin)
            .json(
                &json!({"indicatorValue": "p.example", "indicatorType": "DomainName",
                "action": "Block", "title": "t", "description": "d"}),
            )
            .send()
            .unwrap();
        assert!(reply.status().is_success());
        assert_eq!(mode(&dir), 0o700);
        for name in ["iocd.db", "iocd.db-wal", "iocd.db-shm", "token-signing.key"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
    }
    let create = |ttl: &str| {
        Command::new(IOCD)
            .args([
                "token",
                "create",
                "--tenant",
                "t",
                "--role",
                "Ti.Read.All",
                "--ttl",
                ttl,
                "--data-dir",
            ])
            .arg(&dir)
            .output()
            .unwrap()
    };
    assert!(create("30d").status.success());
    let refused = create("31d");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("longer than the server accepts"));

    std::fs::set_permissions(
        dir.join("token-signing.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let output = Command::new(IOCD)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// MDE's sample scripts, with only the two base URLs changed: an application registered with
/// `iocd app create` gets a token from the server's endpoint and submits an indicator; `iocd
/// app revoke`, run beside the running server, stops its token within seconds.
#[test]
fn registered_applications_get_tokens_and_revocation_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = |args: &[&str]| {
        let output = Command::new(IOCD)
            .arg("app")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run iocd app");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let created: Value = serde_json::from_str(&app(&[
        "create",
        "--tenant",
        "contoso",
        "--role",
        "Ti.ReadWrite.All",
        "--name",
        "SOAR",
    ]))
    .unwrap();
    let client_id = created["clientId"].as_str().unwrap().to_owned();
    let secret = created["clientSecret"].as_str().unwrap().to_owned();
    let server = Server::start(&data);
    let client = reqwest::blocking::Client::new();
    let token: Value = client
        .post(server.url("/contoso/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("resource", "https://api.securitycenter.microsoft.com")
                .append_pair("client_id", &client_id)
                .append_pair("client_secret", &secret)
                .append_pair("grant_type", "client_credentials")
                .finish(),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let submit = |value: &str| {
        client
            .post(server.url("/api/indicators"))
            .bearer_auth(&token)
            .json(
                &json!({"indicatorValue": value, "indicatorType": "DomainName",
                          "action": "Block", "title": "t", "description": "d"}),
            )
            .send()
            .unwrap()
    };
    let reply = submit("soar.example");
    assert_eq!(reply.status().as_u16(), 200);
    let body: Value = reply.json().unwrap();
    assert_eq!(body["createdBy"], client_id.as_str());

    let listed: Value = serde_json::from_str(&app(&["list"])).unwrap();
    assert_eq!(listed[0]["clientId"], client_id.as_str());
    assert!(listed[0].get("clientSecret").is_none());
    assert_eq!(listed[0]["revoked"], Value::Null);

    app(&["revoke", &client_id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = submit("after.example").status().as_u16();
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the revoked token still works");
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed: Value = serde_json::from_str(&app(&["list"])).unwrap();
    assert!(listed[0]["revoked"].is_string());
}
