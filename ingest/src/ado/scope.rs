//! Which organisation and project a payload belongs to.
//!
//! Azure DevOps payloads rarely name both. The **organisation** comes from the first URL that
//! names one, in this order: `resourceContainers.{collection,account,project}.baseUrl`, the
//! resource's own URLs (each parser lists them, most specific first), then links in the
//! event's message. How a URL names it:
//! - `https://dev.azure.com/{org}/…` and its `vsrm.`/`vssps.` subdomains: the first path segment;
//! - `https://{org}.visualstudio.com/…` and `{org}.vsrm.visualstudio.com`: the first host label;
//! - any other host (Azure DevOps Server): the collection, the first path segment after an
//!   optional `tfs/`.
//!
//! The **project** is, in this order: a name the payload gives (`repository.project.name`,
//! `System.TeamProject`, `resource.project.name`, …); the scope the poller passed; the path
//! segment after the organisation when it is a name; the project id
//! (`resourceContainers.project.id`, `projectId`); a GUID path segment. So a project may be an id
//! when the payload carries nothing better (old `build.complete` and pipeline-run payloads).

use crate::IngestError;

/// Organisation and project, as the poller knows them (see [`super::rest_in`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub organization: String,
    pub project: String,
}

/// A resolved scope plus the organisation's web base URL (for building web links).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub organization: String,
    pub project: String,
    /// e.g. `https://dev.azure.com/contoso`; no trailing `/`.
    pub base: String,
}

impl Origin {
    /// `org/project`: the namespace key of project-scoped things.
    pub fn key(&self) -> String {
        format!("{}/{}", self.organization, self.project)
    }

    /// `{base}/{project}/{rest}` with the project percent-encoded.
    pub fn web(&self, rest: &str) -> String {
        format!("{}/{}/{}", self.base, encode_segment(&self.project), rest)
    }
}

/// The parts of an Azure DevOps URL Nexus uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdoUrl {
    pub organization: String,
    pub base: String,
    /// The segment after the organisation, unless it is an area such as `_apis` (decoded).
    pub project: Option<String>,
}

/// Parses an http(s) URL of Azure DevOps Services or Server.
pub(crate) fn parse_url(url: &str) -> Option<AdoUrl> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = authority
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (organization, base, rest) = if host == "dev.azure.com" || host.ends_with(".dev.azure.com")
    {
        let org = *segs.first()?;
        (
            decode(org),
            format!("https://dev.azure.com/{org}"),
            segs.get(1..)?,
        )
    } else if let Some(prefix) = host.strip_suffix(".visualstudio.com") {
        let org = prefix.split('.').next().unwrap_or(prefix);
        let skip = usize::from(
            segs.first()
                .is_some_and(|s| s.eq_ignore_ascii_case("DefaultCollection")),
        );
        (
            org.to_string(),
            format!("https://{org}.visualstudio.com"),
            segs.get(skip..)?,
        )
    } else {
        let i = usize::from(segs.first().is_some_and(|s| s.eq_ignore_ascii_case("tfs")));
        let org = *segs.get(i)?;
        let prefix = segs.get(..=i)?.join("/");
        (
            decode(org),
            format!("{scheme}://{authority}/{prefix}"),
            segs.get(i + 1..)?,
        )
    };
    if organization.is_empty() || organization.starts_with('_') {
        return None;
    }
    let project = rest
        .first()
        .filter(|s| !s.starts_with('_'))
        .map(|s| decode(s))
        .filter(|s| !s.is_empty());
    Some(AdoUrl {
        organization,
        base,
        project,
    })
}

/// Collects what a payload says about its origin, then decides (see the module docs).
#[derive(Default)]
pub(crate) struct Finder<'a> {
    given: Option<&'a Scope>,
    names: Vec<&'a str>,
    urls: Vec<&'a str>,
    ids: Vec<&'a str>,
}

impl<'a> Finder<'a> {
    pub fn new(given: Option<&'a Scope>) -> Self {
        Finder {
            given,
            ..Finder::default()
        }
    }

    /// A project name the payload states.
    pub fn name(mut self, name: Option<&'a str>) -> Self {
        self.names
            .extend(name.map(str::trim).filter(|n| !n.is_empty()));
        self
    }

    pub fn url(mut self, url: Option<&'a str>) -> Self {
        self.urls.extend(url);
        self
    }

    pub fn urls(mut self, urls: impl IntoIterator<Item = &'a str>) -> Self {
        self.urls.extend(urls);
        self
    }

    /// A project id (GUID); the all-zero id counts as absent.
    pub fn id(mut self, id: Option<&'a str>) -> Self {
        self.ids
            .extend(id.filter(|i| is_guid(i) && !is_zero_guid(i)));
        self
    }

    pub fn resolve(&self) -> Result<Origin, IngestError> {
        let parsed: Vec<AdoUrl> = self.urls.iter().filter_map(|u| parse_url(u)).collect();
        let first = parsed.first();
        let organization = match (self.given, first) {
            (Some(g), _) => g.organization.clone(),
            (None, Some(u)) => u.organization.clone(),
            (None, None) => {
                return Err(IngestError::invalid(
                    "resource.url",
                    "no URL in the payload names the Azure DevOps organization",
                ));
            }
        };
        let base = parsed
            .iter()
            .find(|u| u.organization.eq_ignore_ascii_case(&organization))
            .map(|u| u.base.clone())
            .unwrap_or_else(|| format!("https://dev.azure.com/{}", encode_segment(&organization)));
        // Only URLs of the chosen organisation speak for the project (message links may point
        // at legacy pages such as `/web/build.aspx`).
        let url_projects = || {
            parsed
                .iter()
                .filter(|u| u.organization.eq_ignore_ascii_case(&organization))
                .filter_map(|u| u.project.as_deref())
        };
        let project = self
            .names
            .first()
            .map(|s| s.to_string())
            .or_else(|| self.given.map(|g| g.project.clone()))
            .or_else(|| url_projects().find(|p| !is_guid(p)).map(str::to_string))
            .or_else(|| self.ids.first().map(|s| s.to_string()))
            .or_else(|| {
                url_projects()
                    .find(|p| !is_zero_guid(p))
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                IngestError::invalid(
                    "resource.project",
                    "the payload names no Azure DevOps project",
                )
            })?;
        Ok(Origin {
            organization,
            project,
            base,
        })
    }
}

/// `8-4-4-4-12` hex digits.
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_zero_guid(s: &str) -> bool {
    s.bytes().all(|b| b == b'0' || b == b'-')
}

/// Percent-decodes a path segment (invalid escapes stay as they are).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a path segment (everything but unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Drops `user@` from a URL's authority (`remoteUrl` often carries the organisation there).
pub(crate) fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}{path}")
}

/// The value of query parameter `name` in the first URL of `text` that has it (message links).
pub(crate) fn query_param_in(text: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=");
    text.match_indices(&needle).find_map(|(i, _)| {
        let before = text.get(..i)?.chars().last()?;
        if before != '?' && before != '&' {
            return None;
        }
        let value: String = text
            .get(i + needle.len()..)?
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        (!value.is_empty()).then_some(value)
    })
}

/// The http(s) URLs in a text (message bodies link to the run, release or work item).
pub(crate) fn urls_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        let tail = rest.get(i..).unwrap_or("");
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | '(' | ']' | '\\')
            })
            .unwrap_or(tail.len());
        let url = tail.get(..end).unwrap_or("");
        if url.starts_with("http://") || url.starts_with("https://") {
            out.push(url);
        }
        rest = tail.get(end.max(4)..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_from_each_url_form() {
        let u = parse_url("https://dev.azure.com/fabrikam/My%20Project/_apis/git/repositories/x")
            .unwrap();
        assert_eq!(
            (u.organization.as_str(), u.project.as_deref()),
            ("fabrikam", Some("My Project"))
        );
        assert_eq!(u.base, "https://dev.azure.com/fabrikam");
        let u = parse_url("https://fabrikam@dev.azure.com/fabrikam/_git/repo").unwrap();
        assert_eq!((u.organization.as_str(), u.project), ("fabrikam", None));
        let u = parse_url("http://fabfiber.vsrm.visualstudio.com/DefaultCollection/Fabrikam-Fiber-Git/_apis/Release/releases/1").unwrap();
        assert_eq!(
            (u.organization.as_str(), u.project.as_deref()),
            ("fabfiber", Some("Fabrikam-Fiber-Git"))
        );
        assert_eq!(u.base, "https://fabfiber.visualstudio.com");
        let u = parse_url(
            "https://vsrm.dev.azure.com/fabrikam/MyFirstProject/_apis/Release/releases/55",
        )
        .unwrap();
        assert_eq!(
            (u.organization.as_str(), u.project.as_deref()),
            ("fabrikam", Some("MyFirstProject"))
        );
        let u =
            parse_url("https://good-company.some.ssl.host/tfs/GoodCompany/_git/Project").unwrap();
        assert_eq!((u.organization.as_str(), u.project), ("GoodCompany", None));
        assert_eq!(u.base, "https://good-company.some.ssl.host/tfs/GoodCompany");
        assert!(parse_url("vstfs:///Build/Build/2").is_none());
        assert!(parse_url("https://dev.azure.com/").is_none());
        assert!(parse_url("https://dev.azure.com/_apis/x").is_none());
    }

    #[test]
    fn names_beat_urls_beat_ids() {
        let o = Finder::new(None)
            .url(Some(
                "https://dev.azure.com/org/0f0f0f0f-0000-0000-0000-000000000001/_apis/x",
            ))
            .id(Some("be9b3917-87e6-42a4-a549-2bc06a7a878f"))
            .resolve()
            .unwrap();
        assert_eq!(o.project, "be9b3917-87e6-42a4-a549-2bc06a7a878f");
        let o = Finder::new(None)
            .url(Some("https://dev.azure.com/org/Proj/_apis/x"))
            .name(Some("Named"))
            .resolve()
            .unwrap();
        assert_eq!(o.key(), "org/Named");
        assert_eq!(
            o.web("_git/a b"),
            "https://dev.azure.com/org/Named/_git/a b"
        );
        assert!(Finder::new(None).name(Some("p")).resolve().is_err());
    }

    #[test]
    fn text_helpers_never_panic() {
        assert_eq!(
            query_param_in("x?_a=1&definitionId=4'>", "definitionId").as_deref(),
            Some("4")
        );
        assert_eq!(query_param_in("notdefinitionId=4", "definitionId"), None);
        assert_eq!(
            urls_in("see <a href=\"https://a/b\">x</a> and http"),
            ["https://a/b"]
        );
        assert_eq!(decode("%E2%82%ACx%zz%"), "€x%zz%");
        assert_eq!(
            strip_userinfo("https://o@dev.azure.com/o/p/_git/r"),
            "https://dev.azure.com/o/p/_git/r"
        );
        assert_eq!(encode_segment("My Project"), "My%20Project");
        for s in ["", "h", "http", "https://", "ü%", "%", "%4"] {
            let _ = (parse_url(s), urls_in(s), decode(s), query_param_in(s, "a"));
        }
    }
}
