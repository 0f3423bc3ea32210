//! The wxgate gateway: a Pingora reverse proxy that terminates WeChat and phone logins, issues
//! its own tokens, strips client-sent identity headers and injects verified ones.

pub mod app;
pub mod channels;
pub mod config;
pub mod endpoints;
pub mod headers;
pub mod metrics;
pub mod path;
pub mod proxy;
pub mod rescue;
pub mod revocation;
pub mod routes;
pub mod state;
