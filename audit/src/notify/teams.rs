//! Microsoft Teams: a message with one Adaptive Card 1.4 attachment, the payload accepted by both
//! the legacy incoming webhooks and Workflows ("When a Teams webhook request is received").

use serde_json::{Value, json};

use super::{Notification, NotificationKind};

pub(super) fn payload(n: &Notification) -> Value {
    let color = match n.kind {
        NotificationKind::ApprovalRequested => "Accent",
        NotificationKind::Approved | NotificationKind::Succeeded => "Good",
        NotificationKind::Expired => "Warning",
        NotificationKind::Rejected | NotificationKind::Failed => "Attention",
    };
    let facts: Vec<Value> = n
        .facts()
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": [
                    {
                        "type": "TextBlock",
                        "text": n.title(),
                        "size": "Large",
                        "weight": "Bolder",
                        "color": color,
                        "wrap": true
                    },
                    {"type": "FactSet", "facts": facts}
                ],
                "actions": [{
                    "type": "Action.OpenUrl",
                    "title": n.link_title(),
                    "url": n.url
                }]
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::sample;

    #[test]
    fn adaptive_card_shape() {
        let p = payload(&sample(NotificationKind::ApprovalRequested));
        assert_eq!(p["type"], "message");
        let a = &p["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(
            card["body"][0]["text"],
            "Approval requested: restart on Component/team-a/web"
        );
        let facts = card["body"][1]["facts"].as_array().unwrap();
        assert_eq!(facts[0], json!({"title": "Action", "value": "restart"}));
        assert!(facts.contains(&json!({"title": "Stage", "value": "security"})));
        assert!(facts.contains(&json!({"title": "Requester", "value": "alice@example.com"})));
        assert!(facts.contains(&json!({"title": "Reason", "value": "deploy <hotfix> & verify"})));
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(
            card["actions"][0]["url"],
            "https://portal.example.com/runs/team-a/restart-web-7"
        );
    }
}
