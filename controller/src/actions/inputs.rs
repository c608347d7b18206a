//! Run inputs: defaults from the Action's JSON Schema applied, then validated against it.

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    #[error("the Action's inputs schema does not compile: {0}")]
    Schema(String),
    #[error("inputs must be an object")]
    NotObject,
    #[error("invalid inputs: {0}")]
    Invalid(String),
}

/// Checks that a schema compiles (Actions report this on their status).
pub fn check_schema(schema: &Value) -> Result<(), InputError> {
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| InputError::Schema(e.to_string()))
}

/// Applies top-level (and nested object) `default`s, then validates. Every violation is
/// listed with its location, e.g. `/replicas: 500 is greater than the maximum of 50`.
pub fn resolve(schema: Option<&Value>, inputs: &Value) -> Result<Value, InputError> {
    let mut inputs = match inputs {
        Value::Null => Value::Object(Map::new()),
        Value::Object(_) => inputs.clone(),
        _ => return Err(InputError::NotObject),
    };
    let Some(schema) = schema else {
        return Ok(inputs);
    };
    apply_defaults(schema, &mut inputs);
    let validator =
        jsonschema::validator_for(schema).map_err(|e| InputError::Schema(e.to_string()))?;
    let errors: Vec<String> = validator
        .iter_errors(&inputs)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(InputError::Invalid(errors.join("; ")))
    }
}

fn apply_defaults(schema: &Value, value: &mut Value) {
    let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) else {
        return;
    };
    for (name, prop) in props {
        if !obj.contains_key(name)
            && let Some(d) = prop.get("default")
        {
            obj.insert(name.clone(), d.clone());
        }
        if let Some(child) = obj.get_mut(name) {
            apply_defaults(prop, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["replicas"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 0, "maximum": 50},
                "reason": {"type": "string", "default": "self-service"},
            },
            "additionalProperties": false,
        })
    }

    #[test]
    fn defaults_then_validation_with_locations() {
        let ok = resolve(Some(&schema()), &json!({"replicas": 3})).unwrap();
        assert_eq!(ok, json!({"replicas": 3, "reason": "self-service"}));
        let err = resolve(Some(&schema()), &json!({"replicas": 500})).unwrap_err();
        assert!(err.to_string().contains("/replicas"), "{err}");
        let err = resolve(Some(&schema()), &json!({})).unwrap_err();
        assert!(err.to_string().contains("replicas"), "{err}");
        let err = resolve(Some(&schema()), &json!({"replicas": 1, "x": 1})).unwrap_err();
        assert!(err.to_string().contains("x"), "{err}");
        assert_eq!(resolve(None, &Value::Null).unwrap(), json!({}));
        assert_eq!(resolve(None, &json!([1])), Err(InputError::NotObject));
        assert!(check_schema(&json!({"type": "nope"})).is_err());
    }
}
