//! wxgate's one integration test binary: every suite is a module here, so the workspace links a
//! single test executable.

/// Instantiates each listed test once per backend: SQLite always; PostgreSQL and MariaDB when
/// reachable (and under `CI=true` they must be).
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(t) = wxgate_tests::TestDb::new(wxgate_tests::Backend::Sqlite).await { super::$name(t).await }
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(t) = wxgate_tests::TestDb::new(wxgate_tests::Backend::Postgres).await { super::$name(t).await }
            })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(t) = wxgate_tests::TestDb::new(wxgate_tests::Backend::Mysql).await { super::$name(t).await }
            })*
        }
    };
}

/// As [`conformance!`] for tests that start gateways themselves: each gets the backend, and
/// its setup's `TestDb::new` skips (saying so) or fails under `CI=true` when it is unreachable.
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(wxgate_tests::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(wxgate_tests::Backend::Postgres).await })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(wxgate_tests::Backend::Mysql).await })*
        }
    };
}

/// Where identities, sessions and short-lived state are kept: the same behaviour on every
/// backend.
mod storage {
    mod binds;
    mod identity;
    mod outbox;
    mod returning;
    mod schema;
    mod sessions;
    mod short_lived;
    mod support;
}

/// Signing in: each channel end to end against the gateway binary and the simulator.
mod login {
    pub(crate) mod browser;
    mod chromium;
    pub(crate) mod follow;
    mod jssdk;
    mod lockout;
    mod miniprogram;
    mod scan;
    mod server_url;
    mod sessions;
    pub(crate) mod sms;
    mod wechat_faults;
    pub(crate) mod wecom;
}

/// The proxied request: what reaches an upstream and what comes back.
mod proxy {
    mod access_log;
    mod hardening;
    mod header_case;
    mod pools;
    pub(crate) mod requests;
    mod slow_clients;
    pub(crate) mod smuggling;
    mod tls;
    mod websocket;
}

/// Running it: operators' commands, replicas, outages and identity events.
mod ops {
    pub(crate) mod admin_cli;
    mod outage;
    mod replicas;
    mod unbind;
    mod webhooks;
}

/// wxgate as an OpenID Connect provider.
mod oidc;

mod tidy;
