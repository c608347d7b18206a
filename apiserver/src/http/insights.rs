//! The leadership views on both faces: `/api/v1/insights/<view>` (portal) and
//! `/apis/portal.nexus.dev/v1alpha1/insights/<view>` (aggregated, `kubectl get --raw`). Both
//! authorise `get` on the portal resource `insights` named after the view, so a Role may grant
//! single views with `resourceNames`, and answer from the same queries.

use serde::Serialize;
use serde_json::Value;

use super::{ApiError, Caller, SharedState, params::Params};
use crate::query::insights::{
    self, DEFAULT_TREND_DAYS, DEFAULT_WEEKS, DoraScope, MAX_WEEKS, parse_count, parse_date,
    parse_scorecard, parse_window,
};

/// The portal resource the views are authorised as.
pub const RESOURCE: &str = "insights";

/// (view, response kind, accepted parameters)
pub const VIEWS: &[(&str, &str, &[&str])] = &[
    ("heatmap", "ScoreHeatmap", &[]),
    ("rankings", "TeamRankings", &["scorecard"]),
    ("distribution", "ScoreDistribution", &["scorecard", "team"]),
    ("trends", "ScoreTrend", &["scorecard", "team", "days"]),
    ("dora", "DoraMetrics", &["scope", "name", "window", "end"]),
    (
        "dora-trend",
        "DoraTrend",
        &["scope", "name", "weeks", "end"],
    ),
];

/// The view's response kind and accepted parameters; 404 naming the views for another name.
pub fn view(name: &str) -> Result<(&'static str, &'static [&'static str]), ApiError> {
    VIEWS
        .iter()
        .find(|(v, _, _)| *v == name)
        .map(|(_, kind, params)| (*kind, *params))
        .ok_or_else(|| {
            let names: Vec<&str> = VIEWS.iter().map(|(v, _, _)| *v).collect();
            ApiError::NotFound(format!(
                "insights/{name} does not exist; the views are {}",
                names.join(", ")
            ))
        })
}

fn body<T: Serialize>(answer: T) -> Result<Value, ApiError> {
    serde_json::to_value(answer)
        .map_err(|e| ApiError::Unavailable(format!("could not encode answer: {e}")))
}

/// Parses the parameters of a view (unknown ones are refused), before authorisation, so a
/// typo is a 400 whoever asks.
pub fn params(name: &str, raw: Option<&str>, extra: &[&str]) -> Result<Params, ApiError> {
    let (_, accepted) = view(name)?;
    let accepted: Vec<&str> = accepted.iter().chain(extra).copied().collect();
    Params::parse(raw, &accepted)
}

/// Answers one view for an authorised caller (each face adds the cache's freshness).
pub fn answer(
    state: &SharedState,
    caller: &Caller,
    name: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let cache = &state.cache;
    let visibility = &caller.visibility;
    let today = insights::today();
    match name {
        "heatmap" => body(insights::heatmap(cache, visibility)),
        "rankings" => {
            let scorecard = parse_scorecard(params.get("scorecard"))?;
            body(insights::rankings(cache, visibility, &scorecard)?)
        }
        "distribution" => {
            let scorecard = parse_scorecard(params.get("scorecard"))?;
            let answer = insights::distribution(cache, visibility, &scorecard, params.get("team"))?;
            body(answer)
        }
        "trends" => {
            let scorecard = parse_scorecard(params.get("scorecard"))?;
            let max = u32::try_from(cache.read_scorecards().retention_days()).unwrap_or(1);
            let days = parse_count(params.get("days"), "days", DEFAULT_TREND_DAYS as u32, max)?;
            let answer = insights::trends(
                cache,
                visibility,
                &scorecard,
                params.get("team"),
                i32::try_from(days).unwrap_or(DEFAULT_TREND_DAYS),
                today,
            )?;
            body(answer)
        }
        "dora" => {
            let scope = DoraScope::parse(params.get("scope"))?;
            let window = parse_window(params.get("window"))?;
            let end = parse_date(params.get("end"), "end", today)?;
            let answer = insights::dora(cache, visibility, scope, params.get("name"), window, end)?;
            body(answer)
        }
        "dora-trend" => {
            let scope = DoraScope::parse(params.get("scope"))?;
            let weeks = parse_count(params.get("weeks"), "weeks", DEFAULT_WEEKS, MAX_WEEKS)?;
            let end = parse_date(params.get("end"), "end", today)?;
            let answer =
                insights::dora_trend(cache, visibility, scope, params.get("name"), weeks, end)?;
            body(answer)
        }
        other => Err(view(other)
            .err()
            .unwrap_or_else(|| ApiError::NotFound(format!("insights/{other} does not exist")))),
    }
}
