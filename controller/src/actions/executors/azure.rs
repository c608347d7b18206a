//! The `azure` executor: Azure Resource Manager requests and Key Vault secret rotation, with the
//! identity of a named AzureSubscriptionSource (Entra token against its `spec.auth`, ARM base
//! URL `spec.armUrl`).
//!
//! - `request`: `{armUrl}{path}?api-version=…`. 200/201/204 finish the run (outputs picked by
//!   JSON pointers); `Azure-AsyncOperation` (or 202 + `Location`), or a PUT/PATCH answered with a
//!   non-terminal `provisioningState`, is a long-running operation: the run records the URL to
//!   follow as its reference and polls it until `Succeeded`, `Failed` or `Canceled`. A 4xx fails
//!   the run with ARM's error code and message. Operation URLs are followed only on the ARM
//!   host (the token is never sent elsewhere).
//! - Repeats: PUT, PATCH, DELETE and GET are the same request again, so a restart before the
//!   reference was recorded simply sends it again; a POST (e.g. a slot swap) is never sent twice:
//!   without a recorded reference its outcome is unknown and the run fails saying so.
//! - `rotateSecret`: a random value (`ring`'s system RNG, letters, digits and symbols) is set as
//!   a new version of the secret (`PUT {vault}/secrets/{name}?api-version=7.4`), tagged with the
//!   run's uid and attempt; after a restart the tagged version is looked up instead of rotating
//!   again. Outputs are the version id and secret id — never the value, which appears in no log,
//!   status, error or event.

use std::collections::BTreeMap;

use http::Method;
use nexus_api::actions::{
    Execution,
    executor::{ArmRequest, AzureExecutor, HttpMethod, KeyVaultRotation},
};
use serde_json::{Value, json};

use super::{
    ExecError, Progress,
    providers::{
        Answer, External, MAX_EXCERPT, ambiguous, base_url, bounded, call, encode, json_req,
        output_value,
    },
};
use crate::ingestion::{
    pollers::{
        entra::ARM_SCOPE,
        http::{Auth, HttpClient, with_query},
    },
    registry::IntegrationKey,
};

/// Key Vault's resource (public cloud; sovereign vault hosts give their own).
pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";
pub const VAULT_API_VERSION: &str = "7.4";
/// Tag on the secret version a rotation created: `<run uid>/a<attempt>`.
pub const ROTATION_TAG: &str = "nexus-action-run";
/// Characters of generated values: letters, digits and symbols that need no quoting in
/// connection strings, URLs or shells.
pub const CHARSET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%*+-.:=?@^_~";
const DEFAULT_LENGTH: usize = 32;
/// Pages of secret versions read when looking for the tagged one.
const MAX_VERSION_PAGES: usize = 40;

pub async fn start(
    x: &External<'_>,
    a: &AzureExecutor,
    _execution: &Execution,
) -> Result<Progress, ExecError> {
    if let Some(r) = &a.request {
        return request(x, a, r).await;
    }
    if let Some(k) = &a.rotate_secret {
        return rotate(x, a, k, false).await;
    }
    Err(invalid())
}

pub async fn poll(
    x: &External<'_>,
    a: &AzureExecutor,
    execution: &Execution,
) -> Result<Progress, ExecError> {
    if let Some(r) = &a.request {
        return match &execution.reference {
            Some(url) => follow(x, a, r, url).await,
            None if r.method == HttpMethod::POST => Ok(Progress::Failed {
                message: "outcome unknown: the controller restarted while sending the ARM POST \
                          request; check the resource in Azure and raise spec.attempt to retry"
                    .into(),
                log: Vec::new(),
            }),
            // The same PUT/PATCH/DELETE/GET again is the same request.
            None => request(x, a, r).await,
        };
    }
    if let Some(k) = &a.rotate_secret {
        return rotate(x, a, k, true).await;
    }
    Err(invalid())
}

fn invalid() -> ExecError {
    ExecError::Invalid("spec.executor.azure: set exactly one of request and rotateSecret".into())
}

struct Arm {
    key: IntegrationKey,
    http: HttpClient,
    auth: Auth,
    base: String,
}

/// Credentials and base URL of the named AzureSubscriptionSource, with a token for `scope`.
async fn connect(
    x: &External<'_>,
    a: &AzureExecutor,
    scope: &str,
    retries: bool,
) -> Result<Arm, ExecError> {
    let (key, src) = x.providers.azure_source(&a.credentials)?;
    let token_http = x.providers.client(&key, "azure-actions", true)?;
    let auth = x
        .providers
        .entra_token(&key, &src.spec.auth, scope, &token_http)
        .await?;
    let http = x.providers.client(&key, "azure-actions", retries)?;
    let base = base_url(&format!("{key}: spec.armUrl"), &src.spec.arm_url)?;
    Ok(Arm {
        key,
        http,
        auth,
        base,
    })
}

fn method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::GET => Method::GET,
        HttpMethod::PUT => Method::PUT,
        HttpMethod::POST => Method::POST,
        HttpMethod::PATCH => Method::PATCH,
        HttpMethod::DELETE => Method::DELETE,
    }
}

fn resource_url(x: &External<'_>, base: &str, r: &ArmRequest) -> Result<String, ExecError> {
    let path = x.render(&r.path)?;
    let path = path.trim();
    if !path.starts_with('/') || path.contains("://") || path.contains(char::is_whitespace) {
        return Err(ExecError::Invalid(format!(
            "spec.executor.azure.request.path {path:?} must be an ARM path starting with /"
        )));
    }
    Ok(with_query(
        &format!("{base}{path}"),
        "api-version",
        &r.api_version,
    ))
}

async fn request(
    x: &External<'_>,
    a: &AzureExecutor,
    r: &ArmRequest,
) -> Result<Progress, ExecError> {
    // A POST is sent once: no retry of a request that may have been carried out.
    let repeatable = r.method != HttpMethod::POST;
    let arm = connect(x, a, ARM_SCOPE, repeatable).await?;
    let url = resource_url(x, &arm.base, r)?;
    let body = r.body.as_ref().map(|b| x.render_json(b)).transpose()?;
    let req = json_req(method(r.method), url.clone(), &arm.auth, body.as_ref());
    let ans = match call(&arm.http, &req).await {
        Ok(ans) => ans,
        Err(e) if !repeatable && ambiguous(&e) => {
            return Ok(Progress::Failed {
                message: format!(
                    "outcome unknown: {e}; check the resource in Azure and raise spec.attempt \
                     to retry"
                ),
                log: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    if !ans.success() {
        if ans.status == 401 {
            x.providers.forget_tokens(&arm.key);
        }
        if ans.status >= 500 || ans.status == 429 {
            if repeatable {
                // Worth another try: the same request again.
                return Err(ans.into_error());
            }
            return Ok(Progress::Failed {
                message: format!(
                    "outcome unknown: {}; check the resource in Azure and raise spec.attempt to \
                     retry",
                    arm_error(&ans)
                ),
                log: Vec::new(),
            });
        }
        return Ok(Progress::Failed {
            message: arm_error(&ans),
            log: Vec::new(),
        });
    }
    let mut log = vec![format!("{}: {}", ans.call, ans.status)];
    let operation = ans.header("azure-asyncoperation").or_else(|| {
        (ans.status == 202)
            .then(|| ans.header("location"))
            .flatten()
    });
    if let Some(op) = operation {
        on_arm_host(&arm.base, &op)?;
        log.push("following the long-running operation".into());
        tracing::info!(call = %ans.call, "ARM long-running operation started");
        return Ok(Progress::Running {
            reference: Some(op),
        });
    }
    let state = provisioning_state(&ans.json);
    if matches!(r.method, HttpMethod::PUT | HttpMethod::PATCH)
        && state.as_deref().is_some_and(|s| !terminal(s))
    {
        // Accepted but still provisioning: follow the resource itself.
        return Ok(Progress::Running {
            reference: Some(url),
        });
    }
    if let Some(s) = state.as_deref()
        && failed(s)
    {
        return Ok(Progress::Failed {
            message: format!(
                "{}: provisioningState {s}{}",
                ans.call,
                error_detail(&ans.json)
            ),
            log,
        });
    }
    let outputs = pick(&r.outputs, &ans.json, &mut log);
    Ok(Progress::Succeeded { outputs, log })
}

/// Polls a long-running operation (or a provisioning resource).
async fn follow(
    x: &External<'_>,
    a: &AzureExecutor,
    r: &ArmRequest,
    url: &str,
) -> Result<Progress, ExecError> {
    let arm = connect(x, a, ARM_SCOPE, true).await?;
    on_arm_host(&arm.base, url)?;
    let ans = call(
        &arm.http,
        &json_req(Method::GET, url.to_string(), &arm.auth, None),
    )
    .await?;
    if !ans.success() {
        if ans.status == 401 {
            x.providers.forget_tokens(&arm.key);
        }
        if ans.status >= 500 || ans.status == 429 {
            return Err(ans.into_error());
        }
        if ans.status == 404 && r.method == HttpMethod::DELETE {
            return Ok(Progress::Succeeded {
                outputs: BTreeMap::new(),
                log: vec![format!("{}: deleted", ans.call)],
            });
        }
        return Ok(Progress::Failed {
            message: arm_error(&ans),
            log: Vec::new(),
        });
    }
    let running = Progress::Running {
        reference: Some(url.to_string()),
    };
    if ans.status == 202 {
        return Ok(running);
    }
    let op_status = ans.json.get("status").and_then(Value::as_str);
    let state = op_status
        .map(str::to_string)
        .or_else(|| provisioning_state(&ans.json));
    let mut log = vec![format!(
        "{} {}",
        ans.call,
        state.as_deref().unwrap_or("done")
    )];
    match state.as_deref() {
        Some(s) if failed(s) => Ok(Progress::Failed {
            message: format!("{}: operation {s}{}", ans.call, error_detail(&ans.json)),
            log,
        }),
        Some(s) if !terminal(s) => Ok(running),
        _ => {
            // Succeeded. An operation-status document does not hold the resource: read it for
            // the outputs of a PUT/PATCH.
            let outputs = if op_status.is_some()
                && !r.outputs.is_empty()
                && matches!(r.method, HttpMethod::PUT | HttpMethod::PATCH)
            {
                let resource = call(
                    &arm.http,
                    &json_req(Method::GET, resource_url(x, &arm.base, r)?, &arm.auth, None),
                )
                .await?;
                if !resource.success() {
                    return Err(resource.into_error());
                }
                pick(&r.outputs, &resource.json, &mut log)
            } else {
                pick(&r.outputs, &ans.json, &mut log)
            };
            Ok(Progress::Succeeded { outputs, log })
        }
    }
}

/// The token goes to the ARM host only.
fn on_arm_host(base: &str, url: &str) -> Result<(), ExecError> {
    let origin = |u: &str| -> String {
        let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    };
    if origin(url) != origin(base) {
        return Err(ExecError::Invalid(format!(
            "the long-running operation URL is not on the ARM host {}",
            origin(base)
        )));
    }
    Ok(())
}

fn provisioning_state(v: &Value) -> Option<String> {
    v.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn terminal(s: &str) -> bool {
    s.eq_ignore_ascii_case("succeeded") || failed(s)
}

fn failed(s: &str) -> bool {
    ["failed", "canceled", "cancelled"]
        .iter()
        .any(|f| s.eq_ignore_ascii_case(f))
}

/// `: Code: message` of an ARM error document (bounded), or nothing.
fn error_detail(v: &Value) -> String {
    let err = v
        .get("error")
        .or_else(|| v.pointer("/properties/error"))
        .unwrap_or(&Value::Null);
    let code = err.get("code").and_then(Value::as_str).unwrap_or("");
    let message = err.get("message").and_then(Value::as_str).unwrap_or("");
    match (code.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(": {code}"),
        (true, false) => format!(": {}", bounded(message, MAX_EXCERPT)),
        (false, false) => format!(": {code}: {}", bounded(message, MAX_EXCERPT)),
    }
}

/// `PUT /subscriptions/…: 409 Conflict: Code: message`.
fn arm_error(ans: &Answer) -> String {
    let detail = error_detail(&ans.json);
    if detail.is_empty() {
        return ans.describe();
    }
    let reason = http::StatusCode::from_u16(ans.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    format!("{}: {} {reason}{detail}", ans.call, ans.status)
}

/// The outputs named by JSON pointers.
fn pick(
    pointers: &BTreeMap<String, String>,
    v: &Value,
    log: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, pointer) in pointers {
        match v.pointer(pointer) {
            Some(found) => {
                out.insert(name.clone(), output_value(found));
            }
            None => log.push(format!("output {name}: {pointer} is not in the response")),
        }
    }
    out
}

// --- Key Vault rotation ---------------------------------------------------------------------

/// A random value of `length` characters from [`CHARSET`] (rejection sampling: no bias).
pub fn random_value(length: usize) -> Result<String, ExecError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let n = CHARSET.len();
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    while out.len() < length {
        rng.fill(&mut buf)
            .map_err(|_| ExecError::Invalid("the system random generator failed".into()))?;
        for b in buf {
            if (b as usize) < limit && out.len() < length {
                out.push(CHARSET[b as usize % n] as char);
            }
        }
    }
    Ok(out)
}

/// The Entra scope of a vault: `https://vault.azure.net/.default` for `*.vault.azure.net`, the
/// sovereign cloud's for its vault hosts, the public one otherwise.
fn vault_scope(vault: &str) -> String {
    let host = vault
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(vault)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    match host.split_once('.') {
        Some((_, rest)) if rest.starts_with("vault.") || rest.starts_with("managedhsm.") => {
            format!("https://{rest}/.default")
        }
        _ => VAULT_SCOPE.into(),
    }
}

async fn rotate(
    x: &External<'_>,
    a: &AzureExecutor,
    k: &KeyVaultRotation,
    after_restart: bool,
) -> Result<Progress, ExecError> {
    let vault = base_url(
        "spec.executor.azure.rotateSecret.vaultUrl",
        &x.render(&k.vault_url)?,
    )?;
    let name = x.render(&k.secret_name)?;
    if name.is_empty()
        || name.len() > 127
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ExecError::Invalid(format!(
            "secret name {name:?}: 1-127 letters, digits and dashes"
        )));
    }
    let length = k
        .length
        .map(|l| l.clamp(16, 256) as usize)
        .unwrap_or(DEFAULT_LENGTH);
    let (key, src) = x.providers.azure_source(&a.credentials)?;
    let http = x.providers.client(&key, "azure-keyvault", true)?;
    let auth = x
        .providers
        .entra_token(&key, &src.spec.auth, &vault_scope(&vault), &http)
        .await?;
    let tag = x.attempt_tag();
    if after_restart && let Some(id) = tagged_version(&http, &auth, &vault, &name, &tag).await? {
        return Ok(rotated(
            &vault,
            &name,
            &id,
            "found the version this attempt created",
        ));
    }
    let url = with_query(
        &format!("{vault}/secrets/{}", encode(&name)),
        "api-version",
        VAULT_API_VERSION,
    );
    let ans = {
        let value = random_value(length)?;
        let body = json!({"value": value, "tags": {ROTATION_TAG: tag}});
        let req = json_req(Method::PUT, url, &auth, Some(&body));
        drop(body);
        call(&http, &req).await?
    };
    if !ans.success() {
        if ans.status == 401 {
            x.providers.forget_tokens(&key);
        }
        if ans.status >= 500 || ans.status == 429 {
            return Err(ans.into_error());
        }
        return Ok(Progress::Failed {
            message: ans.describe(),
            log: Vec::new(),
        });
    }
    let Some(id) = ans.json.get("id").and_then(Value::as_str) else {
        return Ok(Progress::Failed {
            message: format!("{}: the answer has no secret id", ans.call),
            log: Vec::new(),
        });
    };
    Ok(rotated(&vault, &name, id, "rotated"))
}

fn rotated(vault: &str, name: &str, id: &str, what: &str) -> Progress {
    let version = id.rsplit('/').next().unwrap_or("").to_string();
    let mut outputs = BTreeMap::new();
    outputs.insert("secretId".into(), output_value(&Value::String(id.into())));
    outputs.insert("secretVersion".into(), version.clone());
    Progress::Succeeded {
        outputs,
        log: vec![format!(
            "{what}: secret {name} in {vault}, new version {version}"
        )],
    }
}

/// The id of the secret version tagged with `tag`, if any (pages bounded; `nextLink` followed
/// only on the vault's host).
async fn tagged_version(
    http: &HttpClient,
    auth: &Auth,
    vault: &str,
    name: &str,
    tag: &str,
) -> Result<Option<String>, ExecError> {
    let mut url = with_query(
        &format!("{vault}/secrets/{}/versions", encode(name)),
        "api-version",
        VAULT_API_VERSION,
    );
    for _ in 0..MAX_VERSION_PAGES {
        let ans = call(http, &json_req(Method::GET, url.clone(), auth, None)).await?;
        if ans.status == 404 {
            return Ok(None);
        }
        if !ans.success() {
            return Err(ans.into_error());
        }
        let found = ans
            .json
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|v| {
                v.pointer(&format!("/tags/{ROTATION_TAG}"))
                    .and_then(Value::as_str)
                    == Some(tag)
            })
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
        if found.is_some() {
            return Ok(found);
        }
        match ans.json.get("nextLink").and_then(Value::as_str) {
            Some(next) if next.starts_with(&format!("{vault}/")) => url = next.to_string(),
            _ => return Ok(None),
        }
    }
    Ok(None)
}
