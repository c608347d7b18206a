//! E-mail over SMTP (lettre, tokio + rustls).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{DeliveryProblem, Notification, Secret};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay inside the cluster).
    None,
    /// STARTTLS, required: fail rather than send in clear.
    StartTls,
    /// STARTTLS when the server offers it.
    StartTlsIfAvailable,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    pub timeout: Duration,
}

impl SmtpConfig {
    pub fn new(
        host: impl Into<String>,
        port: u16,
        from: impl Into<String>,
        to: Vec<String>,
    ) -> Self {
        SmtpConfig {
            host: host.into(),
            port,
            security: SmtpSecurity::StartTls,
            username: None,
            password: None,
            from: from.into(),
            to,
            timeout: Duration::from_secs(30),
        }
    }
}

pub(super) fn body(n: &Notification) -> String {
    let mut text = format!("{}\n\n", n.title());
    for (label, value) in n.facts() {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str(&format!("\nOpen in the portal: {}\n", n.url));
    text
}

pub(super) fn message(cfg: &SmtpConfig, n: &Notification) -> Result<Message, DeliveryProblem> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| DeliveryProblem::Address(format!("from {:?}: {e}", cfg.from)))?;
    if cfg.to.is_empty() {
        return Err(DeliveryProblem::Address("no recipients".into()));
    }
    let mut builder = Message::builder().from(from).subject(n.title());
    for to in &cfg.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| DeliveryProblem::Address(format!("to {to:?}: {e}")))?;
        builder = builder.to(mailbox);
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body(n))
        .map_err(|e| DeliveryProblem::Message(e.to_string()))
}

pub(super) async fn send(cfg: &SmtpConfig, n: &Notification) -> Result<(), DeliveryProblem> {
    let message = message(cfg, n)?;
    let tls = match cfg.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::StartTls | SmtpSecurity::StartTlsIfAvailable => {
            let params = TlsParameters::new(cfg.host.clone())
                .map_err(|e| DeliveryProblem::Config(format!("TLS: {e}")))?;
            if cfg.security == SmtpSecurity::StartTls {
                Tls::Required(params)
            } else {
                Tls::Opportunistic(params)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(cfg.timeout));
    match (&cfg.username, &cfg.password) {
        (Some(user), Some(password)) => {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        (None, None) => {}
        _ => {
            return Err(DeliveryProblem::Config(
                "SMTP username and password go together".into(),
            ));
        }
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| {
            let text = e.to_string();
            let text = match &cfg.password {
                Some(p) if !p.expose().is_empty() => text.replace(p.expose(), "[redacted]"),
                _ => text,
            };
            DeliveryProblem::Smtp(text)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{NotificationKind, sample};

    #[test]
    fn message_headers_and_body() {
        let cfg = SmtpConfig::new(
            "localhost",
            25,
            "Nexus <nexus@example.com>",
            vec!["bob@example.com".into(), "carol@example.com".into()],
        );
        let m = message(&cfg, &sample(NotificationKind::Approved)).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains("Subject: Approved: restart on Component/team-a/web"),
            "{raw}"
        );
        assert!(
            raw.contains("To: bob@example.com, carol@example.com"),
            "{raw}"
        );
        assert!(
            raw.contains("Approved by: bob@example.com, carol@example.com"),
            "{raw}"
        );
        assert!(raw.contains("https://portal.example.com/runs/team-a/restart-web-7"));
    }

    #[test]
    fn bad_addresses_are_typed_errors() {
        let mut cfg = SmtpConfig::new("localhost", 25, "not an address", vec!["a@b.c".into()]);
        let e = message(&cfg, &sample(NotificationKind::Approved)).unwrap_err();
        assert!(matches!(e, DeliveryProblem::Address(_)), "{e}");
        cfg.from = "n@example.com".into();
        cfg.to.clear();
        assert!(matches!(
            message(&cfg, &sample(NotificationKind::Approved)),
            Err(DeliveryProblem::Address(_))
        ));
    }
}
