//! What a route needs to reach an `https://` upstream: the roots that verify it and the client
//! certificate it may ask for, read once at start-up in the forms Pingora's connector takes.

use std::sync::Arc;

use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
use rustls_pki_types::PrivateKeyDer;

use super::certs::{self, CertPaths};

/// The TLS side of one route's upstream peer.
pub struct PeerTls {
    pub sni: String,
    /// `None`: the system's roots.
    pub ca: Option<Arc<[WrappedX509]>>,
    pub client_cert: Option<Arc<CertKey>>,
    pub http2: bool,
}

impl PeerTls {
    /// Reads the files named; a problem is a sentence naming the file.
    pub fn load(
        sni: &str,
        ca_file: Option<&std::path::Path>,
        client_cert: Option<&CertPaths>,
        http2: bool,
    ) -> Result<Self, String> {
        let ca = match ca_file {
            Some(path) => {
                let roots: Vec<WrappedX509> = certs::read_chain(path)?
                    .into_iter()
                    .map(|der| WrappedX509::new(der.to_vec(), parse_x509))
                    .collect();
                Some(Arc::from(roots))
            }
            None => None,
        };
        let client_cert = match client_cert {
            Some(paths) => Some(Arc::new(client_identity(paths)?)),
            None => None,
        };
        Ok(Self {
            sni: sni.to_owned(),
            ca,
            client_cert,
            http2,
        })
    }
}

/// A client certificate and key, checked to belong together. Pingora re-reads the key's DER on
/// every handshake and would panic on one it cannot classify, so that is checked here too.
fn client_identity(paths: &CertPaths) -> Result<CertKey, String> {
    let loaded = certs::load(paths)?;
    let chain: Vec<Vec<u8>> = loaded.certified.cert.iter().map(|c| c.to_vec()).collect();
    let key = certs::read_key(&paths.key)?.secret_der().to_vec();
    PrivateKeyDer::try_from(key.clone()).map_err(|e| {
        format!(
            "{}: the key's format is not recognised on its own ({e}); convert it to PKCS#8",
            paths.key.display()
        )
    })?;
    Ok(CertKey::new(chain, key))
}
