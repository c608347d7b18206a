//! `nexus gate` against a local HTTP server playing the controller's gate endpoint: the
//! request it sends (path, scorecards, bearer token) and the exit codes (0 allowed, 1 blocked
//! with the reasons, 2 undecided).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    process::Command,
    sync::mpsc,
};

const NEXUS: &str = env!("CARGO_BIN_EXE_nexus");

/// Serves one request with `status` and `body`; returns the base URL and the request line and
/// headers it received.
fn serve_once(status: &str, body: &str) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let (status, body) = (status.to_string(), body.to_string());
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let _ = stream.flush();
        let _ = reader.read(&mut [0u8; 1]);
        tx.send(head).unwrap();
    });
    (base, rx)
}

fn gate(args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(NEXUS);
    cmd.arg("gate").args(args).env_remove("NEXUS_GATE_URL");
    match token {
        Some(t) => cmd.env("NEXUS_GATE_TOKEN", t),
        None => cmd.env_remove("NEXUS_GATE_TOKEN"),
    };
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn allowed_blocked_and_undecided_exit_codes() {
    let allowed = r#"{"allowed":true,"reasons":["level Bronze meets the required Bronze"],"scorecards":[{"scorecard":"nexus-org/production-readiness","allowed":true,"reasons":["level Bronze meets the required Bronze"],"score":40,"level":"Bronze"}]}"#;
    let (base, seen) = serve_once("200 OK", allowed);
    let (code, out, err) = gate(
        &[
            "component:team-payments/payments-api",
            "--url",
            &base,
            "--scorecard",
            "production-readiness",
        ],
        Some("s3cret"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("allowed: component:team-payments/payments-api"),
        "{out}"
    );
    assert!(out.contains("passes (score 40, level Bronze)"), "{out}");
    let head = seen.recv().unwrap().to_ascii_lowercase();
    assert!(
        head.starts_with(
            "get /gate/team-payments/component/payments-api?scorecard=production-readiness http/1.1"
        ),
        "{head}"
    );
    assert!(head.contains("authorization: bearer s3cret"), "{head}");

    let blocked = r#"{"allowed":false,"reasons":["no level reached; Bronze is required","failing: Runbook linked (runbook-linked): Link a runbook."],"scorecards":[{"scorecard":"nexus-org/production-readiness","allowed":false,"reasons":["no level reached; Bronze is required","failing: Runbook linked (runbook-linked): Link a runbook."],"score":0,"level":null}]}"#;
    let (base, _seen) = serve_once("200 OK", blocked);
    let (code, out, _) = gate(
        &["team-payments/payments-api", "--url", &base],
        Some("s3cret"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("blocked:"), "{out}");
    assert!(
        out.contains("- failing: Runbook linked (runbook-linked): Link a runbook."),
        "{out}"
    );

    let (base, _seen) = serve_once(
        "401 Unauthorized",
        r#"{"allowed":false,"status":401,"message":"the gate token does not match"}"#,
    );
    let (code, _, err) = gate(
        &["team-payments/payments-api", "--url", &base],
        Some("wrong"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("the gate token does not match"), "{err}");

    let (code, _, err) = gate(
        &["team-payments/payments-api", "--url", "http://127.0.0.1:9"],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("no gate token"), "{err}");
    let (code, _, err) = gate(&["payments-api", "--url", "http://127.0.0.1:9"], Some("t"));
    assert_eq!(code, 2);
    assert!(err.contains("not an entity reference"), "{err}");
}
