//! `[oidc]` and `[[oidc.client]]`: wxgate as an OpenID Connect provider, its issuer and the
//! clients (relying parties) it serves.

use std::collections::HashMap;
use std::time::Duration;

use humantime::format_duration;
use serde::Deserialize;
use wxgate_core::secret::Secret;

use super::index::{join_index, join_key};
use super::validate::Validator;

/// The scopes a client may be allowed. `openid` is every client's; `offline_access` is
/// accepted and changes nothing (every client gets a refresh token).
pub const KNOWN_SCOPES: [&str; 5] = ["openid", "profile", "phone", "wechat", "offline_access"];

/// `[oidc]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Oidc {
    /// `iss` of every id_token, byte for byte; discovery is served at
    /// `{issuer}/.well-known/openid-configuration`. Default `public_url` + `auth_prefix`.
    pub issuer: String,
    /// The path discovery is served at.
    pub discovery_path: String,
    /// How long an authorization code may be redeemed. 10s to 10m. Default 60s.
    pub code_ttl: Duration,
    /// Life of the access token (userinfo) and of the id_token. 1m to 1h. Default 10m.
    pub access_ttl: Duration,
    pub clients: Vec<OidcClient>,
}

impl Oidc {
    pub fn client(&self, client_id: &str) -> Option<&OidcClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
}

/// Which `sub` a client sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The user id, as upstreams see it in `X-Auth-User`.
    Public,
    /// A per-client id: two clients cannot join their users by `sub`.
    Pairwise,
}

/// One `[[oidc.client]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcClient {
    /// 1 to 64 of `A-Z a-z 0-9 - . _ ~` (the same whether a client URL-encodes it or not).
    pub client_id: String,
    /// `None`: a public client, which must use PKCE.
    pub client_secret: Option<Secret>,
    /// Matched byte for byte.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may be granted; always holds `openid`.
    pub scopes: Vec<String>,
    pub subject: Subject,
}

impl OidcClient {
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// `[oidc]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidc {
    /// Default `public_url` + `auth_prefix`.
    pub issuer: Option<String>,
    /// Default `60s`.
    #[serde(
        default = "default_code_ttl",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub code_ttl: Duration,
    /// Default `10m`.
    #[serde(
        default = "default_access_ttl",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub access_ttl: Duration,
    #[serde(default)]
    pub client: Vec<RawOidcClient>,
}

/// `[[oidc.client]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidcClient {
    pub client_id: String,
    /// Write `${ENV}`; leave out for a public client (PKCE required).
    pub client_secret: Option<Secret>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default `["openid", "profile"]`.
    pub scopes: Option<Vec<String>>,
    /// `public` (default) or `pairwise`.
    #[serde(default = "default_subject")]
    pub subject: String,
}

fn default_code_ttl() -> Duration {
    Duration::from_secs(60)
}

fn default_access_ttl() -> Duration {
    Duration::from_secs(600)
}

fn default_subject() -> String {
    "public".to_string()
}

fn is_client_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A registered redirect: an absolute http(s) URL without a fragment (OAuth 2.0 §3.1.2); the
/// client's own scheme (`com.example.app:/cb`) is allowed for native apps, but never one a
/// browser would run.
fn redirect_problem(uri: &str) -> Option<String> {
    let parsed = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(e) => return Some(format!("{uri:?} is not an absolute URL ({e})")),
    };
    if parsed.fragment().is_some() {
        return Some(format!(
            "{uri:?} has a fragment, which a redirect URI may not"
        ));
    }
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_none_or(str::is_empty) => {
            Some(format!("{uri:?} has no host"))
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" => {
            Some(format!("{uri:?}: scheme {} is refused", parsed.scheme()))
        }
        _ => None,
    }
}

// === rules ===

impl Validator<'_> {
    pub(super) fn oidc(
        &mut self,
        raw: Option<RawOidc>,
        public_url: &str,
        auth_prefix: &str,
    ) -> Option<Oidc> {
        let raw = raw?;
        let issuer = raw
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{}{auth_prefix}", public_url.trim_end_matches('/')));
        let mut discovery_path = String::new();
        match url::Url::parse(&issuer) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() && u.fragment().is_none() && !issuer.ends_with('/') => {
                let origin = |s: &str| url::Url::parse(s).ok().map(|u| u.origin());
                if origin(&issuer) != origin(public_url) {
                    self.error(
                        "oidc.issuer",
                        format!("{issuer:?} must be on public_url's origin: the gateway serves its discovery document"),
                    );
                }
                discovery_path = format!("{}/.well-known/openid-configuration", u.path().trim_end_matches('/'));
            }
            _ => self.error(
                "oidc.issuer",
                format!("{issuer:?} must be an http(s) URL without a query, a fragment or a trailing '/' (clients compare it byte for byte)"),
            ),
        }
        for (name, value, min, max) in [
            (
                "code_ttl",
                raw.code_ttl,
                Duration::from_secs(10),
                Duration::from_secs(600),
            ),
            (
                "access_ttl",
                raw.access_ttl,
                Duration::from_secs(60),
                Duration::from_secs(3600),
            ),
        ] {
            if value < min || value > max {
                self.error(
                    join_key("oidc", name),
                    format!(
                        "{} must be between {} and {}",
                        format_duration(value),
                        format_duration(min),
                        format_duration(max)
                    ),
                );
            }
        }
        if raw.client.is_empty() {
            self.error("oidc", "names no client: add an [[oidc.client]]");
        }
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut clients = Vec::with_capacity(raw.client.len());
        for (i, c) in raw.client.into_iter().enumerate() {
            let key = join_index("oidc.client", i);
            if !is_client_id(&c.client_id) {
                self.error(
                    join_key(&key, "client_id"),
                    format!(
                        "{:?} must be 1 to 64 of A-Z, a-z, 0-9, '-', '.', '_' and '~'",
                        c.client_id
                    ),
                );
            } else if let Some(first) = ids.insert(c.client_id.clone(), i) {
                let first = self.place(&join_key(&join_index("oidc.client", first), "client_id"));
                self.error(
                    join_key(&key, "client_id"),
                    format!(
                        "duplicate client_id {:?}: also used by {first}",
                        c.client_id
                    ),
                );
            }
            if let Some(secret) = &c.client_secret {
                if secret.expose().chars().count() < 16 {
                    self.error(
                        join_key(&key, "client_secret"),
                        "must be at least 16 characters; leave it out for a public client (PKCE)",
                    );
                }
            }
            if c.redirect_uris.is_empty() {
                self.error(
                    join_key(&key, "redirect_uris"),
                    "is empty: name where the client receives its codes",
                );
            }
            for (list, uris) in [
                ("redirect_uris", &c.redirect_uris),
                ("post_logout_redirect_uris", &c.post_logout_redirect_uris),
            ] {
                for (j, uri) in uris.iter().enumerate() {
                    if let Some(problem) = redirect_problem(uri) {
                        self.error(join_index(&join_key(&key, list), j), problem);
                    }
                }
            }
            let scopes = c
                .scopes
                .clone()
                .unwrap_or_else(|| vec!["openid".into(), "profile".into()]);
            for (j, s) in scopes.iter().enumerate() {
                if !KNOWN_SCOPES.contains(&s.as_str()) {
                    self.error(
                        join_index(&join_key(&key, "scopes"), j),
                        format!(
                            "unknown scope {s:?}; expected one of {}",
                            super::raw::backticked(&KNOWN_SCOPES)
                        ),
                    );
                }
            }
            if !scopes.iter().any(|s| s == "openid") {
                self.error(join_key(&key, "scopes"), "must hold \"openid\"");
            }
            let subject = match c.subject.as_str() {
                "public" => Subject::Public,
                "pairwise" => Subject::Pairwise,
                other => {
                    self.error(
                        join_key(&key, "subject"),
                        format!("{other:?}; expected \"public\" or \"pairwise\""),
                    );
                    Subject::Public
                }
            };
            clients.push(OidcClient {
                client_id: c.client_id,
                client_secret: c.client_secret,
                redirect_uris: c.redirect_uris,
                post_logout_redirect_uris: c.post_logout_redirect_uris,
                scopes,
                subject,
            });
        }
        Some(Oidc {
            issuer,
            discovery_path,
            code_ttl: raw.code_ttl,
            access_ttl: raw.access_ttl,
            clients,
        })
    }
}
