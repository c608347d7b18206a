//! Branch protection and rulesets of the default branch → `status.branchProtection` of the
//! Repository.
//!
//! Partial by nature: each source describes one rule or ruleset, and `branchProtection` is
//! replaced as a whole, so the last writer wins. The webhooks record the rule or ruleset that
//! just changed when it applies to the default branch; a deleted rule or ruleset is `Ignored`
//! (what still protects the branch is unknown until the next poll). The REST poll should read
//! `branch-protection` and `rulesets` and apply the more complete picture last.

use nexus_api::facts::BranchProtectionFacts;
use serde::Deserialize;

use super::common::{Repo, check_web_url, clip, web_url_from_api};
use crate::{Change, Context, Facts, IngestError, Outcome, Source, Target, error::from_json};

fn facts_change(url: String, facts: BranchProtectionFacts) -> Outcome {
    let f =
        Facts::new(Source::Github, Target::RepositoryUrl { url }).set("branchProtection", facts);
    Outcome::Changes(vec![Change::Facts(f)])
}

/// Adds a rule type once, within the CRD bound.
fn add_rule(facts: &mut BranchProtectionFacts, rule: &str) {
    if facts.rules.len() < 64 && !facts.rules.iter().any(|r| r == rule) {
        facts.rules.push(clip(rule, 128));
    }
}

fn add_check(facts: &mut BranchProtectionFacts, check: &str) {
    if facts.required_status_checks.len() < 64
        && !facts.required_status_checks.iter().any(|c| c == check)
    {
        facts.required_status_checks.push(clip(check, 256));
    }
}

/// Branch-name glob as GitHub uses it for protection rules and rulesets (fnmatch): `*` and `?`
/// stay within one path segment, `**` crosses `/`. Dynamic programming, so no input is slow.
pub(crate) fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().take(1024).collect();
    let t: Vec<char> = text.chars().take(1024).collect();
    // reach[j]: pattern prefix consumed so far matches text prefix of length j.
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; t.len() + 1];
        let double = p[i] == '*' && p.get(i + 1) == Some(&'*');
        match p[i] {
            '*' => {
                // A star reached at j covers every later position until a `/` (unless `**`).
                let mut open = false;
                for j in 0..=t.len() {
                    open |= reach[j];
                    next[j] = open;
                    if j < t.len() && !double && t[j] == '/' {
                        open = false;
                    }
                }
            }
            c => {
                for j in 0..t.len() {
                    if reach[j] && (t[j] == c || (c == '?' && t[j] != '/')) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
        i += if double { 2 } else { 1 };
    }
    reach[t.len()]
}

// --- branch_protection_rule webhook ----------------------------------------------------------

#[derive(Debug, Deserialize)]
struct RuleEvent {
    action: String,
    rule: ProtectionRule,
    repository: Repo,
}

#[derive(Debug, Deserialize)]
struct ProtectionRule {
    /// Branch name pattern.
    name: String,
    #[serde(default)]
    pull_request_reviews_enforcement_level: Option<String>,
    #[serde(default)]
    required_approving_review_count: Option<i64>,
    #[serde(default)]
    require_code_owner_review: Option<bool>,
    #[serde(default)]
    required_status_checks: Vec<String>,
    #[serde(default)]
    required_status_checks_enforcement_level: Option<String>,
    #[serde(default)]
    signature_requirement_enforcement_level: Option<String>,
    #[serde(default)]
    linear_history_requirement_enforcement_level: Option<String>,
    #[serde(default)]
    allow_force_pushes_enforcement_level: Option<String>,
    #[serde(default)]
    allow_deletions_enforcement_level: Option<String>,
}

fn on(level: Option<&str>) -> Option<bool> {
    level.map(|l| l != "off")
}

/// `branch_protection_rule` webhook (created, edited; deleted is ignored, see the module doc).
pub(crate) fn rule_event(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let ev: RuleEvent = from_json(body)?;
    let default = ev.repository.default_branch.as_deref().unwrap_or("");
    if !matches!(ev.action.as_str(), "created" | "edited") {
        return Ok(Outcome::ignored(format!(
            "`branch_protection_rule` action `{}`: what still protects the default branch is \
             unknown until the next poll",
            ev.action
        )));
    }
    if default.is_empty() || !fnmatch(&ev.rule.name, default) {
        return Ok(Outcome::ignored(format!(
            "`branch_protection_rule` `{}` does not apply to the default branch `{default}`",
            ev.rule.name
        )));
    }
    let r = &ev.rule;
    let mut f = BranchProtectionFacts {
        protected: true,
        observed_at: Some(ctx.now()),
        ..Default::default()
    };
    if on(r.pull_request_reviews_enforcement_level.as_deref()) == Some(true) {
        f.required_approving_reviews = r.required_approving_review_count;
        f.require_code_owner_reviews = r.require_code_owner_review;
        add_rule(&mut f, "pull_request");
    }
    if on(r.required_status_checks_enforcement_level.as_deref()) == Some(true) {
        r.required_status_checks
            .iter()
            .for_each(|c| add_check(&mut f, c));
        add_rule(&mut f, "required_status_checks");
    }
    if on(r.signature_requirement_enforcement_level.as_deref()) == Some(true) {
        add_rule(&mut f, "required_signatures");
    }
    if on(r.linear_history_requirement_enforcement_level.as_deref()) == Some(true) {
        add_rule(&mut f, "required_linear_history");
    }
    f.allow_force_pushes = on(r.allow_force_pushes_enforcement_level.as_deref());
    if f.allow_force_pushes == Some(false) {
        add_rule(&mut f, "non_fast_forward");
    }
    f.allow_deletions = on(r.allow_deletions_enforcement_level.as_deref());
    if f.allow_deletions == Some(false) {
        add_rule(&mut f, "deletion");
    }
    let url = check_web_url("repository.html_url", &ev.repository.html_url)?;
    Ok(facts_change(url, f))
}

// --- rulesets ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Ruleset {
    name: String,
    #[serde(default)]
    target: Option<String>,
    enforcement: String,
    #[serde(default)]
    conditions: Option<Conditions>,
    #[serde(default)]
    rules: Vec<RulesetRule>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
}

#[derive(Debug, Deserialize)]
struct Conditions {
    #[serde(default)]
    ref_name: Option<RefName>,
}

#[derive(Debug, Deserialize)]
struct RefName {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RulesetRule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    parameters: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Links {
    #[serde(default)]
    html: Option<Href>,
}

#[derive(Debug, Deserialize)]
struct Href {
    href: String,
}

impl Ruleset {
    /// Whether the ruleset is in force on the default branch. With `default` unknown (REST),
    /// explicit branch patterns count as applying and missing conditions (the list endpoint
    /// omits them) too: an over-approximation the lead knows about.
    fn applies(&self, default: Option<&str>) -> bool {
        if self.enforcement != "active" || self.target.as_deref().is_some_and(|t| t != "branch") {
            return false;
        }
        let Some(names) = self.conditions.as_ref().and_then(|c| c.ref_name.as_ref()) else {
            return true;
        };
        let full = default.map(|d| format!("refs/heads/{d}"));
        let hits = |p: &String| match (p.as_str(), &full) {
            ("~ALL" | "~DEFAULT_BRANCH", _) => true,
            (p, Some(full)) => fnmatch(p, full),
            (p, None) => p.starts_with("refs/heads/"),
        };
        let excluded = |p: &String| match (p.as_str(), &full) {
            ("~ALL" | "~DEFAULT_BRANCH", _) => true,
            (p, Some(full)) => fnmatch(p, full),
            (_, None) => false,
        };
        names.include.iter().any(hits) && !names.exclude.iter().any(excluded)
    }

    fn add_to(&self, f: &mut BranchProtectionFacts) {
        f.protected = true;
        if f.rulesets.len() < 64 {
            f.rulesets.push(clip(&self.name, 256));
        }
        for rule in &self.rules {
            add_rule(f, &rule.kind);
            let p = rule.parameters.as_ref();
            match rule.kind.as_str() {
                "pull_request" => {
                    let count = p
                        .and_then(|p| p.get("required_approving_review_count"))
                        .and_then(serde_json::Value::as_i64);
                    if let Some(n) = count {
                        f.required_approving_reviews =
                            Some(f.required_approving_reviews.map_or(n, |m| m.max(n)));
                    }
                    let owners = p
                        .and_then(|p| p.get("require_code_owner_review"))
                        .and_then(serde_json::Value::as_bool);
                    if let Some(b) = owners {
                        f.require_code_owner_reviews =
                            Some(f.require_code_owner_reviews.unwrap_or(false) || b);
                    }
                }
                "required_status_checks" => {
                    let checks = p
                        .and_then(|p| p.get("required_status_checks"))
                        .and_then(serde_json::Value::as_array);
                    for c in checks.into_iter().flatten() {
                        if let Some(ctx) = c.get("context").and_then(serde_json::Value::as_str) {
                            add_check(f, ctx);
                        }
                    }
                }
                "non_fast_forward" => f.allow_force_pushes = Some(false),
                "deletion" => f.allow_deletions = Some(false),
                _ => {}
            }
        }
    }

    /// Repository web URL from `_links.html.href` (`https://github.com/o/r/rules/42`).
    fn repository(&self) -> Option<String> {
        let href = &self.links.as_ref()?.html.as_ref()?.href;
        href.split_once("/rules/").map(|(repo, _)| repo.to_string())
    }
}

#[derive(Debug, Deserialize)]
struct RulesetEvent {
    action: String,
    repository_ruleset: Ruleset,
    #[serde(default)]
    repository: Option<Repo>,
}

/// `repository_ruleset` webhook (created, edited; deleted is ignored, see the module doc).
pub(crate) fn ruleset_event(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let ev: RulesetEvent = from_json(body)?;
    let Some(repo) = &ev.repository else {
        return Ok(Outcome::ignored(
            "`repository_ruleset` of an organization or enterprise: the repositories it \
             applies to are read by the poll",
        ));
    };
    if !matches!(ev.action.as_str(), "created" | "edited") {
        return Ok(Outcome::ignored(format!(
            "`repository_ruleset` action `{}`: what still protects the default branch is \
             unknown until the next poll",
            ev.action
        )));
    }
    let rs = &ev.repository_ruleset;
    if !rs.applies(repo.default_branch.as_deref()) {
        return Ok(Outcome::ignored(format!(
            "`repository_ruleset` `{}` is not active on the default branch",
            rs.name
        )));
    }
    let mut f = BranchProtectionFacts {
        observed_at: Some(ctx.now()),
        ..Default::default()
    };
    rs.add_to(&mut f);
    let url = check_web_url("repository.html_url", &repo.html_url)?;
    Ok(facts_change(url, f))
}

/// REST rulesets: one ruleset (`GET /repos/{o}/{r}/rulesets/{id}`) or an array of them.
pub(crate) fn rest_rulesets(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let (sets, _) = super::common::one_or_many::<Ruleset>(body)?;
    let from_body = sets.iter().find_map(Ruleset::repository);
    let url = super::common::rest_repository(ctx, from_body, "rulesets")?;
    let mut f = BranchProtectionFacts {
        observed_at: Some(ctx.now()),
        ..Default::default()
    };
    for rs in sets.iter().filter(|rs| rs.applies(None)) {
        rs.add_to(&mut f);
    }
    Ok(facts_change(url, f))
}

// --- classic branch protection (REST) --------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Protection {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    required_status_checks: Option<StatusChecks>,
    #[serde(default)]
    required_pull_request_reviews: Option<Reviews>,
    #[serde(default)]
    required_signatures: Option<Enabled>,
    #[serde(default)]
    required_linear_history: Option<Enabled>,
    #[serde(default)]
    allow_force_pushes: Option<Enabled>,
    #[serde(default)]
    allow_deletions: Option<Enabled>,
}

#[derive(Debug, Deserialize)]
struct StatusChecks {
    #[serde(default)]
    contexts: Vec<String>,
    #[serde(default)]
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
struct Check {
    context: String,
}

#[derive(Debug, Deserialize)]
struct Reviews {
    #[serde(default)]
    required_approving_review_count: Option<i64>,
    #[serde(default)]
    require_code_owner_reviews: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Enabled {
    enabled: bool,
}

/// REST `GET /repos/{o}/{r}/branches/{default}/protection`. The 404 body `{"message": "Branch
/// not protected"}` means unprotected.
pub(crate) fn rest_branch_protection(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let p: Protection = from_json(body)?;
    let url = super::common::rest_repository(
        ctx,
        p.url.as_deref().and_then(web_url_from_api),
        "branch-protection",
    )?;
    let mut f = BranchProtectionFacts {
        observed_at: Some(ctx.now()),
        ..Default::default()
    };
    if let Some(msg) = &p.message {
        if msg.eq_ignore_ascii_case("Branch not protected") {
            return Ok(facts_change(url, f));
        }
        return Err(IngestError::invalid(
            "message",
            format!("GitHub answered {msg:?}"),
        ));
    }
    f.protected = true;
    if let Some(r) = &p.required_pull_request_reviews {
        f.required_approving_reviews = r.required_approving_review_count;
        f.require_code_owner_reviews = r.require_code_owner_reviews;
        add_rule(&mut f, "pull_request");
    }
    if let Some(c) = &p.required_status_checks {
        c.contexts.iter().for_each(|x| add_check(&mut f, x));
        c.checks.iter().for_each(|x| add_check(&mut f, &x.context));
        add_rule(&mut f, "required_status_checks");
    }
    if p.required_signatures.as_ref().is_some_and(|e| e.enabled) {
        add_rule(&mut f, "required_signatures");
    }
    if p.required_linear_history
        .as_ref()
        .is_some_and(|e| e.enabled)
    {
        add_rule(&mut f, "required_linear_history");
    }
    f.allow_force_pushes = p.allow_force_pushes.as_ref().map(|e| e.enabled);
    if f.allow_force_pushes == Some(false) {
        add_rule(&mut f, "non_fast_forward");
    }
    f.allow_deletions = p.allow_deletions.as_ref().map(|e| e.enabled);
    if f.allow_deletions == Some(false) {
        add_rule(&mut f, "deletion");
    }
    Ok(facts_change(url, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_globs() {
        assert!(fnmatch("main", "main"));
        assert!(fnmatch("release/*", "release/1.0"));
        assert!(!fnmatch("release/*", "release/1.0/hotfix"));
        assert!(fnmatch("release/**", "release/1.0/hotfix"));
        assert!(fnmatch("refs/heads/ma?n", "refs/heads/main"));
        assert!(!fnmatch("production", "main"));
        assert!(fnmatch("*", "main"));
        assert!(fnmatch(&"*a".repeat(200), &"a".repeat(300)));
    }

    #[test]
    fn classic_protection() {
        let body = br#"{"url":"https://api.github.com/repos/o/r/branches/main/protection",
            "required_status_checks":{"strict":true,"contexts":["ci"],"checks":[{"context":"ci"},
            {"context":"lint"}]},"required_pull_request_reviews":{"required_approving_review_count":2,
            "require_code_owner_reviews":true},"allow_force_pushes":{"enabled":false},
            "allow_deletions":{"enabled":false}}"#;
        let out = rest_branch_protection(body, &Context::default()).unwrap();
        let Change::Facts(f) = &out.changes()[0] else {
            panic!()
        };
        assert_eq!(
            f.target,
            Target::RepositoryUrl {
                url: "https://github.com/o/r".into()
            }
        );
        let bp = &f.set["branchProtection"];
        assert_eq!(bp["protected"], true);
        assert_eq!(bp["requiredApprovingReviews"], 2);
        assert_eq!(
            bp["requiredStatusChecks"],
            serde_json::json!(["ci", "lint"])
        );
        assert_eq!(
            bp["rules"],
            serde_json::json!([
                "pull_request",
                "required_status_checks",
                "non_fast_forward",
                "deletion"
            ])
        );
        let ctx = Context {
            repository: Some("https://github.com/o/r".into()),
            ..Context::default()
        };
        let out = rest_branch_protection(br#"{"message":"Branch not protected"}"#, &ctx).unwrap();
        let Change::Facts(f) = &out.changes()[0] else {
            panic!()
        };
        assert_eq!(f.set["branchProtection"]["protected"], false);
        assert!(rest_branch_protection(br#"{"message":"Not Found"}"#, &ctx).is_err());
    }
}
