//! Search and browse: free text + filters + facets + sort + cursor pagination.
//!
//! Facets are counted over every visible match (after all filters), so they never count an
//! entity the caller cannot open. The cursor carries the last item's sort key, not an offset:
//! pages stay consistent while entities are added or removed between requests.

use std::{cmp::Ordering, sync::Arc};

use rustc_hash::FxHashMap as HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use nexus_api::EntityKind;
use serde::{Deserialize, Serialize};

use super::{QueryError, Summary, parse_kind};
use crate::{
    authz::Visibility,
    cache::{Cache, entity::Entity, store::Store, tally::Tally},
};

pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 500;
const MAX_FACET_VALUES: usize = 50;
const MAX_QUERY_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    Relevance,
    Name,
    Kind,
    Namespace,
}

/// Raw query-string parameters (both faces use the same names).
#[derive(Debug, Default, Clone)]
pub struct SearchParams {
    pub q: Option<String>,
    /// Comma-separated; repeated values are joined by the face.
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub owner: Option<String>,
    pub lifecycle: Option<String>,
    pub type_: Option<String>,
    pub tag: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// `false` skips facet counting (typeahead).
    pub facets: Option<String>,
}

impl SearchParams {
    /// The parameter names, as both faces spell them in query strings.
    pub const KEYS: &[&str] = &[
        "q",
        "kind",
        "namespace",
        "owner",
        "lifecycle",
        "type",
        "tag",
        "sort",
        "limit",
        "cursor",
        "facets",
    ];
    /// The ones that choose what matches (not how it is ordered or paged).
    pub const FILTER_KEYS: &[&str] = &[
        "q",
        "kind",
        "namespace",
        "owner",
        "lifecycle",
        "type",
        "tag",
    ];

    /// Sets one parameter by its query-string name; `false` for a name that is not a search
    /// parameter.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> bool {
        let slot = match key {
            "q" => &mut self.q,
            "kind" => &mut self.kind,
            "namespace" => &mut self.namespace,
            "owner" => &mut self.owner,
            "lifecycle" => &mut self.lifecycle,
            "type" => &mut self.type_,
            "tag" => &mut self.tag,
            "sort" => &mut self.sort,
            "limit" => &mut self.limit,
            "cursor" => &mut self.cursor,
            "facets" => &mut self.facets,
            _ => return false,
        };
        *slot = Some(value.into());
        true
    }
}

/// Validated search.
#[derive(Debug, Clone)]
pub struct Search {
    pub text: String,
    pub kinds: Vec<EntityKind>,
    pub namespaces: Vec<String>,
    pub owners: Vec<String>,
    pub lifecycles: Vec<String>,
    pub types: Vec<String>,
    pub tags: Vec<String>,
    pub sort: Sort,
    pub limit: usize,
    pub after: Option<CursorKey>,
    pub facets: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CursorKey {
    /// Fingerprint of the query the cursor belongs to.
    f: u64,
    /// Score (relevance) of the last item.
    s: f32,
    /// Sort key of the last item.
    k: String,
}

/// `a, b,,c` → `[a, b, c]`: the comma-separated lists every filter parameter takes.
pub fn split_list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl SearchParams {
    pub fn validate(&self) -> Result<Search, QueryError> {
        let text = self.q.clone().unwrap_or_default();
        if text.len() > MAX_QUERY_LEN {
            return Err(QueryError::BadRequest(format!(
                "q is {} bytes; at most {MAX_QUERY_LEN} are accepted",
                text.len()
            )));
        }
        let kinds = split_list(self.kind.as_deref())
            .iter()
            .map(|k| parse_kind(k))
            .collect::<Result<Vec<_>, _>>()?;
        let sort = match self.sort.as_deref() {
            None | Some("") => {
                if text.trim().is_empty() {
                    Sort::Name
                } else {
                    Sort::Relevance
                }
            }
            Some("relevance") => Sort::Relevance,
            Some("name") => Sort::Name,
            Some("kind") => Sort::Kind,
            Some("namespace") => Sort::Namespace,
            Some(other) => {
                return Err(QueryError::BadRequest(format!(
                    "sort `{other}` is not one of relevance, name, kind, namespace"
                )));
            }
        };
        let limit = match self.limit.as_deref() {
            None | Some("") => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if n <= MAX_LIMIT => n,
                _ => {
                    return Err(QueryError::BadRequest(format!(
                        "limit `{raw}` must be a whole number from 0 to {MAX_LIMIT}"
                    )));
                }
            },
        };
        let facets = match self.facets.as_deref() {
            None | Some("") | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(QueryError::BadRequest(format!(
                    "facets `{other}` must be true or false"
                )));
            }
        };
        let mut search = Search {
            text,
            kinds,
            namespaces: split_list(self.namespace.as_deref()),
            owners: split_list(self.owner.as_deref()),
            lifecycles: split_list(self.lifecycle.as_deref()),
            types: split_list(self.type_.as_deref()),
            tags: split_list(self.tag.as_deref()),
            sort,
            limit,
            after: None,
            facets,
        };
        if let Some(raw) = self.cursor.as_deref().filter(|c| !c.is_empty()) {
            let key: CursorKey = URL_SAFE_NO_PAD
                .decode(raw)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    QueryError::BadRequest("cursor is not one this server issued".into())
                })?;
            if key.f != search.fingerprint() {
                return Err(QueryError::BadRequest(
                    "cursor belongs to a different query (q, filters or sort changed); start again without it"
                        .into(),
                ));
            }
            search.after = Some(key);
        }
        Ok(search)
    }
}

impl Search {
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.text.trim().hash(&mut h);
        self.kinds.hash(&mut h);
        self.namespaces.hash(&mut h);
        self.owners.hash(&mut h);
        self.lifecycles.hash(&mut h);
        self.types.hash(&mut h);
        self.tags.hash(&mut h);
        (self.sort as u8).hash(&mut h);
        h.finish()
    }

    fn matches(&self, e: &Entity) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&e.id.kind))
            && (self.namespaces.is_empty()
                || self.namespaces.iter().any(|n| **n == *e.id.namespace))
            && (self.owners.is_empty()
                || e.owner.as_ref().is_some_and(|o| {
                    self.owners
                        .iter()
                        .any(|w| **w == *o.name || (w.contains(':') && *w == o.to_string()))
                }))
            && (self.lifecycles.is_empty()
                || e.lifecycle
                    .as_ref()
                    .is_some_and(|l| self.lifecycles.contains(l)))
            && (self.types.is_empty() || e.type_.as_ref().is_some_and(|t| self.types.contains(t)))
            && (self.tags.is_empty() || self.tags.iter().all(|t| e.tags.contains(t)))
    }

    /// Sort key without allocating: three borrowed parts compared in order.
    fn sort_key<'e>(&self, e: &'e Entity) -> Key<'e> {
        let id = &e.id;
        match self.sort {
            Sort::Relevance | Sort::Name => [&*id.name, &*id.namespace, id.kind.ref_name()],
            Sort::Kind => [id.kind.ref_name(), &*id.name, &*id.namespace],
            Sort::Namespace => [&*id.namespace, &*id.name, id.kind.ref_name()],
        }
    }
}

type Key<'e> = [&'e str; 3];

impl Default for Search {
    /// Everything, in name order, first page, with facets.
    fn default() -> Self {
        Search {
            text: String::new(),
            kinds: Vec::new(),
            namespaces: Vec::new(),
            owners: Vec::new(),
            lifecycles: Vec::new(),
            types: Vec::new(),
            tags: Vec::new(),
            sort: Sort::Name,
            limit: DEFAULT_LIMIT,
            after: None,
            facets: true,
        }
    }
}

/// Index scores say which fields matched; this says how well the query names the entity, so
/// `checkout` (or `chekout`) ranks the `checkout` system above a work item mentioning checkout.
fn name_bonus(exact: &str, words: &[String], e: &Entity) -> f32 {
    // Kubernetes names are lower-case already.
    let name: &str = &e.id.name;
    let mut bonus = if name == exact {
        100.0
    } else if name.starts_with(exact) {
        20.0
    } else if name.contains(exact) {
        10.0
    } else {
        0.0
    };
    let name_words = || name.split(|c: char| !c.is_alphanumeric());
    for word in words {
        if name_words().any(|n| n == word) {
            bonus += 6.0;
        } else if name_words().any(|n| n.starts_with(word.as_str())) {
            bonus += 4.0;
        } else if name_words().any(|n| within_one_typo(n, word)) {
            bonus += 3.0;
        }
    }
    // Things people look for by name come before records that mention them.
    if matches!(
        e.id.kind,
        EntityKind::Component
            | EntityKind::System
            | EntityKind::Api
            | EntityKind::Team
            | EntityKind::Domain
            | EntityKind::User
    ) {
        bonus += 0.5;
    }
    bonus
}

/// Levenshtein distance ≤ 1 (or ≤ 2 for words of 8+ letters), counting a transposition as one.
/// Names are ASCII (DNS labels), so this works on bytes with rows on the stack: it runs for
/// many hits of a common word and must not allocate.
fn within_one_typo(name_word: &str, word: &str) -> bool {
    const MAX: usize = 64;
    let (a, b) = (name_word.as_bytes(), word.as_bytes());
    let limit = if b.len() >= 8 { 2 } else { 1 };
    if b.len() < 4
        || a.len() >= MAX
        || b.len() >= MAX
        || a.len().abs_diff(b.len()) > limit
        || !word.is_ascii()
    {
        return false;
    }
    // Optimal string alignment distance with three rolling rows.
    let mut before = [0usize; MAX];
    let mut previous = [0usize; MAX];
    let mut current = [0usize; MAX];
    for (j, cell) in previous.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        current[0] = i;
        let mut row_min = current[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return false;
        }
        before = previous;
        previous = current;
    }
    previous[b.len()] <= limit
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub items: Vec<Hit>,
    /// Visible matches in total (all pages).
    pub total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    #[serde(flatten)]
    pub entity: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

#[derive(Debug, Default, Serialize)]
pub struct Facets {
    pub kind: Vec<FacetValue>,
    pub namespace: Vec<FacetValue>,
    pub owner: Vec<FacetValue>,
    pub lifecycle: Vec<FacetValue>,
    #[serde(rename = "type")]
    pub type_: Vec<FacetValue>,
    pub tag: Vec<FacetValue>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FacetValue {
    pub value: String,
    pub count: usize,
}

#[derive(Default)]
struct FacetCounts<'a> {
    kind: HashMap<&'static str, usize>,
    namespace: HashMap<&'a str, usize>,
    owner: HashMap<&'a nexus_api::EntityRef, usize>,
    lifecycle: HashMap<&'a str, usize>,
    type_: HashMap<&'a str, usize>,
    tag: HashMap<&'a str, usize>,
}

impl<'a> FacetCounts<'a> {
    /// Adds a whole (kind, namespace) at once from its precomputed tally.
    fn add_tally(&mut self, kind: EntityKind, namespace: &'a str, t: &'a Tally) {
        *self.kind.entry(kind.as_str()).or_default() += t.count;
        *self.namespace.entry(namespace).or_default() += t.count;
        for (owner, n) in &t.owner {
            *self.owner.entry(owner).or_default() += n;
        }
        for (v, n) in &t.lifecycle {
            *self.lifecycle.entry(v).or_default() += n;
        }
        for (v, n) in &t.type_ {
            *self.type_.entry(v).or_default() += n;
        }
        for (v, n) in &t.tag {
            *self.tag.entry(v).or_default() += n;
        }
    }

    fn add(&mut self, e: &'a Entity) {
        *self.kind.entry(e.id.kind.as_str()).or_default() += 1;
        *self.namespace.entry(&e.id.namespace).or_default() += 1;
        if let Some(owner) = &e.owner {
            *self.owner.entry(owner).or_default() += 1;
        }
        if let Some(l) = &e.lifecycle {
            *self.lifecycle.entry(l).or_default() += 1;
        }
        if let Some(t) = &e.type_ {
            *self.type_.entry(t).or_default() += 1;
        }
        for tag in &e.tags {
            *self.tag.entry(tag).or_default() += 1;
        }
    }

    fn finish(self) -> Facets {
        fn top<K: ToString>(counts: HashMap<K, usize>) -> Vec<FacetValue> {
            let mut values: Vec<FacetValue> = counts
                .into_iter()
                .map(|(value, count)| FacetValue {
                    value: value.to_string(),
                    count,
                })
                .collect();
            values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            values.truncate(MAX_FACET_VALUES);
            values
        }
        Facets {
            kind: top(self.kind),
            namespace: top(self.namespace),
            owner: top(self.owner),
            lifecycle: top(self.lifecycle),
            type_: top(self.type_),
            tag: top(self.tag),
        }
    }
}

/// Browsing by kind and namespace without free text, in name order — the catalog browser's
/// common case — answers from the per-partition tallies and the name-ordered index: facets and
/// totals cost one step per (kind, namespace), the page one step per entity walked.
fn browse(store: &Store, visibility: &Visibility, search: &Search) -> Option<SearchResult> {
    let plain = search.owners.is_empty()
        && search.lifecycles.is_empty()
        && search.types.is_empty()
        && search.tags.is_empty()
        && search.sort == Sort::Name;
    if !plain {
        return None;
    }
    let partition = |kind: EntityKind, ns: &str| {
        (search.kinds.is_empty() || search.kinds.contains(&kind))
            && (search.namespaces.is_empty() || search.namespaces.iter().any(|n| n == ns))
    };
    let mut total = 0;
    let mut counts = FacetCounts::default();
    for (kind, ns, tally) in store.tallies() {
        if partition(kind, ns) && visibility.covers(kind, ns) {
            total += tally.count;
            if search.facets {
                counts.add_tally(kind, ns, tally);
            }
        }
    }
    for id in visibility.named() {
        if partition(id.kind, &id.namespace)
            && !visibility.covers(id.kind, &id.namespace)
            && let Some(e) = store.get(id)
        {
            total += 1;
            if search.facets {
                counts.add(e);
            }
        }
    }
    let mut items = Vec::new();
    let mut more = false;
    if total > 0 && search.limit > 0 {
        let after = search.after.as_ref().map(|a| {
            let mut parts = a.k.split('\u{0}');
            [
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            ]
        });
        for e in store.in_name_order(after) {
            if !partition(e.id.kind, &e.id.namespace) || !visibility.can_see(&e.id) {
                continue;
            }
            if items.len() == search.limit {
                more = true;
                break;
            }
            items.push(e);
        }
    }
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => cursor(search, 0.0, &search.sort_key(last)),
        _ => None,
    };
    Some(SearchResult {
        items: items
            .into_iter()
            .map(|e| Hit {
                entity: Summary::of(e),
                score: None,
            })
            .collect(),
        total,
        facets: search.facets.then(|| counts.finish()),
        next_cursor,
    })
}

fn cursor(search: &Search, score: f32, key: &Key<'_>) -> Option<String> {
    let cursor = CursorKey {
        f: search.fingerprint(),
        s: score,
        k: key.join("\u{0}"),
    };
    serde_json::to_vec(&cursor)
        .ok()
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// Runs a search for a caller who sees `visibility`.
pub fn run(
    cache: &Cache,
    visibility: &Visibility,
    search: &Search,
) -> Result<SearchResult, QueryError> {
    let words = cache.index.words(&search.text);
    let hits = cache
        .index
        .search_words(&words)
        .map_err(|e| QueryError::BadRequest(e.to_string()))?;
    let exact = search.text.trim().to_lowercase();
    let store = cache.read();
    if hits.is_none()
        && let Some(result) = browse(&store, visibility, search)
    {
        return Ok(result);
    }
    let mut matches: Vec<(&Arc<Entity>, f32)> = Vec::new();
    let keep = |e: &'_ Arc<Entity>, score: f32| -> Option<f32> {
        (visibility.can_see(&e.id) && search.matches(e)).then_some(score)
    };
    match &hits {
        Some(hits) => {
            for (slot, score) in hits {
                if let Some(e) = store.slot(*slot)
                    && let Some(mut score) = keep(e, *score)
                {
                    score += name_bonus(&exact, &words, e);
                    matches.push((e, score));
                }
            }
        }
        None => {
            for e in store.iter() {
                if keep(e, 0.0).is_some() {
                    matches.push((e, 0.0));
                }
            }
        }
    }
    let total = matches.len();
    let facets = search.facets.then(|| {
        let mut counts = FacetCounts::default();
        for (e, _) in &matches {
            counts.add(e);
        }
        counts.finish()
    });

    // Order: relevance descending then key ascending, or key ascending.
    let by_relevance = search.sort == Sort::Relevance;
    let order = |sa: f32, ka: &Key<'_>, sb: f32, kb: &Key<'_>| -> Ordering {
        if by_relevance {
            sb.total_cmp(&sa).then_with(|| ka.cmp(kb))
        } else {
            ka.cmp(kb)
        }
    };
    let mut keyed: Vec<(f32, Key<'_>, &Arc<Entity>)> = matches
        .into_iter()
        .map(|(e, score)| (score, search.sort_key(e), e))
        .collect();
    if let Some(after) = &search.after {
        let mut parts = after.k.split('\u{0}');
        let probe: Key<'_> = [
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        ];
        keyed.retain(|item| order(item.0, &item.1, after.s, &probe) == Ordering::Greater);
    }
    let cmp = |a: &(f32, Key<'_>, &Arc<Entity>), b: &(f32, Key<'_>, &Arc<Entity>)| {
        order(a.0, &a.1, b.0, &b.1)
    };
    let more = keyed.len() > search.limit;
    if search.limit == 0 {
        keyed.clear();
    } else if search.limit < keyed.len() {
        keyed.select_nth_unstable_by(search.limit - 1, cmp);
        keyed.truncate(search.limit);
    }
    keyed.sort_by(cmp);
    let next_cursor = match (more, keyed.last()) {
        (true, Some((score, key, _))) => cursor(search, *score, key),
        _ => None,
    };
    let items = keyed
        .into_iter()
        .map(|(score, _, e)| Hit {
            entity: Summary::of(e),
            score: by_relevance.then_some(score),
        })
        .collect();
    Ok(SearchResult {
        items,
        total,
        facets,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fixtures::org;

    fn params(pairs: &[(&str, &str)]) -> Search {
        let mut p = SearchParams::default();
        for (k, v) in pairs {
            assert!(p.set(k, *v), "{k} is not a search parameter");
        }
        p.validate().unwrap()
    }

    fn refs(r: &SearchResult) -> Vec<String> {
        r.items.iter().map(|h| h.entity.ref_.clone()).collect()
    }

    #[test]
    fn text_typos_prefixes_and_filters() {
        let cache = org();
        let all = Visibility::everything();
        let r = run(&cache, &all, &params(&[("q", "checkout")])).unwrap();
        assert_eq!(
            refs(&r)[0],
            "component:pay/checkout",
            "the entity named by the query first"
        );
        assert!(
            refs(&r).contains(&"component:pay/ledger".to_string()),
            "description matches too"
        );
        let typo = run(&cache, &all, &params(&[("q", "chekout")])).unwrap();
        assert_eq!(refs(&typo)[0], "component:pay/checkout");
        let prefix = run(&cache, &all, &params(&[("q", "stor")])).unwrap();
        assert_eq!(refs(&prefix), ["component:web/storefront"]);
        let filtered = run(
            &cache,
            &all,
            &params(&[("kind", "component"), ("tag", "pci")]),
        )
        .unwrap();
        assert_eq!(refs(&filtered), ["component:pay/checkout"]);
        let by_owner = run(
            &cache,
            &all,
            &params(&[("owner", "payments"), ("kind", "component")]),
        )
        .unwrap();
        assert_eq!(by_owner.total, 2);
    }

    #[test]
    fn hidden_entities_are_not_in_items_totals_or_facets() {
        let cache = org();
        let pay_only = Visibility::namespaces([(EntityKind::Component, "pay")]);
        let r = run(&cache, &pay_only, &params(&[])).unwrap();
        assert_eq!(r.total, 2);
        let facets = r.facets.unwrap();
        assert_eq!(
            facets.namespace,
            [FacetValue {
                value: "pay".into(),
                count: 2
            }]
        );
        assert_eq!(
            facets.kind,
            [FacetValue {
                value: "Component".into(),
                count: 2
            }]
        );
        assert!(
            facets.tag.iter().all(|t| t.value != "nextjs"),
            "storefront's tag leaks"
        );
        let nothing = run(
            &cache,
            &Visibility::default(),
            &params(&[("q", "checkout")]),
        )
        .unwrap();
        assert_eq!((nothing.total, nothing.items.len()), (0, 0));
        assert!(nothing.facets.unwrap().kind.is_empty());
    }

    #[test]
    fn cursor_pages_cover_everything_once_and_reject_other_queries() {
        let cache = org();
        let all = Visibility::everything();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut p = vec![("limit", "2")];
            if let Some(c) = &cursor {
                p.push(("cursor", c.as_str()));
            }
            let page = run(&cache, &all, &params(&p)).unwrap();
            assert_eq!(page.total, 9);
            seen.extend(refs(&page));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 9, "every entity exactly once: {seen:?}");
        let first = run(&cache, &all, &params(&[("limit", "1")])).unwrap();
        let mut other = SearchParams {
            q: Some("x".into()),
            cursor: first.next_cursor,
            ..Default::default()
        };
        assert!(
            other
                .validate()
                .unwrap_err()
                .to_string()
                .contains("different query")
        );
        other.cursor = Some("garbage".into());
        assert!(
            other
                .validate()
                .unwrap_err()
                .to_string()
                .contains("not one this server issued")
        );
    }

    #[test]
    fn browsing_from_tallies_agrees_with_scanning_every_entity() {
        let cache = org();
        let visibilities = [
            Visibility::everything(),
            Visibility::namespaces([(EntityKind::Component, "pay"), (EntityKind::Team, "web")]),
            Visibility::namespaces([(EntityKind::Component, "pay")])
                .with_name("component:web/storefront".parse().unwrap()),
            Visibility::default(),
        ];
        for visibility in &visibilities {
            for filters in [
                vec![],
                vec![("kind", "component")],
                vec![("namespace", "pay")],
            ] {
                let mut by_name = filters.clone();
                by_name.push(("sort", "name"));
                by_name.push(("limit", "100"));
                let mut scanned = filters.clone();
                scanned.push(("sort", "kind"));
                scanned.push(("limit", "100"));
                let fast = run(&cache, visibility, &params(&by_name)).unwrap();
                let slow = run(&cache, visibility, &params(&scanned)).unwrap();
                assert_eq!(fast.total, slow.total, "{filters:?}");
                let (mut a, mut b) = (refs(&fast), refs(&slow));
                a.sort();
                b.sort();
                assert_eq!(a, b, "{filters:?}");
                let (ff, sf) = (fast.facets.unwrap(), slow.facets.unwrap());
                assert_eq!(ff.kind, sf.kind);
                assert_eq!(ff.namespace, sf.namespace);
                assert_eq!(ff.owner, sf.owner);
                assert_eq!(ff.tag, sf.tag);
                assert_eq!(ff.lifecycle, sf.lifecycle);
            }
        }
    }

    #[test]
    fn typo_distance() {
        assert!(within_one_typo("checkout", "chekout"));
        assert!(within_one_typo("checkout", "chcekout"), "transposition");
        assert!(within_one_typo("payments", "paymnets"));
        assert!(within_one_typo("inventory", "inventroy"));
        assert!(
            within_one_typo("inventory", "invnetroy"),
            "two edits for long words"
        );
        assert!(!within_one_typo("ledger", "lodgar"));
        assert!(
            !within_one_typo("web", "wab"),
            "short words need exact or prefix matches"
        );
    }

    #[test]
    fn bad_parameters_name_the_problem() {
        let bad = |key: &str, value: String| {
            let mut p = SearchParams::default();
            assert!(p.set(key, value));
            p.validate().unwrap_err().to_string()
        };
        assert!(bad("limit", "9999".into()).contains("limit"));
        assert!(bad("sort", "size".into()).contains("sort `size`"));
        assert!(bad("kind", "widget".into()).contains("unknown kind `widget`"));
        assert!(bad("facets", "maybe".into()).contains("facets"));
        assert!(bad("q", "x".repeat(600)).contains("at most"));
    }
}
