//! The server's TLS: the certificate and key named by `--tls-cert` and `--tls-key`, checked at
//! start (rustls with the ring provider, HTTP/1.1 only).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// PEM files: the certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS configuration for `--tls-cert` and `--tls-key`, checked at start.
pub fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let cert_err = || format!("cannot read the TLS certificate {}", files.cert.display());
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .with_context(cert_err)?
        .collect::<Result<Vec<_>, _>>()
        .with_context(cert_err)?;
    if certs.is_empty() {
        anyhow::bail!("{}: no PEM certificate in the file", cert_err());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("cannot read the TLS private key {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "the TLS certificate {} and key {} do not make a usable pair",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
