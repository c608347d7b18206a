//! Approval requests and outcomes, sent to people: Microsoft Teams (incoming webhook or Workflows
//! webhook, Adaptive Card 1.4), Slack (incoming webhook, `text` + Block Kit `blocks`) and e-mail
//! (SMTP via `lettre`).
//!
//! [`Notifier::notify`] sends to every configured channel concurrently and returns one typed
//! error naming each channel that failed; it never panics. Webhook URLs carry their token in the
//! URL and SMTP passwords are secrets: they are held as [`Secret`], whose `Debug` is redacted,
//! and they never appear in errors (transport errors are formatted without the URL, response
//! bodies are scrubbed of it).

mod email;
mod slack;
mod teams;

use std::time::Duration;

use futures::future::join_all;

pub use email::{SmtpConfig, SmtpSecurity};

use crate::retry::{self, RetryPolicy};

/// A secret string (webhook URL, password). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    ApprovalRequested,
    Approved,
    Rejected,
    Expired,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    /// ActionRun as `namespace/name`.
    pub run: String,
    pub action: String,
    pub target: String,
    pub requester: String,
    /// Approval stage (`security`, `2 of 3`…), if any.
    pub stage: Option<String>,
    /// Who may approve (requests) or who approved/rejected (outcomes).
    pub approvers: Vec<String>,
    /// Portal page of the run.
    pub url: String,
    pub reason: Option<String>,
}

impl Notification {
    pub fn title(&self) -> String {
        let what = format!("{} on {}", self.action, self.target);
        match self.kind {
            NotificationKind::ApprovalRequested => format!("Approval requested: {what}"),
            NotificationKind::Approved => format!("Approved: {what}"),
            NotificationKind::Rejected => format!("Rejected: {what}"),
            NotificationKind::Expired => format!("Approval expired: {what}"),
            NotificationKind::Succeeded => format!("Succeeded: {what}"),
            NotificationKind::Failed => format!("Failed: {what}"),
        }
    }

    /// Label and value pairs shown by every channel, in order.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("Action", self.action.clone()),
            ("Target", self.target.clone()),
            ("Run", self.run.clone()),
            ("Requester", self.requester.clone()),
        ];
        if let Some(stage) = &self.stage {
            facts.push(("Stage", stage.clone()));
        }
        if !self.approvers.is_empty() {
            let label = match self.kind {
                NotificationKind::ApprovalRequested | NotificationKind::Expired => "Approvers",
                NotificationKind::Rejected => "Rejected by",
                _ => "Approved by",
            };
            facts.push((label, self.approvers.join(", ")));
        }
        if let Some(reason) = &self.reason {
            facts.push(("Reason", reason.clone()));
        }
        facts
    }

    fn link_title(&self) -> &'static str {
        match self.kind {
            NotificationKind::ApprovalRequested => "Review in portal",
            _ => "Open run in portal",
        }
    }
}

/// One destination.
#[derive(Clone, Debug)]
pub enum Channel {
    Teams { name: String, webhook: Secret },
    Slack { name: String, webhook: Secret },
    Email { name: String, smtp: SmtpConfig },
}

impl Channel {
    pub fn name(&self) -> &str {
        match self {
            Channel::Teams { name, .. }
            | Channel::Slack { name, .. }
            | Channel::Email { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Teams { .. } => "teams",
            Channel::Slack { .. } => "slack",
            Channel::Email { .. } => "email",
        }
    }
}

/// Why one channel failed.
#[derive(Debug, thiserror::Error)]
#[error("{kind} channel {channel:?}: {problem}")]
pub struct ChannelError {
    pub channel: String,
    pub kind: &'static str,
    pub problem: DeliveryProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryProblem {
    #[error("HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("{message} (after {attempts} attempt(s))")]
    Transport { attempts: u32, message: String },
    #[error("invalid address: {0}")]
    Address(String),
    #[error("cannot build message: {0}")]
    Message(String),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("misconfigured: {0}")]
    Config(String),
}

/// Some channels failed (the others delivered).
#[derive(Debug, thiserror::Error)]
#[error("{} of {attempted} notification channel(s) failed: {}", failures.len(), failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct NotifyError {
    pub attempted: usize,
    pub failures: Vec<ChannelError>,
}

#[derive(Clone, Debug)]
pub struct Notifier {
    channels: Vec<Channel>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl Notifier {
    pub fn new(channels: Vec<Channel>) -> Notifier {
        Notifier::with_retry(channels, RetryPolicy::default())
    }

    pub fn with_retry(channels: Vec<Channel>, retry: RetryPolicy) -> Notifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        Notifier {
            channels,
            http,
            retry,
        }
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Sends `n` to every channel; `Err` lists the channels that failed.
    pub async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let results = join_all(self.channels.iter().map(|c| self.send(c, n))).await;
        let failures: Vec<ChannelError> = results.into_iter().filter_map(Result::err).collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NotifyError {
                attempted: self.channels.len(),
                failures,
            })
        }
    }

    /// Sends `n` to one channel.
    pub async fn send(&self, channel: &Channel, n: &Notification) -> Result<(), ChannelError> {
        let result = match channel {
            Channel::Teams { webhook, .. } => self.post_json(webhook, &teams::payload(n)).await,
            Channel::Slack { webhook, .. } => self.post_json(webhook, &slack::payload(n)).await,
            Channel::Email { smtp, .. } => email::send(smtp, n).await,
        };
        result.map_err(|problem| ChannelError {
            channel: channel.name().to_owned(),
            kind: channel.kind(),
            problem,
        })
    }

    async fn post_json(
        &self,
        webhook: &Secret,
        body: &serde_json::Value,
    ) -> Result<(), DeliveryProblem> {
        let url = reqwest::Url::parse(webhook.expose())
            .map_err(|e| DeliveryProblem::Config(format!("webhook URL does not parse: {e}")))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (problem, wait) = match self.http.post(url.clone()).json(body).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let after = retry::retry_after(resp.headers());
                    let text = resp.text().await.unwrap_or_default();
                    let problem = DeliveryProblem::Status {
                        status: status.as_u16(),
                        attempts: attempt,
                        body: scrub(&retry::snippet(&text, 300), &url),
                    };
                    if !retry::retryable(status) {
                        return Err(problem);
                    }
                    (problem, after)
                }
                Err(e) => (
                    DeliveryProblem::Transport {
                        attempts: attempt,
                        message: scrub(&retry::describe(e), &url),
                    },
                    None,
                ),
            };
            if attempt >= self.retry.max_attempts.max(1) {
                return Err(problem);
            }
            tokio::time::sleep(self.retry.delay(attempt, wait)).await;
        }
    }
}

/// Removes the URL, and its path and query (where the tokens are), from `text`.
fn scrub(text: &str, url: &reqwest::Url) -> String {
    let mut out = text.replace(url.as_str(), "[redacted]");
    let path = url.path();
    if path.len() > 1 {
        out = out.replace(path, "[redacted]");
    }
    if let Some(q) = url.query().filter(|q| !q.is_empty()) {
        out = out.replace(q, "[redacted]");
    }
    out
}

#[cfg(test)]
pub(crate) fn sample(kind: NotificationKind) -> Notification {
    Notification {
        kind,
        run: "team-a/restart-web-7".into(),
        action: "restart".into(),
        target: "Component/team-a/web".into(),
        requester: "alice@example.com".into(),
        stage: Some("security".into()),
        approvers: vec!["bob@example.com".into(), "carol@example.com".into()],
        url: "https://portal.example.com/runs/team-a/restart-web-7".into(),
        reason: Some("deploy <hotfix> & verify".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let c = Channel::Slack {
            name: "ops".into(),
            webhook: Secret::new("https://hooks.slack.com/services/T0/B0/TOKEN123"),
        };
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("TOKEN123"), "{dbg}");
        assert!(dbg.contains("redacted"));
        assert_eq!(Secret::new("x").to_string(), "[redacted]");
    }

    #[test]
    fn facts_and_titles() {
        let n = sample(NotificationKind::ApprovalRequested);
        assert_eq!(
            n.title(),
            "Approval requested: restart on Component/team-a/web"
        );
        let labels: Vec<_> = n.facts().iter().map(|(l, _)| *l).collect();
        assert_eq!(
            labels,
            [
                "Action",
                "Target",
                "Run",
                "Requester",
                "Stage",
                "Approvers",
                "Reason"
            ]
        );
        let mut r = sample(NotificationKind::Rejected);
        r.stage = None;
        r.reason = None;
        let labels: Vec<_> = r.facts().iter().map(|(l, _)| *l).collect();
        assert_eq!(
            labels,
            ["Action", "Target", "Run", "Requester", "Rejected by"]
        );
    }

    #[test]
    fn scrub_removes_tokens() {
        let url = reqwest::Url::parse("https://h.example/webhook/SECRET?sig=SIG").unwrap();
        let s = scrub(
            "bad https://h.example/webhook/SECRET?sig=SIG and /webhook/SECRET sig=SIG",
            &url,
        );
        assert!(!s.contains("SECRET") && !s.contains("SIG"), "{s}");
    }
}
