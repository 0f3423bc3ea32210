//! Authorization codes, in the replicas' shared short-lived store under the code's SHA-256.
//! A code moves `open` → `redeeming` → `redeemed` by compare-and-swap, so one redemption wins
//! on any replica. Its record outlives the code by [`REUSE_WINDOW`]: a code presented again
//! after it was redeemed is recognised, and the caller revokes what the first redemption
//! issued (RFC 6749 §4.1.2).

use super::random_token;
use crate::error::CoreResult;
use crate::secret::Secret;
use crate::store::short_lived::ShortLived;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

const NS: &str = "oidc_code";
const PREFIX: &str = "oc_";
/// How long a redeemed code is remembered after it expired.
pub const REUSE_WINDOW: Duration = Duration::from_secs(600);

/// What a code stands for: the authorization that issued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    /// The browser session the person was signed in with.
    pub session_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when the client sent one.
    pub challenge: Option<String>,
    /// When the person last proved who they are (ms).
    pub auth_time_ms: i64,
    /// The code's own expiry (ms).
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "st", rename_all = "snake_case")]
enum Record {
    Open {
        g: CodeGrant,
    },
    Redeeming {
        g: CodeGrant,
    },
    Redeemed {
        g: CodeGrant,
        sid: String,
    },
    /// Presented again while its first redemption ran: that redemption must not stand.
    Reused {
        g: CodeGrant,
    },
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// This call holds the code: [`Codes::finish`] it.
    Won(CodeGrant),
    /// No such code, or it expired before anyone redeemed it.
    Unknown,
    /// The presenter's bindings (client, `redirect_uri`, verifier) do not hold: nothing moved,
    /// so a stolen code tried with a wrong verifier neither wins nor spoils it.
    Refused(CodeGrant),
    /// Redeemed before, and presented again by a caller whose bindings hold; `session` is what
    /// the first redemption started (to be revoked), when it finished.
    Reused { session: Option<String> },
}

#[derive(Clone)]
pub struct Codes {
    store: ShortLived,
    ttl: Duration,
}

fn key(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

fn well_formed(code: &str) -> bool {
    code.len() == PREFIX.len() + 43
        && code.starts_with(PREFIX)
        && code[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn json(record: &Record) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

impl Codes {
    pub fn new(store: ShortLived, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// How long a code may be redeemed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Mints a code for `grant` (whose `expires_at` is set here).
    pub async fn issue(&self, mut grant: CodeGrant) -> CoreResult<Secret> {
        let code = random_token(PREFIX);
        grant.expires_at = self
            .store
            .now_ms()
            .saturating_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 4));
        self.store
            .put(
                NS,
                &key(code.expose()),
                &json(&Record::Open { g: grant }),
                self.ttl + REUSE_WINDOW,
            )
            .await?;
        Ok(code)
    }

    /// Presents a code: of the presentations whose bindings hold (`binds`: client,
    /// `redirect_uri`, PKCE verifier), exactly one wins an open, unexpired code; the bindings
    /// are judged on the record as read, before anything moves.
    pub async fn redeem(
        &self,
        code: &str,
        binds: &(dyn Fn(&CodeGrant) -> bool + Sync),
    ) -> CoreResult<Redemption> {
        if !well_formed(code) {
            return Ok(Redemption::Unknown);
        }
        let k = key(code);
        // A few rounds: each lost swap means another presentation moved the record.
        for _ in 0..4 {
            let Some(raw) = self.store.get(NS, &k).await? else {
                return Ok(Redemption::Unknown);
            };
            let Ok(record) = serde_json::from_str::<Record>(&raw) else {
                return Ok(Redemption::Unknown);
            };
            let grant = match &record {
                Record::Open { g }
                | Record::Redeeming { g }
                | Record::Redeemed { g, .. }
                | Record::Reused { g } => g,
            };
            if let Record::Open { g } = &record {
                if g.expires_at <= self.store.now_ms() {
                    return Ok(Redemption::Unknown);
                }
            }
            if !binds(grant) {
                return Ok(Redemption::Refused(grant.clone()));
            }
            match record {
                Record::Open { g } => {
                    let next = json(&Record::Redeeming { g: g.clone() });
                    if self.store.swap(NS, &k, &raw, &next).await? {
                        return Ok(Redemption::Won(g));
                    }
                }
                Record::Redeeming { g } => {
                    let next = json(&Record::Reused { g });
                    if self.store.swap(NS, &k, &raw, &next).await? {
                        return Ok(Redemption::Reused { session: None });
                    }
                }
                Record::Redeemed { sid, .. } => {
                    return Ok(Redemption::Reused { session: Some(sid) })
                }
                Record::Reused { .. } => return Ok(Redemption::Reused { session: None }),
            }
        }
        Ok(Redemption::Unknown)
    }

    /// Records what the won redemption started. `false`: the code was presented again
    /// meanwhile, and the caller must revoke `sid` and refuse.
    pub async fn finish(&self, code: &str, grant: &CodeGrant, sid: &str) -> CoreResult<bool> {
        let k = key(code);
        let from = json(&Record::Redeeming { g: grant.clone() });
        let to = json(&Record::Redeemed {
            g: grant.clone(),
            sid: sid.to_string(),
        });
        self.store.swap(NS, &k, &from, &to).await
    }
}
