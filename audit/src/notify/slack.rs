//! Slack incoming webhook: `text` (notification fallback) plus Block Kit `blocks`.

use serde_json::{Value, json};

use super::Notification;

/// Slack's mrkdwn control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s.chars().count() > max => format!("{}…", &s[..i]),
        _ => s.to_owned(),
    }
}

pub(super) fn payload(n: &Notification) -> Value {
    let title = n.title();
    // A section holds at most 10 fields of at most 2000 characters.
    let fields: Vec<Value> = n
        .facts()
        .into_iter()
        .take(10)
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": truncate(&format!("*{label}*\n{}", escape(&value)), 2000)})
        })
        .collect();
    json!({
        "text": escape(&title),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(&title, 150), "emoji": true}},
            {"type": "section", "fields": fields},
            {"type": "actions", "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": n.link_title()},
                "url": n.url
            }]}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{NotificationKind, sample};

    #[test]
    fn blocks_shape_and_escaping() {
        let p = payload(&sample(NotificationKind::Failed));
        assert_eq!(p["text"], "Failed: restart on Component/team-a/web");
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        let fields = blocks[1]["fields"].as_array().unwrap();
        assert_eq!(fields[0]["text"], "*Action*\nrestart");
        assert!(
            fields
                .iter()
                .any(|f| f["text"] == "*Reason*\ndeploy &lt;hotfix&gt; &amp; verify")
        );
        assert_eq!(
            blocks[2]["elements"][0]["url"],
            "https://portal.example.com/runs/team-a/restart-web-7"
        );
    }

    #[test]
    fn truncates() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
    }
}
