//! Helpers shared by the controller's integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test helpers panic on failure

/// A fresh RSA key pair (private PKCS#1 PEM as GitHub issues App keys, public SPKI PEM), made
/// with the `openssl` command (ring cannot generate RSA keys).
pub fn rsa_key() -> (Vec<u8>, Vec<u8>) {
    let out = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .expect("openssl is needed to make a test RSA key");
    assert!(out.status.success(), "openssl genrsa failed");
    let private = out.stdout;
    let mut child = std::process::Command::new("openssl")
        .args(["rsa", "-pubout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&private).unwrap();
    let public = child.wait_with_output().unwrap().stdout;
    (private, public)
}
