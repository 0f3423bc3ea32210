//! wxgate's core: the identity model and its unification rules, token issuing and verification,
//! and storage on SQLite, PostgreSQL and MySQL. Knows nothing of HTTP or Pingora.

pub mod auth;
pub mod clock;
pub mod error;
pub mod events;
pub mod identity;
pub mod model;
pub mod oidc;
pub mod phone;
pub mod policy;
pub mod rules;
pub mod secret;
pub mod store;
pub mod token;
