//! TLS for every PostgreSQL connection pgchaos opens (observers, probes, SQL steps, the
//! workload), with libpq's `sslmode` meanings
//! (<https://www.postgresql.org/docs/current/libpq-ssl.html>, table "SSL Mode
//! Descriptions"):
//!
//! - `disable`: plain text only;
//! - `prefer` (libpq's default): TLS when the server offers it, certificate not checked;
//! - `require`: TLS or no connection; the certificate is not checked, unless a root
//!   certificate file is given, in which case libpq checks the chain (as `verify-ca`);
//! - `verify-ca`: TLS, and the server certificate must chain to `sslrootcert`;
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! rustls with the provider reqwest already uses (aws-lc-rs). Channel binding
//! (SCRAM-SHA-256-PLUS) is not offered: the client says so and SCRAM-SHA-256 is used.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::inventory::{Postgres, SslMode};

/// Why the TLS settings of the inventory cannot be used; reported before anything is
/// contacted.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The root certificate file could not be read or holds no certificate.
    #[error("postgres.sslrootcert {}: {why}", path.display())]
    RootCert {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// A verifying mode without any root certificate to verify against.
    #[error(
        "postgres.sslmode {mode} checks the server certificate, but no root certificate was \
         given: set postgres.sslrootcert (libpq would read ~/.postgresql/root.crt, which does \
         not exist here)"
    )]
    NoRootCert {
        /// The mode, as written.
        mode: &'static str,
    },
    /// rustls refused the configuration.
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// How PostgreSQL connections are encrypted and checked: the `sslmode` and, for the
/// modes that use TLS, the rustls configuration. Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    mode: SslMode,
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("mode", &self.mode).finish()
    }
}

impl Default for Tls {
    /// libpq's default, `prefer`, with no certificate check.
    fn default() -> Self {
        Self::unverified(SslMode::Prefer).expect("the default TLS configuration builds")
    }
}

impl Tls {
    /// Plain text only (`sslmode: disable`).
    pub fn disabled() -> Self {
        Self {
            mode: SslMode::Disable,
            config: None,
        }
    }

    /// The inventory's `sslmode` and `sslrootcert` (the file is read now).
    pub fn from_inventory(pg: &Postgres) -> Result<Self, TlsError> {
        // libpq's default location, used only when it exists.
        let default = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".postgresql/root.crt"))
            .filter(|p| p.is_file());
        Self::build(pg.sslmode, pg.sslrootcert.clone().or(default))
    }

    fn build(mode: SslMode, root: Option<PathBuf>) -> Result<Self, TlsError> {
        match (mode, root) {
            (SslMode::Disable, _) => Ok(Self::disabled()),
            (SslMode::Prefer, _) | (SslMode::Require, None) => Self::unverified(mode),
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => Err(TlsError::NoRootCert {
                mode: mode.as_str(),
            }),
            (mode, Some(path)) => {
                let roots = read_roots(&path)?;
                Self::verified(mode, roots, mode == SslMode::VerifyFull)
            }
        }
    }

    /// Sets the client's own negotiation (whether to ask for TLS, whether it is required).
    pub(crate) fn apply(&self, cfg: &mut tokio_postgres::Config) {
        use tokio_postgres::config::SslMode as Pq;
        cfg.ssl_mode(match self.mode {
            SslMode::Disable => Pq::Disable,
            SslMode::Prefer => Pq::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Pq::Require,
        });
    }

    /// The connector to pass to `Config::connect` (with [`Tls::apply`] done first).
    pub(crate) fn connector(&self) -> Connector {
        Connector {
            config: self.config.clone(),
        }
    }

    fn unverified(mode: SslMode) -> Result<Self, TlsError> {
        Self::with(mode, None, false)
    }

    fn verified(mode: SslMode, roots: RootCertStore, names: bool) -> Result<Self, TlsError> {
        let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        Self::with(mode, Some(chain), names)
    }

    fn with(
        mode: SslMode,
        chain: Option<Arc<WebPkiServerVerifier>>,
        names: bool,
    ) -> Result<Self, TlsError> {
        let provider = provider();
        let verifier = Arc::new(Verifier {
            provider: provider.clone(),
            chain,
            names,
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self {
            mode,
            config: Some(Arc::new(config)),
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let err = |why: String| TlsError::RootCert {
        path: path.to_owned(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(format!("cannot be read: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(err("holds no certificate".into()));
    }
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| err(format!("holds a certificate rustls refuses: {e}")))?;
    }
    Ok(roots)
}

/// The server certificate check of every mode that uses TLS. Without a chain verifier
/// (`prefer`, `require` without a root file) the channel is encrypted and the certificate
/// not checked, as libpq does; `verify-ca` checks the chain but not the names (webpki
/// checks the name only after the chain, so a name error means the chain was good);
/// `verify-full` checks both. Handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    names: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// tokio-postgres's hook for TLS: one per connection attempt (per host).
pub(crate) struct Connector {
    config: Option<Arc<ClientConfig>>,
}

/// The handshake for one host. tokio-postgres asks for one for every host, also when
/// `sslmode` is disable (it then never starts it).
pub(crate) struct Handshake {
    config: Option<Arc<ClientConfig>>,
    name: ServerName<'static>,
}

impl<S> MakeTlsConnect<S> for Connector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Handshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Handshake, io::Error> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{domain:?} is not a name TLS can check: {e}"),
            )
        })?;
        Ok(Handshake {
            config: self.config.clone(),
            name,
        })
    }
}

impl<S> TlsConnect<S> for Handshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self
                .config
                .ok_or_else(|| io::Error::other("TLS was asked for although sslmode is disable"))?;
            tokio_rustls::TlsConnector::from(config)
                .connect(self.name, stream)
                .await
                .map(Stream)
        })
    }
}

/// An encrypted connection to a server.
pub(crate) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_the_client_negotiation_libpq_uses() {
        use tokio_postgres::config::SslMode as Pq;
        for (mode, want) in [
            (SslMode::Disable, Pq::Disable),
            (SslMode::Prefer, Pq::Prefer),
            (SslMode::Require, Pq::Require),
        ] {
            let tls = Tls::build(mode, None).expect("builds");
            let mut cfg = tokio_postgres::Config::new();
            tls.apply(&mut cfg);
            assert_eq!(cfg.get_ssl_mode(), want, "{mode:?}");
            assert_eq!(tls.config.is_some(), mode != SslMode::Disable, "{mode:?}");
        }
    }

    #[test]
    fn a_verifying_mode_needs_a_root_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let e = Tls::build(SslMode::VerifyFull, None).unwrap_err();
        assert!(e.to_string().contains("set postgres.sslrootcert"), "{e}");
        let missing = dir.path().join("nope.crt");
        let e = Tls::build(SslMode::VerifyCa, Some(missing)).unwrap_err();
        assert!(e.to_string().contains("nope.crt: cannot be read"), "{e}");
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Tls::build(SslMode::Require, Some(empty)).unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
    }

    #[tokio::test]
    async fn a_disabled_connector_never_starts_tls() {
        let mut c = Tls::disabled().connector();
        let h = MakeTlsConnect::<tokio::io::DuplexStream>::make_tls_connect(&mut c, "pg1")
            .expect("tokio-postgres asks for a handshake whatever the mode");
        let (stream, _peer) = tokio::io::duplex(64);
        let e = TlsConnect::connect(h, stream).await.err().expect("refused");
        assert!(e.to_string().contains("sslmode is disable"), "{e}");
    }
}
