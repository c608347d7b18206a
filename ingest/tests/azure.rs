//! Every Azure Resource Graph corpus file through `azure::resource_graph(_page)`.

// The whole file is test code; its helpers fail the test by unwrapping.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use nexus_ingest::azure::{
    self, Page, UNKNOWN_REGION, resource_graph, resource_graph_page, resource_name,
};
use nexus_ingest::change::{EXTERNAL_ID, SOURCE_URL};
use nexus_ingest::{
    Change, Context, IngestError, NamespaceMap, NamespaceRule, Outcome, Source, Target, Upsert,
};
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"))
        .join("azure-resource-graph")
}

fn files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "SOURCE.md")
        .collect();
    v.sort();
    v
}

/// Resource group RG1 goes to team-net; everything else to the default.
fn ctx() -> Context {
    Context {
        namespaces: NamespaceMap {
            default: "azure".into(),
            rules: vec![NamespaceRule {
                pattern: "*/rg1".into(),
                namespace: "team-net".into(),
            }],
        },
        ..Context::default()
    }
}

fn upserts(o: &Outcome) -> Vec<&Upsert> {
    o.changes()
        .iter()
        .map(|c| match c {
            Change::Upsert(u) => u,
            other => panic!("unexpected change {other:?}"),
        })
        .collect()
}

/// Checks one upsert against the id and the values the payload gave.
fn check(u: &Upsert, id: &str, ty: &str, rg: &str, region: &str, ns: &str) {
    assert_eq!(u.source, Source::Azure);
    assert_eq!(u.kind(), "AzureResource");
    assert_eq!(u.name(), resource_name(id));
    assert_eq!(u.namespace(), ns, "{id}");
    assert_eq!(u.identity, Some(Target::AzureResourceId { id: id.into() }));
    let s = &u.object["spec"];
    assert_eq!(s["resourceId"], id);
    assert_eq!(s["type"], ty);
    assert_eq!(s["resourceGroup"], rg);
    assert_eq!(s["region"], region, "{id}");
    assert_eq!(s["title"], id.rsplit('/').next().unwrap());
    let a = &u.object["metadata"]["annotations"];
    assert_eq!(a[EXTERNAL_ID], id);
    assert_eq!(
        a[SOURCE_URL],
        format!("https://portal.azure.com/#resource{id}")
    );
    assert_eq!(
        u.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "nexus-azure"
    );
    let sub = id.split('/').nth(2).unwrap();
    assert_eq!(s["subscriptionId"], sub);
}

const SUB: &str = "/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups";
const ZERO: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups";
const NO_IDS: &str = "query result has no resource ids: summarize/facet results are not ingested";

fn expect(name: &str, page: Result<Page, IngestError>) {
    match name {
        "ResourcesBasicQuery.2024-04-01.json" => {
            let p = page.unwrap();
            assert_eq!(
                (p.skip_token.as_deref(), p.total_records, p.truncated),
                (None, Some(3), false)
            );
            let u = upserts(&p.outcome);
            assert_eq!(u.len(), 3);
            let nic = format!(
                "{SUB}/RG1/providers/Microsoft.Network/networkInterfaces/myNetworkInterface"
            );
            check(
                u[0],
                &nic,
                "Microsoft.Network/networkInterfaces",
                "RG1",
                "centralus",
                "team-net",
            );
            assert_eq!(u[0].object["spec"]["tags"], json!({"tag1": "Value1"}));
            assert_eq!(u[0].status["observedTags"], json!({"tag1": "Value1"}));
            let vnet = format!("{SUB}/RG2/providers/Microsoft.Network/virtualNetworks/myVnet");
            check(
                u[1],
                &vnet,
                "Microsoft.Network/virtualNetworks",
                "RG2",
                "westus",
                "azure",
            );
            assert!(u[1].object["spec"].get("tags").is_none());
            assert_eq!(u[1].status["observedTags"], json!({}));
            let ip = format!("{SUB}/RG2/providers/Microsoft.Network/publicIPAddresses/myPublicIp");
            check(
                u[2],
                &ip,
                "Microsoft.Network/publicIPAddresses",
                "RG2",
                "westus",
                "azure",
            );
        }
        "ResourcesComplexQuery.2024-04-01.json"
        | "ResourcesPropertiesQuery.2024-04-01.json"
        | "ResourcesSummarizeQuery.2024-04-01.json" => {
            let p = page.unwrap();
            assert_eq!(p.outcome, Outcome::ignored(NO_IDS), "{name}");
            assert!(p.total_records.is_some_and(|n| n == 2 || n == 3));
        }
        "ResourcesFacetQuery.2024-04-01.json" => {
            let p = page.unwrap();
            let u = upserts(&p.outcome);
            let want = [
                ("B-TEST-RG", "myTestVm", "eastus"),
                ("c-rg", "myTestAccountVm", "westcentralus"),
                ("I-RG", "yetanothertest", "eastus"),
                ("x-test-rg", "drafttest1bux4cv7a7q3aw", "southcentralus"),
                ("y-rg", "testvmntp25370", "eastus"),
            ];
            assert_eq!(u.len(), want.len());
            for (u, (rg, vm, region)) in u.iter().zip(want) {
                let id = format!("{SUB}/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}");
                check(
                    u,
                    &id,
                    "Microsoft.Compute/virtualMachines",
                    rg,
                    region,
                    "azure",
                );
            }
            assert_eq!(p.total_records, Some(5));
        }
        "ResourcesNextPageQuery.2024-04-01.json" => {
            let p = page.unwrap();
            assert_eq!(
                p.skip_token.as_deref(),
                Some("eyAibm8yIjogImx1Y2syIiwgImJ1dDIiOiAibmljZTIiLCAidHJ5MiI6ICIhIiB9")
            );
            assert_eq!(p.total_records, Some(386));
            let u = upserts(&p.outcome);
            assert_eq!(u.len(), 3);
            let disk = format!(
                "{SUB}/RG1/providers/Microsoft.Compute/disks/second_OsDisk_dddddbcb625a457bb69fe2abf5975820"
            );
            check(
                u[0],
                &disk,
                "Microsoft.Compute/disks",
                "RG1",
                "eastus",
                "team-net",
            );
            assert!(
                u[0].name()
                    .starts_with("second-osdisk-dddddbcb625a457bb69fe2abf5975820-")
            );
            let rb = format!(
                "{SUB}/RG2/providers/Microsoft.Automation/automationAccounts/TestAA/runbooks/RBTest"
            );
            check(
                u[2],
                &rb,
                "Microsoft.Automation/automationAccounts/runbooks",
                "RG2",
                "westcentralus",
                "azure",
            );
        }
        "test_mgmt_resourcegraph.test_resources_basic_query.yaml" => {
            // Table format; the query projected no location.
            let p = page.unwrap();
            assert_eq!(p.total_records, Some(2));
            let u = upserts(&p.outcome);
            assert_eq!(u.len(), 2);
            let mc = format!(
                "{ZERO}/move_resource_name/providers/Microsoft.Migrate/moveCollections/move-collection-test6"
            );
            check(
                u[0],
                &mc,
                "Microsoft.Migrate/moveCollections",
                "move_resource_name",
                UNKNOWN_REGION,
                "azure",
            );
            let nic = format!(
                "{ZERO}/sdk-net-test-qa2/providers/Microsoft.Network/networkInterfaces/anf-sdknettestqa2vnet464-nic-2JBDNX"
            );
            check(
                u[1],
                &nic,
                "Microsoft.Network/networkInterfaces",
                "sdk-net-test-qa2",
                UNKNOWN_REGION,
                "azure",
            );
            // Properties are not copied.
            assert!(!u[1].object.to_string().contains("10.1.0.4"));
        }
        "test_mgmt_resourcegraph.test_resources_facet_query.yaml" => {
            let p = page.unwrap();
            let u = upserts(&p.outcome);
            assert_eq!(u.len(), 8);
            let mc = format!(
                "{ZERO}/move_resource_name/providers/Microsoft.Migrate/moveCollections/move-collection-test6"
            );
            check(
                u[0],
                &mc,
                "Microsoft.Migrate/moveCollections",
                "move_resource_name",
                "eastus2",
                "azure",
            );
            let sb = format!(
                "{ZERO}/iyljd2wtoqh43dern43sawzmqxkeari3bcqiadgfste4outj7cdmmslvr4yfw2vmrsqeiogmitj/providers/Microsoft.ServiceBus/namespaces/myNamespacexxyyzsecond"
            );
            check(
                u[4],
                &sb,
                "Microsoft.ServiceBus/namespaces",
                "iyljd2wtoqh43dern43sawzmqxkeari3bcqiadgfste4outj7cdmmslvr4yfw2vmrsqeiogmitj",
                "southcentralus",
                "azure",
            );
            let vault =
                format!("{ZERO}/qiaozhatest/providers/Microsoft.RecoveryServices/vaults/vault886");
            check(
                u[7],
                &vault,
                "Microsoft.RecoveryServices/vaults",
                "qiaozhatest",
                "eastus",
                "azure",
            );
        }
        "test_mgmt_resourcegraph.test_resources_malformed_query.yaml" => {
            let e = page.unwrap_err().to_string();
            assert!(
                e.starts_with("interactions[0].response.body.string: Resource Graph query failed with HTTP 400: BadRequest: Please provide below info"),
                "{e}"
            );
            assert!(
                e.contains("InvalidQuery: Query is invalid.") && e.contains("ParserFailure"),
                "{e}"
            );
        }
        other => panic!("corpus file {other} has no expectation"),
    }
}

#[test]
fn every_corpus_file() {
    let files = files();
    assert_eq!(files.len(), 9);
    for f in files {
        let body = std::fs::read(&f).unwrap();
        let name = f.file_name().unwrap().to_str().unwrap();
        let page = resource_graph_page(&body, &ctx());
        // The plain entrypoint agrees with the paging one.
        match (&page, resource_graph(&body, &ctx())) {
            (Ok(p), Ok(o)) => assert_eq!(p.outcome, o),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{name}: {a:?} vs {b:?}"),
        }
        expect(name, page);
    }
}

#[test]
fn every_object_is_valid_for_the_crd() {
    for f in files() {
        let body = std::fs::read(&f).unwrap();
        let Ok(p) = resource_graph_page(&body, &ctx()) else {
            continue;
        };
        for u in upserts(&p.outcome) {
            let s = &u.object["spec"];
            let id = s["resourceId"].as_str().unwrap();
            let sub = s["subscriptionId"].as_str().unwrap().to_lowercase();
            let rg = s["resourceGroup"].as_str().unwrap().to_lowercase();
            assert!(
                id.to_lowercase()
                    .starts_with(&format!("/subscriptions/{sub}/resourcegroups/{rg}/"))
            );
            let ty = s["type"].as_str().unwrap().to_lowercase();
            let mut parts = ty.split('/');
            let prefix = format!(
                "/providers/{}/{}/",
                parts.next().unwrap(),
                parts.next().unwrap()
            );
            assert!(id.to_lowercase().contains(&prefix), "{id} / {ty}");
            let n = u.name();
            assert!(
                n.len() <= 63
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            assert!(!n.starts_with('-') && !n.ends_with('-'));
            assert!(!s["region"].as_str().unwrap().is_empty());
            assert!(s.get("status").is_none());
        }
    }
}

#[test]
fn tag_mapping_sets_environment_namespace_and_owner() {
    // The REST example with its tag renamed: the namespace tag and the owner tag mapping.
    let body = std::fs::read(corpus().join("ResourcesBasicQuery.2024-04-01.json")).unwrap();
    let mut ctx = ctx();
    ctx.tags.namespace = Some("tag1".into());
    ctx.tags.owner = vec!["tag1".into()];
    ctx.tags.environment = vec!["TAG1".into()];
    let p = resource_graph_page(&body, &ctx).unwrap();
    let u = upserts(&p.outcome);
    assert_eq!(u[0].namespace(), "value1");
    assert_eq!(
        u[0].object["spec"]["environment"],
        "environment:value1/value1"
    );
    assert_eq!(
        u[0].status["observedTags"],
        json!({"tag1": "Value1", "owner": "Value1"})
    );
    // No tag: the resource group rule.
    assert_eq!(u[1].namespace(), "azure");
    assert!(u[1].object["spec"].get("environment").is_none());
}

#[test]
fn truncated_files_fail_cleanly() {
    for f in files() {
        let body = std::fs::read(&f).unwrap();
        let json = f.extension().unwrap() == "json";
        for cut in (1..body.trim_ascii_end().len()).step_by(37) {
            let r = resource_graph_page(&body[..cut], &ctx());
            if json {
                let e = r.unwrap_err();
                assert!(
                    matches!(e, IngestError::Syntax { .. }),
                    "{f:?} at {cut}: {e}"
                );
            }
        }
        let half = resource_graph_page(&body[..body.len() / 2], &ctx());
        assert!(half.is_err(), "{f:?}");
    }
}

#[test]
fn ids_are_shared_with_other_sources() {
    let id = format!("{SUB}/RG2/providers/Microsoft.Network/virtualNetworks/myVnet");
    let r = azure::parse_resource_id(&id).unwrap();
    assert_eq!(
        (
            r.subscription_id.as_str(),
            r.resource_group.as_str(),
            r.provider_type.as_str(),
            r.name.as_str()
        ),
        (
            "cfbbd179-59d2-4052-aa06-9270a38aa9d6",
            "RG2",
            "Microsoft.Network/virtualNetworks",
            "myVnet"
        )
    );
    assert_eq!(resource_name(&id), resource_name(&id.to_lowercase()));
    let v: Value = azure::resource_graph_request(
        &["cfbbd179-59d2-4052-aa06-9270a38aa9d6".into()],
        &[],
        None,
        None,
        100,
    );
    assert_eq!(v["options"]["$top"], 100);
}

#[test]
fn mutated_files_never_panic() {
    for f in files() {
        let body = std::fs::read(&f).unwrap();
        for at in (0..body.len()).step_by(89) {
            for b in [b'"', b'{', b']', b'0', b'/', b' ', b'\n', 0xff] {
                let mut m = body.clone();
                m[at] = b;
                let _ = resource_graph_page(&m, &ctx());
            }
        }
    }
}
