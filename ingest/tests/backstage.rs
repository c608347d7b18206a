//! The Backstage example catalog (`../shared/corpus/backstage-examples`) through the converter.

// Helpers outside `#[test]` functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use nexus_ingest::{
    Context,
    backstage::{Conversion, EXTRA, FsFetch, UnresolvedRef, convert_paths, convert_str},
    change::EXTERNAL_ID,
};
use serde::Deserialize;
use serde_json::{Value, json};

fn examples() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/backstage-examples/packages/catalog-model/examples"
    ))
    .to_path_buf()
}

fn ctx() -> Context {
    Context::in_namespace("catalog")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(yaml_files(&p));
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn count(c: &Conversion, kind: &str) -> usize {
    c.objects.iter().filter(|o| o["kind"] == kind).count()
}

fn find<'a>(c: &'a Conversion, kind: &str, ns: &str, name: &str) -> &'a Value {
    c.objects
        .iter()
        .find(|o| {
            o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name
        })
        .unwrap_or_else(|| panic!("no {kind} {ns}/{name}"))
}

fn whole_catalog() -> Conversion {
    convert_paths(
        &[
            examples().join("all.yaml"),
            examples().join("acme-corp.yaml"),
        ],
        &ctx(),
    )
    .unwrap()
}

#[test]
fn all_yaml_follows_every_location() {
    let c = convert_paths(&[examples().join("all.yaml")], &ctx()).unwrap();
    // all.yaml leaves out users and groups.
    assert_eq!(count(&c, "Component"), 13);
    assert_eq!(count(&c, "API"), 10);
    assert_eq!(count(&c, "System"), 3);
    assert_eq!(count(&c, "Domain"), 3);
    assert_eq!(count(&c, "Team") + count(&c, "User"), 0);
    assert_eq!(c.objects.len(), 29);
    // So every owner is unresolved, e.g. team-a.
    assert!(c.unresolved.contains(&UnresolvedRef {
        from: "component:catalog/artist-lookup".into(),
        field: "spec.owner".into(),
        target: "team:catalog/team-a".into(),
    }));
    // Skipped kinds are named.
    for kind in [
        "AiResource `frontend-design`",
        "AiResource `use-internal-apis`",
        "Resource `artists-db`",
    ] {
        assert!(
            c.warnings.iter().any(|w| w.contains(kind)),
            "{kind}: {:#?}",
            c.warnings
        );
    }
    // Deterministic order: Domain, System, API, Component.
    let kinds: Vec<&str> = c
        .objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(first("Domain") < first("System") && first("System") < first("API"));
    assert!(first("API") < first("Component"));
}

#[test]
fn whole_catalog_with_the_organisation() {
    let c = whole_catalog();
    assert_eq!(count(&c, "Team"), 9);
    assert_eq!(count(&c, "User"), 17);
    assert_eq!(c.objects.len(), 29 + 26);
    // The one known dangling reference: `owner: guest` defaults to a group.
    assert_eq!(
        c.unresolved,
        vec![UnresolvedRef {
            from: "component:catalog/playback-order".into(),
            field: "spec.owner".into(),
            target: "team:catalog/guest".into(),
        }]
    );

    let lookup = find(&c, "Component", "catalog", "artist-lookup");
    assert_eq!(lookup["apiVersion"], "catalog.nexus.dev/v1alpha1");
    assert_eq!(lookup["spec"]["owner"], "team:catalog/team-a");
    assert_eq!(
        lookup["spec"]["system"],
        "system:catalog/artist-engagement-portal"
    );
    assert_eq!(lookup["spec"]["tags"], json!(["java", "data"]));
    assert_eq!(lookup["spec"]["links"].as_array().unwrap().len(), 7);
    assert_eq!(
        lookup["spec"]["links"][6],
        json!({"url": "https://example.com/alert", "title": "Alerts", "icon": "alert"})
    );
    assert_eq!(
        lookup["metadata"]["annotations"][EXTERNAL_ID],
        "component:default/artist-lookup"
    );
    assert!(lookup["metadata"].get("labels").is_none());

    let petstore = find(&c, "Component", "catalog", "petstore");
    assert_eq!(
        petstore["spec"]["providesApis"],
        json!([
            "api:catalog/petstore",
            "api:catalog/streetlights",
            "api:catalog/hello-world"
        ])
    );
    let search = find(&c, "Component", "catalog", "wayback-search");
    assert_eq!(
        search["spec"]["consumesApis"],
        json!(["api:catalog/wayback-archive"])
    );
    let ingestion = find(&c, "Component", "catalog", "wayback-archive-ingestion");
    assert_eq!(
        ingestion["spec"]["subcomponentOf"],
        "component:catalog/wayback-archive"
    );
    assert_eq!(ingestion["spec"]["owner"], "team:catalog/team-d");
    let shuffle = find(&c, "Component", "catalog", "shuffle-api");
    assert_eq!(shuffle["spec"]["owner"], "user:catalog/guest");
    assert_eq!(
        shuffle["metadata"]["labels"],
        json!({"goVersion": "go1.15.3", "category": "music"})
    );
    assert_eq!(
        find(&c, "Component", "catalog", "playback-sdk")["spec"]["type"],
        "library"
    );
    assert_eq!(
        find(&c, "Component", "catalog", "www-artist")["spec"]["type"],
        "website"
    );

    // APIs: inline definitions, a $text file, remote definitions as URLs.
    let api = find(&c, "API", "catalog", "petstore");
    assert_eq!(api["spec"]["type"], "openapi");
    assert_eq!(api["spec"]["version"], "1.0.0");
    assert!(
        api["spec"]["definition"]
            .as_str()
            .unwrap()
            .starts_with("openapi: \"3.0.0\"\ninfo:")
    );
    let webhook = find(&c, "API", "catalog", "petstore-webhook");
    let oas = std::fs::read_to_string(examples().join("apis/petstore-webhook.oas.yaml")).unwrap();
    assert_eq!(webhook["spec"]["definition"], oas.as_str());
    let grpc = find(&c, "API", "catalog", "hello-world");
    assert_eq!(
        (
            grpc["spec"]["type"].as_str(),
            grpc["spec"]["lifecycle"].as_str()
        ),
        (Some("grpc"), Some("deprecated"))
    );
    assert!(
        grpc["spec"]["definition"]
            .as_str()
            .unwrap()
            .contains("service Greeter")
    );
    let swapi = find(&c, "API", "catalog", "starwars-graphql");
    assert_eq!(swapi["spec"]["type"], "graphql");
    assert!(
        swapi["spec"]["definition"]
            .as_str()
            .unwrap()
            .contains("type Film implements Node")
    );
    assert_eq!(
        find(&c, "API", "catalog", "streetlights")["spec"]["type"],
        "asyncapi"
    );
    let spotify = find(&c, "API", "catalog", "spotify");
    assert_eq!(
        spotify["spec"]["definitionUrl"],
        "https://github.com/APIs-guru/openapi-directory/blob/dab6854d4d599aafb0eb36e6c7ae1fe0c37509b7/APIs/spotify.com/2021.4.2/openapi.yaml"
    );
    assert!(spotify["spec"].get("definition").is_none());
    let trpc = find(&c, "API", "catalog", "hello-world-trpc");
    assert_eq!(trpc["spec"]["type"], "grpc");
    assert_eq!(extra(trpc)["spec"]["type"], "trpc");
    let mcp = find(&c, "API", "catalog", "backstage-mcp-server");
    assert_eq!(
        mcp["spec"]["definitionUrl"],
        "http://localhost:7007/api/mcp/v1"
    );
    assert_eq!(extra(mcp)["spec"]["type"], "mcp-server");
    assert_eq!(extra(mcp)["spec"]["remotes"][0]["type"], "streamable-http");

    // Systems and domains.
    let portal = find(&c, "System", "catalog", "artist-engagement-portal");
    assert_eq!(portal["spec"]["domain"], "domain:catalog/artists");
    assert_eq!(
        extra(find(&c, "System", "catalog", "audio-playback"))["spec"]["type"],
        "feature-set"
    );
    let artists = find(&c, "Domain", "catalog", "artists");
    assert_eq!(artists["spec"]["title"], "Artists");
    assert_eq!(artists["spec"]["subdomainOf"], "domain:catalog/audio");
    assert_eq!(
        find(&c, "Domain", "catalog", "playback")["spec"]["owner"],
        "user:catalog/frank.tiernan"
    );

    // Groups: parent declared on the child, children listed on the parent agree.
    let team_a = find(&c, "Team", "catalog", "team-a");
    assert_eq!(team_a["spec"]["parent"], "team:catalog/backstage");
    assert_eq!(team_a["spec"]["email"], "team-a@example.com");
    assert!(team_a["spec"].get("displayName").is_none());
    assert_eq!(extra(team_a)["spec"]["type"], "team");
    assert_eq!(
        find(&c, "Team", "catalog", "infrastructure")["spec"]["parent"],
        "team:catalog/acme-corp"
    );
    assert_eq!(
        find(&c, "Team", "catalog", "team-e")["spec"]["parent"],
        "team:catalog/boxoffice"
    );
    let acme = find(&c, "Team", "catalog", "acme-corp");
    assert!(acme["spec"].get("parent").is_none());
    assert_eq!(acme["spec"]["displayName"], "ACME Corp");
    assert_eq!(acme["spec"]["links"][0]["url"], "http://www.acme.com/");
    // Every listed child is converted and agrees, so nothing is left in the extra.
    assert!(extra(acme)["spec"].get("children").is_none());
    let parents: BTreeMap<&str, &str> = c
        .objects
        .iter()
        .filter(|o| o["kind"] == "Team")
        .filter_map(|o| {
            Some((
                o["metadata"]["name"].as_str()?,
                o["spec"]["parent"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(parents.len(), 8);
    assert_eq!(parents["team-c"], "team:catalog/boxoffice");
    assert_eq!(parents["backstage"], "team:catalog/infrastructure");

    // Users.
    let breanna = find(&c, "User", "catalog", "breanna.davison");
    assert_eq!(breanna["spec"]["email"], "breanna-davison@example.com");
    assert_eq!(breanna["spec"]["memberOf"], json!(["team:catalog/team-a"]));
    assert_eq!(
        extra(breanna)["spec"]["profile"]["picture"],
        "https://api.dicebear.com/7.x/avataaars/svg?seed=Luna&backgroundColor=transparent"
    );
    let dev_guest = find(&c, "User", "development", "guest");
    assert_eq!(
        dev_guest["spec"]["memberOf"],
        json!(["team:catalog/team-a"])
    );
    assert_eq!(
        dev_guest["metadata"]["annotations"][EXTERNAL_ID],
        "user:development/guest"
    );
    assert_eq!(
        find(&c, "User", "catalog", "tara.macgovern")["spec"]["memberOf"],
        json!(["team:catalog/team-c"])
    );
    let team_b_members = c
        .objects
        .iter()
        .filter(|o| o["kind"] == "User" && o["spec"]["memberOf"][0] == "team:catalog/team-b")
        .count();
    assert_eq!(team_b_members, 5);
}

fn extra(o: &Value) -> Value {
    serde_json::from_str(o["metadata"]["annotations"][EXTRA].as_str().unwrap_or("{}")).unwrap()
}

#[test]
fn text_placeholder_reads_petstore_oas_next_to_the_file() {
    // The newer upstream petstore-api.yaml points at petstore.oas.yaml.
    let entity = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: petstore}\nspec:\n  type: openapi\n  lifecycle: experimental\n  owner: team-c\n  definition:\n    $text: ./petstore.oas.yaml\n";
    let origin = examples().join("apis/petstore-api.yaml");
    let c = convert_str(entity, &origin.display().to_string(), &FsFetch, &ctx()).unwrap();
    let oas = std::fs::read_to_string(examples().join("apis/petstore.oas.yaml")).unwrap();
    assert_eq!(c.objects[0]["spec"]["definition"], oas.as_str());
    assert_eq!(c.objects[0]["spec"]["version"], "1.0.11");
}

#[test]
fn every_file_alone_converts() {
    let files = yaml_files(&examples());
    assert_eq!(files.len(), 51);
    for f in &files {
        let name = f.strip_prefix(examples()).unwrap().display().to_string();
        let c = convert_paths(std::slice::from_ref(f), &ctx())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = match name.as_str() {
            // OpenAPI documents, not entities.
            "apis/petstore.oas.yaml" | "apis/petstore-webhook.oas.yaml" => {
                assert!(
                    c.warnings[0].contains("not a Backstage entity (no kind)"),
                    "{name}"
                );
                0
            }
            "acme/team-a-group.yaml" | "acme/team-b-group.yaml" | "acme/team-c-group.yaml" => 6,
            "acme/team-d-group.yaml" => 3,
            "acme/org.yaml" | "acme-corp.yaml" => 26,
            "all.yaml" => 29,
            "all-apis.yaml" => 10,
            "all-components.yaml" => 13,
            "all-domains.yaml" | "all-systems.yaml" => 3,
            "all-resources.yaml" | "all-ai-resources.yaml" => 0,
            n if n.starts_with("resources/") || n.starts_with("ai-resources/") => 0,
            _ => 1,
        };
        assert_eq!(c.objects.len(), expected, "{name}: {:#?}", c.warnings);
        for o in &c.objects {
            assert!(
                o["metadata"]["annotations"][EXTERNAL_ID].is_string(),
                "{name}"
            );
        }
    }
}

#[test]
fn a_whole_folder_reads_each_file_once() {
    let c = convert_paths(&[examples()], &ctx()).unwrap();
    assert_eq!(c.objects.len(), 55);
    assert!(
        !c.warnings.iter().any(|w| w.contains("the later wins")),
        "{:#?}",
        c.warnings
    );
    assert_eq!(
        c,
        convert_paths(&[examples(), examples().join("all.yaml")], &ctx()).unwrap()
    );
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let path = examples().join("acme/team-b-group.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen("memberOf: [team-b]", "memberOf: [team-b", 1);
    let e = convert_str(&broken, "acme/team-b-group.yaml", &FsFetch, &ctx()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("not valid YAML: acme/team-b-group.yaml: line "),
        "{msg}"
    );

    // Truncations anywhere: an error or a partial conversion, never a panic; errors name the file.
    for name in [
        "acme/team-a-group.yaml",
        "apis/petstore-api.yaml",
        "components/artist-lookup-component.yaml",
        "acme/org.yaml",
    ] {
        let text = std::fs::read_to_string(examples().join(name)).unwrap();
        let origin = examples().join(name).display().to_string();
        for cut in (0..text.len())
            .step_by(7)
            .filter(|i| text.is_char_boundary(*i))
        {
            if let Err(e) = convert_str(&text[..cut], &origin, &FsFetch, &ctx()) {
                assert!(e.to_string().contains(name), "{name} cut at {cut}: {e}");
            }
        }
    }
    // A cut inside the entity leaves a required field missing.
    let text =
        std::fs::read_to_string(examples().join("components/petstore-component.yaml")).unwrap();
    let cut = text.find("  lifecycle").unwrap();
    let e = convert_str(&text[..cut], "petstore-component.yaml", &FsFetch, &ctx()).unwrap_err();
    assert!(
        e.to_string().contains("petstore-component.yaml") && e.to_string().contains("lifecycle"),
        "{e}"
    );
}

/// What the input says, read independently of the converter.
#[derive(Deserialize)]
struct Input {
    kind: String,
    metadata: InputMeta,
}

#[derive(Deserialize)]
struct InputMeta {
    name: String,
    namespace: Option<String>,
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    links: Vec<Value>,
}

#[test]
fn no_information_lost() {
    let c = whole_catalog();
    let by_id: BTreeMap<&str, &Value> = c
        .objects
        .iter()
        .map(|o| {
            (
                o["metadata"]["annotations"][EXTERNAL_ID].as_str().unwrap(),
                o,
            )
        })
        .collect();
    let mut checked = 0;
    for f in yaml_files(&examples()) {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let Ok(input) = Input::deserialize(doc) else {
                continue;
            };
            let kind = input.kind.to_ascii_lowercase();
            let m = &input.metadata;
            let id = format!(
                "{kind}:{}/{}",
                m.namespace.as_deref().unwrap_or("default"),
                m.name
            );
            let Some(o) = by_id.get(id.as_str()) else {
                assert!(
                    ["location", "resource", "airesource"].contains(&kind.as_str()),
                    "{id} missing"
                );
                continue;
            };
            let ann = &o["metadata"]["annotations"];
            for (k, v) in &m.annotations {
                assert_eq!(ann[k], v.as_str(), "{id}: annotation {k}");
            }
            for (k, v) in &m.labels {
                assert_eq!(o["metadata"]["labels"][k], v.as_str(), "{id}: label {k}");
            }
            assert_eq!(o["spec"]["title"].as_str(), m.title.as_deref(), "{id}");
            assert_eq!(
                o["spec"]["description"].as_str(),
                m.description.as_deref(),
                "{id}"
            );
            let tags = o["spec"].get("tags").cloned().unwrap_or(json!([]));
            assert_eq!(tags, json!(m.tags), "{id}");
            let links = o["spec"].get("links").cloned().unwrap_or(json!([]));
            assert_eq!(links, json!(m.links), "{id}");
            checked += 1;
        }
    }
    assert_eq!(checked, 55);
}
