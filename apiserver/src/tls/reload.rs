//! The serving certificate, read from a PEM chain and a PEM key (e.g. `tls.crt`/`tls.key` of a
//! mounted Secret) and reloaded when their content changes.
//!
//! Kubernetes updates mounted Secrets (and cert-manager renews them) by swapping a `..data`
//! symlink, so the files are re-read and compared by content (SHA-256), never by mtime. A new
//! pair that cannot be used (unreadable, garbage, key of another certificate, or a pair caught
//! half-way through an update) is reported once and the previous certificate stays in service;
//! the next check picks up the finished pair.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rustls::{
    InconsistentKeys,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{TlsError, crypto_provider};

/// A [`ResolvesServerCert`] serving the certificate currently in `cert`/`key`, swapped
/// atomically on reload: handshakes in progress keep the pair they started with.
pub struct CertReloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<Loaded>>,
    reloads: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// One usable pair and what was learnt from it.
struct Loaded {
    certified: Arc<CertifiedKey>,
    /// SHA-256 over both files' bytes: what the files held when this pair was loaded.
    digest: [u8; 32],
    subject: String,
    dns_names: Vec<String>,
    not_after: i64,
}

impl CertReloader {
    /// Loads the pair, failing with a message that names the file and the problem.
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Arc<Self>, TlsError> {
        let (cert_pem, key_pem) = read_pair(&cert, &key)?;
        let loaded = parse_pair(&cert, &cert_pem, &key, &key_pem)?;
        info!(
            cert = %cert.display(),
            subject = %loaded.subject,
            dns_names = ?loaded.dns_names,
            not_after = %format_unix(loaded.not_after),
            "loaded serving certificate"
        );
        warn_if_expired(&cert, &loaded);
        Ok(Arc::new(Self {
            cert_path: cert,
            key_path: key,
            current: RwLock::new(Arc::new(loaded)),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }))
    }

    /// Re-reads both files; swaps in the new pair when their content changed and is usable.
    ///
    /// `Ok(true)`: a new certificate is now served. `Ok(false)`: nothing changed. `Err`: the files
    /// hold no usable pair, the previous certificate is still served (the error is logged and
    /// counted once per distinct problem, not at every check).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let outcome = self.try_reload();
        let mut last_error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &outcome {
            Ok(true) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                *last_error = None;
                let loaded = self.loaded();
                info!(
                    cert = %self.cert_path.display(),
                    subject = %loaded.subject,
                    dns_names = ?loaded.dns_names,
                    not_after = %format_unix(loaded.not_after),
                    "reloaded serving certificate"
                );
                warn_if_expired(&self.cert_path, &loaded);
            }
            Ok(false) => {
                if last_error.take().is_some() {
                    info!(
                        cert = %self.cert_path.display(),
                        "certificate files hold the served pair again"
                    );
                }
            }
            Err(err) => {
                let message = err.to_string();
                if last_error.as_deref() != Some(message.as_str()) {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    error!(
                        error = %message,
                        "cannot reload serving certificate; still serving the previous one"
                    );
                    *last_error = Some(message);
                }
            }
        }
        outcome
    }

    fn try_reload(&self) -> Result<bool, TlsError> {
        let (cert_pem, key_pem) = read_pair(&self.cert_path, &self.key_path)?;
        if digest(&cert_pem, &key_pem) == self.loaded().digest {
            return Ok(false);
        }
        let loaded = parse_pair(&self.cert_path, &cert_pem, &self.key_path, &key_pem)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        Ok(true)
    }

    /// Checks the files every `interval` until `cancel`, reloading on change (see
    /// [`Self::reload_if_changed`]).
    pub fn spawn_watch(
        self: &Arc<Self>,
        interval: Duration,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is immediate; the pair was just loaded
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let check = Arc::clone(&this);
                // File reads block; the outcome is logged and counted by reload_if_changed.
                if let Err(err) =
                    tokio::task::spawn_blocking(move || check.reload_if_changed()).await
                {
                    error!(error = %err, "certificate reload check panicked");
                }
            }
        })
    }

    /// The pair served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.loaded().certified)
    }

    /// How many times a new pair was swapped in (not counting the initial load).
    pub fn reload_count(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// How many distinct failed reloads were reported.
    pub fn failure_count(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The problem with the files' current content, while they hold no usable new pair.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Expiry of the served certificate, in seconds since the Unix epoch.
    pub fn not_after_unix(&self) -> i64 {
        self.loaded().not_after
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    fn loaded(&self) -> Arc<Loaded> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.loaded();
        f.debug_struct("CertReloader")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("subject", &loaded.subject)
            .field("not_after", &loaded.not_after)
            .field("reloads", &self.reload_count())
            .finish_non_exhaustive()
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        })
    };
    Ok((read("TLS certificate", cert)?, read("TLS key", key)?))
}

fn digest(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((cert_pem.len() as u64).to_be_bytes());
    hasher.update(cert_pem);
    hasher.update(key_pem);
    hasher.finalize().into()
}

fn parse_pair(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<Loaded, TlsError> {
    let bad_cert = |problem: String| TlsError::Invalid {
        what: "TLS certificate",
        path: cert_path.to_owned(),
        problem,
    };
    let bad_key = |problem: String| TlsError::Invalid {
        what: "TLS key",
        path: key_path.to_owned(),
        problem,
    };

    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_cert(format!("unreadable PEM: {err}")))?;
    let leaf = chain.first().ok_or_else(|| {
        bad_cert("no certificate in PEM (expected a `-----BEGIN CERTIFICATE-----` block)".into())
    })?;
    let (subject, dns_names, not_after) = describe(leaf)
        .map_err(|err| bad_cert(format!("the first certificate cannot be parsed: {err}")))?;

    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| match err {
        rustls_pki_types::pem::Error::NoItemsFound => bad_key(
            "no private key in PEM (expected a `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` \
             (PKCS#1) or `EC PRIVATE KEY` (SEC1) block)"
                .into(),
        ),
        other => bad_key(format!("unreadable PEM: {other}")),
    })?;
    let signing_key = crypto_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|err| bad_key(format!("unsupported private key: {err}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key type cannot tell its public key; the handshake will tell.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
        Err(err) => return Err(bad_cert(format!("cannot be used with its key: {err}"))),
    }
    Ok(Loaded {
        certified: Arc::new(certified),
        digest: digest(cert_pem, key_pem),
        subject,
        dns_names,
        not_after,
    })
}

/// Subject, DNS/IP names and expiry of a certificate, for logs and metrics.
fn describe(der: &CertificateDer<'_>) -> Result<(String, Vec<String>, i64), String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|err| err.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.extend(
                        <[u8; 4]>::try_from(*bytes)
                            .ok()
                            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
                    ),
                    16 => names.extend(
                        <[u8; 16]>::try_from(*bytes)
                            .ok()
                            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok((
        cert.subject().to_string(),
        names,
        cert.validity().not_after.timestamp(),
    ))
}

fn format_unix(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

fn warn_if_expired(cert: &Path, loaded: &Loaded) {
    if loaded.not_after < jiff::Timestamp::now().as_second() {
        warn!(
            cert = %cert.display(),
            not_after = %format_unix(loaded.not_after),
            "the serving certificate has expired; clients will reject it"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, os::unix::fs::symlink};

    use super::*;
    use crate::tls::testing::{self, Pki};

    fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        path
    }

    fn served_cert(reloader: &CertReloader) -> CertificateDer<'static> {
        reloader.current().cert[0].clone()
    }

    #[test]
    fn tls_load_names_the_file_and_the_problem() {
        let pki = Pki::get();
        let dir = tempfile::tempdir().unwrap();
        let cert = write(dir.path(), "tls.crt", &pki.server_cert_pem);
        let key = write(dir.path(), "tls.key", &pki.server_key_pem);

        let missing = CertReloader::load(dir.path().join("nope.crt"), key.clone()).unwrap_err();
        let message = missing.to_string();
        assert!(message.contains("nope.crt"), "{message}");
        assert!(
            message.contains("cannot read TLS certificate file"),
            "{message}"
        );

        let garbage = write(dir.path(), "garbage.crt", "this is not PEM\n");
        let message = CertReloader::load(garbage, key.clone())
            .unwrap_err()
            .to_string();
        assert!(message.contains("garbage.crt"), "{message}");
        assert!(message.contains("no certificate in PEM"), "{message}");

        // A key where the certificate belongs.
        let swapped = CertReloader::load(key.clone(), cert.clone())
            .unwrap_err()
            .to_string();
        assert!(swapped.contains("no certificate in PEM"), "{swapped}");

        let no_key = write(dir.path(), "empty.key", "");
        let message = CertReloader::load(cert.clone(), no_key)
            .unwrap_err()
            .to_string();
        assert!(message.contains("empty.key"), "{message}");
        assert!(message.contains("no private key in PEM"), "{message}");

        let other_key = write(dir.path(), "other.key", &pki.server2_key_pem);
        let err = CertReloader::load(cert.clone(), other_key).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("other.key") && message.contains("does not match"),
            "{message}"
        );

        let reloader = CertReloader::load(cert, key).unwrap();
        assert_eq!(served_cert(&reloader), testing::der(&pki.server_cert_pem));
        assert!(reloader.not_after_unix() > jiff::Timestamp::now().as_second());
        assert_eq!(reloader.reload_count(), 0);
        assert_eq!(reloader.last_error(), None);
    }

    #[test]
    fn tls_reload_loads_pkcs1_and_sec1_keys() {
        let dir = tempfile::tempdir().unwrap();
        for (name, cert_pem, key_pem) in [
            (
                "pkcs1",
                include_str!("testdata/pkcs1.crt"),
                include_str!("testdata/pkcs1.key"),
            ),
            (
                "sec1",
                include_str!("testdata/sec1.crt"),
                include_str!("testdata/sec1.key"),
            ),
        ] {
            let cert = write(dir.path(), &format!("{name}.crt"), cert_pem);
            let key = write(dir.path(), &format!("{name}.key"), key_pem);
            let reloader = CertReloader::load(cert, key).unwrap();
            assert_eq!(served_cert(&reloader), testing::der(cert_pem), "{name}");
        }
        // And a chain: leaf first, then its CA.
        let pki = Pki::get();
        let chain = format!("{}{}", pki.server_cert_pem, pki.ca_pem);
        let cert = write(dir.path(), "chain.crt", &chain);
        let key = write(dir.path(), "chain.key", &pki.server_key_pem);
        let reloader = CertReloader::load(cert, key).unwrap();
        assert_eq!(reloader.current().cert.len(), 2);
    }

    #[test]
    fn tls_reload_swaps_on_change_and_keeps_the_old_pair_on_garbage() {
        let pki = Pki::get();
        let dir = tempfile::tempdir().unwrap();
        let cert = write(dir.path(), "tls.crt", &pki.server_cert_pem);
        let key = write(dir.path(), "tls.key", &pki.server_key_pem);
        let reloader = CertReloader::load(cert.clone(), key.clone()).unwrap();

        assert!(
            !reloader.reload_if_changed().unwrap(),
            "unchanged files are not reloaded"
        );

        // Garbage: reported once, old pair kept.
        fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
        assert!(reloader.reload_if_changed().is_err());
        assert!(reloader.reload_if_changed().is_err());
        assert_eq!(
            reloader.failure_count(),
            1,
            "the same problem is counted once"
        );
        assert!(reloader.last_error().unwrap().contains("tls.crt"));
        assert_eq!(served_cert(&reloader), testing::der(&pki.server_cert_pem));

        // Half-way through an update: new certificate, old key.
        fs::write(&cert, &pki.server2_cert_pem).unwrap();
        let err = reloader.reload_if_changed().unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        assert_eq!(reloader.failure_count(), 2);
        assert_eq!(served_cert(&reloader), testing::der(&pki.server_cert_pem));

        // Update finished.
        fs::write(&key, &pki.server2_key_pem).unwrap();
        assert!(reloader.reload_if_changed().unwrap());
        assert_eq!(reloader.reload_count(), 1);
        assert_eq!(reloader.last_error(), None);
        assert_eq!(served_cert(&reloader), testing::der(&pki.server2_cert_pem));

        // Files removed: keep serving.
        fs::remove_file(&key).unwrap();
        let message = reloader.reload_if_changed().unwrap_err().to_string();
        assert!(message.contains("cannot read TLS key file"), "{message}");
        assert_eq!(served_cert(&reloader), testing::der(&pki.server2_cert_pem));
    }

    /// The layout kubelet writes for a mounted Secret: `tls.crt -> ..data/tls.crt`,
    /// `..data -> ..<timestamp>`, updated by replacing the `..data` symlink.
    #[tokio::test]
    async fn tls_watch_follows_a_kubelet_symlink_swap() {
        let pki = Pki::get();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let v1 = root.join("..2026_01_01_v1");
        fs::create_dir(&v1).unwrap();
        write(&v1, "tls.crt", &pki.server_cert_pem);
        write(&v1, "tls.key", &pki.server_key_pem);
        symlink("..2026_01_01_v1", root.join("..data")).unwrap();
        symlink("..data/tls.crt", root.join("tls.crt")).unwrap();
        symlink("..data/tls.key", root.join("tls.key")).unwrap();

        let reloader = CertReloader::load(root.join("tls.crt"), root.join("tls.key")).unwrap();
        let cancel = CancellationToken::new();
        let task = reloader.spawn_watch(Duration::from_millis(20), cancel.clone());

        let v2 = root.join("..2026_02_01_v2");
        fs::create_dir(&v2).unwrap();
        write(&v2, "tls.crt", &pki.server2_cert_pem);
        write(&v2, "tls.key", &pki.server2_key_pem);
        symlink("..2026_02_01_v2", root.join("..data_tmp")).unwrap();
        fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        fs::remove_dir_all(&v1).unwrap();

        tokio::time::timeout(Duration::from_secs(10), async {
            while reloader.reload_count() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the watch reloads the swapped pair");
        assert_eq!(served_cert(&reloader), testing::der(&pki.server2_cert_pem));

        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
