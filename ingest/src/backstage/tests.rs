//! Conversion rules on small inline catalogs (the corpus runs in `tests/backstage.rs`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::{NamespaceRule, change::EXTERNAL_ID};

/// Files served from memory; paths are joined naively (`dir/x.yaml` + `./y.yaml`).
struct MemFetch(BTreeMap<String, String>);

impl MemFetch {
    fn new(files: &[(&str, &str)]) -> Self {
        MemFetch(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl Fetch for MemFetch {
    fn read(&self, _base: &str, target: &str) -> Result<(String, String), IngestError> {
        if fetch::is_remote(target) {
            return Err(fetch::remote_error(_base, target));
        }
        let key = target.trim_start_matches("./").to_string();
        match self.0.get(&key) {
            Some(c) => Ok((key, c.clone())),
            None => Err(IngestError::invalid(key, "no such file")),
        }
    }
}

fn ctx() -> Context {
    Context::in_namespace("catalog")
}

fn convert(yaml: &str) -> Conversion {
    convert_str(yaml, "catalog-info.yaml", &MemFetch::new(&[]), &ctx()).unwrap()
}

fn find<'a>(c: &'a Conversion, kind: &str, name: &str) -> &'a Value {
    c.objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", c.objects))
}

fn extra(o: &Value) -> Value {
    serde_json::from_str(o["metadata"]["annotations"][EXTRA].as_str().unwrap_or("{}")).unwrap()
}

const COMPONENT: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Pay_Ments
  namespace: Ops_Team
  annotations:
    github.com/project-slug: contoso/payments
    backstage.io/techdocs-ref: dir:.
  links:
    - url: https://x.example/dash
      title: Dash
      type: dashboard
  uid: 1234
spec:
  type: backend
  lifecycle: beta
  owner: user:default/jane
  system: payments
  subcomponentOf: platform
  dependsOn: [resource:payments-db, component:ledger]
  dependencyOf: [component:checkout]
relations:
  - type: ownedBy
    targetRef: user:default/jane
"#;

#[test]
fn component_fields_names_and_extra() {
    let c = convert(COMPONENT);
    let o = find(&c, "Component", "pay-ments");
    assert_eq!(o["metadata"]["namespace"], "ops-team");
    assert_eq!(o["metadata"]["annotations"][ORIGINAL_NAME], "Pay_Ments");
    assert_eq!(
        o["metadata"]["annotations"][EXTERNAL_ID],
        "component:Ops_Team/Pay_Ments"
    );
    assert_eq!(
        o["metadata"]["annotations"]["backstage.io/techdocs-ref"],
        "dir:."
    );
    assert_eq!(o["spec"]["type"], "service");
    assert_eq!(o["spec"]["lifecycle"], "experimental");
    assert_eq!(o["spec"]["owner"], "user:catalog/jane");
    // system and subcomponentOf are exclusive in Nexus: the parent wins.
    assert_eq!(o["spec"]["subcomponentOf"], "component:ops-team/platform");
    assert!(o["spec"].get("system").is_none());
    assert_eq!(
        o["spec"]["dependsOn"],
        serde_json::json!(["component:ops-team/ledger"])
    );
    // The Repository goes where GitHub ingestion puts it (namespace key `org/repo`).
    assert_eq!(
        o["spec"]["repository"],
        "repository:catalog/contoso-payments"
    );
    assert_eq!(o["spec"]["links"][0]["url"], "https://x.example/dash");
    let x = extra(o);
    assert_eq!(x["spec"]["type"], "backend");
    assert_eq!(x["spec"]["lifecycle"], "beta");
    assert_eq!(x["spec"]["system"], "payments");
    assert_eq!(x["spec"]["dependsOn"][0], "resource:payments-db");
    assert_eq!(x["spec"]["dependencyOf"][0], "component:checkout");
    assert_eq!(x["metadata"]["links"][0]["type"], "dashboard");
    assert_eq!(x["metadata"]["uid"], 1234);
    assert_eq!(x["metadata"]["namespace"], "Ops_Team");
    assert_eq!(x["relations"][0]["type"], "ownedBy");

    let repo = find(&c, "Repository", "contoso-payments");
    assert_eq!(repo["spec"]["url"], "https://github.com/contoso/payments");
    assert_eq!(repo["spec"]["defaultBranch"], "main");
    // The dropped Resource and the missing targets are reported.
    let targets: Vec<&str> = c.unresolved.iter().map(|u| u.target.as_str()).collect();
    assert!(
        targets.contains(&"resource:Ops_Team/payments-db"),
        "{targets:?}"
    );
    assert!(targets.contains(&"user:catalog/jane"), "{targets:?}");
    assert!(
        !targets.iter().any(|t| t.starts_with("repository:")),
        "{targets:?}"
    );
    assert!(
        c.warnings.iter().any(|w| w.contains("`backend`")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn placeholders_text_json_yaml_and_remote() {
    let fetch = MemFetch::new(&[
        (
            "api.oas.yaml",
            "openapi: 3.0.0\ninfo:\n  version: 2.1.0\n# comment kept\n",
        ),
        (
            "schema.json",
            r#"{"openapi": "3.1.0", "info": {"version": "7"}}"#,
        ),
        ("sla.yaml", "tier: gold\n"),
    ]);
    let yaml = r#"
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: a}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: {$text: ./api.oas.yaml}, sla: {$yaml: ./sla.yaml}}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: b}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: {$json: ./schema.json}}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: c}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: {$text: https://example.com/c.yaml}}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: d}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: {$text: ./missing.yaml}}
"#;
    let err = convert_str(yaml, "x.yaml", &fetch, &ctx())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("api:default/d") && err.contains("missing.yaml"),
        "{err}"
    );

    let ok = yaml.rsplit_once("---").map(|(a, _)| a).unwrap();
    let c = convert_str(ok, "x.yaml", &fetch, &ctx()).unwrap();
    let a = find(&c, "API", "a");
    assert!(
        a["spec"]["definition"]
            .as_str()
            .unwrap()
            .contains("# comment kept")
    );
    assert_eq!(a["spec"]["version"], "2.1.0");
    assert_eq!(extra(a)["spec"]["sla"]["tier"], "gold");
    let b = find(&c, "API", "b");
    assert_eq!(
        b["spec"]["definition"],
        r#"{"openapi": "3.1.0", "info": {"version": "7"}}"#
    );
    assert_eq!(b["spec"]["version"], "7");
    let cc = find(&c, "API", "c");
    assert_eq!(cc["spec"]["definitionUrl"], "https://example.com/c.yaml");
    assert!(cc["spec"].get("definition").is_none());
}

#[test]
fn locations_are_followed_once_and_cycles_end() {
    let fetch = MemFetch::new(&[
        (
            "a.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: a}\nspec: {targets: [./b.yaml, ./b.yaml, https://x.example/c.yaml]}\n",
        ),
        (
            "b.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: b}\nspec: {target: ./a.yaml}\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g}\nspec: {type: team, children: []}\n",
        ),
    ]);
    let root = fetch.0["a.yaml"].clone();
    let c = convert_str(&root, "a.yaml", &fetch, &ctx()).unwrap();
    assert_eq!(c.objects.len(), 1);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("remote location not followed offline: https://x.example/c.yaml")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn duplicates_later_wins_naming_both_files() {
    let fetch = MemFetch::new(&[(
        "second.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {name: d, title: Second}\nspec: {owner: team-b}\n",
    )]);
    let first = "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {name: d, title: First}\nspec: {owner: team-a}\n---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec: {target: ./second.yaml}\n";
    let c = convert_str(first, "first.yaml", &fetch, &ctx()).unwrap();
    assert_eq!(c.objects.len(), 1);
    assert_eq!(c.objects[0]["spec"]["title"], "Second");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("first.yaml") && w.contains("second.yaml")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn groups_children_and_users() {
    let c = convert(
        r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec: {type: organization, children: [team-x, ghost]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-x}
spec: {type: team, children: [], members: [bob]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: bob
  annotations: {github.com/user-login: bob-gh}
spec: {memberOf: [team-x]}
"#,
    );
    let x = find(&c, "Team", "team-x");
    assert_eq!(x["spec"]["parent"], "team:catalog/org");
    assert_eq!(x["spec"]["members"][0], "user:catalog/bob");
    let org = find(&c, "Team", "org");
    assert_eq!(extra(org)["spec"]["children"], serde_json::json!(["ghost"]));
    assert_eq!(extra(org)["spec"]["type"], "organization");
    let bob = find(&c, "User", "bob");
    assert_eq!(bob["spec"]["email"], "bob@unknown.invalid");
    assert_eq!(bob["spec"]["githubLogin"], "bob-gh");
    assert_eq!(
        c.unresolved,
        vec![UnresolvedRef {
            from: "team:catalog/org".into(),
            field: "spec.children".into(),
            target: "team:catalog/ghost".into(),
        }]
    );
}

#[test]
fn namespace_rules_use_the_backstage_reference() {
    let mut ctx = ctx();
    ctx.namespaces.rules.push(NamespaceRule {
        pattern: "group:*".into(),
        namespace: "people".into(),
    });
    let yaml = "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: s}\nspec: {owner: team-a}\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n";
    let c = convert_str(yaml, "f.yaml", &MemFetch::new(&[]), &ctx).unwrap();
    assert_eq!(
        find(&c, "System", "s")["spec"]["owner"],
        "team:people/team-a"
    );
    assert_eq!(
        find(&c, "Team", "team-a")["metadata"]["namespace"],
        "people"
    );
    assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
}

#[test]
fn bad_input_is_an_error_naming_file_entity_and_field() {
    let f = MemFetch::new(&[]);
    let e = convert_str("kind: Component\nmetadata: [\n", "bad.yaml", &f, &ctx()).unwrap_err();
    assert!(e.to_string().contains("bad.yaml: line "), "{e}");
    let e = convert_str(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec: {type: service, owner: a}\n",
        "c.yaml",
        &f,
        &ctx(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("c.yaml") && e.to_string().contains("spec"),
        "{e}"
    );
    assert!(e.to_string().contains("lifecycle"), "{e}");
    let e = convert_str(
        "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: s}\nspec: {owner: 'not a ref'}\n",
        "s.yaml",
        &f,
        &ctx(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("spec.owner"), "{e}");
}

#[test]
fn other_documents_are_skipped_with_a_reason() {
    let c = convert(
        "openapi: 3.0.0\n---\n- a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t}\n---\n",
    );
    assert!(c.objects.is_empty());
    assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
    assert!(c.warnings[3].contains("Template `t`"), "{:?}", c.warnings);
}

#[test]
fn invalid_kubernetes_metadata_goes_to_the_extra() {
    let c = convert(
        "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: d\n  labels: {ok: yes-1, bad: 'has space'}\n  annotations: {'Not Valid': v}\n  tags: [fine, Bad_Tag]\nspec: {owner: team-a}\n",
    );
    let d = find(&c, "Domain", "d");
    assert_eq!(d["metadata"]["labels"]["ok"], "yes-1");
    assert!(d["metadata"]["labels"].get("bad").is_none());
    assert_eq!(d["spec"]["tags"], serde_json::json!(["fine"]));
    let x = extra(d);
    assert_eq!(x["metadata"]["labels"]["bad"], "has space");
    assert_eq!(x["metadata"]["annotations"]["Not Valid"], "v");
    assert_eq!(x["metadata"]["tags"][1], "Bad_Tag");
}
