//! Notifications of approval requests and outcomes (Teams, Slack, e-mail via `nexus-audit`).
//! Sent in the background: a slow or failing channel never holds up a run.

use std::sync::Arc;

use nexus_audit::notify::{Channel, Notification, NotificationKind, Notifier, Secret, SmtpConfig};

/// Channels from the controller's flags; webhook URLs and the SMTP password come from files
/// (mounted Secrets) so they never appear in the process list or the Deployment.
#[derive(Clone, Debug, Default)]
pub struct NotifyConfig {
    pub teams_webhook_file: Option<std::path::PathBuf>,
    pub slack_webhook_file: Option<std::path::PathBuf>,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_username: Option<String>,
    pub smtp_password_file: Option<std::path::PathBuf>,
    pub email_from: Option<String>,
    pub email_to: Vec<String>,
    /// Base URL of the portal, for links to runs.
    pub portal_url: String,
}

fn read_secret(path: &std::path::Path, what: &str) -> Result<Secret, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{what} {} is empty", path.display()));
    }
    Ok(Secret::new(text))
}

/// The notifier the flags ask for, or None when no channel is configured.
pub fn notifier(cfg: &NotifyConfig) -> Result<Option<Arc<Notifier>>, String> {
    let mut channels = Vec::new();
    if let Some(p) = &cfg.teams_webhook_file {
        channels.push(Channel::Teams {
            name: "teams".into(),
            webhook: read_secret(p, "--notify-teams-webhook-file")?,
        });
    }
    if let Some(p) = &cfg.slack_webhook_file {
        channels.push(Channel::Slack {
            name: "slack".into(),
            webhook: read_secret(p, "--notify-slack-webhook-file")?,
        });
    }
    if let Some(host) = &cfg.smtp_host {
        let from = cfg
            .email_from
            .clone()
            .ok_or("--notify-email-from is required with --notify-smtp-host")?;
        if cfg.email_to.is_empty() {
            return Err("--notify-email-to is required with --notify-smtp-host".into());
        }
        let mut smtp = SmtpConfig::new(host.clone(), cfg.smtp_port, from, cfg.email_to.clone());
        smtp.username = cfg.smtp_username.clone();
        smtp.password = cfg
            .smtp_password_file
            .as_ref()
            .map(|p| read_secret(p, "--notify-smtp-password-file"))
            .transpose()?;
        channels.push(Channel::Email {
            name: "email".into(),
            smtp,
        });
    }
    Ok((!channels.is_empty()).then(|| Arc::new(Notifier::new(channels))))
}

/// What a run transition tells people.
pub struct Message {
    pub kind: NotificationKind,
    pub stage: Option<String>,
    pub people: Vec<String>,
    pub reason: Option<String>,
}

/// Sends in the background; failures are logged with the channel named (never its URL).
pub fn send(
    notifier: &Option<Arc<Notifier>>,
    portal_url: &str,
    run: &nexus_api::actions::ActionRun,
    m: Message,
) {
    let Some(notifier) = notifier.clone() else {
        return;
    };
    let ns = run.metadata.namespace.clone().unwrap_or_default();
    let name = run.metadata.name.clone().unwrap_or_default();
    let n = Notification {
        kind: m.kind,
        run: format!("{ns}/{name}"),
        action: run.spec.action.clone(),
        target: run.spec.target.clone().unwrap_or_else(|| "-".into()),
        requester: run.spec.requester.clone(),
        stage: m.stage,
        approvers: m.people,
        url: format!(
            "{}/actions/runs/{ns}/{name}",
            portal_url.trim_end_matches('/')
        ),
        reason: m.reason,
    };
    tokio::spawn(async move {
        if let Err(e) = notifier.notify(&n).await {
            tracing::warn!(run = %n.run, error = %e, "notification not delivered");
        }
    });
}
