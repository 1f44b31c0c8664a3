//! `http` and `notify` against a small server on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ripcord_engine::StepError;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn get_with_checks_that_pass() {
    let mut server = server().await;
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "http",
        json!({
            "url": server.url("/json"),
            "headers": {"X-Token": "abc"},
            "expect": {
                "status": [200],
                "body_contains": "\"ok\"",
                "json": {"/status": "ok", "/nested/n": 3.0, "/nested/name": "db", "/list": [1, 2]},
            },
        }),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["json"]["nested"]["n"], 3);
    assert_eq!(out["headers"]["content-type"], "application/json");
    assert!(out["body"].as_str().unwrap().starts_with('{'));
    let got = server.next().await;
    assert_eq!(got.method, "GET");
    assert_eq!(got.path, "/json");
    assert_eq!(got.header("x-token"), Some("abc"));
    assert!(got.header("user-agent").unwrap().starts_with("ripcord/"));
}

#[tokio::test]
async fn text_bodies_have_no_json_and_headers_are_lower_case() {
    let server = server().await;
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/text")}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["body"], "hello world");
    assert_eq!(out["json"], json!(null));

    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/headers")}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["headers"]["x-custom"], "Yes");
    assert_eq!(out["headers"]["set-cookie"], "a=1, b=2");
}

#[tokio::test]
async fn status_checks() {
    let server = server().await;
    let ctx = TestContext::new();
    // Default: any 2xx.
    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/status/204")}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 204);

    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/status/503")}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains(&format!("GET {}", server.url("/status/503"))),
        "{message}"
    );
    assert!(
        message.contains("expected a 2xx status, got 503"),
        "{message}"
    );
    assert!(message.contains("status 503 body"), "{message}");

    // An explicit list replaces the 2xx default.
    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/status/404"), "expect": {"status": [404, 410]}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 404);
    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/status/200"), "expect": {"status": [201]}}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains("expected status 201, got 200"),
        "{message}"
    );
}

#[tokio::test]
async fn body_and_json_checks_that_fail_say_what_came_back() {
    let server = server().await;
    let ctx = TestContext::new();
    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/text"), "expect": {"body_contains": "goodbye"}}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains("expected the body to contain `goodbye`"),
        "{message}"
    );
    assert!(message.contains("hello world"), "{message}");

    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/json"), "expect": {"json": {
                "/status": "degraded",
                "/nested/n": 4,
                "/nested/missing": true,
            }}}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains("expected /status = \"degraded\", found \"ok\""),
        "{message}"
    );
    assert!(
        message.contains("expected /nested/n = 4, found 3"),
        "{message}"
    );
    assert!(
        message.contains("expected /nested/missing = true, found nothing"),
        "{message}"
    );

    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/text"), "expect": {"json": {"/status": "ok"}}}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains("the body is not JSON"), "{message}");

    // Long bodies are cut in messages.
    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/long-error")}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains(&"e".repeat(200)), "{message}");
    assert!(!message.contains(&"e".repeat(201)), "{message}");
    assert!(message.contains("800 more characters"), "{message}");
}

#[tokio::test]
async fn the_body_is_capped() {
    let server = server().await;
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/big"), "max_body": 1000}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["body"].as_str().unwrap().len(), 1000);
    assert_eq!(out["truncated"], true);

    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/big")}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["body"].as_str().unwrap().len(), BIG_BODY);
    assert_eq!(out["truncated"], false);
}

#[tokio::test]
async fn post_json_and_text_bodies() {
    let mut server = server().await;
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/echo"), "method": "post", "json": {"a": [1, "two"]}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["json"]["method"], "POST");
    assert_eq!(out["json"]["content_type"], "application/json");
    let got = server.next().await;
    assert_eq!(got.json(), json!({"a": [1, "two"]}));

    let out = run(
        &ctx,
        "http",
        json!({
            "url": server.url("/echo"),
            "method": "PUT",
            "body": "plain text",
            "headers": {"Content-Type": "text/plain"},
        }),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["json"]["method"], "PUT");
    assert_eq!(out["json"]["body"], "plain text");
    assert_eq!(out["json"]["content_type"], "text/plain");
}

#[tokio::test]
async fn connection_refused_names_the_url() {
    let port = closed_port().await;
    let ctx = TestContext::new();
    let url = format!("http://127.0.0.1:{port}/health");
    let message = failed(run(&ctx, "http", json!({"url": url}), Opts::default()).await);
    assert!(message.contains(&format!("GET {url}")), "{message}");
    assert!(message.to_lowercase().contains("connect"), "{message}");
}

#[tokio::test]
async fn bad_input() {
    let ctx = TestContext::new();
    for with in [
        json!({"url": "not a url"}),
        json!({"url": "ftp://example.invalid/x"}),
        json!({"url": "http://127.0.0.1/", "method": "NOT A METHOD"}),
        json!({"url": "http://127.0.0.1/", "headers": {"bad header": "x"}}),
        json!({"url": "http://127.0.0.1/", "method": "POST", "body": "x", "json": {}}),
    ] {
        let r = run(&ctx, "http", with.clone(), Opts::default()).await;
        assert!(matches!(r, Err(StepError::Input(_))), "{with}: {r:?}");
    }
}

#[tokio::test]
async fn a_hung_server_is_cut_off_by_cancel_and_by_the_deadline() {
    let server = server().await;
    let ctx = TestContext::new();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "http",
        json!({"url": server.url("/hang")}),
        Opts::cancel(&cancel),
    ));
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("prompt")
        .unwrap();
    assert!(matches!(result, Err(StepError::Cancelled)), "{result:?}");

    let start = Instant::now();
    let message = failed(
        run(
            &ctx,
            "http",
            json!({"url": server.url("/hang")}),
            Opts::timeout(Duration::from_millis(300)),
        )
        .await,
    );
    assert!(message.contains("timed out"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn dry_run_sends_reads_only() {
    let mut server = server().await;
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/echo"), "method": "DELETE"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["dry_run"], true);
    assert_eq!(out["status"], json!(null));
    assert_eq!(out["would_send"]["method"], "DELETE");

    let out = run(
        &ctx,
        "http",
        json!({"url": server.url("/json")}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 200);
    // The first request the server saw is the GET: the DELETE was never sent.
    let got = server.next().await;
    assert_eq!((got.method.as_str(), got.path.as_str()), ("GET", "/json"));
}

#[tokio::test]
async fn notify_posts_the_message_with_run_step_and_fields() {
    let mut server = server().await;
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "notify",
        json!({
            "url": server.url("/status/200"),
            "message": "failover started",
            "fields": {"channel": "#dr", "severity": 2},
        }),
        Opts {
            step_id: "announce".into(),
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"status": 200}));
    let got = server.next().await;
    assert_eq!(got.method, "POST");
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(
        got.json(),
        json!({
            "text": "failover started",
            "run": RUN_ID,
            "step": "announce",
            "channel": "#dr",
            "severity": 2,
        })
    );
}

#[tokio::test]
async fn notify_failures_and_dry_runs() {
    let mut server = server().await;
    let ctx = TestContext::with(json!({}), vec!["s3cr3t".into()]);
    let url = server.url("/status/503?token=s3cr3t");
    let message = failed(
        run(
            &ctx,
            "notify",
            json!({"url": url, "message": "hi"}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains("answered 503 Service Unavailable: status 503 body"),
        "{message}"
    );
    assert!(
        message.contains("token=***"),
        "the URL's secret is redacted: {message}"
    );
    assert!(!message.contains("s3cr3t"), "{message}");
    let _ = server.next().await;

    let out = run(
        &ctx,
        "notify",
        json!({"url": server.url("/status/200"), "message": "dry"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["dry_run"], true);
    assert_eq!(out["would_send"]["text"], "dry");
    // Nothing was sent: the next request the server sees is this GET.
    run(
        &ctx,
        "http",
        json!({"url": server.url("/text")}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(server.next().await.path, "/text");

    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let message = failed(
        run(
            &ctx,
            "notify",
            json!({"url": url, "message": "x"}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains(&url), "{message}");
}
