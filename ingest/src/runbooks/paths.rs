//! Which files of a repository are runbooks: path patterns as `GitHubIntegration`'s
//! `spec.runbooks.paths` spells them, matched against paths from the Git trees API and from
//! `push` deliveries.
//!
//! Syntax: relative to the repository root; `*` and `?` match within one path segment, `**`
//! matches any number of segments (none included), and a pattern ending in `/` means every
//! `.md` file below that directory (`runbooks/` ≡ `runbooks/**/*.md`). Matching is
//! case-sensitive, like Git paths. Only `.md` files are ever runbooks, whatever the pattern
//! says: the Runbook CRD requires `spec.source.path` to end in `.md`.

use std::fmt;

/// Longest pattern accepted (the CRD bound).
const MAX_PATTERN: usize = 256;

/// A pattern that cannot be used, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("runbook path pattern {pattern:?}: {problem}")]
pub struct PatternError {
    pub pattern: String,
    pub problem: &'static str,
}

/// Compiled `spec.runbooks.paths`.
#[derive(Clone, PartialEq, Eq)]
pub struct RunbookPaths {
    patterns: Vec<Pattern>,
}

#[derive(Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    /// Segment globs; `**` matches any number of segments.
    segments: Vec<Vec<char>>,
}

impl fmt::Debug for RunbookPaths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.patterns.iter().map(|p| &p.text))
            .finish()
    }
}

impl RunbookPaths {
    /// Compiles the patterns; the first unusable one is an error (the CRD rejects most of them
    /// before a controller sees them, the CLI and tests do not have that guard).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut out = Vec::with_capacity(patterns.len());
        for p in patterns {
            out.push(Pattern::new(p.as_ref())?);
        }
        Ok(RunbookPaths { patterns: out })
    }

    /// Whether `path` (relative to the repository root, `/`-separated) is a runbook.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/');
        if !path.ends_with(".md") || path.split('/').any(|s| s.is_empty() || s == "..") {
            return false;
        }
        let segments: Vec<Vec<char>> = path.split('/').map(|s| s.chars().collect()).collect();
        self.patterns.iter().any(|p| p.matches(&segments))
    }

    /// The patterns as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.text.as_str())
    }
}

impl Pattern {
    fn new(text: &str) -> Result<Self, PatternError> {
        let err = |problem| PatternError {
            pattern: text.to_string(),
            problem,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err("is empty"));
        }
        if trimmed.len() > MAX_PATTERN {
            return Err(err("is longer than 256 characters"));
        }
        if trimmed.starts_with('/') {
            return Err(err(
                "starts with `/`: patterns are relative to the repository root",
            ));
        }
        if trimmed.contains('\\') {
            return Err(err("contains `\\`: use `/` between path segments"));
        }
        let mut segments: Vec<Vec<char>> = Vec::new();
        for seg in trimmed.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if seg == ".." {
                return Err(err("contains `..`: patterns cannot leave the repository"));
            }
            // `a/**/**/b` is the same as `a/**/b`, and one `**` keeps the matcher linear.
            if seg == "**" && segments.last().is_some_and(|l| l == &['*', '*']) {
                continue;
            }
            segments.push(seg.chars().collect());
        }
        if segments.is_empty() {
            return Err(err("names no path"));
        }
        if trimmed.ends_with('/') {
            segments.push(vec!['*', '*']);
            segments.push("*.md".chars().collect());
        }
        Ok(Pattern {
            text: trimmed.to_string(),
            segments,
        })
    }

    fn matches(&self, path: &[Vec<char>]) -> bool {
        // reach[k]: the pattern so far matches the first k path segments.
        let mut reach = vec![false; path.len() + 1];
        reach[0] = true;
        for seg in &self.segments {
            let mut next = vec![false; path.len() + 1];
            if seg.as_slice() == ['*', '*'] {
                let mut any = false;
                for (k, slot) in next.iter_mut().enumerate() {
                    any |= reach[k];
                    *slot = any;
                }
            } else {
                for (k, part) in path.iter().enumerate() {
                    if reach[k] && crate::context::glob_chars(seg, part) {
                        next[k + 1] = true;
                    }
                }
            }
            reach = next;
        }
        reach[path.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(p: &[&str]) -> RunbookPaths {
        RunbookPaths::new(p).unwrap()
    }

    #[test]
    fn a_directory_means_every_markdown_file_below_it() {
        let p = paths(&["runbooks/"]);
        assert!(p.matches("runbooks/db-failover.md"));
        assert!(p.matches("runbooks/db/failover.md"));
        assert!(p.matches("/runbooks/a/b/c.md"));
        assert!(!p.matches("runbooks/diagram.png"));
        assert!(!p.matches("docs/runbooks/x.md"));
        assert!(!p.matches("runbooks.md"));
        assert!(!p.matches("runbooks/../secrets.md"));
    }

    #[test]
    fn globs_and_double_stars() {
        let p = paths(&["docs/runbooks/*.md", "services/**/RUNBOOK.md"]);
        assert!(p.matches("docs/runbooks/restart.md"));
        assert!(
            !p.matches("docs/runbooks/deep/restart.md"),
            "`*` stays in one segment"
        );
        assert!(
            p.matches("services/RUNBOOK.md"),
            "`**` matches no segment too"
        );
        assert!(p.matches("services/pay/api/RUNBOOK.md"));
        assert!(!p.matches("services/pay/api/runbook.md"), "case-sensitive");
        let any = paths(&["**/*.md"]);
        assert!(any.matches("README.md") && any.matches("a/b/c.md"));
        // Whatever the pattern, only Markdown.
        assert!(!paths(&["ops/*"]).matches("ops/run.sh"));
        assert!(paths(&["ops/*"]).matches("ops/run.md"));
        assert!(paths(&["./ops//**/**/x?.md"]).matches("ops/a/b/x1.md"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (p, why) in [
            ("", "empty"),
            ("/runbooks/", "repository root"),
            ("../other/*.md", "leave the repository"),
            ("runbooks\\x.md", "use `/`"),
            ("./", "names no path"),
        ] {
            let e = RunbookPaths::new(&[p]).unwrap_err();
            assert!(e.to_string().contains(why), "{p}: {e}");
        }
        assert!(RunbookPaths::new(&["x".repeat(300)]).is_err());
    }
}
