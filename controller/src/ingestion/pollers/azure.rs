//! Azure Resource Graph poller: `POST {armUrl}/providers/Microsoft.ResourceGraph/resources`
//! with an Entra token for ARM, following `$skipToken` pages and applying each page.
//!
//! Disappearances: the ids of a full sync are kept **in memory only**, and a resource is
//! reported gone (`delete: spec.deleteMissing`) when the previous full sync of this process
//! saw it and the current one does not. So Gone needs two consecutive complete syncs in the same
//! process: nothing is deleted on the word of a single poll after a restart, and no unbounded id
//! set is written to status. A truncated result (`resultTruncated`) or a failed page is not a
//! complete sync and reports nothing gone. Cursor: `resourceGraphSyncedAt`.

use std::collections::{BTreeMap, HashSet};

use nexus_api::integrations::AzureSubscriptionSourceSpec;
use nexus_ingest::{Change, Gone, Source, Target};

use super::{
    Env, PollError, SyncReport,
    entra::{ARM_SCOPE, EntraToken},
    http::{Auth, HttpClient, HttpError, Req},
};
use crate::ingestion::registry::{IntegrationKey, azure_context};

pub const API_VERSION: &str = "2022-10-01";
const PAGE_SIZE: u32 = 1000;
const MAX_PAGES: usize = 1000;

pub struct AzurePoller {
    key: IntegrationKey,
    spec: AzureSubscriptionSourceSpec,
    env: Env,
    http: HttpClient,
    entra: EntraToken,
    /// Lower-cased ids of the last complete sync in this process.
    last_ids: Option<HashSet<String>>,
}

impl AzurePoller {
    pub fn new(
        key: IntegrationKey,
        spec: AzureSubscriptionSourceSpec,
        env: Env,
        _cursors: &BTreeMap<String, String>,
    ) -> Result<Self, PollError> {
        let http = env.client(&key, "azure")?;
        Ok(AzurePoller {
            entra: EntraToken::new(&spec.auth, ARM_SCOPE),
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
            let changes = page.outcome.changes();
            for c in changes {
                if let Change::Upsert(u) = c
                    && let Some(id) = u
                        .object
                        .pointer("/spec/resourceId")
                        .and_then(|v| v.as_str())
                {
                    seen.insert(id.to_ascii_lowercase());
                }
            }
            if !changes.is_empty() {
                report.batches += 1;
                report.changes += changes.len();
                self.env
                    .apply(&self.key, "Resource Graph page", changes)
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
        if let Some(last) = &self.last_ids {
            let mut gone: Vec<&String> = last.difference(&seen).collect();
            gone.sort();
            let changes: Vec<Change> = gone
                .into_iter()
                .map(|id| {
                    Change::Gone(Gone {
                        source: Source::Azure,
                        target: Target::AzureResourceId { id: id.clone() },
                        reason: "no longer reported by Azure Resource Graph".into(),
                        delete: self.spec.delete_missing,
                    })
                })
                .collect();
            if !changes.is_empty() {
                report.batches += 1;
                report.changes += changes.len();
                self.env
                    .apply(&self.key, "resources no longer reported", &changes)
                    .await?;
            }
        }
        self.last_ids = Some(seen);
        self.env.status.cursor(
            &self.key,
            "resourceGraphSyncedAt",
            super::github::rfc3339_now(),
        );
        Ok(())
    }
}
