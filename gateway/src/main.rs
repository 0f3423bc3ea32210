//! `wxgate`: run the gateway, check a config, or start the local development setup.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use wxgate::config::{self, ProcessEnv};

/// glibc's allocator showed up as a tenth of the proxied path's CPU (malloc, free and their
/// consolidation); mimalloc's thread-local free lists suit Pingora's many small, short-lived
/// allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "wxgate",
    version,
    about = "Authentication gateway for services inside WeChat"
)]
struct Cli {
    /// The TOML config to run with.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Pingora worker threads (default: number of CPUs).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a config file, say whether stored phones are canonical (when the database
    /// exists), and exit.
    Check,
    /// Start the gateway on config/dev.toml with the WeChat simulator and a demo upstream.
    Dev,
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Look up and change accounts (on the config's database).
    User {
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Identity events for upstreams (the outbox and its webhook deliveries).
    Events {
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: EventsAction,
    },
}

#[derive(Subcommand)]
enum EventsAction {
    /// The newest identity events and their deliveries.
    List {
        /// Only events with a delivery parked as failed.
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send events again to every webhook that wants them: one by id, or all since a time.
    Replay {
        /// An event id (`evt_…`).
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        id: Option<String>,
        /// An RFC 3339 time (2026-11-30T08:00:00Z) or a duration back from now (2h).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// A user, by user id, phone, openid or unionid: identities, phone history, recent events.
    Show { key: String },
    /// Detach from a user an identity (`appid:openid`), the whole WeChat person
    /// (`unionid:<id>`: every identity with that unionid, and the unionid) or the phone, and
    /// end the sessions started through it. The next login through what was detached starts
    /// afresh: it finds this user only through a phone it proves there and then.
    Unbind {
        user: String,
        what: String,
        /// Who makes the change (recorded in the audit trail).
        #[arg(long)]
        by: String,
    },
    /// Fold the second user into the first (the first keeps its id).
    Merge {
        survivor: String,
        absorbed: String,
        #[arg(long)]
        by: String,
    },
    /// Delete an account: identities, unionid and phone released, sessions ended.
    Delete {
        user: String,
        #[arg(long)]
        by: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Add a new key of each kind: published at once, signing after `tokens.key_activation`;
    /// the previous one keeps verifying.
    Rotate,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            // Pingora logs every client that hangs up as an error; the gateway logs the
            // failures that matter (upstream down or slow) itself. PostgreSQL notices a
            // rolled-back serialization conflict produces are expected, not news.
            // Pingora's connector logs a pooled upstream connection it lost a race for at ERROR
            // (cloudflare/pingora#201): wxgate_upstream_connections_total counts what it costs.
            "info,pingora_core=warn,pingora_core::connectors=off,pingora_proxy=off,\
             sqlx::postgres::notice=error",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

fn load(path: Option<&PathBuf>) -> Result<config::Config, String> {
    load_for(path, config::Scope::Everything)
}

fn load_for(path: Option<&PathBuf>, scope: config::Scope) -> Result<config::Config, String> {
    let path = path.ok_or("--config FILE is required")?;
    config::load_file_for(path, &ProcessEnv, scope).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let mut options = wxgate::app::RunOptions::default();
    if let Some(t) = cli.threads {
        options.threads = t;
    }
    let result = match cli.command {
        Some(Command::Check) => load(cli.config.as_ref()).and_then(|c| {
            println!(
                "config ok: {} channel(s), {} route(s)",
                c.channels.len(),
                c.routes.len()
            );
            let tls = wxgate::admin::check_tls_files(&c);
            for line in &tls.lines {
                println!("{line}");
            }
            if tls.errors > 0 {
                return Err(format!("{} TLS file problem(s)", tls.errors));
            }
            println!("{}", wxgate::admin::check_stored_phones(&c));
            Ok(())
        }),
        Some(Command::Keys {
            action: KeysAction::Rotate,
        }) => load_for(cli.config.as_ref(), config::Scope::Operator).and_then(|c| {
            let now = wxgate_core::clock::Clock::now_ms(&wxgate_core::clock::SystemClock);
            let activation = c.tokens.key_activation;
            let activation_ms = i64::try_from(activation.as_millis()).unwrap_or(i64::MAX / 4);
            wxgate_core::token::keys::KeySet::rotate(&c.tokens.keys_dir, now, activation_ms)
                .map(|k| {
                    let oidc = k
                        .oidc
                        .first()
                        .map(|key| format!(", id_token {}", key.kid))
                        .unwrap_or_default();
                    println!(
                        "new keys: access {}, assertion {}, vault {}{oidc}; published now, signing \
                         in {} (tokens.key_activation), once every replica has read them",
                        k.access_signer().kid,
                        k.assertion_signer().kid,
                        k.vault[0].kid,
                        humantime::format_duration(activation)
                    )
                })
                .map_err(|e| e.to_string())
        }),
        Some(Command::Dev) => wxgate::app::dev(options).map_err(|e| format!("{e:#}")),
        Some(Command::User { json, action }) => {
            load_for(cli.config.as_ref(), config::Scope::Operator).and_then(|c| {
                use wxgate::admin::Command as C;
                let command = match action {
                    UserAction::Show { key } => C::Show { key },
                    UserAction::Unbind { user, what, by } => C::Unbind { user, what, by },
                    UserAction::Merge {
                        survivor,
                        absorbed,
                        by,
                    } => C::Merge {
                        survivor,
                        absorbed,
                        by,
                    },
                    UserAction::Delete { user, by } => C::Delete { user, by },
                };
                wxgate::admin::run(&c, command, json).map(|out| println!("{out}"))
            })
        }
        Some(Command::Events { json, action }) => {
            load_for(cli.config.as_ref(), config::Scope::Operator).and_then(|c| {
                use wxgate::events_admin::{Command as C, Which};
                let command = match action {
                    EventsAction::List { failed, limit } => C::List { failed, limit },
                    EventsAction::Replay { id, since } => C::Replay {
                        which: match (id, since) {
                            (Some(id), _) => Which::Id(id),
                            (None, Some(since)) => Which::Since(since),
                            (None, None) => unreachable!("clap requires one of them"),
                        },
                    },
                };
                wxgate::events_admin::run(&c, command, json).map(|out| println!("{out}"))
            })
        }
        None => load(cli.config.as_ref())
            .and_then(|c| wxgate::app::run(c, options).map_err(|e| format!("{e:#}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wxgate: {message}");
            ExitCode::FAILURE
        }
    }
}
