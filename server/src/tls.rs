//! HTTPS: a self-signed certificate kept in the data directory, the operator's own files, or
//! a certificate from ACME (`acme`); and the handshake the accept loop runs with each.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;
pub use tokio_rustls::TlsAcceptor;

use crate::acme::Acme;
use crate::private;
use crate::tasks::Tasks;

/// How the server speaks TLS, as configured; [`Tls::start`] makes it a [`Handshake`].
pub enum Tls {
    /// One certificate, self-signed or the operator's.
    Fixed(TlsAcceptor),
    /// From ACME: ordered and renewed while the server runs.
    Acme(Box<Acme>),
}

impl From<TlsAcceptor> for Tls {
    fn from(acceptor: TlsAcceptor) -> Tls {
        Tls::Fixed(acceptor)
    }
}

impl Tls {
    /// The handshake for each connection; with ACME, starts the task that orders and renews
    /// the certificate (one of the server's `tasks`, so it ends with the server).
    pub fn start(self, tasks: &Tasks) -> Handshake {
        match self {
            Tls::Fixed(acceptor) => Handshake::Fixed(acceptor),
            Tls::Acme(acme) => {
                let handshake = Handshake::Acme {
                    challenge: acme.challenge.clone(),
                    serving: acme.serving.clone(),
                };
                tasks.spawn(acme.renew());
                handshake
            }
        }
    }
}

/// The TLS handshake of one connection.
#[derive(Clone)]
pub enum Handshake {
    Fixed(TlsAcceptor),
    /// A CA's TLS-ALPN-01 validation gets the challenge certificate and is closed; everyone
    /// else gets the current certificate.
    Acme {
        challenge: Arc<rustls::ServerConfig>,
        serving: Arc<rustls::ServerConfig>,
    },
}

impl Handshake {
    /// The TLS stream to serve HTTP on, or `None` for a validation connection (answered).
    pub async fn accept<IO>(&self, io: IO) -> io::Result<Option<TlsStream<IO>>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (challenge, serving) = match self {
            Handshake::Fixed(acceptor) => return acceptor.accept(io).await.map(Some),
            Handshake::Acme { challenge, serving } => (challenge, serving),
        };
        let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
        if rustls_acme::is_tls_alpn_challenge(&hello.client_hello()) {
            tracing::info!("ACME: answering a validation connection");
            let mut tls = hello.into_stream(challenge.clone()).await?;
            tls.shutdown().await?;
            return Ok(None);
        }
        hello.into_stream(serving.clone()).await.map(Some)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no private key")]
    NoKey(PathBuf),
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not fit together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How long a generated certificate is valid (browsers remember the exception per
/// certificate, so not much shorter), and how early before its end it is renewed.
const VALID_FOR: time::Duration = time::Duration::days(365);
const RENEW_BEFORE: time::Duration = time::Duration::days(30);

/// Loads the certificate kept in `data_dir/tls/`, generating it on first start, again when
/// this machine has an address the certificate does not name yet, and when it is about to
/// expire. The key is readable by its owner only.
pub fn self_signed(data_dir: &Path, addresses: &[IpAddr]) -> Result<TlsAcceptor, TlsError> {
    let dir = data_dir.join("tls");
    let (cert, key, names, valid_until) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("names.txt"),
        dir.join("valid-until.txt"),
    );
    let mut wanted: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    wanted.extend(addresses.iter().map(IpAddr::to_string));
    let known = std::fs::read_to_string(&names).unwrap_or_default();
    let covered = wanted
        .iter()
        .all(|name| known.lines().any(|line| line == name));
    let now = time::OffsetDateTime::now_utc();
    let fresh = std::fs::read_to_string(&valid_until)
        .ok()
        .and_then(|until| until.trim().parse::<i64>().ok())
        .and_then(|until| time::OffsetDateTime::from_unix_timestamp(until).ok())
        .is_some_and(|until| until - now > RENEW_BEFORE);
    if !(covered && fresh && cert.exists() && key.exists()) {
        let mut all: Vec<String> = known.lines().map(str::to_owned).collect();
        for name in wanted {
            if !all.contains(&name) {
                all.push(name);
            }
        }
        let mut params = rcgen::CertificateParams::new(all.clone())?;
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + VALID_FOR;
        let signing_key = rcgen::KeyPair::generate()?;
        let generated = params.self_signed(&signing_key)?;
        private::create_dir(&dir).map_err(|source| TlsError::Write {
            path: dir.clone(),
            source,
        })?;
        write(&cert, generated.pem())?;
        write(&key, signing_key.serialize_pem())?;
        write(&names, all.join("\n"))?;
        write(&valid_until, params.not_after.unix_timestamp().to_string())?;
        tracing::info!(path = %cert.display(), names = ?all, until = %params.not_after.date(), "generated a self-signed certificate");
    }
    // Files from an older version may be readable by everyone: not the key.
    for file in [&dir, &key, &cert] {
        private::restrict(file).map_err(|source| TlsError::Write {
            path: file.clone(),
            source,
        })?;
    }
    from_files(&cert, &key)
}

/// Uses the operator's certificate chain and key (PEM).
pub fn from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read {
            path: cert.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|source| TlsError::Read {
            path: key.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(key.to_owned()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), TlsError> {
    private::write(path, contents.as_ref()).map_err(|source| TlsError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        self_signed(dir.path(), &[lan]).unwrap();
        let first = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
        self_signed(dir.path(), &[lan]).unwrap();
        assert_eq!(
            first,
            std::fs::read(dir.path().join("tls/cert.pem")).unwrap()
        );
    }

    #[test]
    fn a_new_address_renews_the_certificate_keeping_the_old_names() {
        let dir = tempfile::tempdir().unwrap();
        self_signed(dir.path(), &["192.168.1.20".parse().unwrap()]).unwrap();
        let first = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
        self_signed(dir.path(), &["10.0.0.5".parse().unwrap()]).unwrap();
        assert_ne!(
            first,
            std::fs::read(dir.path().join("tls/cert.pem")).unwrap()
        );
        let names = std::fs::read_to_string(dir.path().join("tls/names.txt")).unwrap();
        assert!(
            names.contains("192.168.1.20")
                && names.contains("10.0.0.5")
                && names.contains("localhost")
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_readable_by_its_owner_only_even_when_it_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        self_signed(dir.path(), &[]).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("tls/key.pem"), 0o600);
        assert_eq!(mode("tls/cert.pem"), 0o600);
        assert_eq!(mode("tls"), 0o700);
        // An older version wrote it world-readable: the next start fixes it.
        let key = dir.path().join("tls/key.pem");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        self_signed(dir.path(), &[]).unwrap();
        assert_eq!(mode("tls/key.pem"), 0o600);
    }

    #[test]
    fn the_certificate_is_valid_for_a_year_and_renewed_before_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        self_signed(dir.path(), &[]).unwrap();
        let until: i64 = std::fs::read_to_string(dir.path().join("tls/valid-until.txt"))
            .unwrap()
            .parse()
            .unwrap();
        let days = (until - time::OffsetDateTime::now_utc().unix_timestamp()) / 86_400;
        assert!((364..=365).contains(&days), "{days} days");
        let first = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
        // Pretend it ends in a week.
        let soon = time::OffsetDateTime::now_utc() + time::Duration::days(7);
        std::fs::write(
            dir.path().join("tls/valid-until.txt"),
            soon.unix_timestamp().to_string(),
        )
        .unwrap();
        self_signed(dir.path(), &[]).unwrap();
        assert_ne!(
            first,
            std::fs::read(dir.path().join("tls/cert.pem")).unwrap()
        );
    }

    #[test]
    fn missing_files_are_reported_by_path() {
        let error = from_files(Path::new("/nope/cert.pem"), Path::new("/nope/key.pem"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("/nope/cert.pem"));
    }
}
