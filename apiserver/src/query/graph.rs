//! The relation graph around an entity: its neighbourhood to a depth, and impact analysis —
//! everything that depends on it (downstream, hit when it fails) and everything it depends on
//! (upstream, where a cause may be). Traversal never passes through an entity the caller cannot
//! see, so a path does not reveal hidden nodes.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use nexus_api::{EntityKind, EntityRef, RelationType};
use serde::Serialize;

use super::{QueryError, Summary, visible};
use crate::{
    authz::Visibility,
    cache::{Cache, store::Store},
};

pub const MAX_DEPTH: usize = 6;
pub const DEFAULT_DEPTH: usize = 2;
/// Largest answer; beyond it `truncated` is set.
pub const MAX_NODES: usize = 2000;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(flatten)]
    pub entity: Summary,
    pub depth: usize,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub type_: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Graph {
    pub root: String,
    pub nodes: Vec<Node>,
    /// Each relation once, in its declared direction (`dependsOn`, not also `dependencyOf`).
    pub edges: Vec<Edge>,
    pub truncated: bool,
}

/// Validated graph parameters.
#[derive(Debug, Clone)]
pub struct GraphParams {
    pub depth: usize,
    /// Empty: every relation type.
    pub relations: Vec<RelationType>,
}

pub fn parse_params(
    depth: Option<&str>,
    relations: Option<&str>,
) -> Result<GraphParams, QueryError> {
    let depth = match depth {
        None | Some("") => DEFAULT_DEPTH,
        Some(raw) => match raw.parse::<usize>() {
            Ok(d) if (1..=MAX_DEPTH).contains(&d) => d,
            _ => {
                return Err(QueryError::BadRequest(format!(
                    "depth `{raw}` must be a whole number from 1 to {MAX_DEPTH}"
                )));
            }
        },
    };
    let relations = relations
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| {
            RelationType::parse(r).ok_or_else(|| {
                QueryError::BadRequest(format!(
                    "unknown relation `{r}`; known relations: {}",
                    RelationType::ALL.map(|r| r.as_str()).join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GraphParams { depth, relations })
}

/// The declared side of a relation pair (even positions in [`RelationType::ALL`]).
fn declared(relation: RelationType) -> RelationType {
    let position = RelationType::ALL
        .iter()
        .position(|r| *r == relation)
        .unwrap_or_default();
    if position % 2 == 0 {
        relation
    } else {
        relation.inverse()
    }
}

fn edge(from: &EntityRef, relation: RelationType, to: &EntityRef) -> Edge {
    if declared(relation) == relation {
        Edge {
            from: from.to_string(),
            to: to.to_string(),
            type_: relation.as_str(),
        }
    } else {
        Edge {
            from: to.to_string(),
            to: from.to_string(),
            type_: relation.inverse().as_str(),
        }
    }
}

/// Breadth-first walk over visible entities following `follow`; returns depth per entity and the
/// edges walked.
fn walk(
    store: &Store,
    visibility: &Visibility,
    roots: &[EntityRef],
    depth: usize,
    follow: impl Fn(RelationType) -> bool,
) -> (Vec<(EntityRef, usize)>, BTreeSet<Edge>, bool) {
    let mut seen: HashMap<EntityRef, usize> = HashMap::new();
    let mut order = Vec::new();
    let mut edges = BTreeSet::new();
    let mut queue = VecDeque::new();
    let mut truncated = false;
    for root in roots {
        if seen.insert(root.clone(), 0).is_none() {
            order.push((root.clone(), 0));
            queue.push_back((root.clone(), 0));
        }
    }
    while let Some((id, d)) = queue.pop_front() {
        if d >= depth {
            continue;
        }
        let Some(entity) = store.get(&id) else {
            continue;
        };
        for (relation, target) in &entity.relations {
            if !follow(*relation) || !visibility.can_see(target) || store.get(target).is_none() {
                continue;
            }
            edges.insert(edge(&id, *relation, target));
            if !seen.contains_key(target) {
                if seen.len() >= MAX_NODES {
                    truncated = true;
                    continue;
                }
                seen.insert(target.clone(), d + 1);
                order.push((target.clone(), d + 1));
                queue.push_back((target.clone(), d + 1));
            }
        }
    }
    (order, edges, truncated)
}

fn nodes(store: &Store, found: Vec<(EntityRef, usize)>) -> Vec<Node> {
    found
        .into_iter()
        .filter_map(|(id, depth)| {
            store.get(&id).map(|e| Node {
                entity: Summary::of(e),
                depth,
            })
        })
        .collect()
}

pub fn neighbourhood(
    cache: &Cache,
    visibility: &Visibility,
    id: &EntityRef,
    params: &GraphParams,
) -> Result<Graph, QueryError> {
    let store = cache.read();
    visible(&store, visibility, id)?;
    let (found, edges, truncated) = walk(
        &store,
        visibility,
        std::slice::from_ref(id),
        params.depth,
        |r| {
            params.relations.is_empty()
                || params.relations.contains(&r)
                || params.relations.contains(&r.inverse())
        },
    );
    Ok(Graph {
        root: id.to_string(),
        nodes: nodes(&store, found),
        edges: edges.into_iter().collect(),
        truncated,
    })
}

/// Following these from X reaches what breaks when X breaks.
pub fn is_downstream(relation: RelationType) -> bool {
    use RelationType::*;
    matches!(
        relation,
        DependencyOf | ProvidesApi | ApiConsumedBy | PartOf | Hosts
    )
}

/// Following these from X reaches what X needs to work.
pub fn is_upstream(relation: RelationType) -> bool {
    use RelationType::*;
    matches!(
        relation,
        DependsOn | ConsumesApi | ApiProvidedBy | HasPart | DeployedTo
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    pub root: String,
    /// Where the analysis starts: the entity, or for an Incident the entities it affects.
    pub affected: Vec<Summary>,
    /// What depends on the affected entities, nearest first.
    pub downstream: Vec<Node>,
    /// What the affected entities depend on (possible causes), nearest first.
    pub upstream: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Owners of everything affected or downstream: who to tell.
    pub owners: Vec<Summary>,
    /// Runbooks linked to anything affected or downstream.
    pub runbooks: Vec<Summary>,
    /// Open incidents on anything affected, downstream or upstream ("what else is burning").
    pub open_incidents: Vec<Summary>,
    pub truncated: bool,
}

pub fn impact(
    cache: &Cache,
    visibility: &Visibility,
    id: &EntityRef,
) -> Result<Impact, QueryError> {
    let store = cache.read();
    let root = visible(&store, visibility, id)?;
    let roots: Vec<EntityRef> = if id.kind == EntityKind::Incident {
        root.related(RelationType::Affects)
            .filter(|t| visibility.can_see(t) && store.get(t).is_some())
            .cloned()
            .collect()
    } else {
        vec![id.clone()]
    };
    let (down, mut edges, down_truncated) =
        walk(&store, visibility, &roots, MAX_DEPTH * 2, is_downstream);
    let (up, up_edges, up_truncated) = walk(&store, visibility, &roots, MAX_DEPTH * 2, is_upstream);
    edges.extend(up_edges);
    let root_set: HashSet<&EntityRef> = roots.iter().collect();
    let impacted: Vec<EntityRef> = roots
        .iter()
        .cloned()
        .chain(down.iter().map(|(id, _)| id.clone()))
        .collect();
    let mut owners = BTreeSet::new();
    let mut runbooks = BTreeSet::new();
    let mut incidents = BTreeSet::new();
    for id in impacted.iter().chain(up.iter().map(|(id, _)| id)) {
        let Some(e) = store.get(id) else { continue };
        for incident in e.related(RelationType::AffectedBy) {
            if Some(incident) != Some(&root.id) {
                incidents.insert(incident.clone());
            }
        }
    }
    for id in &impacted {
        let Some(e) = store.get(id) else { continue };
        if let Some(owner) = &e.owner {
            owners.insert(owner.clone());
        }
        runbooks.extend(e.related(RelationType::HasRunbook).cloned());
    }
    let summaries = |ids: BTreeSet<EntityRef>, open_only: bool| -> Vec<Summary> {
        ids.into_iter()
            .filter(|id| visibility.can_see(id))
            .filter_map(|id| store.get(&id))
            .filter(|e| {
                !open_only
                    || matches!(&e.facts, crate::cache::entity::KindFacts::Incident(i) if i.is_open())
            })
            .map(|e| Summary::of(e))
            .collect()
    };
    Ok(Impact {
        root: id.to_string(),
        affected: roots
            .iter()
            .filter_map(|r| store.get(r))
            .map(|e| Summary::of(e))
            .collect(),
        downstream: nodes(
            &store,
            down.into_iter()
                .filter(|(id, _)| !root_set.contains(id))
                .collect(),
        ),
        upstream: nodes(
            &store,
            up.into_iter()
                .filter(|(id, _)| !root_set.contains(id))
                .collect(),
        ),
        edges: edges.into_iter().collect(),
        owners: summaries(owners, false),
        runbooks: summaries(runbooks, false),
        open_incidents: summaries(incidents, true),
        truncated: down_truncated || up_truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fixtures::org;

    fn id(s: &str) -> EntityRef {
        s.parse().unwrap()
    }

    #[test]
    fn neighbourhood_has_typed_edges_once_in_declared_direction() {
        let cache = org();
        let all = Visibility::everything();
        let g = neighbourhood(
            &cache,
            &all,
            &id("component:pay/checkout"),
            &parse_params(Some("1"), None).unwrap(),
        )
        .unwrap();
        let nodes: Vec<_> = g
            .nodes
            .iter()
            .map(|n| (n.entity.ref_.as_str(), n.depth))
            .collect();
        assert!(nodes.contains(&("component:pay/checkout", 0)));
        assert!(nodes.contains(&("component:pay/ledger", 1)));
        assert!(nodes.contains(&("component:web/storefront", 1)));
        assert!(g.edges.contains(&Edge {
            from: "component:pay/checkout".into(),
            to: "component:pay/ledger".into(),
            type_: "dependsOn"
        }));
        assert!(g.edges.contains(&Edge {
            from: "component:web/storefront".into(),
            to: "component:pay/checkout".into(),
            type_: "dependsOn"
        }));
        assert!(
            !g.edges.iter().any(|e| e.type_ == "dependencyOf"),
            "inverse names are folded"
        );
        let deeper = neighbourhood(
            &cache,
            &all,
            &id("component:pay/checkout"),
            &parse_params(Some("2"), None).unwrap(),
        )
        .unwrap();
        assert!(
            deeper
                .nodes
                .iter()
                .any(|n| n.entity.ref_ == "incident:pay/inc-1" && n.depth == 2)
        );
        let only_deps = neighbourhood(
            &cache,
            &all,
            &id("component:pay/checkout"),
            &parse_params(Some("3"), Some("dependsOn")).unwrap(),
        )
        .unwrap();
        assert!(only_deps.edges.iter().all(|e| e.type_ == "dependsOn"));
    }

    #[test]
    fn hidden_nodes_are_neither_shown_nor_walked_through() {
        let cache = org();
        let pay = Visibility::namespaces([(EntityKind::Component, "pay")]);
        let g = neighbourhood(
            &cache,
            &pay,
            &id("component:pay/checkout"),
            &parse_params(Some("3"), None).unwrap(),
        )
        .unwrap();
        assert!(
            g.nodes
                .iter()
                .all(|n| n.entity.namespace == "pay" && n.entity.kind == "Component")
        );
        assert!(
            neighbourhood(
                &cache,
                &pay,
                &id("component:web/storefront"),
                &parse_params(None, None).unwrap()
            )
            .is_err()
        );
    }

    #[test]
    fn impact_of_an_incident_starts_at_what_it_affects() {
        let cache = org();
        let all = Visibility::everything();
        let impact = impact(&cache, &all, &id("incident:pay/inc-1")).unwrap();
        assert_eq!(
            impact
                .affected
                .iter()
                .map(|s| s.ref_.as_str())
                .collect::<Vec<_>>(),
            ["component:pay/ledger"]
        );
        let down: Vec<_> = impact
            .downstream
            .iter()
            .map(|n| (n.entity.ref_.as_str(), n.depth))
            .collect();
        assert_eq!(
            down,
            [
                ("component:pay/checkout", 1),
                ("component:web/storefront", 2)
            ]
        );
        assert!(impact.upstream.is_empty());
        let owners: Vec<_> = impact.owners.iter().map(|s| s.ref_.as_str()).collect();
        assert_eq!(owners, ["team:pay/payments", "team:web/web"]);
        assert_eq!(impact.runbooks[0].ref_, "runbook:pay/ledger-down");
        let up = super::impact(&cache, &all, &id("component:web/storefront")).unwrap();
        let upstream: Vec<_> = up.upstream.iter().map(|n| n.entity.ref_.as_str()).collect();
        assert_eq!(upstream, ["component:pay/checkout", "component:pay/ledger"]);
        assert_eq!(
            up.open_incidents[0].ref_, "incident:pay/inc-1",
            "what is burning upstream"
        );
        assert!(
            parse_params(Some("99"), None)
                .unwrap_err()
                .to_string()
                .contains("depth `99`")
        );
        assert!(
            parse_params(None, Some("likes"))
                .unwrap_err()
                .to_string()
                .contains("unknown relation `likes`")
        );
    }
}
