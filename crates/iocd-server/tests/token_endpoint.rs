//! The built-in token endpoint, called as MDE's sample scripts call Entra ID: the
//! client-credentials grant in its v2 and v1 forms, the tokens it issues used on the API, every
//! refusal in OAuth's error shape, secret rotation, revocation while the server runs, and the
//! discovery document and keys another service would verify the tokens with.

use axum::http::StatusCode;
use iocd_server::auth::Role;
use iocd_server::auth::apps::{STATUS_REFRESH, register, rotate_secret};
use iocd_server::config::{Config, Profile, Quota};
use serde_json::Value;

mod common;
use common::{Reply, TestApi, indicator};

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// What is refused, the form, the path, the content type, and the status and OAuth error.
type RefusalCase<'a> = (&'a str, Vec<u8>, &'a str, Option<&'a str>, u16, &'a str);
const RESOURCE: &str = "https://api.securitycenter.microsoft.com";

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish().into_bytes()
}

/// A registered application: (client id, secret).
fn app(api: &TestApi, tenant: &str, roles: &[Role]) -> (String, String) {
    let now = api.state.now();
    let issued = register(
        api.state.app_registry().as_ref(),
        tenant,
        "SOAR",
        roles,
        now,
    )
    .unwrap();
    (issued.registration.client_id, issued.secret)
}

async fn token_v2(api: &TestApi, path: &str, id: &str, secret: &str, scope: &str) -> Reply {
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", scope),
    ]);
    api.send("POST", path, None, FORM, body).await
}

fn v2_scope() -> String {
    format!("{RESOURCE}/.default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_either_form_submits_an_indicator() {
    let api = TestApi::new();
    let (id, secret) = app(&api, "contoso", &[Role::ReadWriteAll]);

    let v2 = token_v2(
        &api,
        "/contoso/oauth2/v2.0/token",
        &id,
        &secret,
        &v2_scope(),
    )
    .await;
    assert_eq!(v2.status, StatusCode::OK, "{}", v2.text);
    assert_eq!(v2.body["token_type"], "Bearer");
    assert_eq!(v2.body["expires_in"], 3600);
    assert_eq!(v2.headers["cache-control"], "no-store");
    let token = v2.body["access_token"].as_str().unwrap().to_owned();
    let created = api
        .post(
            "/api/indicators",
            &token,
            indicator("issued.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.body["createdBy"], id);
    assert_eq!(created.body["createdByDisplayName"], "SOAR");

    // v1, as MDE's PowerShell and Python samples call it.
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
        ("resource", RESOURCE),
    ]);
    let v1 = api
        .send("POST", "/contoso/oauth2/token", None, FORM, body)
        .await;
    assert_eq!(v1.status, StatusCode::OK, "{}", v1.text);
    assert_eq!(v1.body["expires_in"], "3600");
    assert_eq!(v1.body["resource"], RESOURCE);
    let token = v1.body["access_token"].as_str().unwrap().to_owned();
    let listed = api.get("/api/indicators", &token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(1));

    // Credentials in HTTP Basic authentication, and the path without a tenant.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/oauth2/v2.0/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(axum::body::Body::from(form(&[
            ("grant_type", "client_credentials"),
            ("scope", &v2_scope()),
        ])))
        .unwrap();
    let reply = api.send_request(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // The token's roles are the registration's: a reader cannot write.
    let (reader, reader_secret) = app(&api, "contoso", &[Role::ReadAll]);
    let reply = token_v2(
        &api,
        "/contoso/oauth2/v2.0/token",
        &reader,
        &reader_secret,
        &v2_scope(),
    )
    .await;
    let token = reply.body["access_token"].as_str().unwrap().to_owned();
    let refused = api
        .post(
            "/api/indicators",
            &token,
            indicator("no.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_in_oauths_error_shape() {
    let mut config = Config::for_profile(Profile::Default);
    config.public_url = Some("http://iocd.test".to_owned());
    config.rate_limits.token = Quota {
        per_minute: Some(30),
        per_hour: None,
    };
    let api = TestApi::with_config(config);
    let (id, secret) = app(&api, "contoso", &[Role::ReadWriteAll]);
    let path = "/contoso/oauth2/v2.0/token";
    let scope = v2_scope();
    let cases: Vec<RefusalCase<'_>> = vec![
        (
            "a wrong secret",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "nope"),
                ("scope", &scope),
            ]),
            path,
            FORM,
            401,
            "invalid_client",
        ),
        (
            "an unknown client",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-0000-0000-0000-000000000000"),
                ("client_secret", &secret),
                ("scope", &scope),
            ]),
            path,
            FORM,
            401,
            "invalid_client",
        ),
        (
            "the password grant",
            form(&[
                ("grant_type", "password"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", &scope),
            ]),
            path,
            FORM,
            400,
            "unsupported_grant_type",
        ),
        (
            "no grant type",
            form(&[
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", &scope),
            ]),
            path,
            FORM,
            400,
            "invalid_request",
        ),
        (
            "another resource",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ]),
            path,
            FORM,
            400,
            "invalid_scope",
        ),
        (
            "a scope without /.default",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", RESOURCE),
            ]),
            path,
            FORM,
            400,
            "invalid_scope",
        ),
        (
            "v1 with another resource",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("resource", "https://graph.microsoft.com"),
            ]),
            "/contoso/oauth2/token",
            FORM,
            400,
            "invalid_resource",
        ),
        (
            "another tenant's path",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", &scope),
            ]),
            "/fabrikam/oauth2/v2.0/token",
            FORM,
            400,
            "unauthorized_client",
        ),
        (
            "a JSON body",
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
            path,
            Some("application/json"),
            400,
            "invalid_request",
        ),
        (
            "a repeated parameter",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", &scope),
            ]),
            path,
            FORM,
            400,
            "invalid_request",
        ),
        (
            "no secret",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("scope", &scope),
            ]),
            path,
            FORM,
            400,
            "invalid_request",
        ),
    ];
    for (what, body, path, content_type, status, error) in cases {
        let reply = api.send("POST", path, None, content_type, body).await;
        assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text);
        assert_eq!(reply.body["error"], error, "{what}: {}", reply.text);
        assert!(
            reply.body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_revocation_take_effect_while_the_server_runs() {
    let api = TestApi::new();
    let (id, secret) = app(&api, "contoso", &[Role::ReadWriteAll]);
    let path = "/contoso/oauth2/v2.0/token";
    let first = token_v2(&api, path, &id, &secret, &v2_scope()).await;
    let token = first.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/api/indicators", &token).await.status,
        StatusCode::OK
    );

    // A new secret: the old one stops at once; tokens already issued keep working.
    let rotated = rotate_secret(api.state.app_registry().as_ref(), &id, api.state.now())
        .unwrap()
        .unwrap();
    let old = token_v2(&api, path, &id, &secret, &v2_scope()).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = token_v2(&api, path, &id, &rotated.secret, &v2_scope()).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    assert_eq!(
        api.get("/api/indicators", &token).await.status,
        StatusCode::OK
    );

    // Revoked: no new tokens at once, and the ones it holds stop within STATUS_REFRESH.
    api.state
        .app_registry()
        .revoke_app(&id, api.state.now())
        .unwrap();
    let refused = token_v2(&api, path, &id, &rotated.secret, &v2_scope()).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(STATUS_REFRESH + std::time::Duration::from_millis(100)).await;
    let reply = api.get("/api/indicators", &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        reply.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_services_verify_the_tokens_with_the_published_keys() {
    let api = TestApi::new();
    let (id, secret) = app(&api, "contoso", &[Role::ReadWriteAll]);
    let reply = token_v2(
        &api,
        "/contoso/oauth2/v2.0/token",
        &id,
        &secret,
        &v2_scope(),
    )
    .await;
    let token = reply.body["access_token"].as_str().unwrap().to_owned();

    let discovery = api
        .send(
            "GET",
            "/contoso/v2.0/.well-known/openid-configuration",
            None,
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(discovery.status, StatusCode::OK);
    assert_eq!(discovery.body["issuer"], "http://iocd.test");
    assert_eq!(
        discovery.body["token_endpoint"],
        "http://iocd.test/oauth2/v2.0/token"
    );
    let root = api
        .send(
            "GET",
            "/.well-known/openid-configuration",
            None,
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(root.body, discovery.body);
    let keys = api
        .send("GET", "/discovery/v2.0/keys", None, None, Vec::new())
        .await;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(keys.body.clone()).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the signing key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&["http://iocd.test"]);
    validation.set_audience(&[RESOURCE]);
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["tid"], "contoso");
    assert_eq!(claims["appid"], id.as_str());
    assert_eq!(claims["roles"][0], "Ti.ReadWrite.All");

    // A server with another issuer key refuses the token.
    let other = TestApi::new();
    let reply = other.get("/api/indicators", &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}
