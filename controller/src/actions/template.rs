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

/// Renders every string inside a JSON value (objects and arrays recursively).
pub fn render_json(value: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    Ok(match value {
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
        let body = render_json(&json!({"targetSlot": "{{ run.name }}", "n": 1}), &ctx).unwrap();
        assert_eq!(body, json!({"targetSlot": "r1", "n": 1}));
    }
}
