//! PagerDuty V3 webhook signatures: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, each an
//! HMAC-SHA256 of the raw body under one of the subscription's secrets (several during rotation).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Whether any `v1=` signature in `header` is the HMAC-SHA256 of `body` under `secret`.
/// Comparison is constant-time. An empty secret never verifies: it would let anyone sign.
pub fn pagerduty_signature_valid(secret: &[u8], body: &[u8], header: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let mut valid = false;
    for part in header.split(',') {
        let Some(hex) = part.trim().strip_prefix("v1=") else {
            continue;
        };
        if let Some(given) = decode_hex(hex.trim()) {
            // Check every candidate so timing does not reveal which one matched.
            valid |= bool::from(given.as_slice().ct_eq(expected.as_slice()));
        }
    }
    valid
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é0"), None);
    }

    /// RFC 4231 test case 2 ("Jefe"), as a PagerDuty header.
    #[test]
    fn rfc_4231_vector() {
        let sig = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let body = b"what do ya want for nothing?";
        assert!(pagerduty_signature_valid(
            b"Jefe",
            body,
            &format!("v1={sig}")
        ));
        assert!(pagerduty_signature_valid(
            b"Jefe",
            body,
            &format!("v1=00, v1={}", sig.to_uppercase())
        ));
        assert!(!pagerduty_signature_valid(
            b"Jefe",
            b"what do ya want for nothing!",
            &format!("v1={sig}")
        ));
        assert!(!pagerduty_signature_valid(
            b"jefe",
            body,
            &format!("v1={sig}")
        ));
        assert!(!pagerduty_signature_valid(
            b"Jefe",
            body,
            &format!("v0={sig}")
        ));
        assert!(!pagerduty_signature_valid(b"", body, &format!("v1={sig}")));
        assert!(!pagerduty_signature_valid(b"Jefe", body, ""));
    }
}
