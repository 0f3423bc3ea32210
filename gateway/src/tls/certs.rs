//! Reading a certificate chain and its key from PEM files, and what the gateway needs to know
//! about them: the names they serve and when they expire.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM chain and key file pair as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A loaded, consistent certificate chain and key.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub paths: CertPaths,
    /// DNS names from the leaf's subjectAltName (lower case; `*.example.com` kept as written),
    /// or its common name when it has none.
    pub names: Vec<String>,
    /// The leaf's notAfter, seconds since the epoch.
    pub not_after: i64,
    /// The leaf's notBefore, seconds since the epoch.
    pub not_before: i64,
    pub certified: Arc<CertifiedKey>,
}

/// Reads `paths`; every problem is a sentence naming the file.
pub fn load(paths: &CertPaths) -> Result<LoadedCert, String> {
    let chain = read_chain(&paths.cert)?;
    let key = read_key(&paths.key)?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain.clone(), key, &provider).map_err(|e| {
        format!(
            "{} and {} do not make a certificate: {}",
            paths.cert.display(),
            paths.key.display(),
            describe_rustls_error(&e)
        )
    })?;
    let leaf = LeafFacts::read(&chain[0]).map_err(|e| format!("{}: {e}", paths.cert.display()))?;
    Ok(LoadedCert {
        paths: paths.clone(),
        names: leaf.names,
        not_after: leaf.not_after,
        not_before: leaf.not_before,
        certified: Arc::new(certified),
    })
}

/// Every certificate in a PEM file, in order; at least one.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read_file(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file ({e})", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no certificate in it (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    for (i, der) in chain.iter().enumerate() {
        if x509_parser::parse_x509_certificate(der).is_err() {
            return Err(format!(
                "{}: certificate #{} does not parse as X.509",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(chain)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "{}: no private key in it ({e}); expected -----BEGIN PRIVATE KEY----- or an RSA/EC key",
            path.display()
        )
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

/// rustls errors in the words an operator needs.
fn describe_rustls_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            "the key does not match the certificate (the first certificate must be the one the key signs for)".to_owned()
        }
        other => other.to_string(),
    }
}

/// What the gateway reads off a leaf certificate.
pub struct LeafFacts {
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
}

impl LeafFacts {
    pub fn read(der: &[u8]) -> Result<Self, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("the certificate does not parse: {e}"))?;
        let mut names: Vec<String> = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                    GeneralName::IPAddress(ip) => {
                        if let Some(ip) = ip_from_bytes(ip) {
                            names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        if names.is_empty() {
            if let Some(cn) = cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
            {
                names.push(cn.to_ascii_lowercase());
            }
        }
        Ok(Self {
            names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// Whether certificate name `pattern` (`example.com`, `*.example.com`) covers `host`: a
/// wildcard stands for exactly one leftmost label, as browsers read it (RFC 6125 §6.4.3).
pub fn name_covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(parent)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::name_covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_covers("example.com", "EXAMPLE.com"));
        assert!(name_covers("*.example.com", "a.example.com"));
        assert!(!name_covers("*.example.com", "example.com"));
        assert!(!name_covers("*.example.com", "a.b.example.com"));
        assert!(!name_covers("*.example.com", ".example.com"));
        assert!(!name_covers("example.com", "a.example.com"));
    }
}
