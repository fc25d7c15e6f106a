//! TLS for every client (CLI, console, adapters): the platform's trusted roots, plus a private CA
//! when one is given. One rustls configuration serves HTTP and the console's WebSocket.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

use super::ClientError;

/// The client configuration: `ca_cert` is a PEM file of one or more CA certificates to trust
/// beside the system's roots (for a server with a certificate from a private CA). The file is
/// read now, so a bad one is a clear error before anything is sent; the system's roots are
/// loaded at the first TLS handshake, so plain-HTTP use never depends on them.
pub fn client_config(ca_cert: Option<&Path>) -> Result<ClientConfig, ClientError> {
    let extra = match ca_cert {
        Some(path) => read_certificates(path)?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // gavel uses one TLS implementation throughout; making it the process default means any
    // other HTTP client in the process (a test's, an embedder's) finds it too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let verifier = LazyVerifier {
        extra,
        provider: provider.clone(),
        inner: OnceLock::new(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(format!("cannot set up TLS: {e}")))?
        .dangerous() // not dangerous: the platform verifier checks chains and names fully
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// The platform verifier (system roots plus `extra`), built at the first handshake.
#[derive(Debug)]
struct LazyVerifier {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyVerifier {
    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.inner
            .get_or_init(|| {
                Verifier::new_with_extra_roots(self.extra.clone(), self.provider.clone())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Every certificate in a PEM file; a file without one is an error, not "trust nothing extra".
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let bad = |e: &dyn std::fmt::Display| {
        ClientError::Config(format!(
            "cannot read CA certificate {}: {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}
