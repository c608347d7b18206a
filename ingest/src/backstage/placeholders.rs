//! Backstage substitutions: `{$text: path}` (the file's text), `{$json: path}` and
//! `{$yaml: path}` (the file parsed), resolved relative to the file holding the entity.

use serde_json::Value;

use super::{
    fetch::{Fetch, is_remote},
    yaml,
};
use crate::IngestError;

/// `(kind, target)` when `v` is a placeholder object.
fn placeholder(v: &Value) -> Option<(&str, &str)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (k, t) = m.iter().next()?;
    matches!(k.as_str(), "$text" | "$json" | "$yaml")
        .then_some(())
        .and(t.as_str())
        .map(|t| (k.as_str(), t))
}

/// A text field that may be a placeholder (an API definition).
#[derive(Debug, PartialEq)]
pub(super) enum Text {
    /// The text itself (written inline, read through the placeholder, or a structured value
    /// serialised as YAML).
    Inline(String),
    /// A placeholder pointing at a URL, not read offline.
    Remote(String),
    /// A placeholder that could not be read.
    Failed(String),
}

/// Reads a text field. `$json`/`$yaml` must parse, but the file's own text is used: it is the
/// serialised form the field needs, with comments and key order intact.
pub(super) fn text(v: Value, base: &str, fetch: &dyn Fetch) -> Option<Text> {
    if let Some((kind, target)) = placeholder(&v) {
        if is_remote(target) {
            return Some(Text::Remote(target.to_string()));
        }
        return Some(match read(kind, target, base, fetch) {
            Ok((text, _)) => Text::Inline(text),
            Err(e) => Text::Failed(format!("{kind} {target}: {e}")),
        });
    }
    match v {
        Value::Null => None,
        Value::String(s) => Some(Text::Inline(s)),
        Value::Bool(_) | Value::Number(_) => Some(Text::Inline(v.to_string())),
        structured => Some(match serde_yaml::to_string(&structured) {
            Ok(s) => Text::Inline(s),
            Err(e) => Text::Failed(e.to_string()),
        }),
    }
}

/// Substitutes every placeholder in `v`; ones that cannot be read stay as written and a
/// warning says why.
pub(super) fn resolve_all(
    v: &mut Value,
    base: &str,
    fetch: &dyn Fetch,
    path: &str,
    warnings: &mut Vec<String>,
) {
    if let Some((kind, target)) = placeholder(v) {
        match read(kind, target, base, fetch) {
            Ok((_, value)) => *v = value,
            Err(e) => warnings.push(format!("{path}: {kind} {target} kept as written: {e}")),
        }
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                resolve_all(child, base, fetch, &format!("{path}.{k}"), warnings);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                resolve_all(child, base, fetch, &format!("{path}[{i}]"), warnings);
            }
        }
        _ => {}
    }
}

/// The text and the value a placeholder stands for.
fn read(
    kind: &str,
    target: &str,
    base: &str,
    fetch: &dyn Fetch,
) -> Result<(String, Value), IngestError> {
    let (location, text) = fetch.read(base, target)?;
    let value = match kind {
        "$json" => serde_json::from_str(&text).map_err(|e| IngestError::Syntax {
            format: "JSON",
            message: format!("{location}: {e}"),
        })?,
        "$yaml" => yaml::parse_value(&text, &location)?,
        _ => Value::String(text.clone()),
    };
    Ok((text, value))
}
