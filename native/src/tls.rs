//! TLS with rustls (the `aws-lc-rs` provider): client trust from webpki-roots plus
//! extra roots, server identity from PEM.

use std::io;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, ErrorKind};

/// Our own provider, so that another crate in the program enabling a
/// different rustls provider cannot make the process default ambiguous.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())))
}

fn tls_error(why: impl std::fmt::Display) -> Error {
    Error::io_as(ErrorKind::Tls, io::Error::new(io::ErrorKind::InvalidInput, why.to_string()))
}

/// Reads every `CERTIFICATE` block of a PEM text.
pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error("no CERTIFICATE in the PEM text"));
    }
    Ok(certs)
}

/// A TLS identity for [`crate::serve`]: certificate chain and private key
/// (the seed's `#:tcp@` for an SSL server).
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub(crate) config: Arc<ServerConfig>,
}

impl ServerTls {
    /// From PEM texts: the certificate chain (leaf first) and its private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<ServerTls, Error> {
        let chain = certificates(cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(private_key)
            .map_err(|e| tls_error(format!("bad PEM private key: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| tls_error(format!("certificate and key do not fit: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls { config: Arc::new(config) })
    }

    /// From a rustls configuration built by the caller.
    pub fn from_config(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls { config }
    }

    pub(crate) fn session(&self) -> Result<rustls::Connection, Error> {
        let conn = rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(tls_error)?;
        Ok(rustls::Connection::Server(conn))
    }
}

/// A client configuration trusting webpki-roots and `extra_roots` (PEM).
pub(crate) fn client_config(extra_roots: &[u8]) -> Result<Arc<ClientConfig>, Error> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let build = |roots: RootCertStore| -> Result<Arc<ClientConfig>, Error> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // WebSocket runs over HTTP/1.1; a server that would pick h2 must not.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    };
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if extra_roots.is_empty() {
        if let Some(config) = DEFAULT.get() {
            return Ok(Arc::clone(config));
        }
        let config = build(roots)?;
        return Ok(Arc::clone(DEFAULT.get_or_init(|| config)));
    }
    for cert in certificates(extra_roots)? {
        roots.add(cert).map_err(|e| tls_error(format!("extra root not usable: {e}")))?;
    }
    build(roots)
}

/// A client configuration that accepts any server certificate (the
/// signatures of the handshake itself are still checked): for
/// [`crate::ConnectOptions::danger_accept_invalid_certs`], `hybi connect -k`.
pub(crate) fn insecure_client_config() -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Trusts every certificate; checks handshake signatures with the
/// provider's algorithms, as rustls's own verifier does.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name a client checks the server's certificate against: `host` (a
/// DNS name or an IP address, IPv6 without brackets).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| tls_error(format!("{host:?} is not a valid TLS server name: {e}")))
}

/// A client session for `host` (a DNS name or an IP address, IPv6 without
/// brackets).
pub(crate) fn client_session(config: Arc<ClientConfig>, host: &str) -> Result<rustls::Connection, Error> {
    let conn = rustls::ClientConnection::new(config, server_name(host)?).map_err(tls_error)?;
    Ok(rustls::Connection::Client(conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors_name_the_cause() {
        let e = ServerTls::from_pem(b"not pem", b"not pem").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls);
        assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
        let e = client_config(b"garbage").unwrap_err();
        assert!(e.to_string().contains("CERTIFICATE"), "{e}");
    }

    #[test]
    fn default_client_config_is_shared() {
        let a = client_config(b"").unwrap();
        let b = client_config(b"").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(client_session(a, "example.com").is_ok());
        assert!(client_session(b, "not a name").is_err());
    }
}
