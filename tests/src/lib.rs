//! Test harness shared by wxgate's integration tests: fresh databases per test on SQLite,
//! PostgreSQL and MariaDB, and builders for the core services.
//!
//! PostgreSQL and MariaDB are reached at `WXGATE_TEST_POSTGRES_URL` / `WXGATE_TEST_MYSQL_URL`
//! (defaults: the local servers). When one is unreachable its tests are skipped with a note,
//! except under `CI=true`, where an unreachable database fails the run.

pub mod backends;
pub mod builder;
pub mod control;
pub mod db;
pub mod dns;
pub mod gateway;
pub mod h2raw;
pub mod receiver;
pub mod relay;
pub mod tls;
pub mod web;
pub mod world;

pub use db::{in_ci, Backend, TestDb};

/// Whether the command-line `tool` runs here. When it does not, the test calling this says it
/// is SKIPPED (outside CI) or fails (under `CI=true`: `.ci/run` installs it).
pub fn have_tool(tool: &str, test: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        assert!(!in_ci(), "{tool} is missing: .ci/run installs it");
        eprintln!("SKIPPED {test}: {tool} is not installed (apt-get install {tool})");
    }
    found
}
