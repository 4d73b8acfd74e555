//! Tokens from external OpenID Connect issuers, against an in-process issuer on loopback that
//! publishes its discovery document and keys (RSA and P-256, `tests/fixtures/oidc`): valid
//! tokens submit indicators as their application or user; every refusal is a 401 in MDE's
//! error shape; a rotated key is fetched without a restart, and unknown keys do not make the
//! server hammer the issuer.

use axum::http::StatusCode;
use iocd_server::auth::oidc::OidcIssuer;
use iocd_server::config::{Config, Profile};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod common;
use common::{TestApi, indicator};

const AUDIENCE: &str = "https://api.securitycenter.microsoft.com";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oidc")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn public_key(kid: &str) -> Value {
    let keys: Value = serde_json::from_slice(&fixture("public-keys.json")).unwrap();
    keys[kid].clone()
}

/// An OpenID Connect issuer on a loopback port: its keys can be changed, its key fetches are
/// counted.
struct Issuer {
    /// The issuer URL, Entra-shaped: `http://127.0.0.1:PORT/contoso/v2.0`.
    url: String,
    published: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(kids: &[&str]) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let url = format!("{base}/contoso/v2.0");
        let published: Arc<Mutex<Vec<Value>>> =
            Arc::new(Mutex::new(kids.iter().map(|k| public_key(k)).collect()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({"issuer": url, "jwks_uri": format!("{base}/contoso/keys")});
        let keys = Arc::clone(&published);
        let counter = Arc::clone(&fetches);
        let app = axum::Router::new()
            .route(
                "/contoso/v2.0/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let discovery = discovery.clone();
                    async move { axum::Json(discovery) }
                }),
            )
            .route(
                "/contoso/keys",
                axum::routing::get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let keys = keys.lock().unwrap().clone();
                    async move { axum::Json(json!({"keys": keys})) }
                }),
            );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Issuer {
            url,
            published,
            fetches,
        }
    }

    fn config(&self, min_refresh_seconds: u64) -> OidcIssuer {
        OidcIssuer {
            issuer: self.url.clone(),
            audience: AUDIENCE.to_owned(),
            jwks_uri: None,
            tenant: None,
            jwks_min_refresh_seconds: min_refresh_seconds,
            console_client_id: None,
            console_scope: None,
            console_name: None,
        }
    }

    fn publish(&self, kids: &[&str]) {
        *self.published.lock().unwrap() = kids.iter().map(|k| public_key(k)).collect();
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Application-token claims as Entra issues them, for `issuer`.
fn app_claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "tid": "contoso", "appid": "soar-app",
        "app_displayname": "SOAR playbooks", "roles": ["Ti.ReadWrite.All"],
        "iat": now(), "nbf": now(), "exp": now() + 3600,
    })
}

/// Signs `claims` with fixture key `kid` using `alg`.
fn sign(claims: &Value, kid: &str, alg: Algorithm) -> String {
    let pem = fixture(&format!("{kid}.pem"));
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn api_trusting(issuers: Vec<OidcIssuer>) -> TestApi {
    let mut config = Config::for_profile(Profile::Default);
    config.public_url = Some("http://iocd.test".to_owned());
    config.oidc = issuers;
    TestApi::with_config(config)
}

async fn submit(api: &TestApi, token: &str, value: &str) -> common::Reply {
    api.post(
        "/api/indicators",
        token,
        indicator(value, "DomainName", "Block"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_configured_issuer_submit_indicators() {
    let issuer = Issuer::start(&["rsa-1", "ec-1"]).await;
    let api = api_trusting(vec![issuer.config(10)]);
    let claims = app_claims(&issuer.url);
    for (n, (kid, alg)) in [
        ("rsa-1", Algorithm::RS256),
        ("rsa-1", Algorithm::PS256),
        ("ec-1", Algorithm::ES256),
    ]
    .into_iter()
    .enumerate()
    {
        let token = sign(&claims, kid, alg);
        let reply = submit(&api, &token, &format!("idp{n}.example")).await;
        assert_eq!(reply.status, StatusCode::OK, "{alg:?}: {}", reply.text);
        assert_eq!(reply.body["createdBy"], "soar-app");
        assert_eq!(reply.body["createdByDisplayName"], "SOAR playbooks");
    }
    // One fetch of the keys served all three.
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    // The indicators belong to the token's tenant.
    let local = api.token("contoso", iocd_server::auth::Role::ReadAll, "reader");
    let listed = api.get("/api/indicators", &local).await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(3));

    // A user's delegated token acts as the user, with its scopes as roles.
    let mut delegated = app_claims(&issuer.url);
    delegated["scp"] = json!("Ti.ReadWrite");
    delegated["upn"] = json!("ana@contoso.example");
    delegated["name"] = json!("Ana Analyst");
    delegated.as_object_mut().unwrap().remove("roles");
    let reply = submit(
        &api,
        &sign(&delegated, "rsa-1", Algorithm::RS256),
        "user.example",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["createdBy"], "ana@contoso.example");
    assert_eq!(reply.body["createdByDisplayName"], "Ana Analyst");

    // Tokens minted by iocd keep working beside the issuer.
    let minted = api.admin();
    assert_eq!(
        submit(&api, &minted, "minted.example").await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_a_401_with_the_error_body() {
    let issuer = Issuer::start(&["rsa-1", "ec-1"]).await;
    let api = api_trusting(vec![issuer.config(3600)]);
    let good = app_claims(&issuer.url);
    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let unsigned = {
        use base64::Engine;
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            encode(&json!({"alg": "none", "kid": "rsa-1"})),
            encode(&good)
        )
    };
    let hmac = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(b"guessable")).unwrap()
    };
    let tampered = {
        let token = sign(&good, "rsa-1", Algorithm::RS256);
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let mut signature: Vec<char> = signature.chars().collect();
        signature[10] = if signature[10] == 'A' { 'B' } else { 'A' };
        format!("{rest}.{}", signature.into_iter().collect::<String>())
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned, "invalid"),
        (
            "HS256 from an OIDC issuer",
            hmac,
            "must be signed with RS256",
        ),
        (
            "another issuer",
            sign(
                &with("iss", json!("https://evil.example/")),
                "rsa-1",
                Algorithm::RS256,
            ),
            "not trusted",
        ),
        (
            "another audience",
            sign(
                &with("aud", json!("api://other")),
                "rsa-1",
                Algorithm::RS256,
            ),
            "another audience",
        ),
        (
            "expired",
            sign(&with("exp", json!(now() - 3600)), "rsa-1", Algorithm::RS256),
            "expired",
        ),
        (
            "not yet valid",
            sign(&with("nbf", json!(now() + 3600)), "rsa-1", Algorithm::RS256),
            "not valid yet",
        ),
        ("a changed signature", tampered, "signature"),
        (
            "an unpublished key",
            sign(&good, "rsa-2", Algorithm::RS256),
            "does not publish",
        ),
        (
            "an EC algorithm on an RSA key",
            {
                let mut header = Header::new(Algorithm::ES256);
                header.kid = Some("rsa-1".into());
                jsonwebtoken::encode(
                    &header,
                    &good,
                    &EncodingKey::from_ec_pem(&fixture("ec-1.pem")).unwrap(),
                )
                .unwrap()
            },
            "does not match",
        ),
        (
            "no tenant",
            sign(
                &{
                    let mut c = good.clone();
                    c.as_object_mut().unwrap().remove("tid");
                    c
                },
                "rsa-1",
                Algorithm::RS256,
            ),
            "tenant",
        ),
        (
            "no application",
            sign(
                &{
                    let mut c = good.clone();
                    c.as_object_mut().unwrap().remove("appid");
                    c
                },
                "rsa-1",
                Algorithm::RS256,
            ),
            "application",
        ),
    ];
    for (what, token, reason) in cases {
        let reply = submit(&api, &token, "refused.example").await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.text
        );
        assert_eq!(reply.body["error"]["code"], "Unauthorized", "{what}");
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{what}: {message}");
    }
    // The unknown key asked for one fetch beyond the first; later unknown keys wait for
    // jwks_min_refresh_seconds.
    let fetches = issuer.fetches.load(Ordering::SeqCst);
    assert_eq!(fetches, 1, "the keys were fetched {fetches} times");
    for _ in 0..5 {
        let reply = submit(&api, &sign(&good, "rsa-2", Algorithm::RS256), "x.example").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_used_without_a_restart() {
    let issuer = Issuer::start(&["rsa-1"]).await;
    let api = api_trusting(vec![issuer.config(0)]);
    let claims = app_claims(&issuer.url);
    let old = sign(&claims, "rsa-1", Algorithm::RS256);
    let new = sign(&claims, "rsa-2", Algorithm::RS256);
    assert_eq!(submit(&api, &old, "a.example").await.status, StatusCode::OK);
    assert_eq!(
        submit(&api, &new, "b.example").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The issuer rotates: the new key is published, the old one withdrawn.
    issuer.publish(&["rsa-2"]);
    let reply = submit(&api, &new, "c.example").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // That fetch also dropped the withdrawn key (otherwise it would go within the hour the
    // keys are kept).
    assert_eq!(
        submit(&api, &old, "d.example").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Fetches: the first use, the unknown new key (still unpublished), the rotation, and the
    // old key's token, now unknown (jwks_min_refresh_seconds is 0 here).
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_jwks_uri_replaces_discovery_and_a_tenant_can_be_pinned() {
    let issuer = Issuer::start(&["ec-1"]).await;
    let base = issuer.url.trim_end_matches("/contoso/v2.0").to_owned();
    let config = OidcIssuer {
        jwks_uri: Some(format!("{base}/contoso/keys")),
        tenant: Some("pinned".into()),
        // Not where discovery would be: only the configured URI can work.
        issuer: "https://login.example/contoso/v2.0".into(),
        ..issuer.config(10)
    };
    let api = api_trusting(vec![config]);
    let mut claims = app_claims("https://login.example/contoso/v2.0");
    claims["tid"] = json!("not-this-one");
    let reply = submit(
        &api,
        &sign(&claims, "ec-1", Algorithm::ES256),
        "pinned.example",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reader = api.token("pinned", iocd_server::auth::Role::ReadAll, "reader");
    let listed = api.get("/api/indicators", &reader).await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(1));
}

#[test]
fn issuers_come_from_the_configuration_file() {
    let config = Config::from_toml(
        r#"
[[auth.oidc]]
issuer = "https://login.microsoftonline.com/contoso-guid/v2.0"
audience = "https://api.securitycenter.microsoft.com"

[[auth.oidc]]
issuer = "https://idp.example"
audience = "api://iocd"
jwks_uri = "https://idp.example/keys"
tenant = "lab"
jwks_min_refresh_seconds = 60
"#,
    )
    .unwrap();
    assert_eq!(config.oidc.len(), 2);
    assert_eq!(config.oidc[0].jwks_min_refresh_seconds, 10);
    assert_eq!(config.oidc[1].tenant.as_deref(), Some("lab"));
    assert!(Config::from_toml("[[auth.oidc]]\nissuer = \"x\"").is_err());
    assert!(Config::from_toml("[[auth.oidc]]\nissuer = \"\"\naudience = \"a\"").is_err());
    assert!(
        Config::from_toml("[[auth.oidc]]\nissuer = \"x\"\naudience = \"a\"\nextra = 1").is_err()
    );
}
