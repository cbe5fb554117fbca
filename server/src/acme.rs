//! `--tls acme`: a certificate from an ACME CA (Let's Encrypt by default) for the `--domain`
//! names. The CA validates on the HTTPS port itself (TLS-ALPN-01, see `tls::Handshake`), the
//! account key and certificates are kept in `<data dir>/acme/` (0600), and a task of the
//! server orders, renews (at 2/3 of the validity) and says in the log what went wrong.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use futures_util::StreamExt;
use rustls::ServerConfig;
use rustls_acme::acme::Identifier;
use rustls_acme::{AcmeConfig, AcmeState, EventError, EventOk, OrderError};

use crate::config::Config;
use crate::private;
use crate::tls::TlsError;

/// What `--tls acme` serves with, before the server runs it.
pub struct Acme {
    /// Orders and renews; polled by the server's renewal task from `serve` on.
    state: AcmeState<io::Error>,
    /// For the CA's validation connections (ALPN `acme-tls/1`).
    pub challenge: Arc<ServerConfig>,
    /// For everyone else: whichever certificate is current.
    pub serving: Arc<ServerConfig>,
}

impl Acme {
    /// Sets up ordering for the configured domains (nothing is fetched before it runs).
    pub fn new(config: &Config) -> Result<Acme, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match &config.acme_directory_ca {
            Some(ca) => own_roots(ca)?,
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let cache = DirCache::open(config.data_dir.join("acme"))?;
        let state = AcmeConfig::new_with_client_config(&config.domains, Arc::new(client))
            .directory(&config.acme_directory)
            .contact(&config.acme_contacts)
            .cache(cache)
            .state();
        let challenge = state.challenge_rustls_config_with_provider(provider.clone());
        let mut serving = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(state.resolver());
        serving.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Acme {
            state,
            challenge,
            serving: Arc::new(serving),
        })
    }

    /// Orders a certificate (or loads the cached one) and renews it, for as long as it is
    /// polled; every step and every failure goes to the log.
    pub async fn renew(mut self) {
        while let Some(event) = self.state.next().await {
            match event {
                Ok(EventOk::DeployedCachedCert) => {
                    tracing::info!("ACME: serving the cached certificate")
                }
                Ok(EventOk::DeployedNewCert) => {
                    tracing::info!("ACME: serving a new certificate from the CA")
                }
                Ok(EventOk::CertCacheStore) => {
                    tracing::info!("ACME: certificate saved in the data directory")
                }
                Ok(EventOk::AccountCacheStore) => {
                    tracing::info!("ACME: account key saved in the data directory")
                }
                Err(error) => tracing::error!("{}", explain(&error)),
            }
        }
    }
}

/// The CA certificates in `path` (PEM), as the only roots for the ACME directory's HTTPS.
fn own_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(roots)
}

/// What an operator needs to read in the log: for a failed validation, which name and the
/// likely cause (its DNS, or port 443 not reaching us).
fn explain(error: &EventError<io::Error, io::Error>) -> String {
    let hint = |domain: &str| {
        format!(
            "does {domain} resolve to this server, and does TCP port 443 reach it? Retrying later."
        )
    };
    match error {
        EventError::Order(OrderError::BadAuth(auth)) => {
            let Identifier::Dns(domain) = &auth.identifier;
            let details: Vec<&str> = auth
                .challenges
                .iter()
                .filter_map(|challenge| challenge.error.as_ref()?.detail.as_deref())
                .collect();
            let why = if details.is_empty() {
                format!("{:?}", auth.status)
            } else {
                details.join("; ")
            };
            format!(
                "ACME validation for {domain} failed: {why} — {}",
                hint(domain)
            )
        }
        EventError::Order(OrderError::TooManyAttemptsAuth(domain)) => format!(
            "ACME validation for {domain} did not finish — {}",
            hint(domain)
        ),
        EventError::Order(OrderError::BadOrder(order)) => {
            let why = order
                .error
                .as_ref()
                .and_then(|problem| problem.detail.as_deref())
                .unwrap_or("no reason given");
            format!("ACME: the CA refused the order: {why}. Retrying later.")
        }
        EventError::Order(error) => {
            format!("ACME: ordering a certificate failed: {error}. Retrying later.")
        }
        other => format!("ACME: {other}"),
    }
}

/// The account key and certificates, one file each per (domains or contacts, directory),
/// readable by the server's user only. rustls-acme's own `DirCache` writes with the default
/// mode (usually 0644), and the certificate file holds its private key.
struct DirCache {
    dir: PathBuf,
}

impl DirCache {
    /// Creates the directory (0700), and restricts what an older start left there.
    fn open(dir: PathBuf) -> Result<DirCache, TlsError> {
        let fail = |path: &Path| {
            let path = path.to_owned();
            move |source| TlsError::Write { path, source }
        };
        private::create_dir(&dir).map_err(fail(&dir))?;
        private::restrict(&dir).map_err(fail(&dir))?;
        for entry in std::fs::read_dir(&dir).map_err(fail(&dir))? {
            let path = entry.map_err(fail(&dir))?.path();
            private::restrict(&path).map_err(fail(&path))?;
        }
        Ok(DirCache { dir })
    }

    /// The file for `kind` and these `parts` (domains or contacts) at `directory`: another CA
    /// (staging, production) or another set of names gets a file of its own.
    fn path(&self, kind: &str, parts: &[String], directory: &str) -> PathBuf {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for part in parts {
            digest.update(part.as_bytes());
            digest.update(&[0]);
        }
        digest.update(directory.as_bytes());
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finish());
        self.dir.join(format!("{kind}-{hash}"))
    }

    async fn read(path: PathBuf) -> io::Result<Option<Vec<u8>>> {
        let read = tokio::task::spawn_blocking(move || match std::fs::read(path) {
            Ok(contents) => Ok(Some(contents)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        });
        read.await.map_err(io::Error::other)?
    }

    async fn write(&self, path: PathBuf, contents: &[u8]) -> io::Result<()> {
        let (dir, contents) = (self.dir.clone(), contents.to_vec());
        let write = tokio::task::spawn_blocking(move || {
            private::create_dir(&dir)?;
            private::write(&path, &contents)
        });
        write.await.map_err(io::Error::other)?
    }
}

#[async_trait::async_trait]
impl rustls_acme::CertCache for DirCache {
    type EC = io::Error;

    async fn load_cert(&self, domains: &[String], directory: &str) -> io::Result<Option<Vec<u8>>> {
        Self::read(self.path("certificate", domains, directory)).await
    }

    async fn store_cert(&self, domains: &[String], directory: &str, cert: &[u8]) -> io::Result<()> {
        self.write(self.path("certificate", domains, directory), cert)
            .await
    }
}

#[async_trait::async_trait]
impl rustls_acme::AccountCache for DirCache {
    type EA = io::Error;

    async fn load_account(
        &self,
        contacts: &[String],
        directory: &str,
    ) -> io::Result<Option<Vec<u8>>> {
        Self::read(self.path("account", contacts, directory)).await
    }

    async fn store_account(
        &self,
        contacts: &[String],
        directory: &str,
        account: &[u8],
    ) -> io::Result<()> {
        self.write(self.path("account", contacts, directory), account)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_acme::{AccountCache, CertCache};

    #[cfg(unix)]
    #[tokio::test]
    async fn the_cache_is_private_and_keyed_by_names_and_directory() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("acme");
        let cache = DirCache::open(dir.clone()).unwrap();
        let names = vec!["a.example.org".to_owned()];
        cache
            .store_cert(&names, "https://ca/dir", b"pem")
            .await
            .unwrap();
        cache
            .store_account(&[], "https://ca/dir", b"key")
            .await
            .unwrap();
        assert_eq!(
            cache.load_cert(&names, "https://ca/dir").await.unwrap(),
            Some(b"pem".to_vec())
        );
        assert_eq!(
            cache.load_cert(&names, "https://other/dir").await.unwrap(),
            None,
            "another CA's certificate is not this one's"
        );
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        DirCache::open(dir.clone()).unwrap();
        assert!(
            files.iter().all(|file| mode(file) == 0o600),
            "a later start restricts files left readable"
        );
    }
}
