//! CODEOWNERS: the parser (public: the controller and CLI use it too) and the REST
//! `codeowners` resource, which records the repository root's owners in
//! `status.codeowners` for ownership resolution.
//!
//! GitHub's rules: `#` starts a comment, each other line is a gitignore-style pattern followed
//! by owners (`@login`, `@org/team`, or an email), the last matching rule wins, a rule without
//! owners leaves its paths unowned, and a line with invalid syntax is skipped. `!` negation and
//! `[ ]` ranges are not supported by GitHub and are reported.

use nexus_api::catalog::repository::CodeownersFacts;

use super::common::check_web_url;
use crate::{Change, Context, Facts, IngestError, Outcome, Source, Target};

/// A parsed CODEOWNERS file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Codeowners {
    /// Valid rules in file order.
    pub rules: Vec<Rule>,
    /// Lines GitHub would skip, with why.
    pub errors: Vec<LineError>,
}

/// One `pattern owners…` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// 1-based line number.
    pub line: usize,
    pub pattern: String,
    /// As written: `@org/team`, `@login`, `someone@example.com`. Empty: explicitly unowned.
    pub owners: Vec<String>,
    matcher: Matcher,
}

/// A line that is not a valid rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl Codeowners {
    /// Owners of a repository path (`src/lib.rs`): the last matching rule's, or none.
    pub fn owners_for(&self, path: &str) -> &[String] {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.rules
            .iter()
            .rev()
            .find(|r| r.matcher.matches(&segments))
            .map_or(&[], |r| &r.owners)
    }

    /// Owners of the repository as a whole: the last rule that covers every file (`*`, `/*`,
    /// `**`, `/`).
    pub fn root_owners(&self) -> &[String] {
        self.rules
            .iter()
            .rev()
            .find(|r| r.matcher.is_catch_all())
            .map_or(&[], |r| &r.owners)
    }
}

/// Parses CODEOWNERS text. Never fails: bad lines land in `errors`.
pub fn parse(text: &str) -> Codeowners {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Codeowners::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let tokens = tokenize(raw);
        let Some((pattern, owners)) = tokens.split_first() else {
            continue;
        };
        match rule(line, pattern, owners) {
            Ok(r) => out.rules.push(r),
            Err(reason) => out.errors.push(LineError { line, reason }),
        }
    }
    out
}

/// Splits a line into whitespace-separated tokens, honouring `\ ` and `\#`, and stopping at an
/// unescaped `#` that starts a token (a comment).
fn tokenize(line: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => current.push(next),
                None => current.push('\\'),
            },
            '#' if current.is_empty() => break,
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn rule(line: usize, pattern: &str, owners: &[String]) -> Result<Rule, String> {
    if pattern.starts_with('!') {
        return Err(format!(
            "pattern `{pattern}`: negation (`!`) is not supported"
        ));
    }
    if pattern.contains(['[', ']']) {
        return Err(format!(
            "pattern `{pattern}`: character ranges (`[ ]`) are not supported"
        ));
    }
    if let Some(bad) = owners.iter().find(|o| !valid_owner(o)) {
        return Err(format!(
            "owner `{bad}` is not `@user`, `@org/team` or an email address"
        ));
    }
    Ok(Rule {
        line,
        pattern: pattern.to_string(),
        owners: owners.to_vec(),
        matcher: Matcher::new(pattern),
    })
}

fn valid_login(s: &str) -> bool {
    (1..=39).contains(&s.len())
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_owner(o: &str) -> bool {
    if let Some(handle) = o.strip_prefix('@') {
        return match handle.split_once('/') {
            Some((org, team)) => {
                valid_login(org)
                    && (1..=100).contains(&team.len())
                    && team
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            }
            None => valid_login(handle),
        };
    }
    match o.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// A compiled gitignore-style pattern over path segments.
#[derive(Clone, Debug, PartialEq)]
struct Matcher {
    /// Segment globs; `**` matches any number of segments.
    segments: Vec<String>,
    /// Whether a match on a directory covers everything below it.
    descend: bool,
    /// Whether the pattern only matches directories (trailing `/`).
    dir_only: bool,
}

impl Matcher {
    fn new(pattern: &str) -> Self {
        let anchored = pattern.starts_with('/');
        let dir_only = pattern.ends_with('/');
        let body = pattern.trim_matches('/');
        let anchored = anchored || body.contains('/');
        let mut segments: Vec<String> = body
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !anchored && !segments.is_empty() {
            segments.insert(0, "**".into());
        }
        // `docs/*` owns the files directly in docs/, not nested ones (GitHub's documented
        // difference from gitignore); a literal name owns everything below it.
        let last_literal = segments
            .last()
            .is_some_and(|s| s == "**" || !s.contains(['*', '?']));
        Matcher {
            segments,
            descend: dir_only || last_literal,
            dir_only,
        }
    }

    fn is_catch_all(&self) -> bool {
        self.segments.is_empty()
            || (!self.dir_only && self.segments.iter().all(|s| s == "*" || s == "**"))
    }

    fn matches(&self, path: &[&str]) -> bool {
        if self.segments.is_empty() {
            return true;
        }
        // reach[k]: the pattern so far matches the first k path segments.
        let mut reach = vec![false; path.len() + 1];
        reach[0] = true;
        for seg in &self.segments {
            let mut next = vec![false; path.len() + 1];
            if seg == "**" {
                let mut any = false;
                for (k, slot) in next.iter_mut().enumerate() {
                    any |= reach[k];
                    *slot = any;
                }
            } else {
                for (k, part) in path.iter().enumerate() {
                    if reach[k] && glob(seg, part) {
                        next[k + 1] = true;
                    }
                }
            }
            reach = next;
        }
        let n = path.len();
        if self.descend {
            let last = if self.dir_only {
                n.saturating_sub(1)
            } else {
                n
            };
            reach.iter().take(last + 1).skip(1).any(|r| *r)
        } else {
            reach[n]
        }
    }
}

/// `*` and `?` within one path segment (case-sensitive, like Git paths).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    crate::context::glob_chars(&p, &t)
}

/// Where GitHub looks for CODEOWNERS, in its order.
const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// `ctx.repository` is the repository web URL, or the file's (`…/blob/<branch>/<path>`), which
/// also records which CODEOWNERS file was read.
fn repository_and_path(url: &str) -> (&str, Option<String>) {
    let Some((repo, rest)) = url.split_once("/blob/") else {
        return (url, None);
    };
    let path = LOCATIONS
        .iter()
        .find(|l| rest.ends_with(&format!("/{l}")))
        .map(|l| l.to_string())
        .or_else(|| rest.split_once('/').map(|(_, p)| p.to_string()));
    (repo, path)
}

/// REST `codeowners`: the body is the CODEOWNERS file text (`GET /repos/{o}/{r}/contents/{path}`
/// with the raw media type). Needs `ctx.repository`.
pub(crate) fn rest(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let text = std::str::from_utf8(body).map_err(|e| IngestError::Syntax {
        format: "CODEOWNERS text",
        message: format!("not UTF-8: {e}"),
    })?;
    let Some(url) = ctx.repository.as_deref() else {
        return Err(IngestError::invalid(
            "repository",
            "a CODEOWNERS file does not name its repository: pass the repository web URL in \
             the context",
        ));
    };
    let (repo, path) = repository_and_path(url);
    let url = check_web_url("repository", repo)?;
    let parsed = parse(text);
    let facts = CodeownersFacts {
        owners: parsed.root_owners().to_vec(),
        path,
        observed_at: Some(ctx.now()),
    };
    let f = Facts::new(Source::Github, Target::RepositoryUrl { url }).set("codeowners", facts);
    Ok(Outcome::Changes(vec![Change::Facts(f)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# Default owners
*       @contoso/platform
*.js    @alice
/docs/  docs@contoso.example
apps/   @contoso/apps @bob
docs/*  @carol
/build/logs/ @dave
/scripts/ # explicitly unowned
!secret @mallory
src/[ab].rs @eve
lib/    not-an-owner
\\#hash @frank
";

    #[test]
    fn parses_rules_and_reports_bad_lines() {
        let c = parse(TEXT);
        assert_eq!(c.rules.len(), 8, "{:?}", c.rules);
        assert_eq!(c.root_owners(), ["@contoso/platform"]);
        let lines: Vec<usize> = c.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [9, 10, 11]);
        assert!(
            c.errors[2].reason.contains("not-an-owner"),
            "{:?}",
            c.errors
        );
        assert_eq!(c.rules[7].pattern, "#hash");
    }

    #[test]
    fn last_matching_rule_wins() {
        let c = parse(TEXT);
        assert_eq!(c.owners_for("README.md"), ["@contoso/platform"]);
        assert_eq!(c.owners_for("web/app.js"), ["@alice"]);
        assert_eq!(c.owners_for("docs/guide.md"), ["@carol"]);
        assert_eq!(c.owners_for("docs/deep/guide.md"), ["docs@contoso.example"]);
        assert_eq!(c.owners_for("x/apps/main.rs"), ["@contoso/apps", "@bob"]);
        assert_eq!(c.owners_for("build/logs/a/b.log"), ["@dave"]);
        assert!(c.owners_for("scripts/run.sh").is_empty());
        assert_eq!(c.owners_for("#hash"), ["@frank"]);
    }

    #[test]
    fn owners() {
        assert!(valid_owner("@octocat"));
        assert!(valid_owner("@org/team.name_1"));
        assert!(valid_owner("a.b@example.com"));
        assert!(!valid_owner("@"));
        assert!(!valid_owner("@-x"));
        assert!(!valid_owner("@org/"));
        assert!(!valid_owner("x@y"));
        assert!(!valid_owner("plain"));
    }

    #[test]
    fn blob_urls_give_the_path() {
        assert_eq!(
            repository_and_path("https://github.com/o/r/blob/feature/x/.github/CODEOWNERS"),
            (
                "https://github.com/o/r",
                Some(".github/CODEOWNERS".to_string())
            )
        );
        assert_eq!(
            repository_and_path("https://github.com/o/r"),
            ("https://github.com/o/r", None)
        );
    }
}
