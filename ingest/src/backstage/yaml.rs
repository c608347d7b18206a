//! Multi-document YAML → JSON values, with errors that name the file and line.

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

use crate::IngestError;

/// One YAML document of a file (1-based index, for messages).
#[derive(Debug)]
pub(super) struct Document {
    pub index: usize,
    pub value: Value,
}

/// Every document of `content`; the first syntax error fails the whole file (a half-read
/// catalog file would silently drop entities).
pub(super) fn documents(content: &str, location: &str) -> Result<Vec<Document>, IngestError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(content).enumerate() {
        let mut y = Yaml::deserialize(de).map_err(|e| syntax_error(location, &e))?;
        // `<<` merge keys are part of YAML 1.1 and used in catalog files; a bad merge is kept
        // as a plain key.
        let _ = y.apply_merge();
        out.push(Document {
            index: i + 1,
            value: to_json(y),
        });
    }
    Ok(out)
}

/// Parses a whole `$json`/`$yaml` placeholder file into one value.
pub(super) fn parse_value(content: &str, location: &str) -> Result<Value, IngestError> {
    let docs = documents(content, location)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs
            .into_iter()
            .next()
            .map(|d| d.value)
            .unwrap_or(Value::Null)),
        n => Err(IngestError::invalid(
            location,
            format!("expected one YAML document, found {n}"),
        )),
    }
}

fn syntax_error(location: &str, e: &serde_yaml::Error) -> IngestError {
    let message = match e.location() {
        Some(l) => format!("{location}: line {} column {}: {e}", l.line(), l.column()),
        None => format!("{location}: {e}"),
    };
    IngestError::Syntax {
        format: "YAML",
        message,
    }
}

/// YAML allows non-string keys (`200:` in OpenAPI responses); JSON does not, so they become
/// their text. Tags are dropped, non-finite floats become null.
fn to_json(y: Yaml) -> Value {
    match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key_text(k), to_json(v));
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => to_json(t.value),
    }
}

fn key_text(k: Yaml) -> String {
    match k {
        Yaml::String(s) => s,
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".into(),
        other => serde_yaml::to_string(&other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_numeric_keys() {
        let docs = documents("a: 1\n---\nresponses:\n  200: ok\n---\n", "f.yaml").unwrap();
        assert_eq!(docs[0].value["a"], 1);
        assert_eq!(docs[1].index, 2);
        assert_eq!(docs[1].value["responses"]["200"], "ok");
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = documents("a: 1\n---\nb: [1,\nc: {\n", "cat.yaml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("cat.yaml: line "), "{s}");
    }
}
