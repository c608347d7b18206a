//! Azure Monitor sink and Teams/Slack/e-mail notifiers against local servers on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use nexus_audit::{
    RetryPolicy,
    log::{AzureConfig, AzureSink, Entry, Event, GENESIS, Kind, Sink, SinkError, TokenSource},
    notify::{
        Channel, DeliveryProblem, Notification, NotificationKind, Notifier, Secret, SmtpConfig,
        SmtpSecurity,
    },
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

#[derive(Clone, Debug)]
struct Request {
    method: Method,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A server that records requests and answers with the queued statuses, then 204.
#[derive(Clone, Default)]
struct Server {
    requests: Arc<Mutex<Vec<Request>>>,
    replies: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
}

impl Server {
    async fn start(replies: &[(u16, &'static str)]) -> (Server, String) {
        let server = Server::default();
        server
            .replies
            .lock()
            .unwrap()
            .extend(replies.iter().copied());
        let s = server.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let header =
                        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                    s.requests.lock().unwrap().push(Request {
                        method,
                        path: uri.path().to_owned(),
                        query: uri.query().map(str::to_owned),
                        auth: header("authorization"),
                        content_type: header("content-type"),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let (status, text) = s.replies.lock().unwrap().pop_front().unwrap_or((204, ""));
                    let mut resp: Response =
                        (StatusCode::from_u16(status).unwrap(), text.to_owned()).into_response();
                    if status == 429 {
                        resp.headers_mut()
                            .insert("retry-after", "0".parse().unwrap());
                    }
                    resp
                }
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (server, format!("http://{addr}"))
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn entries(n: u64) -> Vec<Entry> {
    let mut prev = GENESIS.to_owned();
    let mut out = Vec::new();
    for seq in 0..n {
        let e = Entry::seal(
            seq,
            jiff::Timestamp::from_second(1_750_000_000 + seq as i64).unwrap(),
            prev,
            Event::new(
                Kind::RunApproved,
                "bob",
                "team-a/run-1",
                "restart",
                "Component/team-a/web",
            )
            .with_details(json!({"stage": "security"})),
        )
        .unwrap();
        prev = e.hash.clone();
        out.push(e);
    }
    out
}

fn tokens() -> (Arc<AtomicUsize>, TokenSource) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let source: TokenSource = Arc::new(move || {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move { Ok(format!("tok-{n}")) })
    });
    (calls, source)
}

fn azure(base: &str, max_batch: usize, attempts: u32, token: TokenSource) -> AzureSink {
    let mut cfg = AzureConfig::new(base, "dcr-0123abcd", "Custom-NexusAudit");
    cfg.max_batch = max_batch;
    cfg.retry = fast_retry(attempts);
    AzureSink::new(cfg, token).unwrap()
}

#[tokio::test]
async fn azure_posts_records_and_retries_on_503_and_429() {
    let (server, base) = Server::start(&[(503, "busy"), (429, "slow down")]).await;
    let (calls, token) = tokens();
    let sink = azure(&base, 100, 5, token);
    let batch = entries(3);
    sink.publish(&batch).await.unwrap();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "two retries then success");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "a token per attempt");
    for (i, r) in reqs.iter().enumerate() {
        assert_eq!(r.method, Method::POST);
        assert_eq!(
            r.path,
            "/dataCollectionRules/dcr-0123abcd/streams/Custom-NexusAudit"
        );
        assert_eq!(r.query.as_deref(), Some("api-version=2023-01-01"));
        assert_eq!(
            r.auth.as_deref(),
            Some(format!("Bearer tok-{}", i + 1).as_str())
        );
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.body, reqs[0].body);
    }
    let body = reqs[0].body.as_array().unwrap();
    assert_eq!(body.len(), 3);
    assert_eq!(body[0]["TimeGenerated"], "2025-06-15T15:06:40Z");
    assert_eq!(body[2]["Seq"], 2);
    assert_eq!(body[1]["Kind"], "run.approved");
    assert_eq!(body[1]["Run"], "team-a/run-1");
    assert_eq!(body[1]["Details"], json!({"stage": "security"}));
    assert_eq!(body[2]["Hash"], json!(batch[2].hash));
    assert_eq!(body[2]["Prev"], json!(batch[1].hash));
}

#[tokio::test]
async fn azure_batches_and_keeps_base_path() {
    let (server, base) = Server::start(&[]).await;
    let (_, token) = tokens();
    let sink = azure(&format!("{base}/ingest/"), 2, 1, token);
    assert!(sink.url().ends_with(
        "/ingest/dataCollectionRules/dcr-0123abcd/streams/Custom-NexusAudit?api-version=2023-01-01"
    ));
    sink.publish(&entries(5)).await.unwrap();
    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| r.body.as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    let seqs: Vec<u64> = server
        .requests()
        .iter()
        .flat_map(|r| r.body.as_array().unwrap().clone())
        .map(|v| v["Seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn azure_errors_are_typed() {
    // Permanent error: no retry.
    let (server, base) = Server::start(&[(400, "{\"error\":\"bad stream\"}")]).await;
    let (_, token) = tokens();
    let e = azure(&base, 10, 5, token)
        .publish(&entries(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SinkError::Status { status: 400, attempts: 1, body, .. } if body.contains("bad stream")),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);

    // Transient errors until the attempts run out.
    let (server, base) = Server::start(&[(503, ""), (503, ""), (503, ""), (503, "")]).await;
    let (_, token) = tokens();
    let e = azure(&base, 10, 3, token)
        .publish(&entries(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SinkError::Status {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(server.requests().len(), 3);

    // The token callback fails.
    let failing: TokenSource = Arc::new(|| Box::pin(async { Err("no credentials".into()) }));
    let e = azure(&base, 10, 3, failing)
        .publish(&entries(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SinkError::Token { message, .. } if message == "no credentials"),
        "{e}"
    );
    assert!(e.to_string().starts_with("azure-monitor: "));

    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_, token) = tokens();
    let e = azure(&format!("http://127.0.0.1:{port}"), 10, 2, token)
        .publish(&entries(1))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Transport { attempts: 2, .. }), "{e}");

    assert!(matches!(
        AzureSink::new(AzureConfig::new("not a url", "d", "s"), tokens().1),
        Err(SinkError::Config { .. })
    ));
}

fn notification(kind: NotificationKind) -> Notification {
    Notification {
        kind,
        run: "team-a/restart-web-7".into(),
        action: "restart".into(),
        target: "Component/team-a/web".into(),
        requester: "alice@example.com".into(),
        stage: Some("security".into()),
        approvers: vec!["bob@example.com".into()],
        url: "https://portal.example.com/runs/team-a/restart-web-7".into(),
        reason: None,
    }
}

#[tokio::test]
async fn teams_and_slack_webhooks() {
    let (server, base) = Server::start(&[(503, ""), (200, "1")]).await;
    let notifier = Notifier::with_retry(
        vec![
            Channel::Teams {
                name: "approvers".into(),
                webhook: Secret::new(format!("{base}/teams/TEAMS-SECRET?sig=SIG-SECRET")),
            },
            Channel::Slack {
                name: "ops".into(),
                webhook: Secret::new(format!("{base}/services/T0/B0/SLACK-SECRET")),
            },
        ],
        fast_retry(3),
    );
    let dbg = format!("{notifier:?}");
    assert!(!dbg.contains("SECRET"), "{dbg}");
    notifier
        .notify(&notification(NotificationKind::ApprovalRequested))
        .await
        .unwrap();
    let reqs = server.requests();
    // One of the two hit the 503 and retried.
    assert_eq!(reqs.len(), 3);
    let teams: Vec<_> = reqs
        .iter()
        .filter(|r| r.path == "/teams/TEAMS-SECRET")
        .collect();
    let slack: Vec<_> = reqs
        .iter()
        .filter(|r| r.path.starts_with("/services/"))
        .collect();
    assert!(!teams.is_empty() && !slack.is_empty());
    let t = teams[0];
    assert_eq!(t.method, Method::POST);
    assert_eq!(t.query.as_deref(), Some("sig=SIG-SECRET"));
    assert_eq!(t.content_type.as_deref(), Some("application/json"));
    assert_eq!(t.body["type"], "message");
    let card = &t.body["attachments"][0]["content"];
    assert_eq!(
        t.body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(
        card["actions"][0]["url"],
        "https://portal.example.com/runs/team-a/restart-web-7"
    );
    let s = slack[0];
    assert_eq!(
        s.body["text"],
        "Approval requested: restart on Component/team-a/web"
    );
    assert_eq!(
        s.body["blocks"][1]["fields"][3]["text"],
        "*Requester*\nalice@example.com"
    );
}

#[tokio::test]
async fn webhook_failures_name_the_channel_and_hide_the_token() {
    let (server, base) = Server::start(&[(
        400,
        "Bad payload received by webhook /teams/TEAMS-SECRET?sig=SIG-SECRET",
    )])
    .await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let notifier = Notifier::with_retry(
        vec![
            Channel::Teams {
                name: "approvers".into(),
                webhook: Secret::new(format!("{base}/teams/TEAMS-SECRET?sig=SIG-SECRET")),
            },
            Channel::Slack {
                name: "ops".into(),
                webhook: Secret::new(format!("http://127.0.0.1:{port}/services/SLACK-SECRET")),
            },
            Channel::Slack {
                name: "fine".into(),
                webhook: Secret::new(format!("{base}/services/OK")),
            },
        ],
        fast_retry(2),
    );
    let e = notifier
        .notify(&notification(NotificationKind::Failed))
        .await
        .unwrap_err();
    assert_eq!(e.attempted, 3);
    assert_eq!(e.failures.len(), 2, "{e}");
    let teams = e
        .failures
        .iter()
        .find(|f| f.channel == "approvers")
        .unwrap();
    assert_eq!(teams.kind, "teams");
    assert!(matches!(
        teams.problem,
        DeliveryProblem::Status {
            status: 400,
            attempts: 1,
            ..
        }
    ));
    let slack = e.failures.iter().find(|f| f.channel == "ops").unwrap();
    assert!(
        matches!(
            slack.problem,
            DeliveryProblem::Transport { attempts: 2, .. }
        ),
        "{slack}"
    );
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("approvers") && text.contains("ops"), "{text}");
    }
    assert_eq!(server.requests().len(), 2);
}

/// Just enough SMTP to accept one message: returns the transcript of client lines and the DATA.
async fn smtp_server(
    rcpt_reply: &'static str,
) -> (u16, tokio::task::JoinHandle<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 test ESMTP\r\n").await.unwrap();
        let mut commands = Vec::new();
        let mut data = String::new();
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            let line = line.trim_end().to_owned();
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            commands.push(line.clone());
            let reply: &str = match verb.as_str() {
                "EHLO" => "250-test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                "AUTH" => "235 ok\r\n",
                "MAIL" => "250 ok\r\n",
                "RCPT" => rcpt_reply,
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await.unwrap();
                    loop {
                        let mut l = String::new();
                        read.read_line(&mut l).await.unwrap();
                        if l == ".\r\n" {
                            break;
                        }
                        data.push_str(&l);
                    }
                    "250 queued\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => "250 ok\r\n",
            };
            write.write_all(reply.as_bytes()).await.unwrap();
        }
        (commands, data)
    });
    (port, task)
}

fn smtp(port: u16) -> SmtpConfig {
    let mut cfg = SmtpConfig::new(
        "127.0.0.1",
        port,
        "Nexus <nexus@example.com>",
        vec!["bob@example.com".into(), "carol@example.com".into()],
    );
    cfg.security = SmtpSecurity::None;
    cfg.timeout = Duration::from_secs(5);
    cfg
}

#[tokio::test]
async fn email_over_smtp() {
    let (port, server) = smtp_server("250 ok\r\n").await;
    let mut cfg = smtp(port);
    cfg.username = Some("nexus".into());
    cfg.password = Some(Secret::new("SMTP-SECRET"));
    let notifier = Notifier::new(vec![Channel::Email {
        name: "mail".into(),
        smtp: cfg,
    }]);
    assert!(!format!("{notifier:?}").contains("SMTP-SECRET"));
    notifier
        .notify(&notification(NotificationKind::ApprovalRequested))
        .await
        .unwrap();
    let (commands, data) = server.await.unwrap();
    assert!(commands[0].starts_with("EHLO "), "{commands:?}");
    assert!(
        commands.iter().any(|c| c.starts_with("AUTH PLAIN ")),
        "{commands:?}"
    );
    assert!(
        commands.contains(&"MAIL FROM:<nexus@example.com>".to_owned()),
        "{commands:?}"
    );
    assert!(
        commands.contains(&"RCPT TO:<bob@example.com>".to_owned()),
        "{commands:?}"
    );
    assert!(
        commands.contains(&"RCPT TO:<carol@example.com>".to_owned()),
        "{commands:?}"
    );
    assert!(
        data.contains("Subject: Approval requested: restart on Component/team-a/web"),
        "{data}"
    );
    assert!(data.contains("Requester: alice@example.com"), "{data}");
    assert!(data.contains("Stage: security"), "{data}");
    assert!(
        data.contains("https://portal.example.com/runs/team-a/restart-web-7"),
        "{data}"
    );
}

#[tokio::test]
async fn email_failures_are_typed() {
    let (port, _server) = smtp_server("550 no such user\r\n").await;
    let mut cfg = smtp(port);
    cfg.password = Some(Secret::new("SMTP-SECRET"));
    cfg.username = Some("nexus".into());
    let notifier = Notifier::new(vec![Channel::Email {
        name: "mail".into(),
        smtp: cfg,
    }]);
    let e = notifier
        .notify(&notification(NotificationKind::Rejected))
        .await
        .unwrap_err();
    let f = &e.failures[0];
    assert_eq!((f.channel.as_str(), f.kind), ("mail", "email"));
    assert!(matches!(f.problem, DeliveryProblem::Smtp(_)), "{e}");
    assert!(!format!("{e} {e:?}").contains("SMTP-SECRET"));

    // STARTTLS required but not offered: refused rather than sent in clear.
    let (port, _server) = smtp_server("250 ok\r\n").await;
    let mut cfg = smtp(port);
    cfg.security = SmtpSecurity::StartTls;
    let notifier = Notifier::new(vec![Channel::Email {
        name: "mail".into(),
        smtp: cfg,
    }]);
    let e = notifier
        .notify(&notification(NotificationKind::Succeeded))
        .await
        .unwrap_err();
    assert!(
        matches!(e.failures[0].problem, DeliveryProblem::Smtp(_)),
        "{e}"
    );
}
