//! Bearer tokens of the portal face: Entra ID / OIDC JWTs, or (for `make dev`) dev-auth tokens.

use std::net::SocketAddr;

use http::{HeaderMap, header::AUTHORIZATION};

use super::{
    AuthnError, UserInfo,
    dev::{DevAuth, DevAuthError},
    jwt::{JwtConfigError, OidcValidator},
};
use crate::config::ServeConfig;

/// Why the portal's token validation could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BearerConfigError {
    #[error(
        "--dev-auth signs its own tokens, so it only runs on a loopback portal address \
         (--portal-addr 127.0.0.1:<port>), not on {addr}"
    )]
    DevAuthNotLoopback { addr: SocketAddr },
    #[error(
        "--dev-auth and --oidc-issuer-url are both set; use one: dev-auth for `make dev`, the \
         issuer in a cluster"
    )]
    DevAuthWithOidc,
    #[error(transparent)]
    Oidc(#[from] JwtConfigError),
    #[error(transparent)]
    Dev(#[from] DevAuthError),
}

/// How the portal face authenticates its callers.
#[derive(Debug)]
pub enum BearerAuth {
    Oidc(OidcValidator),
    Dev(DevAuth),
}

impl BearerAuth {
    /// OIDC unless `--dev-auth`, which needs a loopback `--portal-addr` and no issuer.
    pub fn from_config(cfg: &ServeConfig) -> Result<Self, BearerConfigError> {
        if !cfg.dev_auth {
            return Ok(Self::Oidc(OidcValidator::new(&cfg.oidc)?));
        }
        if !cfg.portal_addr.ip().is_loopback() {
            return Err(BearerConfigError::DevAuthNotLoopback {
                addr: cfg.portal_addr,
            });
        }
        if cfg
            .oidc
            .oidc_issuer_url
            .as_deref()
            .is_some_and(|issuer| !issuer.trim().is_empty())
        {
            return Err(BearerConfigError::DevAuthWithOidc);
        }
        let dev = DevAuth::load_or_create(&cfg.dev_key_file)?;
        tracing::warn!(
            key_file = %dev.path().display(),
            "dev-auth is on: the portal accepts tokens signed by a local key (make dev only)"
        );
        Ok(Self::Dev(dev))
    }

    pub fn is_dev(&self) -> bool {
        matches!(self, Self::Dev(_))
    }

    /// The caller of a request with `Authorization: Bearer <token>` (the scheme in any case).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<UserInfo, AuthnError> {
        self.authenticate_token(bearer_token(headers)?).await
    }

    /// The caller presenting `token` obtained some other way than the `Authorization` header.
    pub async fn authenticate_token(&self, token: &str) -> Result<UserInfo, AuthnError> {
        match self {
            Self::Oidc(validator) => validator.validate(token).await,
            Self::Dev(dev) => dev.validate(token).await,
        }
    }

    /// Fetches the issuer's signing keys ahead of the first request (nothing to do for dev-auth).
    pub async fn warm_up(&self) -> Result<(), AuthnError> {
        match self {
            Self::Oidc(validator) => validator.warm_up().await,
            Self::Dev(_) => Ok(()),
        }
    }
}

/// The token of the `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthnError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthnError::MissingCredentials);
    };
    if values.next().is_some() {
        return Err(AuthnError::InvalidToken(
            "more than one Authorization header".to_owned(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthnError::InvalidToken("the Authorization header is not ASCII".to_owned()))?
        .trim();
    let (scheme, token) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthnError::InvalidToken(
            "only the Bearer scheme is accepted: send `Authorization: Bearer <token>`".to_owned(),
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthnError::InvalidToken(
            "empty bearer token: send `Authorization: Bearer <token>`".to_owned(),
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser as _;
    use http::HeaderValue;

    use super::*;
    use crate::config::{Cli, Command};

    fn serve_config(extra: &[&str]) -> ServeConfig {
        let mut argv = vec![
            "nexus-apiserver",
            "serve",
            "--tls-cert-file",
            "/tls/tls.crt",
            "--tls-key-file",
            "/tls/tls.key",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(cfg) => *cfg,
            other => panic!("unexpected command {other:?}"),
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        assert_eq!(
            bearer_token(&headers("Bearer abc.def.ghi")).unwrap(),
            "abc.def.ghi"
        );
        assert_eq!(
            bearer_token(&headers("bEaReR   abc.def.ghi ")).unwrap(),
            "abc.def.ghi"
        );
        assert!(matches!(
            bearer_token(&HeaderMap::new()),
            Err(AuthnError::MissingCredentials)
        ));
        let err = bearer_token(&headers("Basic YWxpY2U6c2VjcmV0")).unwrap_err();
        assert!(err.to_string().contains("only the Bearer scheme"), "{err}");
        assert!(!err.to_string().contains("YWxpY2U6c2VjcmV0"));
        let err = bearer_token(&headers("Bearer")).unwrap_err();
        assert!(err.to_string().contains("empty bearer token"), "{err}");

        let mut twice = headers("Bearer a.b.c");
        twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer d.e.f"));
        assert!(bearer_token(&twice).is_err());
    }

    #[test]
    fn dev_auth_needs_a_loopback_portal_and_no_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let key = key.to_str().unwrap();

        let cfg = serve_config(&["--dev-auth", "--dev-key-file", key]);
        let err = BearerAuth::from_config(&cfg).unwrap_err();
        assert!(
            matches!(err, BearerConfigError::DevAuthNotLoopback { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("loopback"), "{err}");

        let cfg = serve_config(&[
            "--dev-auth",
            "--dev-key-file",
            key,
            "--portal-addr",
            "127.0.0.1:9443",
            "--oidc-issuer-url",
            "https://login.microsoftonline.com/t/v2.0",
        ]);
        let err = BearerAuth::from_config(&cfg).unwrap_err();
        assert!(matches!(err, BearerConfigError::DevAuthWithOidc), "{err}");
        assert!(
            !std::path::Path::new(key).exists(),
            "no key created when refused"
        );

        let cfg = serve_config(&[
            "--dev-auth",
            "--dev-key-file",
            key,
            "--portal-addr",
            "[::1]:9443",
        ]);
        let auth = BearerAuth::from_config(&cfg).unwrap();
        assert!(auth.is_dev());
    }

    #[test]
    fn oidc_is_the_default_and_needs_an_issuer() {
        let err = BearerAuth::from_config(&serve_config(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--oidc-issuer-url is required unless --dev-auth"
        );

        let cfg = serve_config(&[
            "--oidc-issuer-url",
            "https://login.microsoftonline.com/t/v2.0",
            "--oidc-audience",
            "api://nexus-portal,00000000-0000-0000-0000-000000000001",
        ]);
        let auth = BearerAuth::from_config(&cfg).unwrap();
        assert!(!auth.is_dev());
        match auth {
            BearerAuth::Oidc(validator) => {
                assert_eq!(
                    validator.issuer(),
                    "https://login.microsoftonline.com/t/v2.0"
                )
            }
            BearerAuth::Dev(_) => panic!("expected OIDC"),
        }
    }

    #[tokio::test]
    async fn dev_tokens_authenticate_through_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cfg = serve_config(&[
            "--dev-auth",
            "--dev-key-file",
            key.to_str().unwrap(),
            "--portal-addr",
            "127.0.0.1:0",
        ]);
        let auth = BearerAuth::from_config(&cfg).unwrap();
        let BearerAuth::Dev(dev) = &auth else {
            panic!("expected dev-auth");
        };
        let token = dev
            .mint(
                "alice@example.com",
                &["team-a".to_owned()],
                Duration::from_secs(60),
            )
            .unwrap();

        let user = auth
            .authenticate(&headers(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!(user.username, "alice@example.com");
        assert_eq!(user.groups, vec!["team-a".to_owned()]);
        assert_eq!(auth.authenticate_token(&token).await.unwrap(), user);
        auth.warm_up().await.unwrap();

        let err = auth
            .authenticate(&headers("Bearer a.b.c"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthnError::InvalidToken(_)), "{err:?}");
    }
}
