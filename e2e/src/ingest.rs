//! Helpers for ingestion tests: the shared corpus, signed deliveries, and posting them.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `../shared/corpus` (read in place; never copied into the project).
pub fn corpus_dir() -> PathBuf {
    crate::repo_root().join("../shared/corpus")
}

/// A corpus file's bytes.
pub fn corpus(rel: &str) -> Vec<u8> {
    let path = corpus_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A corpus JSON file, parsed (a leading BOM is skipped).
pub fn corpus_json(rel: &str) -> serde_json::Value {
    let bytes = corpus(rel);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; an error here is impossible.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `X-Hub-Signature-256` for a body.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, body))
}

/// `X-PagerDuty-Signature` for a body.
pub fn pagerduty_signature(secret: &[u8], body: &[u8]) -> String {
    format!("v1={}", hmac_hex(secret, body))
}

/// POSTs a body with headers; returns the status code and response text.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// Posts a GitHub delivery signed with `secret`.
pub async fn post_github(
    http: &reqwest::Client,
    url: &str,
    secret: &[u8],
    event: &str,
    delivery: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let sig = github_signature(secret, &body);
    post(
        http,
        url,
        &[
            ("x-github-event", event.to_string()),
            ("x-github-delivery", delivery.to_string()),
            ("x-hub-signature-256", sig),
        ],
        body,
    )
    .await
}
