//! Runbook Markdown → HTML that is safe to put in a page: pulldown-cmark renders it, ammonia
//! keeps only an allow-list of tags, attributes and URL schemes. What is removed:
//! - scripts, styles, frames, forms and every event-handler or `style` attribute;
//! - links other than `http`, `https` and `mailto` (`javascript:`, `data:`, `vbscript:`, …);
//! - images whose source is not `https` (no `data:`, no plain `http`, no tracking over it).
//!
//! Relative links and images in the Markdown are resolved against the file's place in its
//! repository (links to `<repo>/blob/<ref>/…`, images to `<repo>/raw/<ref>/…`), so `../db.md`
//! and `img/topology.png` work as they do on GitHub; `#anchors` stay. Without a repository,
//! relative URLs are dropped (anchors stay). Task-list checkboxes become `[x]`/`[ ]` text, since
//! form controls are not allowed.

use std::{borrow::Cow, collections::HashSet};

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// Where a runbook file lives, for resolving its relative URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBase {
    /// Repository web URL, `https://github.com/owner/repo`.
    pub repository: String,
    /// Branch, tag or commit (`HEAD` when unknown).
    pub git_ref: String,
    /// Directory of the file in the repository (`runbooks/db`, empty at the root).
    pub dir: String,
}

impl LinkBase {
    /// From the file's web URL as ingestion records it (`<repo>/blob/<ref>/<path>`) and its
    /// path, which tells where the ref ends (refs may contain `/`).
    pub fn from_source_url(url: &str, path: &str) -> Option<LinkBase> {
        let (repository, rest) = url.split_once("/blob/")?;
        let git_ref = rest.strip_suffix(path)?.strip_suffix('/')?;
        if git_ref.is_empty() || !repository.starts_with("https://") {
            return None;
        }
        Some(LinkBase::new(repository, git_ref, path))
    }

    pub fn new(repository: &str, git_ref: &str, path: &str) -> LinkBase {
        let dir = path
            .trim_start_matches('/')
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        LinkBase {
            repository: repository.trim_end_matches('/').to_string(),
            git_ref: git_ref.to_string(),
            dir,
        }
    }

    /// `url` made absolute when it is relative to the file: `None` when it climbs out of the
    /// repository; absolute URLs (with a scheme) are returned unchanged for the sanitiser to
    /// judge.
    fn resolve(&self, url: &str, image: bool) -> Option<String> {
        let url = url.trim();
        if url.is_empty() {
            return None;
        }
        if url.starts_with('#') || has_scheme(url) {
            return Some(url.to_string());
        }
        if url.starts_with("//") {
            // Protocol-relative: another host; refuse rather than guess the scheme.
            return None;
        }
        let split_at = url.find(['?', '#']).unwrap_or(url.len());
        let (path, tail) = url.split_at(split_at);
        let mut parts: Vec<&str> = if path.starts_with('/') {
            Vec::new()
        } else {
            self.dir.split('/').filter(|s| !s.is_empty()).collect()
        };
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                s => parts.push(s),
            }
        }
        let view = if image { "raw" } else { "blob" };
        Some(format!(
            "{}/{view}/{}/{}{tail}",
            self.repository,
            self.git_ref,
            parts.join("/")
        ))
    }
}

/// `scheme:` at the start (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
fn has_scheme(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Renders runbook Markdown to sanitised HTML (a fragment).
pub fn render(markdown: &str, base: Option<&LinkBase>) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let resolve = |url: CowStr<'_>, image: bool| -> CowStr<'static> {
        let resolved = match base {
            Some(b) => b.resolve(&url, image),
            // No repository: only anchors and absolute URLs mean something.
            None if url.starts_with('#') || has_scheme(&url) => Some(url.to_string()),
            None => None,
        };
        CowStr::from(resolved.unwrap_or_default())
    };
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: resolve(dest_url, false),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: resolve(dest_url, true),
            title,
            id,
        }),
        Event::TaskListMarker(done) => {
            Event::Text(CowStr::from(if done { "[x] " } else { "[ ] " }))
        }
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    sanitizer(base.cloned()).clean(&html).to_string()
}

fn sanitizer(base: Option<LinkBase>) -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            // Images load without a click: only over https (no data:, no plain http).
            ("img", "src") => {
                let v = value.trim_start();
                v.get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
                    .then_some(Cow::Borrowed(value))
            }
            _ => Some(Cow::Borrowed(value)),
        })
        // Relative URLs left in raw HTML (the Markdown's own were resolved above).
        .url_relative(ammonia::UrlRelative::Custom(Box::new(RawHtmlUrls(base))));
    b
}

/// Relative URLs of raw HTML in the Markdown: anchors stay, the rest resolve like Markdown
/// links, or go when there is no repository to resolve them against.
struct RawHtmlUrls(Option<LinkBase>);

impl ammonia::UrlRelativeEvaluate<'static> for RawHtmlUrls {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        if url.starts_with('#') {
            return Some(Cow::Borrowed(url));
        }
        self.0
            .as_ref()
            .and_then(|b| b.resolve(url, false))
            .map(Cow::Owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LinkBase {
        LinkBase::new(
            "https://github.com/contoso/ops",
            "main",
            "runbooks/db/failover.md",
        )
    }

    fn html(md: &str) -> String {
        render(md, Some(&base()))
    }

    /// Nothing executable survives, whatever the spelling.
    #[test]
    fn xss_is_stripped() {
        let cases = [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
            "<img src=x onerror=alert(1)>",
            "<img src=\"https://ok.example/a.png\" onload=\"alert(1)\">",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"java\tscript:alert(1)\">x</a>",
            "<a href=\"&#106;avascript:alert(1)\">x</a>",
            "[x](javascript:alert(1))",
            "[x](<javascript:alert(1)>)",
            "[x]: javascript:alert(1)\n\n[y][x]",
            "![x](javascript:alert(1))",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<svg><script>alert(1)</script></svg>",
            "<svg onload=alert(1)>",
            "<math><mtext><script>alert(1)</script></mtext></math>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<style>body{display:none}</style>",
            "<form action=\"https://evil.example\"><input name=p></form>",
            "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
            "<a href=\"vbscript:msgbox(1)\">x</a>",
            "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
            "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
            "<base href=\"https://evil.example/\">",
            "<details open ontoggle=alert(1)>x</details>",
            "<p onclick=\"alert(1)\">click</p>",
            "<!--<script>-->alert(1)<!--</script>-->",
        ];
        for case in cases {
            let out = html(case).to_ascii_lowercase();
            for bad in [
                "<script",
                "javascript:",
                "vbscript:",
                "data:",
                "onerror",
                "onload",
                "onclick",
                "ontoggle",
                "<iframe",
                "<svg",
                "<math",
                "style",
                "<form",
                "<input",
                "<object",
                "<embed",
                "<meta",
                "<base",
            ] {
                assert!(!out.contains(bad), "{case:?} → {out:?} keeps {bad:?}");
            }
        }
    }

    #[test]
    fn markdown_renders_with_safe_links() {
        let out = html(
            "# Failover\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] paged\n- [ ] failed over\n\n\
             `code` ~~old~~ [docs](https://learn.microsoft.com/) <mailto:ops@contoso.com>\n",
        );
        assert!(out.contains("<h1>Failover</h1>"), "{out}");
        assert!(
            out.contains("<table>") && out.contains("<td>1</td>"),
            "{out}"
        );
        assert!(
            out.contains("[x] paged") && out.contains("[ ] failed over"),
            "{out}"
        );
        assert!(
            out.contains("<code>code</code>") && out.contains("<del>old</del>"),
            "{out}"
        );
        assert!(
            out.contains(
                "<a href=\"https://learn.microsoft.com/\" rel=\"noopener noreferrer nofollow\">"
            ),
            "{out}"
        );
        assert!(out.contains("href=\"mailto:ops@contoso.com\""), "{out}");
    }

    #[test]
    fn relative_urls_resolve_against_the_repository() {
        let out = html(
            "[db](../db.md#steps) [same](./check.md) [root](/README.md) [top](#steps) \
             ![topology](img/topology.png) ![outside](../../../x.png) [far](../../../../x.md)",
        );
        for want in [
            "href=\"https://github.com/contoso/ops/blob/main/runbooks/db.md#steps\"",
            "href=\"https://github.com/contoso/ops/blob/main/runbooks/db/check.md\"",
            "href=\"https://github.com/contoso/ops/blob/main/README.md\"",
            "href=\"#steps\"",
            "src=\"https://github.com/contoso/ops/raw/main/runbooks/db/img/topology.png\"",
        ] {
            assert!(out.contains(want), "{want} in {out}");
        }
        // Climbing out of the repository leaves no URL at all.
        assert!(!out.contains("x.png") && !out.contains("x.md"), "{out}");
        // Raw HTML: relative links resolved, relative or plain-http images dropped.
        let out = html(
            "<a href=\"other.md\">o</a> <img src=\"pic.png\"> <img src=\"http://x.example/a.png\"> \
             <img src=\"https://x.example/b.png\" alt=\"b\">",
        );
        assert!(
            out.contains("href=\"https://github.com/contoso/ops/blob/main/runbooks/db/other.md\""),
            "{out}"
        );
        assert!(
            !out.contains("pic.png") && !out.contains("http://x.example"),
            "{out}"
        );
        assert!(out.contains("src=\"https://x.example/b.png\""), "{out}");
        // Protocol-relative URLs are not guessed.
        assert!(!html("[x](//evil.example/a)").contains("evil"));
    }

    #[test]
    fn without_a_repository_relative_urls_are_dropped() {
        let out = render(
            "[a](x.md) [b](#b) [c](https://c.example/) ![i](i.png)",
            None,
        );
        assert!(!out.contains("x.md") && !out.contains("i.png"), "{out}");
        assert!(
            out.contains("href=\"#b\"") && out.contains("https://c.example/"),
            "{out}"
        );
    }

    #[test]
    fn link_bases_from_source_urls() {
        let b = LinkBase::from_source_url(
            "https://github.com/o/r/blob/release/1.2/runbooks/a.md",
            "runbooks/a.md",
        )
        .unwrap();
        assert_eq!(b.repository, "https://github.com/o/r");
        assert_eq!(b.git_ref, "release/1.2");
        assert_eq!(b.dir, "runbooks");
        assert!(
            LinkBase::from_source_url("https://github.com/o/r/blob/main/a.md", "b.md").is_none()
        );
        assert!(
            LinkBase::from_source_url("http://github.com/o/r/blob/main/a.md", "a.md").is_none()
        );
        assert_eq!(LinkBase::new("https://x/o/r/", "HEAD", "a.md").dir, "");
    }
}
