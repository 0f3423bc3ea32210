//! `[database]`: the sqlx URL of SQLite, PostgreSQL or MySQL/MariaDB. It may hold a password,
//! which no message or `Debug` ever shows.

use serde::Deserialize;

use super::validate::Validator;

/// `[database]`.
#[derive(Clone, PartialEq)]
pub struct Database {
    /// sqlx URL starting with `sqlite:`, `postgres:`, `postgresql:`, `mysql:` or `mariadb:`.
    /// Default `sqlite://data/wxgate.db?mode=rwc`. May hold a password: never log it.
    pub url: String,
}

/// Masks the URL's password, so that `{config:?}` is safe to log.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                // Only fails for URLs that cannot have a password, which this one has.
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.url.clone(),
            Err(_) => "(unparsable URL, not shown)".to_owned(),
        };
        f.debug_struct("Database").field("url", &url).finish()
    }
}

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    /// sqlx URL: `sqlite:`, `postgres:`/`postgresql:` or `mysql:`/`mariadb:`.
    #[serde(default = "default_database_url")]
    pub url: String,
}

fn default_database_url() -> String {
    "sqlite://data/wxgate.db?mode=rwc".to_owned()
}

const DATABASE_SCHEMES: [&str; 5] = ["sqlite", "postgres", "postgresql", "mysql", "mariadb"];

// === rules ===

impl Validator<'_> {
    pub(super) fn database(&mut self, raw: RawDatabase) -> Database {
        // The URL may hold a password, so it is never echoed.
        let scheme = raw.url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme {
            _ if raw.url.trim().is_empty() => self.error("database.url", "must not be empty"),
            Some(s) if DATABASE_SCHEMES.contains(&s.as_str()) => {}
            _ => self.error(
                "database.url",
                "unsupported database URL; expected one starting with sqlite:, postgres:, postgresql:, mysql: or mariadb:",
            ),
        }
        Database { url: raw.url }
    }
}
