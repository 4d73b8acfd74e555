//! The test harness shared by the API test files: a router over a fresh SQLite store, tokens,
//! and request helpers.
#![allow(dead_code)] // Each test file uses a different subset.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use iocd_server::auth::{Role, SigningKey};
use iocd_server::config::{Config, Profile};
use iocd_server::{AppState, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

pub(crate) struct TestApi {
    pub _dir: tempfile::TempDir,
    pub state: AppState,
}

pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Reads a whole response: its status, headers and body (as JSON where it is JSON).
    pub(crate) async fn read(response: axum::response::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }
}

impl TestApi {
    /// The default configuration, with `public_url` set to the `Host` the requests send.
    pub(crate) fn new() -> Self {
        let mut config = Config::for_profile(Profile::Default);
        config.public_url = Some("http://iocd.test".to_owned());
        Self::with_config(config)
    }

    pub(crate) fn with_config(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = iocd_store::SqliteStore::open(&dir.path().join("iocd.db")).unwrap();
        let state = AppState::new(
            Arc::new(store),
            config,
            SigningKey::from_bytes([42; 32]),
            iocd_server::auth::issuer::IssuerKey::ephemeral().unwrap(),
        )
        .unwrap();
        TestApi { _dir: dir, state }
    }

    pub(crate) fn token(&self, tenant: &str, role: Role, app: &str) -> String {
        let now = self.state.now().unix_seconds();
        self.state
            .key()
            .issue(tenant, &[role], app, &format!("{app} name"), now, 3600)
    }

    pub(crate) fn admin(&self) -> String {
        self.token("tenant-a", Role::ReadWriteAll, "admin-app")
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "iocd.test");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.send_request(request.body(Body::from(body)).unwrap())
            .await
    }

    /// Sends a request built by the caller (a streamed body, say) through the router.
    pub(crate) async fn send_request(&self, request: Request<Body>) -> Reply {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        Reply::read(response).await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), None, Vec::new()).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(
            "POST",
            path,
            Some(token),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

/// A request whose body sends `first` and then nothing more until the returned sender is
/// dropped (a stalled, slow-loris body).
pub(crate) fn stalled_request(
    token: &str,
    uri: &str,
    content_type: &str,
    first: &[u8],
) -> (
    Request<Body>,
    tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    sender
        .try_send(Ok(first.to_vec()))
        .expect("a new channel has room");
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(stream))
        .unwrap();
    (request, sender)
}

pub(crate) fn indicator(value: &str, indicator_type: &str, action: &str) -> Value {
    json!({"indicatorValue": value, "indicatorType": indicator_type, "action": action, "title": "t", "description": "d"})
}
