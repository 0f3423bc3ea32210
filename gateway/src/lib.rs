//! The wxgate gateway: a Pingora reverse proxy that terminates WeChat and phone logins, issues
//! its own tokens, strips client-sent identity headers and injects verified ones.
//!
//! Imports point one way (a tidy test checks it): `proxy` → `endpoints` → `channels` →
//! `verify`, `flow` → `state`, `rescue`, `cookies`, `headers`, … The modules below `state`
//! never import the ones above it.

pub mod access_log;
pub mod adapters;
pub mod admin;
pub mod app;
pub mod channels;
pub mod client;
pub mod config;
pub mod cookies;
pub mod endpoints;
pub mod events_admin;
pub mod flow;
pub mod headers;
pub mod hsts;
pub mod html;
pub mod login_page;
pub mod metrics;
pub mod oidc;
pub mod path;
pub mod proxy;
pub mod request;
pub mod request_id;
pub mod rescue;
pub mod respond;
pub mod return_to;
pub mod revocation;
pub mod routes;
pub mod state;
pub mod throttle;
pub mod tickets;
pub mod tls;
pub mod transport;
pub mod upstream;
pub mod verify;
pub mod views;
pub mod webhooks;
