//! Regressions of the security review's findings (issue 15): each request that once crashed
//! the server, took its memory or made it enforce the wrong thing, and what it gets now.

use axum::http::StatusCode;
use serde_json::json;

mod common;
use common::{TestApi, indicator, stalled_request};

async fn blocks(api: &TestApi, token: &str, host: &str) -> bool {
    let reply = api
        .post(
            "/api/match",
            token,
            json!({"observables": [{"type": "DomainName", "value": host}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["value"][0]["blocks"] == json!(true)
}

/// Ids were masked to 40 bits, so `id + 2^40` reached the same row: deleting through the alias
/// deleted the indicator but told the matcher to remove another id, and the indicator kept
/// blocking. Now an id outside the store's range names nothing.
#[tokio::test]
async fn an_id_past_forty_bits_is_not_an_alias() {
    let api = TestApi::new();
    let admin = api.admin();
    for n in 0..31 {
        let body = indicator(&format!("d{n}.example"), "DomainName", "Block");
        let reply = api.post("/api/indicators", &admin, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let alias = 31 + (1_u64 << 40);
    let path = format!("/api/indicators/{alias}");
    for method in ["GET", "DELETE"] {
        let reply = api
            .send(method, &path, Some(&admin), None, Vec::new())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method}: {}",
            reply.text
        );
    }
    let history = api.get(&format!("{path}/history"), &admin).await;
    assert_eq!(history.status, StatusCode::NOT_FOUND);
    let batch = api
        .post(
            "/api/indicators/BatchDelete",
            &admin,
            json!({"IndicatorIds": [alias.to_string()]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/api/indicators/31", &admin).await.status,
        StatusCode::OK
    );
    assert!(blocks(&api, &admin, "d30.example").await);
    // Deleting the real id stops the matching.
    let deleted = api
        .send(
            "DELETE",
            "/api/indicators/31",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(!blocks(&api, &admin, "d30.example").await);
}

/// Non-ASCII text in a date was sliced inside a character and panicked: the connection
/// dropped with no answer, or a 500.
#[tokio::test]
async fn non_ascii_dates_are_refused_with_a_reason() {
    let api = TestApi::new();
    let admin = api.admin();
    let filter = api
        .get(
            "/api/indicators?$filter=expirationTime%20gt%20'2024-01-%E2%82%AC'",
            &admin,
        )
        .await;
    assert_eq!(filter.status, StatusCode::BAD_REQUEST, "{}", filter.text);
    assert_eq!(filter.body["error"]["code"], "ODataError");
    let mut body = indicator("a.example", "DomainName", "Block");
    body["expirationTime"] = json!("2030-01-€");
    let submit = api.post("/api/indicators", &admin, body).await;
    assert_eq!(submit.status, StatusCode::BAD_REQUEST, "{}", submit.text);
    assert_eq!(submit.body["error"]["code"], "InvalidInput");
    let sensor = api.token("tenant-a", iocd_server::auth::Role::EventsWrite, "sensor");
    let events = api
        .post(
            "/api/events",
            &sensor,
            json!({"DeviceId": "d1", "Timestamp": "2026-03-0€", "RemoteIP": "198.51.100.7"}),
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    assert_eq!(events.body["events"], 0);
    assert_eq!(events.body["failed"][0]["index"], 0);
}

/// Bulk kept a result for every failed row and built the whole answer in memory (a 4 MB body
/// of `1` lines took 5 GB). Now it lists the first 1,000 and counts the rest.
#[tokio::test]
async fn a_bulk_answer_lists_at_most_a_thousand_rows() {
    let api = TestApi::new();
    let body = "1\n".repeat(5_000);
    let reply = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(&api.admin()),
            Some("application/x-ndjson"),
            body.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["received"], 5_000);
    assert_eq!(reply.body["failed"], 5_000);
    assert_eq!(reply.body["value"].as_array().map(Vec::len), Some(1_000));
    assert_eq!(reply.body["value"][999]["line"], 1_000);
    assert_eq!(reply.body["unlisted"], 4_000);
}

/// When a bulk body went past its size limit, the row cut off at the limit was read as if it
/// were complete and committed (`login.banking.example.com` stored as `login.bank`).
#[tokio::test]
async fn the_row_cut_off_by_the_size_limit_is_not_stored() {
    use axum::body::Body;
    use tower::ServiceExt;
    let mut config = iocd_server::config::Config::for_profile(Default::default());
    config.max_bulk_body_bytes = 200;
    let api = TestApi::with_config(config);
    let admin = api.admin();
    let header = "IndicatorType,IndicatorValue,Action,Title,Description\n";
    let first = format!("{header}DomainName,whole.example.com,Block,t,d\nDomainName,login.bank");
    let rest = "ing.example.com,Block,t,d\nDomainName,after.example.com,Block,t,d\n".repeat(3);
    assert!(first.len() < 200 && first.len() + rest.len() > 200);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(first.into_bytes()), Ok(rest.into_bytes())];
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/indicators/bulk")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "text/csv")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let response = iocd_server::router(api.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let listed = api
        .get("/api/indicators?$select=indicatorValue", &admin)
        .await;
    assert_eq!(
        listed.body["value"],
        json!([{"indicatorValue": "whole.example.com"}]),
        "{}",
        listed.text
    );
}

/// CSV bulk rows had no size limit (NDJSON lines had 1 MiB): one 256 MB quoted field was held
/// in memory. Now a row past 1 MiB ends the file with a reason, and the rows before it stay.
#[tokio::test]
async fn a_csv_row_past_a_mebibyte_ends_the_file() {
    let api = TestApi::new();
    let admin = api.admin();
    let body = format!(
        "IndicatorType,IndicatorValue,Action,Title,Description\nDomainName,kept.example,Block,t,d\nDomainName,x.example,Block,\"{}",
        "y".repeat(2 * 1024 * 1024)
    );
    let reply = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(&admin),
            Some("text/csv"),
            body.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("line 3") && message.contains("longer than"),
        "{message}"
    );
    let listed = api
        .get("/api/indicators?$select=indicatorValue", &admin)
        .await;
    assert_eq!(
        listed.body["value"],
        json!([{"indicatorValue": "kept.example"}])
    );
}

/// OData reached SQLite's own limits and answered 500 (2,001 `$orderby` terms, large `any()`
/// disjunctions); `$top=0` answered a next link equal to itself; the alerts' `$skip` was cast
/// to a signed number, so a huge one behaved as 0.
#[tokio::test]
async fn odata_edges_are_answered_not_failed() {
    let api = TestApi::new();
    let admin = api.admin();
    let reply = api
        .post(
            "/api/indicators",
            &admin,
            indicator("e.example", "DomainName", "Audit"),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "Audit needs generateAlert"
    );
    let mut alerting = indicator("e.example", "DomainName", "Audit");
    alerting["generateAlert"] = json!(true);
    let reply = api.post("/api/indicators", &admin, alerting).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let orderby = vec!["id"; 2_001].join(",");
    let chain = (0..2_000)
        .map(|i| format!("id%20eq%20'{i}'"))
        .collect::<Vec<_>>()
        .join("%20or%20");
    let any = format!(
        "rbacGroupNames/any(g:{})",
        (0..500)
            .map(|i| format!("g%20eq%20'{i}'"))
            .collect::<Vec<_>>()
            .join("%20or%20")
    );
    for query in [
        format!("$orderby={orderby}"),
        format!("$filter={chain}"),
        format!("$filter={any}"),
    ] {
        let reply = api.get(&format!("/api/indicators?{query}"), &admin).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.body["error"]["code"], "ODataError");
    }
    let empty = api.get("/api/indicators?$top=0", &admin).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["value"], json!([]));
    assert!(
        empty.body.get("@odata.nextLink").is_none(),
        "{}",
        empty.text
    );

    let sensor = api.token("tenant-a", iocd_server::auth::Role::EventsWrite, "sensor");
    let events = api
        .post(
            "/api/events",
            &sensor,
            json!({"DeviceId": "d1", "RemoteUrl": "e.example"}),
        )
        .await;
    assert_eq!(events.body["alerts"], json!(["1"]), "{}", events.text);
    let analyst = api.token("tenant-a", iocd_server::auth::Role::AlertReadAll, "analyst");
    for skip in ["9223372036854775808", "18446744073709551615"] {
        let page = api
            .get(&format!("/api/alerts?$skip={skip}"), &analyst)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert_eq!(page.body["value"], json!([]), "$skip={skip}");
    }
    let alerts = api.get("/api/alerts?$top=0", &analyst).await;
    assert!(
        alerts.body.get("@odata.nextLink").is_none(),
        "{}",
        alerts.text
    );
}

/// `0.0.0.0/0` and `::/0` were accepted, so one writer could block every address. Prefixes
/// shorter than `min_ipv4_prefix` (8) and `min_ipv6_prefix` (16) are refused, on every path.
#[tokio::test]
async fn match_everything_networks_are_refused() {
    let api = TestApi::new();
    let admin = api.admin();
    for value in ["0.0.0.0/0", "::/0", "10.0.0.0/7"] {
        let reply = api
            .post(
                "/api/indicators",
                &admin,
                indicator(value, "IpAddress", "Block"),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{value}: {}",
            reply.text
        );
        assert_eq!(reply.body["error"]["code"], "InvalidIpAddress");
    }
    let csv =
        "IndicatorType,IndicatorValue,Action,Title,Description\nIpAddress,0.0.0.0/0,Block,t,d\n";
    let bulk = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(&admin),
            Some("text/csv"),
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(bulk.body["failed"], 1, "{}", bulk.text);
    // An operator who wants them can lower the minimum.
    let mut config = iocd_server::config::Config::for_profile(Default::default());
    config.min_ipv4_prefix = 0;
    let open = TestApi::with_config(config);
    let reply = open
        .post(
            "/api/indicators",
            &open.admin(),
            indicator("0.0.0.0/0", "IpAddress", "Block"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// The HTTP method was a Prometheus label taken as sent: 3,000 requests with invented methods
/// made `/metrics` 196 MB. Methods outside the standard ones count as `OTHER`.
#[tokio::test]
async fn invented_methods_do_not_grow_the_metrics() {
    let api = TestApi::new();
    let admin = api.admin();
    for n in 0..300 {
        let method = format!("X{n}");
        let reply = api
            .send(&method, "/api/indicators", Some(&admin), None, Vec::new())
            .await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let metrics = api.token("tenant-a", iocd_server::auth::Role::MetricsRead, "ops");
    let text = api.get("/metrics", &metrics).await.text;
    assert!(!text.contains("X17"), "an invented method became a label");
    assert!(text.contains("method=\"OTHER\""), "{text}");
    assert!(text.len() < 20_000, "{} bytes of metrics", text.len());
}

/// `@odata.context` and `@odata.nextLink` came from the `Host` header when `public_url` was
/// unset, so a request could make the server hand out links to any host (which `iocd export`
/// then followed with its token). Links come from `public_url` or the listen address.
#[tokio::test]
async fn links_never_echo_the_host_header() {
    let api = TestApi::with_config(iocd_server::config::Config::for_profile(Default::default()));
    let admin = api.admin();
    for n in 0..2 {
        let body = indicator(&format!("l{n}.example"), "DomainName", "Block");
        assert_eq!(
            api.post("/api/indicators", &admin, body).await.status,
            StatusCode::OK
        );
    }
    let reply = api
        .send(
            "GET",
            "/api/indicators?$top=1",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    let text = &reply.text;
    assert!(
        !text.contains("iocd.test"),
        "the Host header was echoed: {text}"
    );
    let link = reply.body["@odata.nextLink"].as_str().unwrap_or_default();
    assert!(
        link.starts_with("http://127.0.0.1:8080/api/indicators?"),
        "{link}"
    );
    let context = reply.body["@odata.context"].as_str().unwrap_or_default();
    assert!(context.starts_with("http://127.0.0.1:8080/"), "{context}");
}

/// A bulk upload that sent its body slowly held two blocking threads with no limit: a few
/// hundred stalled uploads starved every database call. At most `max_concurrent_bulk` run at
/// once; more are answered 503 with `Retry-After`, and the rest of the API keeps working.
#[tokio::test]
async fn stalled_bulk_uploads_are_capped() {
    use axum::body::Body;
    use tower::ServiceExt;
    let mut config = iocd_server::config::Config::for_profile(Default::default());
    config.max_concurrent_bulk = 2;
    let api = TestApi::with_config(config);
    let admin = api.admin();
    let mut stalled = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..2 {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        sender.send(Ok(b"{\"a\":".to_vec())).await.unwrap();
        senders.push(sender);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/api/indicators/bulk")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/x-ndjson")
            .body(Body::from_stream(stream))
            .unwrap();
        let router = iocd_server::router(api.state.clone());
        stalled.push(tokio::spawn(async move { router.oneshot(request).await }));
    }
    // Let both reach their handler and take their slots.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let third = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(&admin),
            Some("application/x-ndjson"),
            Vec::new(),
        )
        .await;
    assert_eq!(
        third.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        third.text
    );
    assert_eq!(third.body["error"]["code"], "ServiceUnavailable");
    assert_eq!(third.headers["retry-after"], "5");
    let submit = api
        .post(
            "/api/indicators",
            &admin,
            indicator("free.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(submit.status, StatusCode::OK, "{}", submit.text);
    // When the stalled uploads end, their slots free.
    drop(senders);
    for upload in stalled {
        let _ = upload.await;
    }
    let mut freed = false;
    for _ in 0..50 {
        let again = api
            .send(
                "POST",
                "/api/indicators/bulk",
                Some(&admin),
                Some("application/x-ndjson"),
                Vec::new(),
            )
            .await;
        if again.status == StatusCode::OK {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(freed, "the slots were not given back");
}

/// `/api/events` kept a result for every event (4 MB of junk lines added 0.5 GB). Events are
/// now parsed and matched in chunks, and the answer lists the first 1,000 failures.
#[tokio::test]
async fn an_events_answer_lists_at_most_a_thousand_failures() {
    let api = TestApi::new();
    let sensor = api.token("tenant-a", iocd_server::auth::Role::EventsWrite, "sensor");
    let mut body = String::new();
    for n in 0..12_000 {
        body.push_str(&format!(
            "{{\"DeviceId\": \"d{n}\", \"RemoteIP\": \"198.51.100.7\"}}\n"
        ));
    }
    body.push_str(&"1\n".repeat(3_000));
    let reply = api
        .send(
            "POST",
            "/api/events",
            Some(&sensor),
            Some("application/x-ndjson"),
            body.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["events"], 12_000);
    assert_eq!(reply.body["observables"], 12_000);
    assert_eq!(reply.body["failed"].as_array().map(Vec::len), Some(1_000));
    assert_eq!(reply.body["failed"][0]["line"], 12_001);
    assert_eq!(reply.body["unlisted"], 2_000);
    // A JSON array's items are numbered by index, in chunks too.
    let items: Vec<serde_json::Value> = (0..10_005)
        .map(|n| json!({"DeviceId": format!("a{n}")}))
        .chain([json!(7)])
        .collect();
    let reply = api.post("/api/events", &sensor, json!(items)).await;
    assert_eq!(reply.body["events"], 10_005, "{}", reply.text);
    assert_eq!(reply.body["failed"][0]["index"], 10_005);
}

/// A client that began a body and went quiet held its connection (and, for bulk loads, two
/// blocking threads) until it left. Each wait for the body now lasts at most
/// `body_read_timeout_seconds`, then the request is answered 408.
#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    use tower::ServiceExt;
    let mut config = iocd_server::config::Config::for_profile(Default::default());
    config.body_read_timeout_seconds = 1;
    let api = TestApi::with_config(config);
    let admin = api.admin();
    let started = std::time::Instant::now();
    let (request, _keep_open) = stalled_request(
        &admin,
        "/api/indicators",
        "application/json",
        b"{\"indicatorValue\":",
    );
    let reply = iocd_server::router(api.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::REQUEST_TIMEOUT);
    let body = axum::body::to_bytes(reply.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "RequestTimeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // A bulk upload keeps the complete rows it got before the stall and says so.
    let first = format!(
        "{}\n{{\"indic",
        indicator("kept.example", "DomainName", "Block")
    );
    let (request, _keep_open) = stalled_request(
        &admin,
        "/api/indicators/bulk",
        "application/x-ndjson",
        first.as_bytes(),
    );
    let reply = iocd_server::router(api.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::REQUEST_TIMEOUT);
    let body = axum::body::to_bytes(reply.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains(" 1 rows before that point"), "{text}");
    let listed = api.get("/api/indicators", &admin).await;
    assert_eq!(
        listed.body["value"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
}

/// Starts a real server on a loopback port with `config`; returns its address and a handle
/// that stops it when dropped.
async fn real_server(
    config: iocd_server::config::Config,
) -> (
    std::net::SocketAddr,
    TestApi,
    tokio::sync::oneshot::Sender<()>,
) {
    let api = TestApi::with_config(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = api.state.clone();
    tokio::spawn(async move {
        let _ = iocd_server::serve_until(state, listener, async move {
            let _ = stopped.await;
        })
        .await;
    });
    (address, api, stop)
}

/// Reads from `stream` until the server closes it or `limit` passes; returns what was read and
/// whether the server closed the connection.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: std::time::Duration,
) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buffer[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// A client that trickled its request headers (or sent none) kept its connection, and with
/// enough of them the server ran out of file descriptors. Headers must now arrive within
/// `header_read_timeout_seconds`, and at most `max_connections` connections are served at
/// once; the rest wait in the listen queue until one frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_connections_are_capped() {
    use tokio::io::AsyncWriteExt;
    let mut config = iocd_server::config::Config::for_profile(Default::default());
    config.header_read_timeout_seconds = 1;
    config.max_connections = 1;
    let (address, _api, _stop) = real_server(config).await;

    // Half a request line, then nothing: the server hangs up after about a second.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();

    // The one connection slot is taken, so a second client waits...
    let mut waiting = tokio::net::TcpStream::connect(address).await.unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (early, _) = read_until_closed(&mut waiting, std::time::Duration::from_millis(400)).await;
    assert!(early.is_empty(), "served past the connection cap");

    let (_, closed) = read_until_closed(&mut slow, std::time::Duration::from_secs(10)).await;
    assert!(closed, "the slow client was never cut off");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "{waited:?}"
    );

    // ...and is answered once the slow one is gone.
    let (answer, _) = read_until_closed(&mut waiting, std::time::Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Connections that send nothing, or keep alive after a request and then go quiet, are closed
/// after `header_read_timeout_seconds` too (the idle timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let mut config = iocd_server::config::Config::for_profile(Default::default());
    config.header_read_timeout_seconds = 1;
    let (address, _api, _stop) = real_server(config).await;
    let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut kept_alive = tokio::net::TcpStream::connect(address).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for stream in [&mut silent, &mut kept_alive] {
        let (_, closed) = read_until_closed(stream, std::time::Duration::from_secs(10)).await;
        assert!(closed, "an idle connection stayed open");
    }
}
