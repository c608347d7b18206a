//! The portal single-page app, served next to the portal API on the same origin.
//!
//! `--portal-assets-dir` points at the built portal (`portal/dist`: `index.html`, hashed files in
//! `assets/`, and `.gz` twins written by the build). Requests under `/api` go to the portal API;
//! everything else is a file of that directory or, for an unknown path that is not under
//! `/assets/`, `index.html` (the app's router handles deep links). Hashed files are cached for a
//! year (`immutable`), everything else is revalidated (`no-cache`). Every answer carries a
//! Content-Security-Policy that allows scripts only from this origin.
//!
//! `/config.json` is generated: how the app signs in (`dev` under `--dev-auth`, `msal` with the
//! Entra settings of `--portal-msal-*`, or `none`).

use std::{
    convert::Infallible,
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header},
    response::IntoResponse,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::PortalUiArgs;

/// Hashed build output: safe to cache forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The built portal and the sign-in configuration it is given.
#[derive(Debug)]
pub struct Assets {
    root: PathBuf,
    config: Vec<u8>,
    csp: HeaderValue,
}

impl Assets {
    /// Checks that `root` holds a built portal (`index.html`) and prepares `/config.json` and the
    /// CSP from the sign-in settings.
    pub fn new(
        root: &Path,
        ui: &PortalUiArgs,
        dev_auth: bool,
        oidc_issuer: Option<&str>,
    ) -> anyhow::Result<Self> {
        let root = root.canonicalize().map_err(|e| {
            anyhow::anyhow!(
                "--portal-assets-dir {}: {e}; build the portal first (cd portal && npm ci && npm run build)",
                root.display()
            )
        })?;
        if !root.join("index.html").is_file() {
            anyhow::bail!(
                "--portal-assets-dir {} has no index.html; build the portal first (cd portal && npm ci && npm run build)",
                root.display()
            );
        }
        let config = portal_config(ui, dev_auth, oidc_issuer)?;
        let authority_origin = config["auth"]["msal"]["authority"]
            .as_str()
            .and_then(origin_of);
        let csp = HeaderValue::from_str(&content_security_policy(authority_origin.as_deref()))?;
        Ok(Self {
            root,
            config: serde_json::to_vec(&config)?,
            csp,
        })
    }

    async fn serve(&self, request: Request<Body>) -> Response<Body> {
        let (request, _) = request.into_parts();
        let mut response = self.answer(&request).await;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if request.method == Method::HEAD {
            *response.body_mut() = Body::empty();
        }
        response
    }

    async fn answer(&self, request: &axum::http::request::Parts) -> Response<Body> {
        if request.method != Method::GET && request.method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let path = request.uri.path();
        if path == "/config.json" {
            return file_response(self.config.clone(), "application/json", REVALIDATE, None);
        }
        let Some(relative) = safe_relative(path) else {
            return plain(StatusCode::BAD_REQUEST, "invalid path");
        };
        let gzip = accepts_gzip(&request.headers);
        let hashed = relative.starts_with("assets/");
        if !relative.is_empty()
            && let Some(response) = self
                .file(&relative, gzip, if hashed { IMMUTABLE } else { REVALIDATE })
                .await
        {
            return response;
        }
        if hashed {
            // A missing chunk must fail loudly (the app offers a reload), not parse HTML as JS.
            return plain(StatusCode::NOT_FOUND, "no such asset; reload the page");
        }
        // Deep link into the app.
        match self.file("index.html", gzip, REVALIDATE).await {
            Some(response) => response,
            None => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the portal's index.html is missing from --portal-assets-dir",
            ),
        }
    }

    /// A file of the assets directory (its precompressed `.gz` twin when the client takes gzip).
    async fn file(&self, relative: &str, gzip: bool, cache: &str) -> Option<Response<Body>> {
        let path = self.root.join(relative);
        let content_type = content_type(&path);
        let (bytes, encoding) = tokio::task::spawn_blocking(move || {
            if gzip {
                let mut gz = path.clone().into_os_string();
                gz.push(".gz");
                if let Ok(bytes) = std::fs::read(&gz) {
                    return Some((bytes, Some("gzip")));
                }
            }
            if !std::fs::metadata(&path).ok()?.is_file() {
                return None;
            }
            std::fs::read(&path).ok().map(|bytes| (bytes, None))
        })
        .await
        .ok()??;
        Some(file_response(bytes, content_type, cache, encoding))
    }
}

/// The portal API for `/api/...`, the app for every other path.
pub fn with_portal_app(api: Router, assets: Option<Arc<Assets>>) -> Router {
    let Some(assets) = assets else {
        return api;
    };
    Router::new().fallback_service(tower::service_fn(move |request: Request<Body>| {
        let api = api.clone();
        let assets = assets.clone();
        async move {
            let path = request.uri().path();
            if path == "/api" || path.starts_with("/api/") {
                let response = match ServiceExt::<Request<Body>>::oneshot(api, request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.into_response())
            } else {
                Ok(assets.serve(request).await)
            }
        }
    }))
}

/// `/config.json`: how the app signs in.
fn portal_config(
    ui: &PortalUiArgs,
    dev_auth: bool,
    oidc_issuer: Option<&str>,
) -> anyhow::Result<Value> {
    if dev_auth {
        return Ok(json!({"auth": {"mode": "dev"}}));
    }
    let Some(client_id) = ui.portal_msal_client_id.as_deref() else {
        return Ok(json!({"auth": {"mode": "none"}}));
    };
    let authority = ui
        .portal_msal_authority
        .clone()
        .or_else(|| {
            oidc_issuer.map(|issuer| issuer.trim_end_matches('/').trim_end_matches("/v2.0").to_owned())
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--portal-msal-client-id needs --portal-msal-authority (or --oidc-issuer-url to derive it)"
            )
        })?;
    if origin_of(&authority).is_none() {
        anyhow::bail!("--portal-msal-authority `{authority}` is not an https URL");
    }
    let scopes = if ui.portal_msal_scopes.is_empty() {
        vec![format!("api://{client_id}/.default")]
    } else {
        ui.portal_msal_scopes.clone()
    };
    Ok(json!({"auth": {"mode": "msal", "msal": {
        "clientId": client_id, "authority": authority, "scopes": scopes}}}))
}

fn content_security_policy(identity_origin: Option<&str>) -> String {
    let (connect, frame) = match identity_origin {
        Some(origin) => (format!(" {origin}"), format!(" {origin}")),
        None => (String::new(), " 'none'".to_owned()),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'{connect}; frame-src{frame}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `https://host[:port]` of an https URL.
fn origin_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains(['@', ' ', '\'', ';'])).then(|| format!("https://{host}"))
}

/// The request path as a path inside the assets directory, or `None` when it tries to leave it.
fn safe_relative(path: &str) -> Option<String> {
    let decoded = percent_decode(path)?;
    let mut parts = Vec::new();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if parts.iter().any(|p| p.contains('\\') || p.contains('\0')) {
        return None;
    }
    Some(parts.join("/"))
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(
    bytes: Vec<u8>,
    content_type: &'static str,
    cache: &str,
    encoding: Option<&'static str>,
) -> Response<Body> {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(cache) = HeaderValue::from_str(cache) {
        headers.insert(header::CACHE_CONTROL, cache);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

fn plain(code: StatusCode, message: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    response
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use http_body_util::BodyExt;

    use super::*;

    fn ui() -> PortalUiArgs {
        PortalUiArgs {
            portal_assets_dir: None,
            portal_msal_client_id: None,
            portal_msal_authority: None,
            portal_msal_scopes: Vec::new(),
        }
    }

    fn app(dir: &Path, ui: &PortalUiArgs, dev: bool, issuer: Option<&str>) -> Router {
        let api = Router::new()
            .route("/api/v1/me", get(|| async { "api" }))
            .fallback(|| async { (StatusCode::NOT_FOUND, "api 404") });
        with_portal_app(
            api,
            Some(Arc::new(Assets::new(dir, ui, dev, issuer).unwrap())),
        )
    }

    fn built() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html><p>app</p>").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/index-abc123.js"), "console.log(1)").unwrap();
        std::fs::write(
            dir.path().join("assets/index-abc123.js.gz"),
            b"\x1f\x8bfake",
        )
        .unwrap();
        std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
        std::fs::write(dir.path().parent().unwrap().join("secret.txt"), "no").ok();
        dir
    }

    async fn get_(app: &Router, uri: &str, gzip: bool) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::get(uri);
        if gzip {
            request = request.header("accept-encoding", "gzip, br");
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_files_spa_fallback_and_leaves_api_alone() {
        let dir = built();
        let app = app(dir.path(), &ui(), true, None);

        let (code, headers, body) = get_(&app, "/", false).await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("app"));
        assert_eq!(headers[header::CACHE_CONTROL], REVALIDATE);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

        // Deep links answer the app.
        let (code, _, body) = get_(&app, "/entities/component/team-a/x", false).await;
        assert_eq!((code, body.contains("app")), (StatusCode::OK, true));

        // Hashed assets: long cache, gzip twin when accepted.
        let (code, headers, body) = get_(&app, "/assets/index-abc123.js", false).await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "console.log(1)"));
        assert_eq!(headers[header::CACHE_CONTROL], IMMUTABLE);
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        let (_, headers, _) = get_(&app, "/assets/index-abc123.js", true).await;
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );

        // A missing chunk is a 404, not index.html.
        let (code, _, _) = get_(&app, "/assets/gone-000.js", false).await;
        assert_eq!(code, StatusCode::NOT_FOUND);

        // No way out of the directory.
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/assets/..%2f..%2fsecret.txt",
        ] {
            let (code, _, body) = get_(&app, path, false).await;
            assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {body}");
        }

        // The API is untouched, including its own 404s.
        let (code, _, body) = get_(&app, "/api/v1/me", false).await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "api"));
        let (code, _, body) = get_(&app, "/api/v1/nope", false).await;
        assert_eq!((code, body.as_str()), (StatusCode::NOT_FOUND, "api 404"));

        let (code, headers, body) = get_(&app, "/config.json", false).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(headers[header::CACHE_CONTROL], REVALIDATE);
        let config: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(config["auth"]["mode"], "dev");

        let response = app
            .clone()
            .oneshot(Request::post("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn msal_configuration_and_csp() {
        let dir = built();
        let mut ui = ui();
        ui.portal_msal_client_id = Some("1111-2222".into());
        let issuer = "https://login.microsoftonline.com/tenant-id/v2.0";
        let app = app(dir.path(), &ui, false, Some(issuer));
        let (_, headers, body) = get_(&app, "/config.json", false).await;
        let config: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(config["auth"]["mode"], "msal");
        assert_eq!(
            config["auth"]["msal"]["authority"],
            "https://login.microsoftonline.com/tenant-id"
        );
        assert_eq!(
            config["auth"]["msal"]["scopes"][0],
            "api://1111-2222/.default"
        );
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' https://login.microsoftonline.com;"),
            "{csp}"
        );

        assert_eq!(
            portal_config(&self::ui(), false, None).unwrap()["auth"]["mode"],
            "none"
        );
        let mut bad = self::ui();
        bad.portal_msal_client_id = Some("x".into());
        assert!(
            portal_config(&bad, false, None).is_err(),
            "no authority to use"
        );
    }

    #[test]
    fn a_directory_without_index_html_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = Assets::new(dir.path(), &ui(), true, None).unwrap_err();
        assert!(err.to_string().contains("npm run build"), "{err}");
    }

    #[test]
    fn gzip_negotiation() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&headers));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
