//! Test harness shared by wxgate's integration tests: fresh databases per test on SQLite,
//! PostgreSQL and MariaDB, and builders for the core services.
//!
//! PostgreSQL and MariaDB are reached at `WXGATE_TEST_POSTGRES_URL` / `WXGATE_TEST_MYSQL_URL`
//! (defaults: the local servers). When one is unreachable its tests are skipped with a note,
//! except under `CI=true`, where an unreachable database fails the run.

pub mod builder;
pub mod control;
pub mod db;
pub mod gateway;
pub mod receiver;
pub mod relay;
pub mod tls;
pub mod web;
pub mod world;

pub use db::{Backend, TestDb};
