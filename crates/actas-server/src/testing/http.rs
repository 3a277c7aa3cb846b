//! Plain HTTP calls that answer the status and the body as JSON, for a
//! server at any address (the command line tests' binary too).

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// `METHOD url` with an optional bearer credential and JSON body; answers
/// the status and the body (JSON, a JSON string when it is not JSON, `null`
/// when empty).
pub async fn send(
    c: &reqwest::Client,
    method: Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = c.request(method.clone(), url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = res.status();
    let text = res.text().await.unwrap_or_else(|e| panic!("{method} {url}: the body: {e}"));
    let v =
        if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, v)
}

/// `GET url` with a bearer credential.
pub async fn get(c: &reqwest::Client, url: &str, bearer: &str) -> (StatusCode, Value) {
    send(c, Method::GET, url, Some(bearer), None).await
}

/// `POST url` with a JSON body and a bearer credential.
pub async fn post(c: &reqwest::Client, url: &str, bearer: &str, body: &Value) -> (StatusCode, Value) {
    send(c, Method::POST, url, Some(bearer), Some(body)).await
}
