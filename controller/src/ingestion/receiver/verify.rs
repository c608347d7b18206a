//! Checking that a delivery comes from who it says. All comparisons are constant-time.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a delivery was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Invalid,
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
pub fn github(secret: &[u8], body: &[u8], headers: &HeaderMap) -> Result<(), Refusal> {
    let header = headers
        .get("x-hub-signature-256")
        .ok_or(Refusal::Missing)?
        .to_str()
        .map_err(|_| Refusal::Invalid)?;
    let hex = header.strip_prefix("sha256=").ok_or(Refusal::Invalid)?;
    let sig = decode_hex(hex).ok_or(Refusal::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Refusal::Invalid)?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| Refusal::Invalid)
}

/// PagerDuty V3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]` (several during secret rotation).
pub fn pagerduty(secret: &[u8], body: &[u8], headers: &HeaderMap) -> Result<(), Refusal> {
    let header = headers
        .get("x-pagerduty-signature")
        .ok_or(Refusal::Missing)?
        .to_str()
        .map_err(|_| Refusal::Invalid)?;
    if nexus_ingest::incidents::pagerduty_signature_valid(secret, body, header) {
        Ok(())
    } else {
        Err(Refusal::Invalid)
    }
}

/// A shared token: `X-Nexus-Token` header, the password of HTTP basic auth (Azure DevOps
/// service hooks), or the `token` query parameter (Azure Monitor action-group webhook URLs).
pub fn token(secret: &[u8], headers: &HeaderMap, query: Option<&str>) -> Result<(), Refusal> {
    let mut offered: Vec<Vec<u8>> = Vec::new();
    if let Some(t) = headers.get("x-nexus-token").and_then(|v| v.to_str().ok()) {
        offered.push(t.as_bytes().to_vec());
    }
    if let Some(basic) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        use base64::Engine as _;
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
            && let Some(pos) = decoded.iter().position(|b| *b == b':')
        {
            offered.push(decoded[pos + 1..].to_vec());
        }
    }
    if let Some(q) = query {
        for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default() {
            if k == "token" {
                offered.push(v.into_bytes());
            }
        }
    }
    if offered.is_empty() {
        return Err(Refusal::Missing);
    }
    // Check every offered value so timing does not reveal which one matched.
    let mut ok = subtle::Choice::from(0);
    for o in &offered {
        ok |= o.as_slice().ct_eq(secret);
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(Refusal::Invalid)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// HMAC-SHA256 of `body` as GitHub writes it (for tests and the bench).
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn github_signatures() {
        // The example from GitHub's documentation "Validating webhook deliveries".
        let sig = github_signature(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let body = b"Hello, World!";
        let secret = b"It's a Secret to Everybody";
        assert_eq!(
            github(secret, body, &headers(&[("x-hub-signature-256", &sig)])),
            Ok(())
        );
        assert_eq!(
            github(
                secret,
                b"Hello, World?",
                &headers(&[("x-hub-signature-256", &sig)])
            ),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            github(b"other", body, &headers(&[("x-hub-signature-256", &sig)])),
            Err(Refusal::Invalid)
        );
        assert_eq!(github(secret, body, &headers(&[])), Err(Refusal::Missing));
        assert_eq!(
            github(
                secret,
                body,
                &headers(&[("x-hub-signature-256", "sha1=abc")])
            ),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            github(
                secret,
                body,
                &headers(&[("x-hub-signature-256", "sha256=zz")])
            ),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            github(
                secret,
                body,
                &headers(&[("x-hub-signature-256", "sha256=é1")])
            ),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn tokens_from_header_basic_auth_or_query() {
        let s = b"s3cret";
        assert_eq!(
            token(s, &headers(&[("x-nexus-token", "s3cret")]), None),
            Ok(())
        );
        // "nexus:s3cret"
        assert_eq!(
            token(
                s,
                &headers(&[("authorization", "Basic bmV4dXM6czNjcmV0")]),
                None
            ),
            Ok(())
        );
        assert_eq!(token(s, &headers(&[]), Some("a=1&token=s3cret")), Ok(()));
        assert_eq!(
            token(s, &headers(&[("x-nexus-token", "wrong")]), None),
            Err(Refusal::Invalid)
        );
        assert_eq!(token(s, &headers(&[]), None), Err(Refusal::Missing));
    }
}
