//! `wxgate user …`: an operator's look at and changes to accounts, on the gateway's own config
//! and database. Every change is an audit event naming the operator (`--by`); sessions it ends
//! leave every replica within `revocation_sync`.

use crate::config::Config;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use wxgate_core::clock::{SharedClock, SystemClock};
use wxgate_core::identity::accounts::{Accounts, Report, Unbind, UserKey};
use wxgate_core::model::{Phone, User};
use wxgate_core::phone::Region;
use wxgate_core::store::Db;

/// One `wxgate user` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Show {
        key: String,
    },
    Unbind {
        user: String,
        what: String,
        by: String,
    },
    Merge {
        survivor: String,
        absorbed: String,
        by: String,
    },
    Delete {
        user: String,
        by: String,
    },
}

/// Runs `command` and returns what to print: readable text, or JSON with `json`.
pub fn run(config: &Config, command: Command, json: bool) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let db = Db::connect(&config.database.url)
            .await
            .map_err(|e| format!("connecting to the database: {e}"))?
            .with_subscriptions(config.webhooks.iter().map(|w| w.subscription()).collect());
        db.migrate()
            .await
            .map_err(|e| format!("applying migrations: {e}"))?;
        let clock: SharedClock = Arc::new(SystemClock);
        let admin = Admin {
            accounts: Accounts::new(db.clone(), clock),
            default_region: default_region(config),
        };
        let out = admin.execute(command, json).await;
        db.close().await;
        out
    })
}

/// `wxgate check`'s look at stored data: phones stored before the numbering-plan parser
/// that it would write otherwise today. Reads only; a database that does not exist yet (a
/// SQLite file not created) or cannot be reached is said so, and is not an error of the config.
pub fn check_stored_phones(config: &Config) -> String {
    let url = &config.database.url;
    if let Some(path) = sqlite_path(url) {
        if path.is_empty() || path == ":memory:" || !std::path::Path::new(path).exists() {
            return "stored phones: no database yet, nothing to check".into();
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return format!("stored phones: not checked ({e})"),
    };
    rt.block_on(async {
        let db = match Db::connect(url).await {
            Ok(db) => db,
            Err(e) => return format!("stored phones: not checked, the database is not reachable ({e})"),
        };
        let out = match wxgate_core::identity::history::noncanonical_phones(&db).await {
            Ok((checked, odd)) if odd.is_empty() => {
                format!("stored phones: {checked} checked, all canonical")
            }
            Ok((checked, odd)) => {
                let mut out = format!(
                    "warning: stored phones: {} of {checked} are not what today's parser writes; \
                     the same number typed now would not find these users (see `wxgate user show`):",
                    odd.len()
                );
                for (user, stored) in odd {
                    let masked = Phone::from_stored(stored).masked();
                    out.push_str(&format!("\n  {user}  {masked}"));
                }
                out
            }
            // No users table: the gateway never ran on this database.
            Err(e) => format!("stored phones: not checked ({e})"),
        };
        db.close().await;
        out
    })
}

/// The file of a `sqlite:` URL, when it is one.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Some(rest.split('?').next().unwrap_or(rest))
}

/// The region numbers without a country code are read in: the first phone channel's, else
/// mainland China.
fn default_region(config: &Config) -> Region {
    config
        .channels
        .iter()
        .find_map(|c| c.config().phone_region())
        .unwrap_or(Region::CN)
}

struct Admin {
    accounts: Accounts,
    default_region: Region,
}

impl Admin {
    async fn execute(&self, command: Command, json: bool) -> Result<String, String> {
        match command {
            Command::Show { key } => {
                let users = self.find(&key).await?;
                let mut reports = Vec::new();
                for user in &users {
                    reports.push(self.accounts.report(user).await.map_err(text)?);
                }
                Ok(if json {
                    json!({ "users": reports.iter().map(report_json).collect::<Vec<_>>() })
                        .to_string()
                } else {
                    reports
                        .iter()
                        .map(report_text)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            Command::Unbind { user, what, by } => {
                let user = self.one(&user).await?;
                let what = self.unbind_target(&what)?;
                let revoked = self
                    .accounts
                    .unbind(&user.id, &what, &by)
                    .await
                    .map_err(text)?;
                let thing = match &what {
                    Unbind::Identity { appid, openid } => format!("{appid}:{openid}"),
                    Unbind::Unionid(unionid) => format!("unionid:{unionid}"),
                    Unbind::Phone(p) => p.masked(),
                };
                done(
                    json,
                    json!({"user": user.id, "unbound": thing, "sessions_ended": revoked.len()}),
                    format!(
                        "unbound {thing} from {}; {} session(s) ended",
                        user.id,
                        revoked.len()
                    ),
                )
            }
            Command::Merge {
                survivor,
                absorbed,
                by,
            } => {
                let s = self.one(&survivor).await?;
                let a = self.one(&absorbed).await?;
                let (merged, revoked) =
                    self.accounts.merge(&s.id, &a.id, &by).await.map_err(text)?;
                done(
                    json,
                    json!({"survivor": merged.id, "absorbed": a.id, "sessions_ended": revoked.len()}),
                    format!(
                        "merged {} into {}; {} session(s) ended",
                        a.id,
                        merged.id,
                        revoked.len()
                    ),
                )
            }
            Command::Delete { user, by } => {
                let user = self.one(&user).await?;
                let revoked = self.accounts.delete(&user.id, &by).await.map_err(text)?;
                done(
                    json,
                    json!({"deleted": user.id, "sessions_ended": revoked.len()}),
                    format!("deleted {}; {} session(s) ended", user.id, revoked.len()),
                )
            }
        }
    }

    async fn find(&self, key: &str) -> Result<Vec<User>, String> {
        let users = self
            .accounts
            .find(&UserKey::parse(key, self.default_region))
            .await
            .map_err(text)?;
        if users.is_empty() {
            return Err(format!("no user found for {key:?}"));
        }
        Ok(users)
    }

    /// The one user `key` names; several is an error listing them.
    async fn one(&self, key: &str) -> Result<User, String> {
        let mut users = self.find(key).await?;
        if users.len() > 1 {
            let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
            return Err(format!(
                "{key:?} names several users ({}): name one by its id",
                ids.join(", ")
            ));
        }
        Ok(users.remove(0))
    }

    /// `unionid:<id>` (the whole WeChat person), `appid:openid`, or a phone.
    fn unbind_target(&self, what: &str) -> Result<Unbind, String> {
        if let Some(unionid) = what.strip_prefix("unionid:") {
            if unionid.is_empty() {
                return Err(format!("{what:?} names no unionid"));
            }
            return Ok(Unbind::Unionid(unionid.to_string()));
        }
        if let Some((appid, openid)) = what.split_once(':') {
            if appid.is_empty() || openid.is_empty() {
                return Err(format!("{what:?} is not appid:openid"));
            }
            return Ok(Unbind::Identity {
                appid: appid.to_string(),
                openid: openid.to_string(),
            });
        }
        Phone::parse(what, self.default_region)
            .map(|parsed| Unbind::Phone(parsed.phone))
            .map_err(|e| {
                format!("{what:?} is neither unionid:<id>, appid:openid nor a phone ({e})")
            })
    }
}

fn text(e: wxgate_core::error::CoreError) -> String {
    use wxgate_core::error::CoreError;
    match e {
        CoreError::UserNotFound => "no such user (or it was deleted)".into(),
        CoreError::NotBound => "that is not bound to this user".into(),
        other => other.to_string(),
    }
}

fn done(json: bool, value: Value, line: String) -> Result<String, String> {
    Ok(if json { value.to_string() } else { line })
}

fn when(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn report_json(r: &Report) -> Value {
    json!({
        "id": r.user.id,
        "created_at": when(r.user.created_at),
        "phone": r.user.phone.as_ref().map(Phone::as_str),
        "unionid": r.user.unionid,
        "nickname": r.user.nickname,
        "identities": r.identities.iter().map(|b| json!({
            "channel": b.channel, "appid": b.appid, "openid": b.openid, "unionid": b.unionid,
        })).collect::<Vec<_>>(),
        "phone_history": r.phones.iter().map(|p| json!({
            "phone": p.phone, "bound_at": when(p.bound_at),
            "unbound_at": p.unbound_at.map(when), "reason": p.reason,
        })).collect::<Vec<_>>(),
        "events": r.events.iter().map(|e| json!({
            "at": when(e.at), "kind": e.kind, "user": e.user_id, "other_user": e.other_user_id,
            "channel": e.channel, "appid": e.appid, "openid": e.openid, "phone": e.phone,
            "by": e.actor,
        })).collect::<Vec<_>>(),
    })
}

fn report_text(r: &Report) -> String {
    let u = &r.user;
    let mut out = format!("user {}  (since {})\n", u.id, when(u.created_at));
    let none = || "-".to_string();
    out.push_str(&format!(
        "  phone     {}\n  unionid   {}\n  nickname  {}\n",
        u.phone
            .as_ref()
            .map_or_else(none, |p| p.as_str().to_string()),
        u.unionid.clone().unwrap_or_else(none),
        u.nickname.clone().unwrap_or_else(none),
    ));
    out.push_str("  identities:\n");
    if r.identities.is_empty() {
        out.push_str("    (none)\n");
    }
    for b in &r.identities {
        out.push_str(&format!("    {:<10} {}:{}\n", b.channel, b.appid, b.openid));
    }
    out.push_str("  phone history:\n");
    if r.phones.is_empty() {
        out.push_str("    (none)\n");
    }
    for p in &r.phones {
        let until = p
            .unbound_at
            .map(|t| {
                format!(
                    " until {} ({})",
                    when(t),
                    p.reason.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "    {} from {}{until}\n",
            p.phone,
            when(p.bound_at)
        ));
    }
    out.push_str("  recent events:\n");
    for e in &r.events {
        let mut line = format!("    {} {:<12}", when(e.at), e.kind);
        if let (Some(appid), Some(openid)) = (&e.appid, &e.openid) {
            line.push_str(&format!(" {appid}:{openid}"));
        }
        if let Some(phone) = &e.phone {
            line.push_str(&format!(" {phone}"));
        }
        if let Some(other) = &e.other_user_id {
            if Some(other) != e.user_id.as_ref() {
                line.push_str(&format!(" with {other}"));
            }
        }
        if let Some(by) = &e.actor {
            line.push_str(&format!(" by {by}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `wxgate check` on the certificate and key files the config names.
pub fn check_tls_files(config: &Config) -> crate::tls::Findings {
    let mut served = Vec::new();
    if let Some(tls) = &config.server.tls {
        for (i, pair) in tls.certs.iter().enumerate() {
            let key = match i {
                0 => "server.tls".to_owned(),
                n => format!("server.tls.more[{}]", n - 1),
            };
            served.push((key, pair.clone()));
        }
    }
    let mut cas = Vec::new();
    let mut clients = Vec::new();
    for (i, route) in config.routes.iter().enumerate() {
        if let Some(t) = &route.upstream_tls {
            if let Some(ca) = &t.ca_file {
                cas.push((format!("route[{i}].ca_file"), ca.clone()));
            }
            if let Some(c) = &t.client_cert {
                clients.push((format!("route[{i}].client_cert"), c.clone()));
            }
        }
    }
    crate::tls::check(&served, &cas, &clients)
}
