//! TLS at both ends: the certificates the HTTPS listener serves (chosen by SNI, reloaded when
//! their files change) and what routes need to reach `https://` upstreams. rustls throughout;
//! TLS 1.2 and 1.3 only, as Pingora's rustls listener and connector are built.

pub mod certs;
mod check;
mod store;
mod upstream;

pub use certs::{load as load_cert, name_covers, CertPaths, LeafFacts, LoadedCert};
pub use check::{check, Findings, WARN_DAYS};
pub use store::{CertStore, Reload};
pub use upstream::PeerTls;
