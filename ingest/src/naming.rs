//! Kubernetes object names for discovered entities: DNS-1123 labels derived from the source's
//! own names, stable across runs, with a short hash when shortening or sanitising could collide.

use sha2::{Digest, Sha256};

/// Longest name we produce (a DNS-1123 label, so it also fits label values).
pub const MAX_NAME: usize = 63;

/// A DNS-1123 label from name parts joined by `-`: lower case, runs of other characters become
/// one `-`. When the result had to be shortened, or lost characters, a 6-hex-digit hash of the
/// original is appended so different originals stay different.
pub fn object_name(parts: &[&str]) -> String {
    let original = parts.join("/");
    let mut out = String::with_capacity(original.len());
    let mut lossy = false;
    for part in parts {
        if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        for c in part.chars() {
            let c2 = c.to_ascii_lowercase();
            if c2.is_ascii_alphanumeric() {
                lossy |= c2 != c && !c.is_ascii_uppercase();
                out.push(c2);
            } else {
                lossy |= !matches!(c, '-' | '.' | '_' | ' ');
                if !out.is_empty() && !out.ends_with('-') {
                    out.push('-');
                }
            }
        }
    }
    let trimmed = out.trim_matches('-');
    let mut name = trimmed.to_string();
    if name.is_empty() {
        name = "x".into();
        lossy = true;
    }
    if name.len() > MAX_NAME || lossy {
        let hash = short_hash(&original);
        name.truncate(MAX_NAME - hash.len() - 1);
        let name = name.trim_end_matches('-');
        return format!("{name}-{hash}");
    }
    name
}

/// First 6 hex digits of the SHA-256 of `s`.
pub fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..3].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(
            object_name(&["Contoso", "Payments.API"]),
            "contoso-payments-api"
        );
        assert_eq!(
            object_name(&["octo_org", "Hello World"]),
            "octo-org-hello-world"
        );
        let long = "a".repeat(100);
        let n = object_name(&[&long]);
        assert!(n.len() <= MAX_NAME, "{n}");
        assert_ne!(n, object_name(&[&"a".repeat(101)]));
        // Characters that vanish make collisions possible: hash them apart.
        assert_ne!(object_name(&["a+b"]), object_name(&["a&b"]));
        assert_eq!(object_name(&["!!!"]).len(), 8);
    }
}
