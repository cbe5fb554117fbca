//! HTTPS: a self-signed certificate kept in the data directory, or the operator's own files.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use tokio_rustls::TlsAcceptor;

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

/// Loads the certificate kept in `data_dir/tls/`, generating it on first start, or again when
/// this machine has an address the certificate does not name yet.
pub fn self_signed(data_dir: &Path, addresses: &[IpAddr]) -> Result<TlsAcceptor, TlsError> {
    let dir = data_dir.join("tls");
    let (cert, key, names) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("names.txt"),
    );
    let mut wanted: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    wanted.extend(addresses.iter().map(IpAddr::to_string));
    let known = std::fs::read_to_string(&names).unwrap_or_default();
    let covered = wanted
        .iter()
        .all(|name| known.lines().any(|line| line == name));
    if !(covered && cert.exists() && key.exists()) {
        let mut all: Vec<String> = known.lines().map(str::to_owned).collect();
        for name in wanted {
            if !all.contains(&name) {
                all.push(name);
            }
        }
        let generated = rcgen::generate_simple_self_signed(all.clone())?;
        std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
            path: dir.clone(),
            source,
        })?;
        write(&cert, generated.cert.pem())?;
        write(&key, generated.signing_key.serialize_pem())?;
        write(&names, all.join("\n"))?;
        tracing::info!(path = %cert.display(), names = ?all, "generated a self-signed certificate");
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
    std::fs::write(path, contents).map_err(|source| TlsError::Write {
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

    #[test]
    fn missing_files_are_reported_by_path() {
        let error = from_files(Path::new("/nope/cert.pem"), Path::new("/nope/key.pem"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("/nope/cert.pem"));
    }
}
