//! The certificates the HTTPS listener serves: chosen per handshake by the name the client
//! asks for (SNI), and replaced in place when their files change, so a renewal (certbot, a
//! secret mount) needs no restart. A broken new file keeps the old certificates.

use std::sync::{Arc, Mutex, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::{self, name_covers, CertPaths, LoadedCert};

/// Every configured certificate; the first answers clients that ask for no name or a name
/// none covers.
pub struct CertStore {
    paths: Vec<CertPaths>,
    current: RwLock<Arc<Vec<LoadedCert>>>,
    /// The files' stamps when they were last read, successfully or not: a failed read is
    /// reported once per change, not on every poll.
    last_read: Mutex<Vec<FileStamp>>,
}

/// What changes when a file is replaced or rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

/// The outcome of [`CertStore::reload_if_changed`].
#[derive(Debug)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// The files changed but do not load; the certificates served stay as they were.
    Failed(String),
}

impl CertStore {
    /// Loads every pair; any problem stops start-up.
    pub fn load(paths: Vec<CertPaths>) -> Result<Self, String> {
        let stamps = stamps(&paths);
        let loaded = load_all(&paths)?;
        Ok(Self {
            paths,
            current: RwLock::new(Arc::new(loaded)),
            last_read: Mutex::new(stamps),
        })
    }

    /// The certificates served now.
    pub fn current(&self) -> Arc<Vec<LoadedCert>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the files again when any of them changed since the last read.
    pub fn reload_if_changed(&self) -> Reload {
        let now = stamps(&self.paths);
        {
            let mut last = self
                .last_read
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *last == now {
                return Reload::Unchanged;
            }
            *last = now;
        }
        match load_all(&self.paths) {
            Ok(loaded) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(loaded);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }

    /// The certificate for a handshake that asked for `name`.
    fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let certs = self.current();
        let chosen = name.and_then(|host| {
            // An exact name beats a wildcard, whichever certificate comes first.
            certs
                .iter()
                .find(|c| c.names.iter().any(|n| n.eq_ignore_ascii_case(host)))
                .or_else(|| {
                    certs
                        .iter()
                        .find(|c| c.names.iter().any(|n| name_covers(n, host)))
                })
        });
        chosen
            .or_else(|| certs.first())
            .map(|c| c.certified.clone())
    }
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name())
    }
}

fn load_all(paths: &[CertPaths]) -> Result<Vec<LoadedCert>, String> {
    paths.iter().map(certs::load).collect()
}

fn stamps(paths: &[CertPaths]) -> Vec<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .flat_map(|p| [&p.cert, &p.key])
        .map(|file| match std::fs::metadata(file) {
            Ok(meta) => FileStamp {
                modified: meta.modified().ok(),
                len: meta.len(),
                inode: meta.ino(),
            },
            Err(_) => FileStamp {
                modified: None,
                len: 0,
                inode: 0,
            },
        })
        .collect()
}
