//! The input model: deployments and incidents as the engine sees them, what counts, and the
//! normalisation both computations (batch and incremental) share, so that they agree.

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use nexus_api::dora::{
    MAX_DORA_DATES, MAX_DORA_DAY_ENTRIES, MAX_DORA_DEPLOYMENTS, MAX_DORA_INCIDENT_SERVICES,
    MAX_DORA_INCIDENTS, MAX_DORA_LEAD_TIMES_PER_DAY, MAX_DORA_RECOVERIES_PER_DAY,
};

/// Longest deployment id, person and root-cause reference kept (the status schema's bounds).
pub(crate) const MAX_ID: usize = 256;
/// Longest service and team (fully qualified entity references).
pub(crate) const MAX_REF: usize = 330;
/// Longest incident id.
pub(crate) const MAX_INCIDENT_ID: usize = 512;

/// A deployment of a service to an environment, in any state. Only successful production
/// deployments count; [`Config::classify`] says why another one does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// Provider-unique id (`github:<owner>/<repo>:<id>`, `ado:…`, `pipeline:…`). A service
    /// counts one id once.
    pub id: String,
    /// The service deployed: the Component's reference, `component:<namespace>/<name>`.
    pub service: String,
    /// Team credited with the deployment (the service's owner at the time).
    pub team: Option<String>,
    /// Who started it (login or unique name).
    pub person: Option<String>,
    /// Environment name as the provider spells it.
    pub environment: String,
    /// Provider status: `success`, `succeeded`, `failure`, `in_progress`, …
    pub status: String,
    /// When it finished (the time of its terminal status).
    pub finished_at: Timestamp,
    /// Commit times of the changes it shipped, one per commit (see `docs/dora.md`, lead time).
    pub commit_times: Vec<Timestamp>,
}

/// An incident, as created and as it changes (a later version of the same id replaces the
/// earlier one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    /// Services it affects, most relevant first. The first one is credited while no deployment
    /// is attributed.
    pub services: Vec<String>,
    /// Team credited while no deployment is attributed (the first service's owner).
    pub team: Option<String>,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Explicit root-cause reference: the id of the deployment that caused it.
    pub caused_by: Option<String>,
}

/// What the engine consumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Deployment(Deployment),
    Incident(Incident),
}

/// Which environment names are production.
///
/// Default: equal, ignoring case and surrounding blanks, to `production`, `prod`, `prd` or
/// `live`, or starting with `prod` (`prod-westeurope`, `Production (EU)`). Add the names of
/// Environments declared with tier `prod` with [`ProductionMatcher::with_name`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductionMatcher {
    names: Vec<String>,
    prefixes: Vec<String>,
}

impl Default for ProductionMatcher {
    fn default() -> Self {
        Self::new(["production", "prod", "prd", "live"], ["prod"])
    }
}

impl ProductionMatcher {
    /// Exact names and prefixes, both compared ignoring ASCII case.
    pub fn new<N, P>(names: N, prefixes: P) -> Self
    where
        N: IntoIterator,
        N::Item: AsRef<str>,
        P: IntoIterator,
        P::Item: AsRef<str>,
    {
        let lower = |s: &str| s.trim().to_ascii_lowercase();
        Self {
            names: names.into_iter().map(|n| lower(n.as_ref())).collect(),
            prefixes: prefixes
                .into_iter()
                .map(|p| lower(p.as_ref()))
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Also match this exact name.
    pub fn with_name(mut self, name: &str) -> Self {
        self.names.push(name.trim().to_ascii_lowercase());
        self
    }

    pub fn is_production(&self, environment: &str) -> bool {
        let env = environment.trim().to_ascii_lowercase();
        !env.is_empty()
            && (self.names.contains(&env) || self.prefixes.iter().any(|p| env.starts_with(p)))
    }
}

/// Whether a provider status means the deployment succeeded: `success` (GitHub
/// `deployment_status`, and what ingestion maps Azure DevOps `succeeded` and
/// `partiallySucceeded` to), `succeeded` (Azure DevOps, pipeline runs), `successful`,
/// `partiallysucceeded` and `ok`, ignoring case. `inactive` is not one: GitHub sets it on a
/// deployment a newer one replaced, which the engine has already counted if it succeeded.
pub fn is_success(status: &str) -> bool {
    matches!(
        status.trim().to_ascii_lowercase().as_str(),
        "success" | "succeeded" | "successful" | "partiallysucceeded" | "ok"
    )
}

/// Bounds of the stored state. The defaults are the status schema's bounds, which are also the
/// maxima ([`Limits::clamped`]); tests use smaller ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct dates kept per service.
    pub dates: usize,
    /// Day entries (date × team × person) kept per service.
    pub day_entries: usize,
    pub lead_times_per_day: usize,
    pub recoveries_per_day: usize,
    /// Deployments in a service's ledger.
    pub deployments: usize,
    /// Incidents in a service's ledger.
    pub incidents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            dates: MAX_DORA_DATES,
            day_entries: MAX_DORA_DAY_ENTRIES,
            lead_times_per_day: MAX_DORA_LEAD_TIMES_PER_DAY,
            recoveries_per_day: MAX_DORA_RECOVERIES_PER_DAY,
            deployments: MAX_DORA_DEPLOYMENTS,
            incidents: MAX_DORA_INCIDENTS,
        }
    }
}

impl Limits {
    /// Within 1 and the schema's bounds, so an exported status always validates.
    pub fn clamped(self) -> Self {
        let max = Self::default();
        let c = |v: usize, m: usize| v.clamp(1, m);
        Self {
            dates: c(self.dates, max.dates),
            day_entries: c(self.day_entries, max.day_entries),
            lead_times_per_day: c(self.lead_times_per_day, max.lead_times_per_day),
            recoveries_per_day: c(self.recoveries_per_day, max.recoveries_per_day),
            deployments: c(self.deployments, max.deployments),
            incidents: c(self.incidents, max.incidents),
        }
    }
}

/// Engine configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub production: ProductionMatcher,
    pub limits: Limits,
}

/// Why an event changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// A deployment to an environment the matcher does not call production.
    NotProduction,
    /// A deployment that did not (or not yet) succeed.
    NotSuccessful,
    /// An event without an id, or a deployment without a service.
    MissingId,
    /// An incident that names no service.
    NoService,
    /// At or before the service's horizon: the ledger can no longer de-duplicate or attribute it.
    TooLate,
}

impl Config {
    pub fn new(production: ProductionMatcher) -> Self {
        Self {
            production,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits.clamped();
        self
    }

    /// Whether a deployment counts: `Ok` for a successful production deployment.
    pub fn classify(&self, d: &Deployment) -> Result<(), Skip> {
        if d.id.trim().is_empty() || d.service.trim().is_empty() {
            Err(Skip::MissingId)
        } else if !self.production.is_production(&d.environment) {
            Err(Skip::NotProduction)
        } else if !is_success(&d.status) {
            Err(Skip::NotSuccessful)
        } else {
            Ok(())
        }
    }

    /// The counted form of a deployment, or why it does not count.
    pub(crate) fn deployment(&self, d: &Deployment) -> Result<Deploy, Skip> {
        self.classify(d)?;
        let finished = whole_seconds(d.finished_at);
        // Four Keys: one lead time per commit; a commit at or after the deployment finished
        // (clock skew, amended history) says nothing about lead time and is left out.
        let lead_times = d
            .commit_times
            .iter()
            .map(|c| finished.as_second() - whole_seconds(*c).as_second())
            .filter(|s| *s > 0)
            .map(saturate)
            .collect();
        Ok(Deploy {
            id: clip(&d.id, MAX_ID),
            service: clip(&d.service, MAX_REF),
            team: d.team.as_deref().map(|t| clip(t, MAX_REF)),
            person: d.person.as_deref().map(|p| clip(p, MAX_ID)),
            finished,
            lead_times,
        })
    }

    /// The counted form of an incident, or why it does not count.
    pub(crate) fn incident(&self, i: &Incident) -> Result<Inc, Skip> {
        if i.id.trim().is_empty() {
            return Err(Skip::MissingId);
        }
        let mut services: Vec<String> = Vec::new();
        for s in i
            .services
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            let s = clip(s, MAX_REF);
            if !services.contains(&s) {
                services.push(s);
            }
        }
        // The ledger entry keeps this many; both computations use the same list.
        services.truncate(MAX_DORA_INCIDENT_SERVICES);
        if services.is_empty() {
            return Err(Skip::NoService);
        }
        let created = whole_seconds(i.created_at);
        let resolved = i.resolved_at.map(whole_seconds);
        Ok(Inc {
            id: clip(&i.id, MAX_INCIDENT_ID),
            services,
            team: i.team.as_deref().map(|t| clip(t, MAX_REF)),
            created,
            resolved,
            caused_by: i
                .caused_by
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| clip(c, MAX_ID)),
        })
    }
}

/// A counted deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Deploy {
    pub id: String,
    pub service: String,
    pub team: Option<String>,
    pub person: Option<String>,
    pub finished: Timestamp,
    pub lead_times: Vec<u32>,
}

/// A counted incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Inc {
    pub id: String,
    pub services: Vec<String>,
    pub team: Option<String>,
    pub created: Timestamp,
    pub resolved: Option<Timestamp>,
    pub caused_by: Option<String>,
}

impl Inc {
    /// Seconds from creation to resolution; none while open (or when the data is inverted).
    pub fn recovery(&self) -> Option<u32> {
        let r = self.resolved?;
        let s = r.as_second() - self.created.as_second();
        (s >= 0).then(|| saturate(s))
    }
}

/// The team and person a deployment or incident is credited to, within a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Cell {
    pub team: Option<String>,
    pub person: Option<String>,
}

/// The UTC date of an instant.
pub fn utc_date(t: Timestamp) -> Date {
    t.to_zoned(TimeZone::UTC).date()
}

/// Status timestamps have whole seconds; so does everything the engine compares, so a state
/// restored from status behaves like the one that wrote it.
pub(crate) fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

fn saturate(s: i64) -> u32 {
    u32::try_from(s).unwrap_or(u32::MAX)
}

/// At most `max` bytes, cut on a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matcher() {
        let m = ProductionMatcher::default();
        for yes in [
            "production",
            "Prod",
            " PRD ",
            "live",
            "prod-westeurope",
            "Production (EU)",
        ] {
            assert!(m.is_production(yes), "{yes}");
        }
        for no in [
            "", "staging", "pre-prod", "preprod", "dev", "liveish", "qa-prod",
        ] {
            assert!(!m.is_production(no), "{no}");
        }
        assert!(m.with_name("Release").is_production("release"));
    }

    #[test]
    fn success_statuses() {
        for yes in [
            "success",
            "Succeeded",
            "successful",
            "partiallySucceeded",
            "OK",
        ] {
            assert!(is_success(yes), "{yes}");
        }
        for no in [
            "failure",
            "error",
            "inactive",
            "in_progress",
            "canceled",
            "pending",
            "",
        ] {
            assert!(!is_success(no), "{no}");
        }
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("ééé", 3), "é");
        assert_eq!(clip(" abc ", 10), "abc");
    }

    #[test]
    fn limits_are_clamped_to_the_schema() {
        let l = Limits {
            dates: 0,
            day_entries: 10_000,
            ..Limits::default()
        }
        .clamped();
        assert_eq!(l.dates, 1);
        assert_eq!(l.day_entries, MAX_DORA_DAY_ENTRIES);
    }
}
