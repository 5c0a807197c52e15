//! TLS material from config files: listener certificates and upstream CAs.
//!
//! Every file is read and checked while the config is validated, so a wrong path, an empty
//! file or a key that does not parse is a config problem with a line number — never a startup
//! panic inside pingora and never a failed handshake discovered by the first client.

use pingora::prelude::HttpPeer;
use pingora::protocols::tls::CaType;
use pingora::utils::tls::{parse_x509, WrappedX509};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// How the gateway talks HTTPS to one upstream's backends.
#[derive(Clone)]
pub struct UpstreamTls {
    /// Sent as SNI and, when verifying, matched against the certificate; `None`: the
    /// backend's IP address is the name (no SNI is sent for an address; its certificate must
    /// name that IP).
    pub sni: Option<String>,
    pub verify: bool,
    /// The CAs to trust instead of the system's roots.
    pub ca: Option<Arc<CaType>>,
}

impl UpstreamTls {
    /// Makes `peer` a TLS peer with these settings.
    pub fn apply(&self, peer: &mut HttpPeer, ip: Option<std::net::IpAddr>) {
        // pingora skips every check for a peer without a name: there always is one.
        peer.sni = match (&self.sni, ip) {
            (Some(name), _) => name.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => String::new(),
        };
        peer.options.verify_cert = self.verify;
        peer.options.verify_hostname = self.verify;
        peer.options.ca = self.ca.clone();
    }
}

/// The certificates in a PEM file (at least one), each checked to be a usable X.509
/// certificate.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let at = |problem: TlsFileProblem| TlsFileError {
        path: path.to_path_buf(),
        problem,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| at(TlsFileProblem::Unreadable(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| at(TlsFileProblem::NotPem(e)))?;
    if certificates.is_empty() {
        return Err(at(TlsFileProblem::NoCertificate));
    }
    for certificate in &certificates {
        let mut store = pingora::tls::RootCertStore::empty();
        store
            .add(certificate.clone())
            .map_err(|e| at(TlsFileProblem::BadCertificate(e)))?;
    }
    Ok(certificates)
}

/// A certificate or key file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct TlsFileError {
    pub path: std::path::PathBuf,
    #[source]
    pub problem: TlsFileProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsFileProblem {
    #[error("cannot read it: {0}")]
    Unreadable(#[source] rustls_pki_types::pem::Error),
    #[error("not a PEM certificate file: {0}")]
    NotPem(#[source] rustls_pki_types::pem::Error),
    #[error("holds no certificate")]
    NoCertificate,
    #[error("holds a bad certificate: {0}")]
    BadCertificate(#[source] pingora::tls::RusTlsError),
    #[error("holds no usable private key: {0}")]
    NoPrivateKey(#[source] rustls_pki_types::pem::Error),
    #[error("holds a certificate pingora cannot read")]
    PingoraCannotRead,
}

/// Checks a listener's certificate chain and private key files.
pub fn check_listener_files(cert: &Path, key: &Path) -> Result<(), TlsFileError> {
    read_certificates(cert)?;
    PrivateKeyDer::from_pem_file(key)
        .map(|_| ())
        .map_err(|e| TlsFileError {
            path: key.to_path_buf(),
            problem: TlsFileProblem::NoPrivateKey(e),
        })
}

/// The CAs of a PEM file in the form pingora's connector takes per peer.
pub fn load_ca_file(path: &Path) -> Result<Arc<CaType>, TlsFileError> {
    let certificates = read_certificates(path)?;
    let wrapped = std::panic::catch_unwind(|| {
        certificates
            .iter()
            .map(|der| WrappedX509::new(der.to_vec(), parse_x509))
            .collect::<Vec<_>>()
    })
    // pingora's parser panics on what it cannot read; rustls accepted it above, so this is a
    // certificate the two libraries disagree about.
    .map_err(|_| TlsFileError {
        path: path.to_path_buf(),
        problem: TlsFileProblem::PingoraCannotRead,
    })?;
    Ok(Arc::from(wrapped.into_boxed_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_reported_not_panicked_on() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            read_certificates(&missing).unwrap_err().problem,
            TlsFileProblem::Unreadable(_)
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            read_certificates(&empty).unwrap_err().problem,
            TlsFileProblem::NoCertificate
        ));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(load_ca_file(&garbage).is_err());
        assert!(check_listener_files(&garbage, &empty).is_err());
    }
}
