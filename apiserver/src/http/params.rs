//! Query-string parsing shared by both faces: repeated keys join with commas, unknown keys are
//! an error that lists the accepted ones (a typo must not silently widen a search).

use std::collections::BTreeMap;

use super::ApiError;
use crate::query::search::{Search, SearchParams, split_list};

pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(raw: Option<&str>, accepted: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|e| ApiError::BadRequest(format!("query string does not parse: {e}")))?;
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in pairs {
            if !accepted.contains(&key.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{key}`; accepted: {}",
                    accepted.join(", ")
                )));
            }
            map.entry(key)
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        Ok(Params(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Adds a value (joined with a comma to an existing one).
    pub fn append(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }

    /// The search these parameters describe (the keys of [`SearchParams::KEYS`] it holds).
    pub fn search(&self) -> Result<Search, ApiError> {
        let mut raw = SearchParams::default();
        for (key, value) in &self.0 {
            raw.set(key, value.as_str());
        }
        Ok(raw.validate()?)
    }

    /// A comma-separated parameter as a list.
    pub fn list(&self, key: &str) -> Vec<String> {
        split_list(self.get(key))
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_join_and_unknown_keys_fail() {
        let p = Params::parse(
            Some("kind=component&kind=api&q=pay%20ments"),
            &["kind", "q"],
        )
        .unwrap();
        assert_eq!(p.get("kind"), Some("component,api"));
        assert_eq!(p.get("q"), Some("pay ments"));
        let err = Params::parse(Some("knid=component"), &["kind", "q"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("unknown query parameter `knid`"));
    }
}
