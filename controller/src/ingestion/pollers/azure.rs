//! Azure Resource Graph poller: `POST {armUrl}/providers/Microsoft.ResourceGraph/resources`
//! with an Entra token for ARM, following `$skipToken` pages and applying each page.
//!
//! Every AzureResource this poller writes carries the annotation
//! `nexus.dev/azure-subscription-source: <namespace>/<name>` of its source.
//!
//! Disappearances: a resource is reported gone (`delete: spec.deleteMissing`) when the previous
//! complete sync had it and the current one does not. "Previous" is the ids of the last complete
//! sync of this poller, kept in memory; on the first complete sync after the poller starts
//! (controller start, leadership change, spec change) it is the catalog instead: the
//! AzureResources labelled `managed-by: nexus-azure` and annotated with this source, so a
//! resource deleted while no poller ran is still reported. No unbounded id set is written to
//! status. Resources declared elsewhere (GitOps, Terraform) that this source only reported on are
//! in the in-memory set only, so across a restart they are noticed from the second sync on.
//! A truncated result (`resultTruncated`) or a failed page is not a complete sync and reports
//! nothing gone.
//!
//! Cursor `resourceGraphSyncedAt`: the time of the last complete sync, read back on start and
//! named in the reason of what is reported gone, so `status.sourceGone` tells how long the
//! resource may have been gone before Nexus noticed (across a restart, that can be long).

use std::collections::{BTreeMap, HashSet};

use nexus_api::integrations::AzureSubscriptionSourceSpec;
use nexus_ingest::{Change, Gone, Source, Target, change::AZURE_SOURCE};
use serde_json::Value;

use super::{
    Env, PollError, SyncReport,
    entra::{ARM_SCOPE, EntraToken},
    http::{Auth, HttpClient, HttpError, Req},
};
use crate::ingestion::registry::{IntegrationKey, azure_context};

pub const API_VERSION: &str = "2022-10-01";
const PAGE_SIZE: u32 = 1000;
const MAX_PAGES: usize = 1000;
pub const SYNCED_AT: &str = "resourceGraphSyncedAt";

pub struct AzurePoller {
    key: IntegrationKey,
    spec: AzureSubscriptionSourceSpec,
    env: Env,
    http: HttpClient,
    entra: EntraToken,
    /// `<namespace>/<name>` of the source: the value of the [`AZURE_SOURCE`] annotation.
    source: String,
    /// Lower-cased ids of the last complete sync of this poller; None until it has made one.
    last_ids: Option<HashSet<String>>,
    /// When the last complete sync finished (the [`SYNCED_AT`] cursor), if ever.
    synced_at: Option<String>,
}

impl AzurePoller {
    pub fn new(
        key: IntegrationKey,
        spec: AzureSubscriptionSourceSpec,
        env: Env,
        cursors: &BTreeMap<String, String>,
    ) -> Result<Self, PollError> {
        let http = env.client(&key, "azure")?;
        Ok(AzurePoller {
            entra: EntraToken::new(&spec.auth, ARM_SCOPE),
            source: format!("{}/{}", key.namespace, key.name),
            synced_at: cursors.get(SYNCED_AT).cloned(),
            key,
            spec,
            env,
            http,
            last_ids: None,
        })
    }

    /// The Entra token source (tests point its federated token file elsewhere).
    pub fn entra_mut(&mut self) -> &mut EntraToken {
        &mut self.entra
    }

    pub async fn sync(&mut self) -> Result<SyncReport, PollError> {
        let mut report = SyncReport::default();
        match self.sync_inner(&mut report).await {
            Ok(()) => {
                self.env.status.synced(&self.key);
                Ok(report)
            }
            Err(e) => {
                if let PollError::Http(HttpError::Unauthorized { .. }) = e {
                    self.entra.invalidate();
                }
                self.env.status.error(&self.key, e.to_string());
                Err(e)
            }
        }
    }

    async fn sync_inner(&mut self, report: &mut SyncReport) -> Result<(), PollError> {
        let token = self.entra.token(&self.http, &self.env, &self.key).await?;
        let auth = Auth::Bearer(token);
        let url = format!(
            "{}/providers/Microsoft.ResourceGraph/resources?api-version={API_VERSION}",
            self.spec.arm_url.trim_end_matches('/')
        );
        let ctx = {
            let i =
                nexus_api::integrations::AzureSubscriptionSource::new("poller", self.spec.clone());
            azure_context(&i)
        };
        let mut skip: Option<String> = None;
        let mut seen = HashSet::new();
        let mut complete = true;
        for _ in 0..MAX_PAGES {
            let body = nexus_ingest::azure::resource_graph_request(
                &self.spec.subscriptions,
                &self.spec.management_groups,
                self.spec.filter.as_deref(),
                skip.as_deref(),
                PAGE_SIZE,
            );
            let resp = self.http.send(&Req::post_json(&url, &auth, &body)).await?;
            let page = nexus_ingest::azure::resource_graph_page(&resp.body, &ctx)
                .map_err(|e| HttpError::parse(&resp.call, e))?;
            complete &= !page.truncated;
            let mut changes = page.outcome.changes().to_vec();
            for c in &mut changes {
                if let Change::Upsert(u) = c
                    && let Some(id) = u.object.pointer("/spec/resourceId").and_then(Value::as_str)
                {
                    seen.insert(id.to_ascii_lowercase());
                    mark_source(&mut u.object, &self.source);
                }
            }
            if !changes.is_empty() {
                report.batches += 1;
                report.changes += changes.len();
                self.env
                    .apply(&self.key, "Resource Graph page", &changes)
                    .await?;
            }
            skip = page.skip_token;
            if skip.is_none() {
                break;
            }
        }
        if skip.is_some() {
            complete = false;
        }
        if !complete {
            tracing::warn!(integration = %self.key, "Resource Graph result incomplete: nothing reported gone");
            return Ok(());
        }
        let previous: HashSet<String> = match self.last_ids.take() {
            Some(ids) => ids,
            // The first complete sync of this poller: what the catalog holds from this source
            // stands in for the result before the start.
            None => self
                .env
                .sink
                .azure_resources_of(&self.source)
                .into_iter()
                .map(|id| id.to_ascii_lowercase())
                .collect(),
        };
        let reason = match &self.synced_at {
            Some(at) => {
                format!("no longer reported by Azure Resource Graph (previous complete sync: {at})")
            }
            None => "no longer reported by Azure Resource Graph".to_string(),
        };
        let mut gone: Vec<&String> = previous.difference(&seen).collect();
        gone.sort();
        let changes: Vec<Change> = gone
            .into_iter()
            .map(|id| {
                Change::Gone(Gone {
                    source: Source::Azure,
                    target: Target::AzureResourceId { id: id.clone() },
                    reason: reason.clone(),
                    delete: self.spec.delete_missing,
                })
            })
            .collect();
        if !changes.is_empty() {
            report.batches += 1;
            report.changes += changes.len();
            // On failure `last_ids` stays None: the next sync compares with the catalog again.
            self.env
                .apply(&self.key, "resources no longer reported", &changes)
                .await?;
        }
        self.last_ids = Some(seen);
        let now = super::github::rfc3339_now();
        self.env.status.cursor(&self.key, SYNCED_AT, now.clone());
        self.synced_at = Some(now);
        Ok(())
    }
}

/// Sets the [`AZURE_SOURCE`] annotation on an upserted object.
fn mark_source(object: &mut Value, source: &str) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(AZURE_SOURCE.into(), Value::String(source.into()));
    }
}
