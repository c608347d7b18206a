//! Every Terraform state and ARM deployment corpus file through `iac::terraform_state` and
//! `iac::arm_deployment`.

// The whole file is test code; its helpers fail the test by unwrapping.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use nexus_ingest::azure::{UNKNOWN_REGION, resource_name};
use nexus_ingest::change::{EXTERNAL_ID, SOURCE_URL};
use nexus_ingest::iac::{
    ARM_DEPLOYMENT, ARM_OUTPUTS, TERRAFORM_ADDRESS, arm_deployment, terraform_state,
};
use nexus_ingest::{Change, Context, IngestError, Outcome, Source, Target, Upsert};
use serde_json::{Value, json};

fn corpus(dir: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus")).join(dir)
}

/// Every file under `dir` (recursively) but SOURCE.md, as (path relative to dir, path).
fn files(dir: &str) -> Vec<(String, PathBuf)> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().unwrap() != "SOURCE.md" {
                out.push(p);
            }
        }
    }
    let root = corpus(dir);
    let mut v = Vec::new();
    walk(&root, &mut v);
    v.sort();
    v.into_iter()
        .map(|p| {
            (
                p.strip_prefix(&root).unwrap().to_str().unwrap().to_string(),
                p,
            )
        })
        .collect()
}

fn ctx() -> Context {
    Context {
        repository: Some("repository:team-platform/infra".into()),
        ..Context::in_namespace("infra")
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

fn check(u: &Upsert, id: &str, ty: &str, region: &str) {
    assert_eq!(u.source, Source::Iac);
    assert_eq!(u.kind(), "AzureResource");
    assert_eq!(u.name(), resource_name(id));
    assert_eq!(u.namespace(), "infra");
    assert_eq!(u.identity, Some(Target::AzureResourceId { id: id.into() }));
    let s = &u.object["spec"];
    assert_eq!(s["resourceId"], id);
    assert_eq!(s["type"], ty);
    assert_eq!(s["region"], region);
    assert_eq!(s["repository"], "repository:team-platform/infra");
    assert_eq!(s["title"], id.rsplit('/').next().unwrap());
    let a = &u.object["metadata"]["annotations"];
    assert_eq!(a[EXTERNAL_ID], id);
    assert_eq!(
        a[SOURCE_URL],
        format!("https://portal.azure.com/#resource{id}")
    );
    assert_eq!(
        u.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "nexus-iac"
    );
    assert!(u.status.is_empty(), "IaC does not write observed status");
}

fn ignored(providers: &str) -> Outcome {
    Outcome::ignored(format!(
        "no azurerm resources in state (found providers: {providers})"
    ))
}

fn unsupported(v: u32) -> String {
    format!(
        "unsupported version: Terraform state version {v}; only version 4 (Terraform ≥ 0.12) is read"
    )
}

const TF_RG: &str =
    "/subscriptions/508f906f-b287-4882-b038-c653fe001aa0/resourceGroups/myResourceGroup/providers";

fn expect_terraform(name: &str, r: Result<Outcome, IngestError>) {
    match name {
        "inframap/azure.tfstate" => {
            let o = r.unwrap();
            let u = upserts(&o);
            let want = [
                (
                    "Microsoft.Compute/virtualMachines/myVM",
                    "azurerm_linux_virtual_machine.myterraformvm",
                ),
                (
                    "Microsoft.Compute/virtualMachines/myVM2",
                    "azurerm_linux_virtual_machine.myterraformvm2",
                ),
                (
                    "Microsoft.Network/virtualNetworks/myVnet",
                    "azurerm_virtual_network.myterraformnetwork",
                ),
                (
                    "Microsoft.Network/virtualNetworks/myVnet2",
                    "azurerm_virtual_network.myterraformnetwork2",
                ),
                (
                    "Microsoft.Network/virtualNetworks/myVnet/virtualNetworkPeerings/peer1to2",
                    "azurerm_virtual_network_peering.example-1",
                ),
            ];
            assert_eq!(u.len(), want.len());
            for (u, (path, address)) in u.iter().zip(want) {
                let id = format!("{TF_RG}/{path}");
                let segs: Vec<&str> = path.split('/').collect();
                let ty = std::iter::once(segs[0])
                    .chain(segs[1..].iter().step_by(2).copied())
                    .collect::<Vec<_>>()
                    .join("/");
                // The 0.12 state records no location for these.
                check(u, &id, &ty, UNKNOWN_REGION);
                assert_eq!(
                    u.object["spec"]["subscriptionId"],
                    "508f906f-b287-4882-b038-c653fe001aa0"
                );
                assert_eq!(u.object["spec"]["resourceGroup"], "myResourceGroup");
                assert_eq!(
                    u.object["metadata"]["annotations"][TERRAFORM_ADDRESS],
                    address
                );
            }
            assert_eq!(
                u[4].object["spec"]["type"],
                "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
            );
        }
        "inframap/aws_state_cyclic.json" | "inframap/aws_state_sg.json" => {
            assert_eq!(r.unwrap(), ignored("aws"))
        }
        "inframap/aws_state_with_count.json" => assert_eq!(r.unwrap(), ignored("flexibleengine")),
        "inframap/google_state.json" => assert_eq!(r.unwrap(), ignored("google")),
        "inframap/multi_module_state.json" => assert_eq!(r.unwrap(), ignored("scaleway/scaleway")),
        // A version-2 header from Terraform 0.11: the pre-0.12 format.
        "inframap/invalid_version_state.json" => {
            assert_eq!(r.unwrap_err().to_string(), unsupported(2))
        }
        "inframap/version_3_state.json" | "terraboard/roundtrip_v3-simple.in.tfstate" => {
            assert_eq!(r.unwrap_err().to_string(), unsupported(3))
        }
        "terraboard/roundtrip_v1-simple.in.tfstate" => {
            assert_eq!(r.unwrap_err().to_string(), unsupported(1))
        }
        "terraboard/minio-1_terraform_1.tfstate" => {
            assert_eq!(r.unwrap(), ignored("hashicorp/aws"))
        }
        "terraboard/minio-1_terraform_1_0.12.28.tfstate" => {
            assert_eq!(r.unwrap(), ignored("local"))
        }
        "terraboard/minio-1_terraform_1_1.0.0.tfstate" | "terraform-json/has_checks_state.json" => {
            assert_eq!(r.unwrap(), ignored("hashicorp/local"))
        }
        // terraform_version 999.0.0 is still state format 4.
        "terraboard/roundtrip_v4-cbd.in.tfstate"
        | "terraboard/roundtrip_v4-foreach.in.tfstate"
        | "terraboard/roundtrip_v4-future.in.tfstate"
        | "terraboard/roundtrip_v4-modules.in.tfstate"
        | "terraboard/roundtrip_v4-simple.in.tfstate" => assert_eq!(r.unwrap(), ignored("-/null")),
        "terraform-json/110_sensitive_values_state.json"
        | "terraform-json/110_sensitive_values_terraform.tfstate" => {
            assert_eq!(r.unwrap(), ignored("hashicorp/null"))
        }
        "terraform-json/config_resource_depends_on_terraform.tfstate"
        | "terraform-json/has_changes_terraform.tfstate" => assert_eq!(r.unwrap(), ignored("null")),
        "terraform-json/identity_state.json" => assert_eq!(r.unwrap(), ignored("hashicorp/corner")),
        other => panic!("corpus file {other} has no expectation"),
    }
}

#[test]
fn every_terraform_file() {
    let files = files("terraform-state");
    assert_eq!(files.len(), 24);
    for (name, path) in files {
        expect_terraform(
            &name,
            terraform_state(&std::fs::read(path).unwrap(), &ctx()),
        );
    }
}

#[test]
fn azure_state_through_show_json_shape_and_sensitive_attrs() {
    // The corpus Azure state lacks location and tags; the same resource as `terraform show -json`
    // with them (one marked sensitive) checks both are honoured.
    let id = format!("{TF_RG}/Microsoft.Compute/virtualMachines/myVM");
    let doc = json!({"format_version": "1.0", "terraform_version": "1.5.0", "values": {"root_module": {
        "resources": [{"address": "azurerm_linux_virtual_machine.myterraformvm", "mode": "managed",
            "type": "azurerm_linux_virtual_machine", "name": "myterraformvm",
            "provider_name": "registry.terraform.io/hashicorp/azurerm",
            "values": {"id": id, "location": "eastus", "tags": {"environment": "Terraform Demo"},
                       "admin_password": "s3cret"},
            "sensitive_values": {"admin_password": true, "tags": {}}}]}}});
    let o = terraform_state(doc.to_string().as_bytes(), &ctx()).unwrap();
    let u = upserts(&o);
    check(u[0], &id, "Microsoft.Compute/virtualMachines", "eastus");
    assert_eq!(
        u[0].object["spec"]["tags"],
        json!({"environment": "Terraform Demo"})
    );
    assert_eq!(
        u[0].object["spec"]["environment"],
        format!(
            "environment:infra/{}",
            nexus_ingest::naming::object_name(&["Terraform Demo"])
        )
    );
    assert!(!u[0].object.to_string().contains("s3cret"));
}

const ZERO_RG: &str =
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rgname/providers";

fn expect_arm(name: &str, r: Result<Outcome, IngestError>) {
    let deployment = match name {
        "test_mgmt_resource.test_deployments_basic.yaml" => "pytestdeployment667e10fe",
        "test_mgmt_resource.test_deployments_at_scope.yaml" => "pytestdeployment9c41124a",
        other => panic!("corpus file {other} has no expectation"),
    };
    let o = r.unwrap();
    let u = upserts(&o);
    assert_eq!(
        u.len(),
        1,
        "{name}: the GET, list and repeated GET responses are one deployment"
    );
    let id = format!("{ZERO_RG}/Microsoft.Compute/availabilitySets/availabilitySet1");
    // Region: the deployment's providers list says availabilitySets went to westus.
    check(u[0], &id, "Microsoft.Compute/availabilitySets", "westus");
    let a = &u[0].object["metadata"]["annotations"];
    assert_eq!(
        a[ARM_DEPLOYMENT],
        format!("{ZERO_RG}/Microsoft.Resources/deployments/{deployment}")
    );
    let outputs: Value = serde_json::from_str(a[ARM_OUTPUTS].as_str().unwrap()).unwrap();
    assert_eq!(
        outputs,
        json!({"myparameter": {"platformUpdateDomainCount": 5, "platformFaultDomainCount": 3}})
    );
}

#[test]
fn every_arm_file() {
    let files = files("arm-deployments");
    assert_eq!(files.len(), 2);
    for (name, path) in files {
        expect_arm(&name, arm_deployment(&std::fs::read(path).unwrap(), &ctx()));
    }
}

#[test]
fn truncated_files_fail_cleanly() {
    for (name, path) in files("terraform-state") {
        let body = std::fs::read(path).unwrap();
        // Every prefix of a JSON document is a syntax error, never a panic.
        let end = body.trim_ascii_end().len();
        for cut in (1..end).step_by(53) {
            let e = terraform_state(&body[..cut], &ctx()).unwrap_err();
            assert!(
                matches!(e, IngestError::Syntax { .. }),
                "{name} at {cut}: {e}"
            );
        }
    }
    for (name, path) in files("arm-deployments") {
        let body = std::fs::read(path).unwrap();
        for cut in (1..body.len()).step_by(101) {
            // Prefixes that end between interactions are shorter, valid sessions; none may panic.
            let _ = arm_deployment(&body[..cut], &ctx());
        }
        assert!(
            arm_deployment(&body[..body.len() / 2], &ctx()).is_err(),
            "{name}"
        );
    }
}

#[test]
fn a_repository_url_in_the_context_is_rejected() {
    let body = std::fs::read(corpus("terraform-state/inframap/azure.tfstate")).unwrap();
    let ctx = Context {
        repository: Some("https://github.com/contoso/infra".into()),
        ..Context::in_namespace("infra")
    };
    let e = terraform_state(&body, &ctx).unwrap_err().to_string();
    assert!(
        e.starts_with("context.repository: expected a Repository reference"),
        "{e}"
    );
    // Without a repository, spec.repository is left out.
    let o = terraform_state(&body, &Context::in_namespace("infra")).unwrap();
    assert!(upserts(&o)[0].object["spec"].get("repository").is_none());
}

#[test]
fn mutated_files_never_panic() {
    for (dir, parse) in [
        (
            "terraform-state",
            terraform_state as fn(&[u8], &Context) -> _,
        ),
        ("arm-deployments", arm_deployment),
    ] {
        for (_, path) in files(dir) {
            let body = std::fs::read(path).unwrap();
            for at in (0..body.len()).step_by(149) {
                for b in [b'"', b'{', b']', b'0', b'/', b' ', b'\n', 0xff] {
                    let mut m = body.clone();
                    m[at] = b;
                    let _ = parse(&m, &ctx());
                }
            }
        }
    }
}
