//! End-to-end tests of nexus-apiserver against the real local control plane (`make test-e2e`):
//! the aggregated API through kube-apiserver (kubectl, impersonation), the portal API with dev
//! tokens, live updates, a kube-apiserver outage, and bad input. They run one at a time
//! (`--test-threads=1`): each starts its own apiserver (and, where relations matter, its own
//! catalog controller), and only one APIService can point at an apiserver at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test by panicking

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::{Api, api::PostParams};
use nexus_e2e::{
    ControllerOptions, ControllerProcess, TestNamespace,
    apiserver::{
        Answer, ApiserverOptions, ApiserverProcess, KubeApiserverOutage, SseEvent, https_client,
    },
    client, kubectl, kubectl_apply, kubectl_ok, repo_root, short_id, sum_metric, unique_word,
    wait_for,
};
use serde_json::Value;

const PORTAL_RESOURCES: [&str; 7] = [
    "entities",
    "searches",
    "facets",
    "graphs",
    "impacts",
    "teamviews",
    "dashboards",
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// A caller of the aggregated face (kubectl impersonation) and of the portal face (a dev token
/// carrying the same user and groups).
#[derive(Clone, Debug)]
struct Who {
    user: String,
    groups: Vec<String>,
}

impl Who {
    fn new(user: &str, groups: &[&str]) -> Self {
        Self {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn impersonation(&self) -> Vec<String> {
        let mut args = vec!["--as".to_string(), self.user.clone()];
        for g in &self.groups {
            args.push("--as-group".into());
            args.push(g.clone());
        }
        args
    }

    fn token(&self, api: &ApiserverProcess) -> String {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        api.token(&self.user, &groups).unwrap()
    }
}

/// `kubectl get --raw <path>` (as `who` when given): the JSON answer, or kubectl's error text
/// (`Error from server (NotFound): …`).
fn raw(path: &str, who: Option<&Who>) -> Result<Value, String> {
    let mut args: Vec<String> = vec!["get".into(), "--raw".into(), path.into()];
    if let Some(who) = who {
        args.extend(who.impersonation());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = kubectl(&args, None).unwrap();
    if ok {
        serde_json::from_str(&out).map_err(|e| format!("not JSON ({e}): {out}"))
    } else {
        Err(format!("{err}{out}"))
    }
}

fn raw_ok(path: &str, who: Option<&Who>) -> Value {
    raw(path, who).unwrap_or_else(|e| panic!("kubectl get --raw {path} as {who:?}: {e}"))
}

fn raw_err(path: &str, who: Option<&Who>) -> String {
    match raw(path, who) {
        Ok(v) => panic!("kubectl get --raw {path} as {who:?} should fail, got {v}"),
        Err(e) => e,
    }
}

/// `items[].ref` of a search answer (both faces).
fn refs(v: &Value) -> BTreeSet<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|i| i["ref"].as_str().unwrap().to_string())
        .collect()
}

/// The values of one facet (`kind`, `namespace`, `owner`, …).
fn facet(v: &Value, name: &str) -> BTreeSet<String> {
    v["facets"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no facet {name} in {v}"))
        .iter()
        .map(|f| f["value"].as_str().unwrap().to_string())
        .collect()
}

fn set<const N: usize>(items: [String; N]) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// Asks kube-apiserver the question nexus-apiserver asks (a SubjectAccessReview with exactly
/// these user and groups) until the answer is `want`: RBAC objects take a moment to reach the
/// authorizer's informers, and a wrong first answer would be cached by nexus-apiserver.
async fn wait_access(
    who: &Who,
    group: &str,
    resource: &str,
    verb: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    want: bool,
) {
    let client = client().await.unwrap();
    let api: Api<SubjectAccessReview> = Api::all(client);
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(who.user.clone()),
            groups: Some(who.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                verb: Some(verb.into()),
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    wait_for(
        &format!("{who:?} {verb} {group}/{resource} in {namespace:?} ({name:?}) = {want}"),
        Duration::from_secs(15),
        || async {
            let answer = api.create(&PostParams::default(), &review).await?;
            let allowed = answer.status.is_some_and(|s| s.allowed);
            Ok(if allowed == want {
                Ok(())
            } else {
                Err(format!("allowed={allowed}"))
            })
        },
    )
    .await
    .unwrap();
}

/// Cluster-scoped objects a test created, deleted when it ends (namespaced ones go with their
/// namespace).
struct ClusterObjects(Vec<String>);

impl ClusterObjects {
    /// The test's namespaces, deleted also when it fails half-way.
    fn namespaces(namespaces: &[&TestNamespace]) -> Self {
        Self(
            namespaces
                .iter()
                .map(|ns| format!("namespace/{}", ns.name))
                .collect(),
        )
    }
}

impl Drop for ClusterObjects {
    fn drop(&mut self) {
        for object in &self.0 {
            let _ = kubectl(
                &["delete", object, "--ignore-not-found", "--wait=false"],
                None,
            );
        }
    }
}

/// A ClusterRole allowing get/list/watch of every portal.nexus.dev resource, bound cluster-wide
/// to `subjects` (YAML list items); and a ClusterRole reading every catalog kind (bound by the
/// test where it wants). Returns the guard and the catalog role's name.
fn portal_rbac(prefix: &str, subjects: &[String]) -> (ClusterObjects, String) {
    let portal = format!("{prefix}-portal");
    let catalog = format!("{prefix}-catalog-read");
    let subjects_yaml: String = subjects.iter().map(|s| format!("- {s}\n")).collect();
    kubectl_apply(
        None,
        &format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {portal}}}
rules:
- apiGroups: [portal.nexus.dev]
  resources: [{resources}]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {catalog}}}
rules:
- apiGroups: [catalog.nexus.dev]
  resources: ["*"]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {portal}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {portal}}}
subjects:
{subjects_yaml}"#,
            resources = PORTAL_RESOURCES.join(", "),
        ),
    );
    (
        ClusterObjects(vec![
            format!("clusterrolebinding/{portal}"),
            format!("clusterrole/{portal}"),
            format!("clusterrole/{catalog}"),
        ]),
        catalog,
    )
}

fn group_subject(group: &str) -> String {
    format!("{{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {group}}}")
}

fn user_subject(user: &str) -> String {
    format!("{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}")
}

/// Binds the catalog-read ClusterRole to `group` in `namespace`.
fn bind_catalog_read(catalog_role: &str, namespace: &str, group: &str) {
    kubectl_apply(
        None,
        &format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: catalog-read-{group}, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {catalog_role}}}
subjects:
- {subject}
"#,
            subject = group_subject(group)
        ),
    );
}

fn team(ns: &str, name: &str, word: &str) -> String {
    format!(
        r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Team
metadata: {{name: {name}, namespace: {ns}}}
spec: {{displayName: Team {name}, description: The {name} team of the {word} programme}}
---
"#
    )
}

fn component(ns: &str, name: &str, title: &str, owner: &str, depends_on: &[String]) -> String {
    format!(
        r#"
apiVersion: catalog.nexus.dev/v1alpha1
kind: Component
metadata: {{name: {name}, namespace: {ns}}}
spec:
  title: {title}
  type: service
  lifecycle: production
  owner: {owner}
  tags: [e2e]
  dependsOn: [{deps}]
---
"#,
        deps = depends_on.join(", ")
    )
}

/// Portal search as `token`; fails the test unless it answers 200.
async fn portal_ok(api: &ApiserverProcess, path: &str, token: &str) -> Value {
    api.portal(path, Some(token))
        .await
        .unwrap()
        .expect(200, path)
        .unwrap_or_else(|e| panic!("{e:#}\napiserver log:\n{}", api.log_tail()))
        .json
}

fn entity_path(kind: &str, ns: &str, name: &str) -> String {
    format!("/apis/portal.nexus.dev/v1alpha1/namespaces/{ns}/entities/{kind}.{name}")
}

/// Names of related entities in a portal EntityView (`relations.<type>[].ref`) or an aggregated
/// Entity (`status.relations…`).
fn related(relations: &Value) -> BTreeSet<String> {
    relations
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|list| list.as_array().cloned().unwrap_or_default())
                .filter_map(|s| s["ref"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 1. The aggregated API as kubectl sees it

#[tokio::test]
async fn aggregated_api_is_discoverable_and_kubectl_prints_entities() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-agg").await.unwrap();
    let _namespaces = ClusterObjects::namespaces(&[&ns]);
    let n = ns.name.as_str();
    let word = unique_word("agg");
    let _ctrl =
        ControllerProcess::start(&ControllerOptions::for_namespace(n, "apiserver-agg")).unwrap();
    kubectl_apply(
        None,
        &format!(
            "{}{}{}",
            team(n, "payments", &word),
            component(
                n,
                "ledger",
                &format!("Ledger {word}"),
                "payments",
                &["ledger-db".to_string()]
            ),
            component(
                n,
                "ledger-db",
                &format!("Ledger database {word}"),
                "payments",
                &[]
            )
        ),
    );
    let mut api = ApiserverProcess::start_ready(&ApiserverOptions::new("agg"))
        .await
        .unwrap();
    let started = Instant::now();
    api.register().unwrap();
    eprintln!(
        "APIService Available {:?} after registering",
        started.elapsed()
    );

    let available = kubectl_ok(&[
        "get",
        "apiservice",
        "v1alpha1.portal.nexus.dev",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
    ]);
    assert_eq!(available.trim(), "True");

    // Discovery: the resource list, and kubectl's view of it.
    let list = raw_ok("/apis/portal.nexus.dev/v1alpha1", None);
    assert_eq!(list["kind"], "APIResourceList", "{list}");
    let names: BTreeSet<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for r in PORTAL_RESOURCES {
        assert!(names.contains(r), "discovery lacks {r}: {list}");
    }
    let entities = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "entities")
        .unwrap();
    assert_eq!(entities["namespaced"], true);
    assert_eq!(entities["kind"], "Entity");
    let resources = wait_for(
        "kubectl api-resources to list portal.nexus.dev",
        Duration::from_secs(20),
        || async {
            let (ok, out, err) =
                kubectl(&["api-resources", "--api-group", "portal.nexus.dev"], None)?;
            Ok(if ok && PORTAL_RESOURCES.iter().all(|r| out.contains(r)) {
                Ok(out)
            } else {
                Err(format!("{out}{err}"))
            })
        },
    )
    .await
    .unwrap();
    assert!(
        resources.contains("portal.nexus.dev/v1alpha1"),
        "{resources}"
    );

    // OpenAPI v3, through kube-apiserver's aggregator.
    let openapi = wait_for(
        "OpenAPI v3 of portal.nexus.dev/v1alpha1",
        Duration::from_secs(20),
        || async {
            Ok(
                match raw("/openapi/v3/apis/portal.nexus.dev/v1alpha1", None) {
                    Ok(v) if v["components"]["schemas"]["Entity"].is_object() => Ok(v),
                    Ok(v) => Err(format!("no Entity schema: {}", v["components"])),
                    Err(e) => Err(e),
                },
            )
        },
    )
    .await
    .unwrap();
    assert!(openapi["paths"].as_object().is_some_and(|p| !p.is_empty()));
    let root = raw_ok("/openapi/v3", None);
    assert!(
        root["paths"]["apis/portal.nexus.dev/v1alpha1"].is_object(),
        "/openapi/v3 lists the group: {}",
        root["paths"]
    );

    // Table output: the columns, and the applied entity with its resolved owner and Ready.
    let table = wait_for(
        "kubectl get entities.portal.nexus.dev to show ledger owned and Ready",
        Duration::from_secs(30),
        || async {
            let (ok, out, err) = kubectl(&["get", "entities.portal.nexus.dev", "-n", n], None)?;
            let row = out
                .lines()
                .find(|l| l.starts_with("component.ledger "))
                .unwrap_or_default()
                .to_string();
            Ok(
                if ok && row.contains(&format!("team:{n}/payments")) && row.contains("True") {
                    Ok(out)
                } else {
                    Err(format!("{out}{err}"))
                },
            )
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\napiserver log:\n{}", api.log_tail()));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "KIND",
            "TITLE",
            "OWNER",
            "LIFECYCLE",
            "READY",
            "AGE"
        ],
        "{table}"
    );
    for row in [
        "component.ledger ",
        "component.ledger-db ",
        "team.payments ",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(row)),
            "{row}missing:\n{table}"
        );
    }
    assert!(table.contains(&format!("Ledger {word}")), "{table}");
    assert!(table.contains("production"), "{table}");
    let all = kubectl_ok(&["get", "entities.portal.nexus.dev", "-A"]);
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with(n) && l.contains("component.ledger "))
    );
    // fieldSelector maps onto the search filters.
    let selected = kubectl_ok(&[
        "get",
        "entities.portal.nexus.dev",
        "-n",
        n,
        "--field-selector",
        "kind=Team",
        "-o",
        "name",
    ]);
    assert_eq!(
        selected.trim(),
        "entity.portal.nexus.dev/team.payments",
        "{selected}"
    );

    // One entity as an object.
    let object: Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "entities.portal.nexus.dev",
        "component.ledger",
        "-n",
        n,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(object["kind"], "Entity");
    assert_eq!(object["metadata"]["name"], "component.ledger");
    assert_eq!(object["spec"]["owner"], format!("team:{n}/payments"));
    assert_eq!(object["status"]["ready"], "True");
    let rels = related(&object["status"]["relations"]);
    assert!(
        rels.contains(&format!("component:{n}/ledger-db"))
            && rels.contains(&format!("team:{n}/payments")),
        "{}",
        object["status"]
    );

    // Search, facets, graph, impact, team view, dashboard, through kube-apiserver.
    let search = raw_ok(
        &format!("/apis/portal.nexus.dev/v1alpha1/searches?q={word}"),
        None,
    );
    assert_eq!(search["kind"], "SearchResult");
    assert_eq!(
        refs(&search),
        set([
            format!("component:{n}/ledger"),
            format!("component:{n}/ledger-db"),
            format!("team:{n}/payments"),
        ]),
        "{search}"
    );
    assert_eq!(search["total"], 3);
    assert_eq!(search["cache"]["synced"], true);
    let facets = raw_ok(
        &format!("/apis/portal.nexus.dev/v1alpha1/facets?q={word}"),
        None,
    );
    assert_eq!(facets["kind"], "FacetCounts");
    assert_eq!(facets["total"], 3);
    assert_eq!(
        facet(&facets, "kind"),
        set(["Component".to_string(), "Team".to_string()])
    );
    let graph = raw_ok(
        &format!("/apis/portal.nexus.dev/v1alpha1/namespaces/{n}/graphs/component.ledger?depth=2"),
        None,
    );
    assert_eq!(graph["kind"], "Graph");
    assert_eq!(graph["root"], format!("component:{n}/ledger"));
    let nodes: BTreeSet<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ref"].as_str().unwrap())
        .collect();
    assert!(
        nodes.contains(format!("component:{n}/ledger-db").as_str())
            && nodes.contains(format!("team:{n}/payments").as_str()),
        "{graph}"
    );
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "dependsOn"
                && e["from"] == format!("component:{n}/ledger")
                && e["to"] == format!("component:{n}/ledger-db")),
        "{graph}"
    );
    let impact = raw_ok(
        &format!("/apis/portal.nexus.dev/v1alpha1/namespaces/{n}/impacts/component.ledger-db"),
        None,
    );
    assert_eq!(impact["kind"], "Impact");
    assert!(
        impact["downstream"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["ref"] == format!("component:{n}/ledger")),
        "{impact}"
    );
    assert!(
        impact["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["ref"] == format!("team:{n}/payments")),
        "{impact}"
    );
    let teamview = raw_ok(
        &format!("/apis/portal.nexus.dev/v1alpha1/namespaces/{n}/teamviews/payments"),
        None,
    );
    assert_eq!(teamview["kind"], "TeamView");
    assert_eq!(teamview["owned"]["Component"]["count"], 2, "{teamview}");
    let dashboard = raw_ok("/apis/portal.nexus.dev/v1alpha1/dashboards/me", None);
    assert_eq!(dashboard["kind"], "Dashboard");
    assert_eq!(dashboard["user"]["username"], "nexus-admin", "{dashboard}");
    let missing = raw_err(
        &format!("/apis/portal.nexus.dev/v1alpha1/namespaces/{n}/entities/component.nope"),
        None,
    );
    assert!(missing.contains("NotFound"), "{missing}");
    let metrics = api.metrics().await.unwrap();
    assert!(
        sum_metric(&metrics, "nexus_apiserver_requests_total") > 0.0,
        "aggregated requests are counted"
    );
    assert!(metrics.contains("face=\"aggregated\""), "{metrics}");
}

// ---------------------------------------------------------------------------------------------
// 2. Who sees what

#[tokio::test]
async fn rbac_decides_what_each_user_sees_on_both_faces() {
    let client = client().await.unwrap();
    let ns_a = TestNamespace::create(&client, "e2e-rbac-a").await.unwrap();
    let ns_b = TestNamespace::create(&client, "e2e-rbac-b").await.unwrap();
    let _namespaces = ClusterObjects::namespaces(&[&ns_a, &ns_b]);
    let (a, b) = (ns_a.name.as_str(), ns_b.name.as_str());
    let word = unique_word("rbac");
    let id = short_id();
    let alice = Who::new(&format!("alice-{id}"), &[&format!("team-a-{id}")]);
    let bob = Who::new(&format!("bob-{id}"), &[&format!("team-b-{id}")]);
    // In bob's group, plus one component of A granted to him by name (resourceNames).
    let frank = Who::new(&format!("frank-{id}"), &[&format!("team-b-{id}")]);
    // Only a cluster-wide name grant (a ClusterRole with resourceNames): svc-b1, wherever it is.
    let gina = Who::new(&format!("gina-{id}"), &[&format!("named-{id}")]);
    let carol = Who::new(&format!("carol-{id}"), &[&format!("platform-{id}")]);
    let dave = Who::new(&format!("dave-{id}"), &[&format!("visitors-{id}")]);
    let erin = Who::new(&format!("erin-{id}"), &[&format!("outsiders-{id}")]);

    // RBAC first: nexus-apiserver caches answers per user for --authz-cache-ttl.
    let (_rbac, catalog_role) = portal_rbac(
        &format!("e2e-{a}"),
        &[
            group_subject(&alice.groups[0]),
            group_subject(&bob.groups[0]),
            group_subject(&carol.groups[0]),
            user_subject(&dave.user),
            group_subject(&gina.groups[0]),
        ],
    );
    let _more_rbac = ClusterObjects(vec![
        format!("clusterrolebinding/e2e-{a}-platform"),
        format!("clusterrolebinding/e2e-{a}-named"),
        format!("clusterrole/e2e-{a}-named"),
    ]);
    kubectl_apply(
        None,
        &format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: e2e-{a}-platform}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {catalog_role}}}
subjects:
- {carol}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: one-component, namespace: {a}}}
rules:
- apiGroups: [catalog.nexus.dev]
  resources: [components]
  resourceNames: [svc-a1]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: frank-one-component, namespace: {a}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: one-component}}
subjects:
- {frank}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: e2e-{a}-named}}
rules:
- apiGroups: [catalog.nexus.dev]
  resources: [components]
  resourceNames: [svc-b1]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: e2e-{a}-named}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-{a}-named}}
subjects:
- {gina}
"#,
            carol = group_subject(&carol.groups[0]),
            frank = user_subject(&frank.user),
            gina = group_subject(&gina.groups[0]),
        ),
    );
    bind_catalog_read(&catalog_role, a, &alice.groups[0]);
    bind_catalog_read(&catalog_role, b, &bob.groups[0]);
    let catalog = "catalog.nexus.dev";
    let portal = "portal.nexus.dev";
    for who in [&alice, &bob, &carol, &dave, &frank, &gina] {
        wait_access(who, portal, "searches", "list", None, None, true).await;
    }
    wait_access(&erin, portal, "searches", "list", None, None, false).await;
    wait_access(&alice, catalog, "components", "get", Some(a), None, true).await;
    wait_access(&bob, catalog, "components", "get", Some(b), None, true).await;
    wait_access(
        &frank,
        catalog,
        "components",
        "get",
        Some(a),
        Some("svc-a1"),
        true,
    )
    .await;
    wait_access(&frank, catalog, "components", "get", Some(a), None, false).await;
    wait_access(
        &gina,
        catalog,
        "components",
        "get",
        Some(b),
        Some("svc-b1"),
        true,
    )
    .await;
    wait_access(&carol, catalog, "components", "get", None, None, true).await;

    let mut opts = ControllerOptions::for_namespace(a, "apiserver-rbac");
    opts.watch_namespace = None;
    let _ctrl = ControllerProcess::start(&opts).unwrap();
    kubectl_apply(
        None,
        &format!(
            "{}{}{}{}{}",
            team(a, "alpha", &word),
            component(a, "svc-a1", &format!("Alpha one {word}"), "alpha", &[]),
            component(
                a,
                "svc-a2",
                &format!("Alpha two {word}"),
                "alpha",
                &["svc-a1".to_string()]
            ),
            team(b, "beta", &word),
            component(
                b,
                "svc-b1",
                &format!("Beta one {word}"),
                "beta",
                &[format!("component:{a}/svc-a1")]
            ),
        ),
    );
    let api = ApiserverProcess::start_ready(&ApiserverOptions::new("rbac"))
        .await
        .unwrap();
    // An administrator (system:masters) waits for the controller's owners and relations.
    let admin = api.token("e2e-admin", &["system:masters"]).unwrap();
    wait_for(
        "owners and relations of the test entities in the cache",
        Duration::from_secs(30),
        || async {
            let v = portal_ok(&api, &format!("/api/v1/search?q={word}&limit=100"), &admin).await;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            let done = items.len() == 5
                && items
                    .iter()
                    .filter(|i| i["kind"] == "Component")
                    .all(|i| i["owner"].is_string() && i["ready"] == "True");
            Ok(if done { Ok(()) } else { Err(v.to_string()) })
        },
    )
    .await
    .unwrap();
    let mut api = api;
    api.register().unwrap();

    let in_a = [
        format!("team:{a}/alpha"),
        format!("component:{a}/svc-a1"),
        format!("component:{a}/svc-a2"),
    ];
    let in_b = [format!("team:{b}/beta"), format!("component:{b}/svc-b1")];
    let both: BTreeSet<String> = in_a.iter().chain(&in_b).cloned().collect();
    // (who, refs they find, namespaces, owners)
    type Sees<'a> = (
        &'a Who,
        BTreeSet<String>,
        BTreeSet<String>,
        BTreeSet<String>,
    );
    let expectations: Vec<Sees> = vec![
        (
            &alice,
            set(in_a.clone()),
            set([a.to_string()]),
            set([format!("team:{a}/alpha")]),
        ),
        (
            &bob,
            set(in_b.clone()),
            set([b.to_string()]),
            set([format!("team:{b}/beta")]),
        ),
        (
            &carol,
            both.clone(),
            set([a.to_string(), b.to_string()]),
            set([format!("team:{a}/alpha"), format!("team:{b}/beta")]),
        ),
        (&dave, BTreeSet::new(), BTreeSet::new(), BTreeSet::new()),
        // The name grant counts like any other permission: svc-a1 is in frank's answers (with
        // its namespace and owner in the facets), nothing else of A is.
        (
            &frank,
            in_b.iter()
                .cloned()
                .chain([format!("component:{a}/svc-a1")])
                .collect(),
            set([a.to_string(), b.to_string()]),
            set([format!("team:{a}/alpha"), format!("team:{b}/beta")]),
        ),
        (
            &gina,
            set([format!("component:{b}/svc-b1")]),
            set([b.to_string()]),
            set([format!("team:{b}/beta")]),
        ),
    ];

    for (who, want, namespaces, owners) in &expectations {
        let token = who.token(&api);
        // Portal face.
        let search = portal_ok(&api, &format!("/api/v1/search?q={word}&limit=100"), &token).await;
        assert_eq!(&refs(&search), want, "{} portal search: {search}", who.user);
        assert_eq!(search["total"], want.len(), "{} total: {search}", who.user);
        assert_eq!(&facet(&search, "namespace"), namespaces, "{}", who.user);
        assert_eq!(&facet(&search, "owner"), owners, "{}", who.user);
        let by_kind: u64 = search["facets"]["kind"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            by_kind as usize,
            want.len(),
            "{} kind facet: {search}",
            who.user
        );
        let facets = portal_ok(&api, &format!("/api/v1/facets?q={word}"), &token).await;
        assert_eq!(facets["total"], want.len(), "{} facets: {facets}", who.user);
        assert_eq!(&facet(&facets, "namespace"), namespaces, "{}", who.user);
        assert_eq!(&facet(&facets, "owner"), owners, "{}", who.user);
        // Without q: the facets over everything they see never name the other namespace.
        let everything = portal_ok(&api, "/api/v1/facets", &token).await;
        let seen_ns = facet(&everything, "namespace");
        for ns in [a, b] {
            assert_eq!(
                seen_ns.contains(ns),
                namespaces.contains(ns),
                "{} facets over everything: {everything}",
                who.user
            );
        }
        // Aggregated face, impersonated through kube-apiserver.
        let search = raw_ok(
            &format!("/apis/portal.nexus.dev/v1alpha1/searches?q={word}&limit=100"),
            Some(who),
        );
        assert_eq!(
            &refs(&search),
            want,
            "{} aggregated search: {search}",
            who.user
        );
        assert_eq!(search["total"], want.len(), "{}", who.user);
        assert_eq!(&facet(&search, "namespace"), namespaces, "{}", who.user);
        assert_eq!(&facet(&search, "owner"), owners, "{}", who.user);
        let facets = raw_ok(
            &format!("/apis/portal.nexus.dev/v1alpha1/facets?q={word}"),
            Some(who),
        );
        assert_eq!(facets["total"], want.len(), "{} facets: {facets}", who.user);
        assert_eq!(
            facet(&facets, "kind").is_empty(),
            want.is_empty(),
            "{facets}"
        );
        // The Entity list across namespaces holds only what they may see.
        let mut args = vec![
            "get".to_string(),
            "entities.portal.nexus.dev".into(),
            "-A".into(),
            "-o".into(),
            "json".into(),
        ];
        args.extend(who.impersonation());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = kubectl(&args, None).unwrap();
        assert!(ok, "{} kubectl get entities -A: {err}", who.user);
        let list: Value = serde_json::from_str(&out).unwrap();
        let listed: BTreeSet<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["namespace"].as_str().unwrap().to_string())
            .filter(|ns| ns == a || ns == b)
            .collect();
        assert_eq!(&listed, namespaces, "{} kubectl get entities -A", who.user);
    }

    // Getting one entity: visible → 200, hidden → 404 (as if it did not exist).
    let get_cases: Vec<(&Who, &str, &str, &str, u16)> = vec![
        (&alice, "component", a, "svc-a1", 200),
        (&alice, "component", b, "svc-b1", 404),
        (&alice, "team", b, "beta", 404),
        (&bob, "component", b, "svc-b1", 200),
        (&bob, "component", a, "svc-a1", 404),
        (&bob, "team", a, "alpha", 404),
        // resourceNames grant: this one component in A, and nothing else there.
        (&frank, "component", a, "svc-a1", 200),
        (&frank, "component", a, "svc-a2", 404),
        (&frank, "team", a, "alpha", 404),
        (&carol, "component", a, "svc-a2", 200),
        (&carol, "component", b, "svc-b1", 200),
        (&dave, "component", a, "svc-a1", 404),
    ];
    for (who, kind, ns, name, code) in &get_cases {
        let token = who.token(&api);
        let answer = api
            .portal(
                &format!("/api/v1/entities/{kind}/{ns}/{name}"),
                Some(&token),
            )
            .await
            .unwrap();
        assert_eq!(
            answer.status, *code,
            "{} portal get {kind}:{ns}/{name}: {}",
            who.user, answer.text
        );
        let aggregated = raw(&entity_path(kind, ns, name), Some(who));
        match (code, &aggregated) {
            (200, Ok(v)) => assert_eq!(v["metadata"]["name"], format!("{kind}.{name}")),
            (404, Err(e)) => assert!(e.contains("NotFound"), "{e}"),
            _ => panic!(
                "{} aggregated get {kind}:{ns}/{name}: want {code}, got {aggregated:?}",
                who.user
            ),
        }
        if *code == 404 {
            assert!(answer.message().contains("not found"), "{}", answer.text);
            for sub in ["graph", "impact"] {
                let hidden = api
                    .portal(
                        &format!("/api/v1/entities/{kind}/{ns}/{name}/{sub}"),
                        Some(&token),
                    )
                    .await
                    .unwrap();
                assert_eq!(hidden.status, 404, "{} {sub}: {}", who.user, hidden.text);
            }
        }
    }
    // Bob does not learn that svc-b1 depends on something in A; frank sees that one
    // dependency, and the graph walk does not go past it into the rest of A.
    let bob_token = bob.token(&api);
    let b1 = portal_ok(
        &api,
        &format!("/api/v1/entities/component/{b}/svc-b1"),
        &bob_token,
    )
    .await;
    assert!(
        !related(&b1["relations"])
            .iter()
            .any(|r| r.contains(&format!(":{a}/"))),
        "bob sees a relation into {a}: {}",
        b1["relations"]
    );
    let graph = portal_ok(
        &api,
        &format!("/api/v1/entities/component/{b}/svc-b1/graph?depth=3"),
        &bob_token,
    )
    .await;
    assert!(
        !graph.to_string().contains(&format!(":{a}/")),
        "bob's graph reveals {a}: {graph}"
    );
    let frank_token = frank.token(&api);
    let b1 = portal_ok(
        &api,
        &format!("/api/v1/entities/component/{b}/svc-b1"),
        &frank_token,
    )
    .await;
    assert_eq!(
        related(&b1["relations"])
            .into_iter()
            .filter(|r| r.contains(&format!(":{a}/")))
            .collect::<Vec<_>>(),
        [format!("component:{a}/svc-a1")],
        "{}",
        b1["relations"]
    );
    let graph = portal_ok(
        &api,
        &format!("/api/v1/entities/component/{b}/svc-b1/graph?depth=3"),
        &frank_token,
    )
    .await;
    let mut in_graph: BTreeSet<String> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ref"].as_str().unwrap().to_string())
        .collect();
    for e in graph["edges"].as_array().unwrap() {
        in_graph.insert(e["from"].as_str().unwrap().to_string());
        in_graph.insert(e["to"].as_str().unwrap().to_string());
    }
    assert_eq!(
        in_graph,
        set([
            format!("component:{b}/svc-b1"),
            format!("team:{b}/beta"),
            format!("component:{a}/svc-a1"),
        ]),
        "frank's graph stops at svc-a1: {graph}"
    );
    let carol_token = carol.token(&api);
    let b1 = portal_ok(
        &api,
        &format!("/api/v1/entities/component/{b}/svc-b1"),
        &carol_token,
    )
    .await;
    assert!(
        related(&b1["relations"]).contains(&format!("component:{a}/svc-a1")),
        "carol sees the dependency: {}",
        b1["relations"]
    );
    // Team views follow the same rules.
    let alice_token = alice.token(&api);
    let view = portal_ok(&api, &format!("/api/v1/teams/{a}/alpha"), &alice_token).await;
    assert_eq!(view["owned"]["Component"]["count"], 2, "{view}");
    let hidden = api
        .portal(&format!("/api/v1/teams/{a}/alpha"), Some(&bob_token))
        .await
        .unwrap();
    assert_eq!(hidden.status, 404, "{}", hidden.text);
    let dave_board = portal_ok(&api, "/api/v1/me/dashboard", &dave.token(&api)).await;
    assert_eq!(dave_board["user"]["username"], dave.user.as_str());

    // Erin may not call the portal API at all: 403 on both faces.
    let erin_token = erin.token(&api);
    for path in [
        format!("/api/v1/search?q={word}"),
        "/api/v1/facets".to_string(),
        format!("/api/v1/entities/component/{a}/svc-a1"),
        "/api/v1/me/dashboard".to_string(),
    ] {
        let answer = api.portal(&path, Some(&erin_token)).await.unwrap();
        assert_eq!(answer.status, 403, "erin {path}: {}", answer.text);
        assert_eq!(answer.json["reason"], "Forbidden", "{}", answer.text);
        assert!(answer.message().contains(&erin.user), "{}", answer.text);
    }
    for path in [
        format!("/apis/portal.nexus.dev/v1alpha1/searches?q={word}"),
        entity_path("component", a, "svc-a1"),
    ] {
        let e = raw_err(&path, Some(&erin));
        assert!(e.contains("Forbidden"), "erin {path}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Live updates

fn is_change(event: &SseEvent, type_: &str, reference: &str) -> bool {
    event.change() == Some((type_.to_string(), reference.to_string()))
}

#[tokio::test]
async fn changes_become_searchable_and_stream_only_to_users_who_may_see_them() {
    let client = client().await.unwrap();
    let ns_a = TestNamespace::create(&client, "e2e-live-a").await.unwrap();
    let ns_b = TestNamespace::create(&client, "e2e-live-b").await.unwrap();
    let _namespaces = ClusterObjects::namespaces(&[&ns_a, &ns_b]);
    let (a, b) = (ns_a.name.as_str(), ns_b.name.as_str());
    let word = unique_word("live");
    let id = short_id();
    let wa = Who::new(&format!("watcher-a-{id}"), &[&format!("live-a-{id}")]);
    let wb = Who::new(&format!("watcher-b-{id}"), &[&format!("live-b-{id}")]);
    let (_rbac, catalog_role) = portal_rbac(
        &format!("e2e-{a}"),
        &[group_subject(&wa.groups[0]), group_subject(&wb.groups[0])],
    );
    bind_catalog_read(&catalog_role, a, &wa.groups[0]);
    bind_catalog_read(&catalog_role, b, &wb.groups[0]);
    for (who, ns) in [(&wa, a), (&wb, b)] {
        wait_access(
            who,
            "portal.nexus.dev",
            "entities",
            "watch",
            None,
            None,
            true,
        )
        .await;
        wait_access(
            who,
            "catalog.nexus.dev",
            "components",
            "get",
            Some(ns),
            None,
            true,
        )
        .await;
    }
    let api = ApiserverProcess::start_ready(&ApiserverOptions::new("live"))
        .await
        .unwrap();
    let (ta, tb) = (wa.token(&api), wb.token(&api));
    let search_path = format!("/api/v1/search?q={word}");
    assert_eq!(portal_ok(&api, &search_path, &ta).await["total"], 0);

    let mut sa = api.stream("", &ta).await.unwrap();
    let mut sb = api.stream("", &tb).await.unwrap();
    for s in [&mut sa, &mut sb] {
        let ready = s
            .wait_for("the ready event", Duration::from_secs(5), |e| {
                e.event == "ready"
            })
            .await
            .unwrap();
        assert_eq!(ready.json()["cache"]["synced"], true, "{}", ready.data);
        assert!(s.changes().is_empty());
    }

    let c_ref = format!("component:{a}/checkout");
    let d_ref = format!("component:{b}/delivery");
    let e_ref = format!("component:{a}/epilogue");
    // ADDED: searchable within a bound, and on the stream.
    let applied = Instant::now();
    kubectl_apply(
        None,
        &component(
            a,
            "checkout",
            &format!("Checkout {word} one"),
            "payments",
            &[],
        ),
    );
    let found = wait_for(
        "checkout to be searchable",
        Duration::from_secs(10),
        || async {
            let v = portal_ok(&api, &search_path, &ta).await;
            Ok(if refs(&v).contains(&c_ref) {
                Ok(applied.elapsed())
            } else {
                Err(v.to_string())
            })
        },
    )
    .await
    .unwrap();
    eprintln!("searchable {found:?} after kubectl apply returned");
    let added = sa
        .wait_for("ADDED checkout", Duration::from_secs(10), |e| {
            is_change(e, "ADDED", &c_ref)
        })
        .await
        .unwrap();
    assert_eq!(
        added.json()["entity"]["title"],
        format!("Checkout {word} one")
    );
    assert!(
        added.id.is_some(),
        "change events carry the resourceVersion as id"
    );

    // MODIFIED, with the new title, in search and on the stream.
    kubectl_apply(
        None,
        &component(
            a,
            "checkout",
            &format!("Checkout {word} two"),
            "payments",
            &[],
        ),
    );
    sa.wait_for(
        "MODIFIED checkout (title two)",
        Duration::from_secs(10),
        |e| {
            is_change(e, "MODIFIED", &c_ref)
                && e.json()["entity"]["title"] == format!("Checkout {word} two")
        },
    )
    .await
    .unwrap();
    wait_for(
        "the new title in search",
        Duration::from_secs(10),
        || async {
            let v = portal_ok(&api, &search_path, &ta).await;
            Ok(
                if v["items"][0]["title"] == format!("Checkout {word} two") {
                    Ok(())
                } else {
                    Err(v.to_string())
                },
            )
        },
    )
    .await
    .unwrap();

    // A change in B reaches B's watcher; A's changes never did.
    kubectl_apply(
        None,
        &component(b, "delivery", &format!("Delivery {word}"), "logistics", &[]),
    );
    sb.wait_for("ADDED delivery", Duration::from_secs(10), |e| {
        is_change(e, "ADDED", &d_ref)
    })
    .await
    .unwrap();

    // DELETED: gone from search, and on the stream.
    kubectl_ok(&["delete", "component.catalog.nexus.dev", "checkout", "-n", a]);
    sa.wait_for("DELETED checkout", Duration::from_secs(10), |e| {
        is_change(e, "DELETED", &c_ref)
    })
    .await
    .unwrap();
    wait_for(
        "checkout gone from search",
        Duration::from_secs(10),
        || async {
            let v = portal_ok(&api, &search_path, &ta).await;
            Ok(if refs(&v).contains(&c_ref) {
                Err(v.to_string())
            } else {
                Ok(())
            })
        },
    )
    .await
    .unwrap();
    let gone = api
        .portal(
            &format!("/api/v1/entities/component/{a}/checkout"),
            Some(&ta),
        )
        .await
        .unwrap();
    assert_eq!(gone.status, 404, "{}", gone.text);

    // Fences: events are delivered in order, so once each watcher has an event that came after
    // every change of the other namespace, it has had its chance to (wrongly) see them.
    kubectl_ok(&["delete", "component.catalog.nexus.dev", "delivery", "-n", b]);
    sb.wait_for("DELETED delivery", Duration::from_secs(10), |e| {
        is_change(e, "DELETED", &d_ref)
    })
    .await
    .unwrap();
    kubectl_apply(
        None,
        &component(a, "epilogue", &format!("Epilogue {word}"), "payments", &[]),
    );
    sa.wait_for("ADDED epilogue", Duration::from_secs(10), |e| {
        is_change(e, "ADDED", &e_ref)
    })
    .await
    .unwrap();
    let a_changes = sa.changes();
    let b_changes = sb.changes();
    assert!(
        a_changes.iter().all(|(_, r)| r.contains(&format!(":{a}/"))),
        "watcher of {a} saw another namespace: {a_changes:?}"
    );
    assert!(
        b_changes.iter().all(|(_, r)| r.contains(&format!(":{b}/"))),
        "watcher of {b} saw another namespace: {b_changes:?}"
    );
    // And each saw its own namespace's whole history, in order.
    let types = |changes: &[(String, String)], r: &str| -> Vec<String> {
        changes
            .iter()
            .filter(|(_, x)| x == r)
            .map(|(t, _)| t.clone())
            .collect()
    };
    let c_types = types(&a_changes, &c_ref);
    assert_eq!(
        c_types.first().map(String::as_str),
        Some("ADDED"),
        "{c_types:?}"
    );
    assert_eq!(
        c_types.last().map(String::as_str),
        Some("DELETED"),
        "{c_types:?}"
    );
    assert!(c_types.contains(&"MODIFIED".to_string()), "{c_types:?}");
    assert_eq!(types(&b_changes, &d_ref), ["ADDED", "DELETED"]);

    // A bad filter is refused before the stream starts.
    let bad = api.stream("kind=nope", &ta).await.err().unwrap();
    assert!(bad.to_string().contains("400"), "{bad:#}");
    let metrics = api.metrics().await.unwrap();
    assert_eq!(sum_metric(&metrics, "nexus_apiserver_stream_clients"), 2.0);
}

// ---------------------------------------------------------------------------------------------
// 4. kube-apiserver outage

#[tokio::test]
async fn cache_answers_through_a_kube_apiserver_outage_and_catches_up() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-outage").await.unwrap();
    let _namespaces = ClusterObjects::namespaces(&[&ns]);
    let n = ns.name.as_str();
    let word = unique_word("outage");
    let id = short_id();
    let oncall = Who::new(&format!("oncall-{id}"), &[&format!("oncall-{id}")]);
    let (_rbac, catalog_role) =
        portal_rbac(&format!("e2e-{n}"), &[group_subject(&oncall.groups[0])]);
    bind_catalog_read(&catalog_role, n, &oncall.groups[0]);
    wait_access(
        &oncall,
        "portal.nexus.dev",
        "searches",
        "list",
        None,
        None,
        true,
    )
    .await;
    wait_access(
        &oncall,
        "catalog.nexus.dev",
        "components",
        "get",
        Some(n),
        None,
        true,
    )
    .await;
    let title = |c: &str, v: u32| format!("{c} {word} v{v}");
    kubectl_apply(
        None,
        &format!(
            "{}{}{}",
            component(n, "c1", &title("c1", 1), "ops", &[]),
            component(n, "c2", &title("c2", 1), "ops", &[]),
            component(n, "c3", &title("c3", 1), "ops", &[]),
        ),
    );
    let api = ApiserverProcess::start_ready(&ApiserverOptions::new("outage"))
        .await
        .unwrap();
    let token = oncall.token(&api);
    let path = format!("/api/v1/search?q={word}&limit=100");
    let r = |c: &str| format!("component:{n}/{c}");
    // Searched once before the outage: the permission answers are remembered.
    wait_for("the three components", Duration::from_secs(10), || async {
        let v = portal_ok(&api, &path, &token).await;
        Ok(if v["total"] == 3 {
            Ok(())
        } else {
            Err(v.to_string())
        })
    })
    .await
    .unwrap();
    portal_ok(&api, &format!("/api/v1/entities/component/{n}/c1"), &token).await;
    let before = api.portal(&path, Some(&token)).await.unwrap();
    assert_eq!(before.stale_seconds(), Some(0.0), "{:?}", before.headers);
    assert_eq!(before.synced(), Some(true));
    let mut stream = api.stream(&format!("namespace={n}"), &token).await.unwrap();
    stream
        .wait_for("ready", Duration::from_secs(5), |e| e.event == "ready")
        .await
        .unwrap();

    let cluster = api.cluster.clone();
    let mut outage = KubeApiserverOutage::begin(&cluster).unwrap();
    let stopped = Instant::now();
    assert!(
        kubectl(&["get", "ns", n, "--request-timeout=2s"], None)
            .map(|(ok, _, _)| !ok)
            .unwrap(),
        "kube-apiserver should be down"
    );
    // The watches notice when their connections break; answers keep coming from the cache.
    let stale = wait_for(
        "a 200 answer marked stale",
        Duration::from_secs(30),
        || async {
            let answer = api.portal(&path, Some(&token)).await?;
            Ok(match answer.stale_seconds() {
                Some(s) if answer.status == 200 && s > 0.0 => Ok(answer),
                other => Err(format!(
                    "HTTP {} stale={other:?}: {}",
                    answer.status, answer.text
                )),
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\napiserver log:\n{}", api.log_tail()));
    eprintln!("stale {:?} after kube-apiserver stopped", stopped.elapsed());
    assert_eq!(stale.json["total"], 3, "{}", stale.text);
    assert_eq!(
        stale.json["cache"]["staleSeconds"]
            .as_f64()
            .map(|s| s > 0.0),
        Some(true)
    );
    let status = stream
        .wait_for(
            "a status event saying the cache is stale",
            Duration::from_secs(10),
            |e| e.event == "status" && e.json()["cache"]["staleSeconds"].as_f64() > Some(0.0),
        )
        .await
        .unwrap();
    eprintln!("stream status: {}", status.data);
    // Past the authz TTL (2s) the permissions come from the last-known answers.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let answer = api.portal(&path, Some(&token)).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.stale_seconds().unwrap() > 0.0);
    assert_eq!(answer.json["total"], 3, "{}", answer.text);
    assert_eq!(answer.json["permissionsStale"], true, "{}", answer.text);
    let entity = api
        .portal(&format!("/api/v1/entities/component/{n}/c1"), Some(&token))
        .await
        .unwrap();
    assert_eq!(entity.status, 200, "{}", entity.text);
    // Someone whose permissions were never checked cannot be answered: 503, not a guess.
    let stranger = api.token(&format!("stranger-{id}"), &[]).unwrap();
    let refused = api.portal(&path, Some(&stranger)).await.unwrap();
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(
        api.is_ready().await,
        "readiness means synced once, not connected"
    );

    outage.end().unwrap();
    let restarted = Instant::now();
    // Changes right after the restart, some in quick succession, while the watches reconnect.
    kubectl_apply(None, &component(n, "c1", &title("c1", 2), "ops", &[]));
    kubectl_apply(
        None,
        &format!(
            "{}{}",
            component(n, "c4", &title("c4", 1), "ops", &[]),
            component(n, "c5", &title("c5", 1), "ops", &[]),
        ),
    );
    kubectl_ok(&["delete", "component.catalog.nexus.dev", "c2", "-n", n]);
    for v in 2..=11 {
        kubectl_apply(None, &component(n, "c3", &title("c3", v), "ops", &[]));
    }
    let want = set([r("c1"), r("c3"), r("c4"), r("c5")]);
    let caught_up = wait_for("the cache to catch up", Duration::from_secs(30), || async {
        let answer = api.portal(&path, Some(&token)).await?;
        let v = &answer.json;
        let title_of = |c: &str| {
            v["items"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["ref"] == r(c)))
                .map(|i| i["title"].clone())
                .unwrap_or_default()
        };
        let done = answer.status == 200
            && refs(v) == want
            && title_of("c1") == title("c1", 2)
            && title_of("c3") == title("c3", 11)
            && answer.stale_seconds() == Some(0.0)
            && answer.synced() == Some(true);
        Ok(if done {
            Ok(answer)
        } else {
            Err(format!(
                "stale={:?}: {}",
                answer.stale_seconds(),
                answer.text
            ))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\napiserver log:\n{}", api.log_tail()));
    eprintln!(
        "caught up {:?} after kube-apiserver restarted",
        restarted.elapsed()
    );
    assert_eq!(caught_up.json["total"], 4);
    assert!(
        caught_up.json.get("permissionsStale").is_none(),
        "{}",
        caught_up.text
    );
    // The cached object is the one kube-apiserver has now.
    let rv = kubectl_ok(&[
        "get",
        "component.catalog.nexus.dev",
        "c3",
        "-n",
        n,
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let cached = portal_ok(&api, &format!("/api/v1/entities/component/{n}/c3"), &token).await;
    assert_eq!(
        cached["object"]["metadata"]["resourceVersion"].as_str(),
        Some(rv.trim())
    );
    // The stream said so too, and delivered what changed.
    stream
        .wait_for(
            "a status event saying the cache is live",
            Duration::from_secs(10),
            |e| e.event == "status" && e.json()["cache"]["staleSeconds"] == 0.0,
        )
        .await
        .unwrap();
    stream
        .wait_for("MODIFIED c3 at v11", Duration::from_secs(10), |e| {
            is_change(e, "MODIFIED", &r("c3")) && e.json()["entity"]["title"] == title("c3", 11)
        })
        .await
        .unwrap();
    let changes = stream.changes();
    for expected in [
        ("MODIFIED", r("c1")),
        ("ADDED", r("c4")),
        ("ADDED", r("c5")),
        ("DELETED", r("c2")),
    ] {
        assert!(
            changes
                .iter()
                .any(|(t, x)| t == expected.0 && *x == expected.1),
            "stream lacks {expected:?}: {changes:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input and unauthenticated callers

#[tokio::test]
async fn bad_parameters_are_400_and_unauthenticated_callers_401() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-bad").await.unwrap();
    let _namespaces = ClusterObjects::namespaces(&[&ns]);
    let n = ns.name.as_str();
    let word = unique_word("bad");
    kubectl_apply(
        None,
        &format!(
            "{}{}",
            component(n, "first", &format!("First {word}"), "ops", &[]),
            component(n, "second", &format!("Second {word}"), "ops", &[]),
        ),
    );
    let mut api = ApiserverProcess::start_ready(&ApiserverOptions::new("bad"))
        .await
        .unwrap();
    api.register().unwrap();
    let admin = api.token("e2e-admin", &["system:masters"]).unwrap();

    // Pagination works, so the cursor cases below are about bad cursors only.
    let page1 = portal_ok(&api, &format!("/api/v1/search?q={word}&limit=1"), &admin).await;
    assert_eq!(page1["total"], 2, "{page1}");
    let cursor = page1["nextCursor"].as_str().unwrap().to_string();
    let page2 = portal_ok(
        &api,
        &format!("/api/v1/search?q={word}&limit=1&cursor={cursor}"),
        &admin,
    )
    .await;
    assert_eq!(refs(&page1).len() + refs(&page2).len(), 2);
    assert!(refs(&page1).is_disjoint(&refs(&page2)), "{page1} {page2}");

    let entity = format!("/api/v1/entities/component/{n}/first");
    let portal_cases: Vec<(String, &str)> = vec![
        (format!("/api/v1/search?q={word}&bogus=1"), "bogus"),
        ("/api/v1/search?limit=9999".into(), "limit"),
        ("/api/v1/search?limit=-1".into(), "limit"),
        ("/api/v1/search?sort=bogus".into(), "sort"),
        ("/api/v1/search?cursor=garbage".into(), "cursor"),
        (
            format!("/api/v1/search?q=other&limit=1&cursor={cursor}"),
            "cursor",
        ),
        ("/api/v1/search?kind=nope".into(), "kind"),
        ("/api/v1/search?facets=maybe".into(), "facets"),
        ("/api/v1/facets?sort=name".into(), "sort"),
        ("/api/v1/facets?kind=nope".into(), "kind"),
        (format!("{entity}/graph?depth=99"), "depth"),
        (format!("{entity}/graph?depth=0"), "depth"),
        (format!("{entity}/graph?relations=bogus"), "relation"),
        (format!("{entity}?depth=2"), "depth"),
        (format!("/api/v1/entities/nope/{n}/first"), "kind"),
        (format!("/api/v1/teams/{n}/x?limit=1"), "limit"),
        ("/api/v1/me/dashboard?x=1".into(), "x"),
        ("/api/v1/stream?bogus=1".into(), "bogus"),
        ("/api/v1/stream?kind=nope".into(), "kind"),
    ];
    for (path, param) in &portal_cases {
        let answer = api.portal(path, Some(&admin)).await.unwrap();
        assert_eq!(answer.status, 400, "{path}: {}", answer.text);
        assert_eq!(answer.json["kind"], "Status", "{path}: {}", answer.text);
        assert_eq!(
            answer.json["reason"], "BadRequest",
            "{path}: {}",
            answer.text
        );
        assert!(
            answer.message().contains(param),
            "{path}: the message should name `{param}`: {}",
            answer.text
        );
        assert!(
            answer.stale_seconds().is_some() && answer.synced().is_some(),
            "{path}: freshness headers on errors too"
        );
    }

    let v = "/apis/portal.nexus.dev/v1alpha1";
    let aggregated_cases: Vec<(String, &str)> = vec![
        (format!("{v}/searches?bogus=1"), "bogus"),
        (format!("{v}/searches?limit=9999"), "limit"),
        (format!("{v}/searches?sort=bogus"), "sort"),
        (format!("{v}/searches?continue=garbage"), "cursor"),
        (format!("{v}/searches?kind=nope"), "kind"),
        (format!("{v}/facets?kind=nope"), "kind"),
        (format!("{v}/namespaces/{n}/entities?watch=true"), "watch"),
        (
            format!("{v}/namespaces/{n}/entities?labelSelector=a%3Db"),
            "labelSelector",
        ),
        (
            format!("{v}/namespaces/{n}/entities?fieldSelector=spec.bogus%3D1"),
            "fieldSelector",
        ),
        (
            format!("{v}/namespaces/{n}/entities/first"),
            "<kind>.<name>",
        ),
        (format!("{v}/namespaces/{n}/entities/nope.first"), "kind"),
        (
            format!("{v}/namespaces/{n}/graphs/component.first?depth=99"),
            "depth",
        ),
        (
            format!("{v}/namespaces/{n}/impacts/component.first?depth=2"),
            "depth",
        ),
    ];
    for (path, param) in &aggregated_cases {
        let e = raw_err(path, None);
        assert!(e.contains("BadRequest"), "{path}: {e}");
        assert!(
            e.contains(param),
            "{path}: the message should name `{param}`: {e}"
        );
    }
    // kubectl's own field selector goes the same way.
    let (ok, _, err) = kubectl(
        &[
            "get",
            "entities.portal.nexus.dev",
            "-n",
            n,
            "--field-selector",
            "spec.bogus=1",
        ],
        None,
    )
    .unwrap();
    assert!(!ok && err.contains("fieldSelector"), "{err}");
    let missing = raw_err(&format!("{v}/nothings"), None);
    assert!(missing.contains("NotFound"), "{missing}");

    // Portal: no token, a garbage token, a token signed by another dev key → 401.
    let other_key = api.dir.join("other-key.pem");
    let other = nexus_apiserver::authn::dev::DevAuth::load_or_create(&other_key)
        .unwrap()
        .mint(
            "e2e-admin",
            &["system:masters".to_string()],
            Duration::from_secs(600),
        )
        .unwrap();
    let search = format!("/api/v1/search?q={word}");
    for (what, token) in [
        ("no Authorization header", None),
        ("a garbage token", Some("not-a-jwt")),
        ("a token of another dev key", Some(other.as_str())),
    ] {
        let answer = api.portal(&search, token).await.unwrap();
        assert_eq!(answer.status, 401, "{what}: {}", answer.text);
        assert_eq!(
            answer.json["reason"], "Unauthorized",
            "{what}: {}",
            answer.text
        );
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{what}");
        assert!(!answer.message().is_empty(), "{what}: {}", answer.text);
        assert!(answer.stale_seconds().is_some() && answer.synced().is_some());
    }
    let basic = api
        .http
        .get(api.portal_url(&search))
        .header("authorization", "Basic ZTJlOmUyZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);

    // The aggregated face directly, without kube-apiserver's front-proxy certificate → 401,
    // even with the headers kube-apiserver would set.
    let ca = api.cluster.join("pki/ca.crt");
    let direct = https_client(&ca, None).unwrap();
    let url = format!(
        "https://127.0.0.1:{}/apis/portal.nexus.dev/v1alpha1/searches?q={word}",
        api.aggregated_port
    );
    let answer = Answer::read(direct.get(&url).send().await.unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status, 401, "{}", answer.text);
    let spoofed = Answer::read(
        direct
            .get(&url)
            .header("X-Remote-User", "e2e-admin")
            .header("X-Remote-Group", "system:masters")
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(spoofed.status, 401, "{}", spoofed.text);
    // A client certificate from the cluster CA is not the front-proxy's: refused in the TLS
    // handshake or with 401, never answered.
    let pki = api.cluster.join("pki");
    let mut pem = std::fs::read(pki.join("admin.crt")).unwrap();
    pem.extend(std::fs::read(pki.join("admin.key")).unwrap());
    let with_cert = https_client(&ca, Some(reqwest::Identity::from_pem(&pem).unwrap())).unwrap();
    match with_cert
        .get(&url)
        .header("X-Remote-User", "e2e-admin")
        .header("X-Remote-Group", "system:masters")
        .send()
        .await
    {
        Err(e) => eprintln!("admin client certificate refused in the handshake: {e}"),
        Ok(response) => assert_eq!(response.status().as_u16(), 401),
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Odd catalog data

#[tokio::test]
async fn odd_catalog_data_never_breaks_the_cache() {
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "e2e-odd").await.unwrap();
    let _namespaces = ClusterObjects::namespaces(&[&ns]);
    let n = ns.name.as_str();
    let word = unique_word("odd");
    kubectl_apply(
        None,
        &component(n, "odd", &format!("Odd {word}"), "ops", &[]),
    );
    let api = ApiserverProcess::start_ready(&ApiserverOptions::new("odd"))
        .await
        .unwrap();
    let admin = api.token("e2e-admin", &["system:masters"]).unwrap();

    // Invalid manifests are rejected by kube-apiserver and never reach the cache.
    let dir = repo_root().join("examples/invalid");
    let mut rejected = 0;
    for file in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("component-") || !name.ends_with(".yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("namespace: invalid-examples", &format!("namespace: {n}"));
        if text.contains("kind: List") {
            continue;
        }
        let (ok, _, err) = kubectl(&["apply", "--server-side", "-f", "-"], Some(&text)).unwrap();
        assert!(!ok, "{name} must be rejected");
        assert!(
            err.contains("Invalid") || err.contains("invalid"),
            "{name}: {err}"
        );
        rejected += 1;
    }
    assert!(
        rejected >= 5,
        "only {rejected} invalid components were rejected"
    );

    // Status written by something other than the controller, in shapes the cache does not
    // expect (an owner that is no reference, relations of unknown types and targets): the
    // entity stays, with what can be read of it.
    let patch = r#"{"status":{"owner":{"ref":"not a reference!","source":"Spec"},"relations":[{"type":"bogusRelation","targetRef":"component:x/y"},{"type":"dependsOn","targetRef":"%%%"}],"conditions":[{"type":"Ready","status":"Maybe","reason":"Odd","message":"odd","lastTransitionTime":"2024-01-01T00:00:00Z"}]}}"#;
    kubectl_ok(&[
        "patch",
        "component.catalog.nexus.dev",
        "odd",
        "-n",
        n,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    ]);
    let r = format!("component:{n}/odd");
    let view = wait_for(
        "the odd status in the cache",
        Duration::from_secs(10),
        || async {
            let v = portal_ok(&api, &format!("/api/v1/entities/component/{n}/odd"), &admin).await;
            Ok(if v["ready"] == "Maybe" {
                Ok(v)
            } else {
                Err(v.to_string())
            })
        },
    )
    .await
    .unwrap();
    assert_eq!(view["ref"], r);
    assert!(
        view.get("owner").is_none(),
        "an unreadable owner is left out: {view}"
    );
    assert_eq!(related(&view["relations"]), BTreeSet::new(), "{view}");
    let search = portal_ok(&api, &format!("/api/v1/search?q={word}"), &admin).await;
    assert_eq!(refs(&search), set([r.clone()]), "{search}");
    let graph = portal_ok(
        &api,
        &format!("/api/v1/entities/component/{n}/odd/graph"),
        &admin,
    )
    .await;
    assert_eq!(graph["root"], r);

    assert!(api.is_ready().await, "still ready");
    let metrics = api.metrics().await.unwrap();
    assert_eq!(
        nexus_e2e::metric_value(&metrics, "nexus_apiserver_malformed_objects_total"),
        Some(0.0),
        "the malformed-object counter is exported, and nothing the apiserver accepted is \
         malformed for the cache"
    );
    assert!(sum_metric(&metrics, "nexus_apiserver_watch_events_total") > 0.0);
    assert!(sum_metric(&metrics, "nexus_apiserver_cache_entities") > 0.0);
}
