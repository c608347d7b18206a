//! Templates in Action manifests: `{{ inputs.replicas }}`, `{{ target.spec.resourceId }}`,
//! `{{ run.name }}`, `{{ outputs.previousReplicas }}` (rollback). Rendered with minijinja in
//! strict mode: a missing value is an error naming it, never an empty string.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("template {template:?}: {message}")]
pub struct TemplateError {
    pub template: String,
    pub message: String,
}

/// The values a template sees.
pub fn context(inputs: &Value, target: &Value, run: &Value, outputs: &Value) -> Value {
    serde_json::json!({"inputs": inputs, "target": target, "run": run, "outputs": outputs})
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Renders one string.
pub fn render(template: &str, ctx: &Value) -> Result<String, TemplateError> {
    if !template.contains("{{") && !template.contains("{%") {
        return Ok(template.to_string());
    }
    env()
        .render_str(
            template,
            minijinja::Value::from(minijinja::value::Serde(ctx)),
        )
        .map_err(|e| TemplateError {
            template: template.to_string(),
            message: e.to_string(),
        })
}

/// Renders every string inside a JSON value (objects and arrays recursively). A string that is
/// exactly one expression (`"{{ inputs.capacity }}"`) keeps the value's JSON type, so a number
/// input becomes a number in an ARM body, a string stays a string.
pub fn render_json(value: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) if single_expression(s).is_some() => {
            let expr = single_expression(s).unwrap_or_default();
            let env = env();
            let compiled = env.compile_expression(expr).map_err(|e| TemplateError {
                template: s.clone(),
                message: e.to_string(),
            })?;
            let v = compiled
                .eval(minijinja::Value::from(minijinja::value::Serde(ctx)))
                .map_err(|e| TemplateError {
                    template: s.clone(),
                    message: e.to_string(),
                })?;
            if v.is_undefined() {
                return Err(TemplateError {
                    template: s.clone(),
                    message: format!("{expr} is undefined"),
                });
            }
            serde_json::to_value(&v).map_err(|e| TemplateError {
                template: s.clone(),
                message: e.to_string(),
            })?
        }
        Value::String(s) => Value::String(render(s, ctx)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| render_json(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, ctx)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// The expression of a string that is nothing but `{{ expr }}`.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_and_refuses_missing_values() {
        let ctx = context(
            &json!({"replicas": 3}),
            &json!({"name": "checkout", "spec": {"resourceId": "/subscriptions/x"}}),
            &json!({"name": "r1"}),
            &json!({}),
        );
        assert_eq!(render("{{ inputs.replicas }}", &ctx).unwrap(), "3");
        assert_eq!(
            render("{{ target.spec.resourceId }}/slotsswap", &ctx).unwrap(),
            "/subscriptions/x/slotsswap"
        );
        assert_eq!(render("plain", &ctx).unwrap(), "plain");
        let e = render("{{ inputs.nope }}", &ctx).unwrap_err();
        assert!(e.to_string().contains("inputs.nope"), "{e}");
        let body = render_json(
            &json!({"targetSlot": "{{ run.name }}", "n": 1, "capacity": "{{ inputs.replicas }}", "label": "x-{{ inputs.replicas }}"}),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"targetSlot": "r1", "n": 1, "capacity": 3, "label": "x-3"})
        );
        assert!(render_json(&json!("{{ inputs.nope }}"), &ctx).is_err());
    }
}
