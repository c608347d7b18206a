//! The signed-in user's dashboard. "My" means: entities owned by the user's teams (or the user).
//! Teams come from the User entity (`memberOf`, a Team's `members`) and from the Entra groups in
//! the token mapped to Teams (`Team.spec.entraGroup.id`). Every section says, when empty, what
//! would fill it.

use std::collections::BTreeSet;

use nexus_api::{EntityKind, EntityRef, RelationType};
use serde::Serialize;
use serde_json::Value;

use super::{
    Summary,
    insights::{self, PersonalDora},
    team::{IncidentItem, open_incidents},
};
use crate::{
    authn::UserInfo,
    authz::Visibility,
    cache::{
        Cache,
        entity::{Entity, KindFacts},
    },
};

const MAX_ITEMS: usize = 50;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub user: Me,
    pub teams: Vec<Summary>,
    pub my_services: Section<Summary>,
    pub my_deployments: Section<Value>,
    pub my_pull_requests: Section<Value>,
    pub my_alerts: Section<IncidentItem>,
    pub my_costs: Section<Value>,
    /// DORA metrics of the deployments the user started (week, month, quarter), over the
    /// services the user may see.
    pub my_dora: PersonalDora,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub username: String,
    pub groups: Vec<String>,
    /// The User entity matched by name, email, Entra object id or GitHub login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<Summary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Section<T> {
    pub items: Vec<T>,
    pub total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_state: Option<String>,
}

impl<T> Section<T> {
    fn new(mut items: Vec<T>, empty: impl FnOnce() -> String) -> Self {
        let total = items.len();
        items.truncate(MAX_ITEMS);
        let empty_state = items.is_empty().then(empty);
        Section {
            items,
            total,
            empty_state,
        }
    }
}

pub fn build(cache: &Cache, visibility: &Visibility, user: &UserInfo) -> Dashboard {
    build_at(cache, visibility, user, insights::today())
}

/// The dashboard with DORA windows ending on `today` (UTC).
pub fn build_at(
    cache: &Cache,
    visibility: &Visibility,
    user: &UserInfo,
    today: jiff::civil::Date,
) -> Dashboard {
    let store = cache.read();
    let me = store
        .find_user(&user.username)
        .or_else(|| user.uid.as_deref().and_then(|uid| store.find_user(uid)))
        .filter(|e| visibility.can_see(&e.id));

    let mut team_ids: BTreeSet<EntityRef> = BTreeSet::new();
    if let Some(me) = me {
        team_ids.extend(me.related(RelationType::MemberOf).cloned());
    }
    for group in &user.groups {
        if let Some(team) = store.team_for_group(group) {
            team_ids.insert(team.id.clone());
        }
    }
    team_ids.retain(|t| visibility.can_see(t) && store.get(t).is_some());
    let teams: Vec<Summary> = team_ids
        .iter()
        .filter_map(|t| store.get(t))
        .map(|e| Summary::of(e))
        .collect();

    let mut owners: Vec<EntityRef> = team_ids.iter().cloned().collect();
    if let Some(me) = me {
        owners.push(me.id.clone());
    }
    let owned: Vec<&std::sync::Arc<Entity>> = owners
        .iter()
        .flat_map(|o| store.owned_by(o))
        .filter(|e| visibility.can_see(&e.id))
        .collect();
    let mut services: Vec<&Entity> = owned
        .iter()
        .filter(|e| e.id.kind == EntityKind::Component)
        .map(|e| e.as_ref())
        .collect();
    services.sort_by(|a, b| a.id.name.cmp(&b.id.name));

    let mut deployments: Vec<Value> = Vec::new();
    for service in &services {
        if let KindFacts::Component(facts) = &service.facts {
            for d in &facts.deployments {
                let mut d = d.clone();
                if let Value::Object(map) = &mut d {
                    map.insert("service".into(), Value::String(service.id.to_string()));
                }
                deployments.push(d);
            }
        }
    }
    let time_of = |v: &Value| {
        ["createdAt", "finishedAt", "startedAt"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    };
    deployments.sort_by_key(|d| std::cmp::Reverse(time_of(d)));

    let mut logins: BTreeSet<String> = BTreeSet::new();
    logins.insert(user.username.to_lowercase());
    if let Some(KindFacts::User(u)) = me.map(|m| &m.facts) {
        logins.extend(u.github_login.iter().map(|l| l.to_lowercase()));
        logins.extend(u.email.iter().map(|l| l.to_lowercase()));
    }
    let mut pull_requests: Vec<Value> = Vec::new();
    for repo in store.repositories_with_pull_requests() {
        if !visibility.can_see(&repo.id) {
            continue;
        }
        let KindFacts::Repository(facts) = &repo.facts else {
            continue;
        };
        for pr in &facts.pull_requests {
            let author = pr
                .get("author")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            if logins.contains(&author) {
                let mut pr = pr.clone();
                if let Value::Object(map) = &mut pr {
                    map.insert("repository".into(), Value::String(repo.id.to_string()));
                }
                pull_requests.push(pr);
            }
        }
    }
    pull_requests.sort_by_key(|p| std::cmp::Reverse(time_of(p)));

    let alerts = open_incidents(&store, visibility, owned.iter().map(|e| e.as_ref()));
    // The DORA controller credits a deployment to the User its creator matches, else to the
    // creator's login as written.
    let person = me
        .map(|m| m.id.to_string())
        .unwrap_or_else(|| user.username.clone());
    let my_dora = insights::personal(&store, visibility, &person, today);
    let no_user = me.is_none();
    let username = user.username.clone();
    Dashboard {
        user: Me {
            username: user.username.clone(),
            groups: user.groups.clone(),
            entity: me.map(|e| Summary::of(e)),
        },
        my_services: Section::new(services.iter().map(|e| Summary::of(e)).collect(), || {
            if no_user {
                format!(
                    "No User entity matches `{username}`, so Nexus cannot tell which teams you are in. \
                         Add a User (spec.email: {username}) with spec.memberOf, or map your team's Entra group in Team.spec.entraGroup."
                )
            } else if team_ids.is_empty() {
                "You are not in any team: set spec.memberOf on your User, add yourself to a Team's spec.members, or map the Team's Entra group.".into()
            } else {
                "Your teams own no Components yet: set spec.owner on your services (or let CODEOWNERS, Azure tags or the Entra group decide).".into()
            }
        }),
        my_deployments: Section::new(deployments, || {
            "No deployments recorded for your services yet. They arrive from GitHub deployment_status events and Azure DevOps releases once an integration is configured.".into()
        }),
        my_pull_requests: Section::new(pull_requests, || {
            "No open pull requests by you. They arrive from the GitHub and Azure DevOps integrations; your User's spec.githubLogin (or email) must match the author.".into()
        }),
        my_alerts: Section::new(alerts, || {
            "No open incidents on anything your teams own.".into()
        }),
        my_costs: Section::new(Vec::new(), || {
            "Cost data arrives with the FinOps integration (Azure Cost Management), which is not configured yet.".into()
        }),
        my_dora,
        teams,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fixtures::org;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn my_services_and_alerts_come_through_team_membership() {
        let cache = org();
        let all = Visibility::everything();
        let d = build(&cache, &all, &user("alice@contoso.com", &[]));
        assert_eq!(d.user.entity.as_ref().unwrap().ref_, "user:org/alice");
        assert_eq!(d.teams[0].ref_, "team:pay/payments");
        let services: Vec<_> = d
            .my_services
            .items
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(services, ["checkout", "ledger"]);
        assert_eq!(d.my_alerts.total, 1);
        assert!(
            d.my_deployments
                .empty_state
                .as_deref()
                .unwrap()
                .contains("integration")
        );
        assert!(d.my_costs.empty_state.is_some());
    }

    #[test]
    fn entra_groups_map_to_teams_and_strangers_get_guidance() {
        let cache = org();
        let all = Visibility::everything();
        let by_group = build(&cache, &all, &user("zed@contoso.com", &["group-pay"]));
        assert_eq!(
            by_group.my_services.total, 2,
            "Entra group ids match ignoring case"
        );
        let stranger = build(&cache, &all, &user("nobody", &[]));
        assert!(
            stranger
                .my_services
                .empty_state
                .as_deref()
                .unwrap()
                .contains("No User entity matches `nobody`")
        );
        let bob = build(&cache, &all, &user("bob@contoso.com", &[]));
        assert!(
            bob.my_services
                .empty_state
                .as_deref()
                .unwrap()
                .contains("not in any team")
        );
    }
}
