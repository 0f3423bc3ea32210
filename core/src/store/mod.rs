//! Storage on SQLite (the embedded default), PostgreSQL and MySQL/MariaDB through sqlx's `Any`
//! driver. Every query is written once with `?` placeholders; [`Db::sql`] adapts it to the
//! dialect. Everything that differs between dialects (connection set-up, how a transaction
//! starts, which errors mean "retry") lives in this module.

pub mod retry;
pub mod short_lived;
pub mod wechat_tokens;

pub use retry::is_retryable;

use crate::error::{CoreError, CoreResult};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

static MIGRATE_SQLITE: Migrator = sqlx::migrate!("../migrations/sqlite");
static MIGRATE_POSTGRES: Migrator = sqlx::migrate!("../migrations/postgres");
static MIGRATE_MYSQL: Migrator = sqlx::migrate!("../migrations/mysql");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// The backend is chosen by the URL scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::Mysql),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite only: one write transaction at a time in this process. SQLite admits one writer
    /// anyway; queueing here instead of in `busy_timeout`'s sleep-and-retry keeps the tail short.
    /// Correctness across processes still comes from `BEGIN IMMEDIATE` and the constraints.
    write_gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// The webhooks and the event types each wants: every identity change queues its event
    /// for them in its own transaction.
    subscriptions: std::sync::Arc<[crate::events::Subscription]>,
}

/// A write transaction on a pooled connection, begun and ended with plain statements; derefs
/// to the connection. sqlx's own `Transaction` sends a `ROLLBACK` after a `COMMIT` that failed
/// (PostgreSQL has then already ended the transaction, and warns "there is no transaction in
/// progress"); here each way out says what it sends: [`WriteTx::commit`], [`WriteTx::rollback`],
/// and a drop without either (a cancelled or panicking caller) closes the connection instead of
/// returning it to the pool mid-transaction.
pub struct WriteTx {
    conn: Option<PoolConnection<Any>>,
    dialect: Dialect,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// The connection stays in `self` while COMMIT or ROLLBACK is in flight: a caller cancelled
    /// there drops the `WriteTx`, which closes the connection instead of pooling it with the
    /// transaction still open. Only a transaction known to be over gives it back to the pool.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let dialect = self.dialect;
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        match conn.execute("COMMIT").await {
            Ok(_) => {}
            // PostgreSQL ends the transaction on a failed COMMIT (a ROLLBACK would only warn
            // "there is no transaction in progress"). SQLite keeps it open after BUSY, and
            // MySQL is not promised to end it in every case while a ROLLBACK with nothing open
            // is silent there: end it on both, or let the drop close the connection.
            Err(e @ sqlx::Error::Database(_)) => {
                if dialect != Dialect::Postgres && conn.execute("ROLLBACK").await.is_err() {
                    return Err(e);
                }
                self.conn.take();
                return Err(e);
            }
            // The connection itself failed: its state is unknown, so the drop closes it.
            Err(e) => return Err(e),
        }
        self.conn.take();
        Ok(())
    }

    /// Rolls back and returns the connection to the pool (or closes it if that failed).
    pub async fn rollback(mut self) {
        if let Some(conn) = self.conn.as_mut() {
            if conn.execute("ROLLBACK").await.is_ok() {
                self.conn.take();
            }
        }
    }

    fn conn(&self) -> &PoolConnection<Any> {
        self.conn
            .as_ref()
            .expect("a WriteTx is only reachable before commit or rollback")
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        self.conn()
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn
            .as_mut()
            .expect("a WriteTx is only reachable before commit or rollback")
    }
}

/// Pool sizing and timeouts. A short acquire timeout turns "database down" into a fast 503
/// instead of piling up waiting logins.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

impl Db {
    pub async fn connect(url: &str) -> CoreResult<Self> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    pub async fn connect_with(url: &str, settings: PoolSettings) -> CoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| {
            CoreError::Storage(sqlx::Error::Configuration(
                "database url must start with sqlite:, postgres:, postgresql: or mysql:".into(),
            ))
        })?;
        // sqlx's Any driver does not understand the `mariadb:` alias.
        let url: Cow<str> = match url.strip_prefix("mariadb:") {
            Some(rest) => Cow::Owned(format!("mysql:{rest}")),
            None => Cow::Borrowed(url),
        };
        if dialect == Dialect::Sqlite {
            ensure_sqlite_parent_dir(&url);
        }
        let options = AnyConnectOptions::from_str(&url).map_err(CoreError::Storage)?;
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for statement in session_setup(dialect) {
                        conn.execute(*statement).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let write_gate =
            (dialect == Dialect::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self {
            pool,
            dialect,
            write_gate,
            subscriptions: std::sync::Arc::from([]),
        })
    }

    /// Applies the pending migrations of this dialect. Safe to run from several replicas at once
    /// on PostgreSQL and MySQL (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> CoreResult<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &MIGRATE_SQLITE,
            Dialect::Postgres => &MIGRATE_POSTGRES,
            Dialect::Mysql => &MIGRATE_MYSQL,
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => CoreError::from(e),
            other => CoreError::Storage(sqlx::Error::Migrate(Box::new(other))),
        })
    }

    /// The same database, queueing identity events for these webhooks.
    pub fn with_subscriptions(mut self, subscriptions: Vec<crate::events::Subscription>) -> Self {
        self.subscriptions = subscriptions.into();
        self
    }

    pub fn subscriptions(&self) -> &[crate::events::Subscription] {
        &self.subscriptions
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Adapts a query written with `?` placeholders to the dialect (`$1, $2, …` on PostgreSQL).
    /// Queries never contain a literal `?`.
    pub fn sql(&self, query: &'static str) -> Cow<'static, str> {
        match self.dialect {
            Dialect::Postgres => Cow::Owned(number_placeholders(query)),
            Dialect::Sqlite | Dialect::Mysql => Cow::Borrowed(query),
        }
    }

    /// [`Db::sql`] for a query assembled at run time (from constant parts only).
    pub fn sql_owned(&self, query: String) -> Cow<'static, str> {
        match self.dialect {
            Dialect::Postgres => Cow::Owned(number_placeholders(&query)),
            Dialect::Sqlite | Dialect::Mysql => Cow::Owned(query),
        }
    }

    /// Starts a write transaction with the isolation the identity rules rely on: SQLite takes
    /// the write lock up front (`BEGIN IMMEDIATE`), PostgreSQL runs SERIALIZABLE, MySQL runs
    /// SERIALIZABLE through the session setting made at connect time. Conflicts surface as
    /// retryable errors (see [`is_retryable`]), never as two users for one person.
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL SERIALIZABLE",
            Dialect::Mysql => "BEGIN",
        };
        let mut conn = self.pool.acquire().await?;
        if let Err(e) = conn.execute(begin).await {
            // SQLite busy, a lost connection: nothing began that needs ending, but the
            // connection's state is not worth trusting.
            conn.close_on_drop();
            return Err(e);
        }
        Ok(WriteTx {
            conn: Some(conn),
            dialect: self.dialect,
            _gate: gate,
        })
    }

    /// Readiness: one round trip.
    pub async fn ping(&self) -> CoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn session_setup(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        // WAL lets readers run beside the one writer; NORMAL sync costs at most the last
        // transactions on power loss (a forced re-login), and is markedly faster on rotation.
        Dialect::Sqlite => &[
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA foreign_keys = ON",
        ],
        Dialect::Postgres => &[],
        Dialect::Mysql => &[
            "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET SESSION innodb_lock_wait_timeout = 5",
        ],
    }
}

fn number_placeholders(query: &str) -> String {
    let mut out = String::with_capacity(query.len() + 8);
    let mut n = 0;
    for ch in query.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

fn ensure_sqlite_parent_dir(url: &str) {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            // A failure here shows up as a clear connect error right after.
            let _ = std::fs::create_dir_all(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE b = ? AND c = ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = $3"
        );
    }

    #[test]
    fn dialect_follows_the_url_scheme() {
        assert_eq!(Dialect::from_url("sqlite://x.db"), Some(Dialect::Sqlite));
        assert_eq!(
            Dialect::from_url("postgres://h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::from_url("postgresql://h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::from_url("mysql://h/db"), Some(Dialect::Mysql));
        assert_eq!(Dialect::from_url("mariadb://h/db"), Some(Dialect::Mysql));
        assert_eq!(Dialect::from_url("redis://h"), None);
    }
}

#[cfg(test)]
mod migration_trees {
    /// The three dialects must carry the same migrations, version for version.
    #[test]
    fn every_dialect_has_the_same_versions() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let versions = |dialect: &str| {
            let mut v: Vec<String> = std::fs::read_dir(root.join(dialect))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let sqlite = versions("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, versions("postgres"));
        assert_eq!(sqlite, versions("mysql"));
    }
}
