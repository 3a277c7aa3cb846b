//! Traces over OTLP: with `--otlp-endpoint`, each request's span reaches
//! the collector (here a small OTLP/HTTP receiver in the test, taking the
//! JSON encoding), named `request` and carrying the request id the answer
//! gave, from the service `actas`; the last spans are sent when the
//! server stops.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Takes OTLP/HTTP posts and keeps their bodies, answering each 200.
async fn collector() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
                    keep.lock().unwrap().push((path, body));
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if conn.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), got)
}

/// Every span in the posts received, with its resource's attributes.
fn spans(got: &[(String, Value)]) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for (_, body) in got {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    out.push((rs["resource"].clone(), span.clone()));
                }
            }
        }
    }
    out
}

fn attribute<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

#[tokio::test]
async fn each_request_is_a_span_at_the_collector_with_its_request_id() {
    let (endpoint, got) = collector().await;
    let env = Env::new();
    let mut server = Server::start(&env, &env.db, &["--otlp-endpoint", &endpoint]);
    let c = http();
    let res = c.get(server.api("/sessions/nope")).header("x-request-id", "trace-me-1").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-1");
    let status = server.terminate(Duration::from_secs(15)).expect("the server stops");
    assert!(status.success(), "{}", server.log());

    // The last spans went out as the server stopped; give the receiver a moment to file them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let all = spans(&got.lock().unwrap());
        let hit = all.into_iter().find(|(_, s)| {
            s["name"] == "request" && attribute(s, "request_id").is_some_and(|v| v["stringValue"] == "trace-me-1")
        });
        if hit.is_some() || Instant::now() > deadline {
            break hit;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let posts = got.lock().unwrap().clone();
    let (resource, span) = found.unwrap_or_else(|| panic!("no span of the request reached the collector: {posts:?}"));
    assert!(posts.iter().all(|(path, _)| path == "/v1/traces"), "{posts:?}");
    assert_eq!(attribute(&resource, "service.name").map(|v| &v["stringValue"]), Some(&Value::from("actas")));
    assert_eq!(attribute(&span, "path").map(|v| &v["stringValue"]), Some(&Value::from("/api/v1/sessions/nope")));
    assert_eq!(attribute(&span, "method").map(|v| &v["stringValue"]), Some(&Value::from("GET")));
    assert!(span["traceId"].as_str().is_some_and(|t| t.len() == 32), "{span}");
}

#[tokio::test]
async fn a_bad_endpoint_or_sample_ratio_is_refused_at_start() {
    let env = Env::new();
    let mut c = bare_cmd(env.dir.path());
    c.env("ACTAS_OTLP_ENDPOINT", "collector:4318").args(["serve", "--listen", "127.0.0.1:0"]);
    let out = run_briefly(c);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ACTAS_OTLP_ENDPOINT=\"collector:4318\": expected the collector's http:// address"),
        "{}",
        both(&out)
    );
    let mut c = bare_cmd(env.dir.path());
    c.args(["--traces-sample-ratio", "2", "serve", "--listen", "127.0.0.1:0"]);
    let out = run_briefly(c);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expected a share from 0 to 1"), "{}", both(&out));
}
