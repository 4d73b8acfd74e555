//! HTTPS end to end: `iocd serve --tls-cert --tls-key` with certificates made at test time,
//! the CLI reaching it with `--ca-cert`, refusing it without, and the server taking a new
//! certificate on SIGHUP and when the files change, without a restart.

mod common;
use common::{IOCD, Server, token};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A CA and a server certificate for `127.0.0.1` and `localhost` that it signed, as PEM.
struct Issued {
    ca: String,
    cert: String,
    key: String,
}

fn issue(name: &str) -> Issued {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
    ];
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} iocd"));
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Issued {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Writes `issued`'s server certificate and key where the server reads them, and its CA where
/// the client does.
fn install(issued: &Issued, dir: &Path, ca_name: &str) {
    std::fs::write(dir.join("server.pem.tmp"), &issued.cert).unwrap();
    std::fs::write(dir.join("server.key.tmp"), &issued.key).unwrap();
    // Replaced by rename, so the server never reads a half-written file.
    std::fs::rename(dir.join("server.key.tmp"), dir.join("server.key")).unwrap();
    std::fs::rename(dir.join("server.pem.tmp"), dir.join("server.pem")).unwrap();
    std::fs::write(dir.join(ca_name), &issued.ca).unwrap();
}

/// Runs `iocd export` against `base` trusting `ca`; returns whether it succeeded and stderr.
fn export(base: &str, token: &str, ca: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(IOCD);
    command.args([
        "export", "--format", "json", "--server", base, "--token", token,
    ]);
    if let Some(ca) = ca {
        command.arg("--ca-cert").arg(ca);
    }
    let output = command.output().expect("run iocd export");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn https_is_served_to_the_cli_and_certificates_reload_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path();
    let first = issue("first");
    install(&first, tls, "first-ca.pem");
    let data = tls.join("data");
    let cert = tls.join("server.pem");
    let key = tls.join("server.key");
    let server = Server::start_with(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let token = token(&data, "Ti.ReadWrite.All");

    // Trusted through --ca-cert; not without it (the CA is nobody's root).
    let (ok, stderr) = export(&server.base, &token, Some(&tls.join("first-ca.pem")));
    assert!(ok, "{stderr}");
    let (ok, stderr) = export(&server.base, &token, None);
    assert!(!ok, "an unknown CA was trusted");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = server.base.replacen("https://", "http://", 1);
    let (ok, _) = export(&plain, &token, None);
    assert!(!ok);

    // A new certificate from another CA, announced with SIGHUP.
    let second = issue("second");
    install(&second, tls, "second-ca.pem");
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    eventually("the reload on SIGHUP", || {
        export(&server.base, &token, Some(&tls.join("second-ca.pem"))).0
    });
    assert!(!export(&server.base, &token, Some(&tls.join("first-ca.pem"))).0);

    // A third, noticed because the files changed.
    std::thread::sleep(Duration::from_millis(1100));
    let third = issue("third");
    install(&third, tls, "third-ca.pem");
    eventually("the reload on a file change", || {
        export(&server.base, &token, Some(&tls.join("third-ca.pem"))).0
    });

    // A broken file keeps the current certificate in service.
    std::fs::write(&key, "not a key").unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    assert!(export(&server.base, &token, Some(&tls.join("third-ca.pem"))).0);
}

#[test]
fn a_server_without_a_usable_certificate_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let issued = issue("lonely");
    std::fs::write(dir.path().join("cert.pem"), &issued.cert).unwrap();
    std::fs::write(dir.path().join("other.key"), issue("other").key).unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let output = Command::new(IOCD)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let cert = dir.path().join("cert.pem");
    let cert = cert.to_str().unwrap();
    let stderr = run(&["--tls-cert", cert]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let other = dir.path().join("other.key");
    let stderr = run(&["--tls-cert", cert, "--tls-key", other.to_str().unwrap()]);
    assert!(stderr.contains("does not belong"), "{stderr}");
    let stderr = run(&["--tls-cert", cert, "--tls-key", "/nonexistent/key.pem"]);
    assert!(stderr.contains("cannot read"), "{stderr}");
}
