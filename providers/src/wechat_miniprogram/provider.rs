//! The mini-program channel: `POST login` (`wx.login` code, optionally a `getPhoneNumber` code),
//! `POST phone` (bind a phone to the caller's session later), and with `scan_login` the
//! scan-to-login of websites: the browser shows a mini-program code carrying a ticket, and the
//! mini-program page reports it scanned, confirms it with a fresh `wx.login` code (resolved as
//! `login` resolves it: an openid or user id in the body is never believed) or cancels it.

use super::config::{Config, ScanLogin};
use super::legacy::{self, LegacyError};
use crate::provider::{
    check_code, parse_json as parse, Call, Endpoint, LoginProvider, ProviderError, Reply,
    SessionFacts, Step, TicketImage, TicketMove, Verified,
};
use crate::shared_state::{first_sight, release, SharedState};
use crate::wechat::{AccessTokenCache, SessionKeyVault, WechatClient, WxError};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use wxgate_core::model::{Phone, WechatIdentity};
use wxgate_core::secret::Secret;

const ENDPOINTS: &[Endpoint] = &[
    Endpoint::new("POST", "login", Step::Api).calls_out(),
    Endpoint::new("POST", "phone", Step::Api)
        .needs_session()
        .calls_out(),
];

/// With `scan_login`, also these.
const SCAN_ENDPOINTS: &[Endpoint] = &[
    Endpoint::new("POST", "login", Step::Api).calls_out(),
    Endpoint::new("POST", "phone", Step::Api)
        .needs_session()
        .calls_out(),
    Endpoint::new("GET", "scan", Step::TicketOpen),
    Endpoint::new("GET", "scan/qr", Step::TicketView).calls_out(),
    Endpoint::new("GET", "scan/status", Step::TicketPoll),
    Endpoint::new("POST", "scan/scanned", Step::TicketAct),
    Endpoint::new("POST", "scan/confirm", Step::TicketAct).calls_out(),
    Endpoint::new("POST", "scan/cancel", Step::TicketAct),
];

pub struct MiniProgram {
    id: String,
    scan: Option<ScanLogin>,
    client: WechatClient,
    tokens: AccessTokenCache,
    session_keys: Arc<dyn SessionKeyVault>,
    /// Codes already submitted, on every replica: a replay is refused before WeChat is asked.
    seen: Arc<dyn SharedState>,
}

/// The legacy phone payload (`getPhoneNumber` on older clients).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Encrypted {
    #[serde(rename = "encryptedData")]
    encrypted_data: String,
    iv: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    code: String,
    #[serde(default)]
    phone_code: Option<String>,
    #[serde(rename = "encryptedData", default)]
    encrypted_data: Option<String>,
    #[serde(default)]
    iv: Option<String>,
}

/// What the mini-program page sends about a ticket: its scene, and to confirm, a fresh
/// `wx.login` code. Nothing else is read (an `openid` field is refused, not believed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    scene: String,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(rename = "encryptedData", default)]
    encrypted_data: Option<String>,
    #[serde(default)]
    iv: Option<String>,
}

/// `encryptedData` and `iv` come together or not at all.
fn encrypted(data: Option<String>, iv: Option<String>) -> Result<Option<Encrypted>, ProviderError> {
    match (data, iv) {
        (None, None) => Ok(None),
        (Some(encrypted_data), Some(iv)) if encrypted_data.len() <= 4096 && iv.len() <= 64 => {
            Ok(Some(Encrypted { encrypted_data, iv }))
        }
        (Some(_), Some(_)) => Err(ProviderError::InvalidRequest(
            "encryptedData or iv is too long".into(),
        )),
        _ => Err(ProviderError::InvalidRequest(
            "encryptedData and iv go together".into(),
        )),
    }
}

impl MiniProgram {
    pub fn new(
        config: &Config,
        client: WechatClient,
        tokens: AccessTokenCache,
        session_keys: Arc<dyn SessionKeyVault>,
        seen: Arc<dyn SharedState>,
    ) -> Self {
        Self {
            id: config.id.clone(),
            scan: config.scan_login.clone(),
            client,
            tokens,
            session_keys,
            seen,
        }
    }

    /// Refuses malformed and already-submitted codes without calling WeChat.
    async fn claim_code(&self, field: &str, code: &str) -> Result<(), ProviderError> {
        check_code(field, code)?;
        if first_sight(self.seen.as_ref(), self.client.appid(), code).await? {
            Ok(())
        } else {
            Err(ProviderError::InvalidCode)
        }
    }

    /// Claims `code` (refused if seen before), then runs the WeChat call that spends it. When
    /// WeChat could not be reached (502) the claim is released, so an honest retry with the
    /// same code is not refused here; WeChat still refuses a code it did spend.
    async fn spend<T>(
        &self,
        field: &str,
        code: &str,
        call: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        self.claim_code(field, code).await?;
        let result = call.await;
        if matches!(result, Err(ProviderError::Unavailable(_))) {
            release(self.seen.as_ref(), self.client.appid(), code).await;
        }
        result
    }

    /// Exchanges a `getPhoneNumber` code, refreshing the access_token once if WeChat calls it
    /// invalid.
    async fn verified_phone(&self, code: &str, openid: &str) -> Result<Phone, ProviderError> {
        let path = "/wxa/business/getuserphonenumber";
        let answer = self
            .tokens
            .with_token(|token| async move {
                self.client
                    .phone_number(token.expose(), code, Some(openid))
                    .await
            })
            .await?;
        let info = match answer {
            Ok(info) => info,
            // A phone code from another mini-program (40013), or issued to another user than
            // the session's (40003), is not this caller's to use.
            Err(WxError::Api {
                errcode: 40013 | 40003,
            }) => return Err(ProviderError::InvalidCode),
            Err(e) => return Err(e.into_provider_error(path)),
        };
        if info.watermark.appid != self.client.appid() {
            tracing::warn!(channel = %self.id, "phone watermark names another appid");
            return Err(ProviderError::InvalidCode);
        }
        let cc = if info.country_code.is_empty() {
            "86"
        } else {
            info.country_code.as_str()
        };
        // The same parser as every phone: one canonical E.164 per number.
        Phone::parse_international(cc, &info.pure_phone_number)
            .map(|p| p.phone)
            .map_err(|e| {
                tracing::warn!(channel = %self.id, reason = %e, "WeChat reported a phone the numbering plans refuse");
                ProviderError::Unavailable(format!("{path}: unusable phone number"))
            })
    }

    /// The phone in a legacy payload, decrypted with `session_key`.
    fn legacy_phone(
        &self,
        session_key: &Secret,
        payload: &Encrypted,
    ) -> Result<Phone, ProviderError> {
        let (number, cc) = legacy::phone(
            session_key.expose(),
            &payload.iv,
            &payload.encrypted_data,
            self.client.appid(),
        )
        .map_err(|e| match e {
            LegacyError::Malformed => ProviderError::InvalidRequest(e.to_string()),
            LegacyError::StaleSession | LegacyError::WrongApp => {
                tracing::info!(channel = %self.id, reason = %e, "legacy phone payload refused");
                ProviderError::InvalidCode
            }
        })?;
        Phone::parse_international(&cc, &number)
            .map(|p| p.phone)
            .map_err(|_| ProviderError::InvalidCode)
    }

    async fn login(&self, body: &[u8]) -> Result<Reply, ProviderError> {
        let body: LoginBody = parse(body)?;
        Ok(Reply::Login(self.verify_login(body).await?))
    }

    /// What a login body proves: the `wx.login` code's identity, and a phone when one came.
    async fn verify_login(&self, body: LoginBody) -> Result<Verified, ProviderError> {
        let payload = encrypted(body.encrypted_data, body.iv)?;
        if payload.is_some() && body.phone_code.is_some() {
            return Err(ProviderError::InvalidRequest(
                "send phone_code or encryptedData, not both".into(),
            ));
        }
        check_code("code", &body.code)?;
        if let Some(phone_code) = &body.phone_code {
            check_code("phone_code", phone_code)?;
        }
        // Each code is claimed only when the call that spends it is made: a phone_code is not
        // burnt by a jscode2session that failed.
        let exchange = async {
            self.client
                .jscode2session(&body.code)
                .await
                .map_err(|e| e.into_provider_error("/sns/jscode2session"))
        };
        let session = self.spend("code", &body.code, exchange).await?;
        if session.openid.is_empty() {
            return Err(ProviderError::Unavailable(
                "/sns/jscode2session: no openid".into(),
            ));
        }
        // Kept sealed for a later legacy phone payload; never returned or logged.
        if let Err(e) = self
            .session_keys
            .put(self.client.appid(), &session.openid, &session.session_key)
            .await
        {
            tracing::warn!(channel = %self.id, error = %e, "could not keep the session_key");
        }
        let phone = match (&body.phone_code, &payload) {
            (Some(code), _) => Some(
                self.spend(
                    "phone_code",
                    code,
                    self.verified_phone(code, &session.openid),
                )
                .await?,
            ),
            (None, Some(payload)) => Some(self.legacy_phone(&session.session_key, payload)?),
            (None, None) => None,
        };
        Ok(Verified {
            wechat: Some(WechatIdentity {
                appid: self.client.appid().to_string(),
                openid: session.openid,
                unionid: session.unionid.filter(|u| !u.is_empty()),
            }),
            phone,
            profile: None,
        })
    }

    /// `scan/scanned`, `scan/confirm`, `scan/cancel`: the mini-program page moves the ticket
    /// the gateway has found open.
    async fn ticket_act(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let body: TicketBody = parse(call.body)?;
        let change = match (call.action, body.code) {
            ("scan/scanned", None) => TicketMove::Scanned,
            ("scan/cancel", None) => TicketMove::Cancelled,
            ("scan/confirm", Some(code)) => TicketMove::Confirmed(
                self.verify_login(LoginBody {
                    code,
                    phone_code: None,
                    encrypted_data: None,
                    iv: None,
                })
                .await?,
            ),
            ("scan/confirm", None) => {
                return Err(ProviderError::InvalidRequest(
                    "confirm with a fresh wx.login code".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(ProviderError::InvalidRequest(
                    "only scan/confirm takes a code".into(),
                ))
            }
            (other, None) => {
                return Err(ProviderError::InvalidRequest(format!(
                    "no action {other:?}"
                )))
            }
        };
        Ok(Reply::Ticket {
            scene: body.scene,
            change,
            answers: None,
        })
    }

    /// `scan/qr`: the mini-program code of the browser's ticket, from `getwxacodeunlimit`.
    async fn ticket_image(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let scan = self.scan.as_ref().ok_or(ProviderError::Unauthorized)?;
        let ticket = call
            .cx
            .ticket
            .ok_or_else(|| ProviderError::Internal("scan/qr without a ticket".into()))?;
        let request = serde_json::json!({
            "scene": ticket.scene,
            "page": scan.page,
            "check_path": scan.check_path,
            "env_version": scan.env_version.as_str(),
        });
        let path = "/wxa/getwxacodeunlimit";
        let answer = self
            .tokens
            .with_token(|token| {
                let request = &request;
                async move { self.client.wxacode_unlimited(token.expose(), request).await }
            })
            .await?;
        let image = match answer {
            Ok(image) => image,
            // WeChat refused to make the code: the browser gets 502, the log the errcode
            // (40129/40169: the scene; 41030: scan_login.page not released, see check_path;
            // 47001: the request's shape).
            Err(WxError::Api { errcode }) => {
                return Err(ProviderError::Unavailable(format!(
                    "{path}: errcode {errcode}"
                )))
            }
            Err(e) => return Err(e.into_provider_error(path)),
        };
        Ok(Reply::Bytes {
            content_type: image.content_type,
            body: image.body,
        })
    }

    async fn phone(
        &self,
        body: &[u8],
        session: Option<&SessionFacts>,
    ) -> Result<Reply, ProviderError> {
        let session = session
            .filter(|s| s.channel == self.id)
            .ok_or(ProviderError::Unauthorized)?;
        let openid = session.openid.clone().ok_or(ProviderError::Unauthorized)?;
        let body: PhoneBody = parse(body)?;
        let phone = match (body.code, encrypted(body.encrypted_data, body.iv)?) {
            (Some(code), None) => {
                check_code("code", &code)?;
                self.spend("code", &code, self.verified_phone(&code, &openid))
                    .await?
            }
            (None, Some(payload)) => {
                let key = self
                    .session_keys
                    .get(self.client.appid(), &openid)
                    .await
                    .map_err(|e| ProviderError::Storage(format!("session_key store: {e}")))?
                    .ok_or(ProviderError::InvalidCode)?;
                self.legacy_phone(&key, &payload)?
            }
            _ => {
                return Err(ProviderError::InvalidRequest(
                    "send either code, or encryptedData and iv".into(),
                ))
            }
        };
        Ok(Reply::Bind(Verified {
            wechat: Some(WechatIdentity {
                appid: self.client.appid().to_string(),
                openid,
                unionid: None,
            }),
            phone: Some(phone),
            profile: None,
        }))
    }
}

#[async_trait]
impl LoginProvider for MiniProgram {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        <super::Config as crate::kind::Kind>::NAME
    }

    fn endpoints(&self) -> &[Endpoint] {
        if self.scan.is_some() {
            SCAN_ENDPOINTS
        } else {
            ENDPOINTS
        }
    }

    fn ticket_ttl(&self) -> Option<std::time::Duration> {
        self.scan.as_ref().map(|s| s.ttl)
    }

    async fn handle(&self, call: Call<'_>) -> Result<Reply, ProviderError> {
        match call.action {
            "login" => self.login(call.body).await,
            "phone" => self.phone(call.body, call.session).await,
            "scan" => Ok(Reply::TicketOpened {
                image: TicketImage::Served { action: "scan/qr" },
            }),
            "scan/qr" => self.ticket_image(&call).await,
            "scan/scanned" | "scan/confirm" | "scan/cancel" => self.ticket_act(&call).await,
            other => Err(ProviderError::InvalidRequest(format!(
                "no action {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Context;
    use crate::shared_state::memory::MemoryState;
    use crate::wechat::client::http_client;
    use crate::wechat::TokenLease;
    use std::time::Duration;

    struct NoLease;

    #[async_trait]
    impl TokenLease for NoLease {
        async fn load(&self, _: &str) -> Result<Option<(Secret, i64)>, String> {
            Ok(None)
        }
        async fn try_lease(&self, _: &str, _: &str, _: i64, _: i64) -> Result<bool, String> {
            Ok(true)
        }
        async fn store(&self, _: &str, _: &Secret, _: i64) -> Result<(), String> {
            Ok(())
        }
    }

    #[async_trait]
    impl SessionKeyVault for NoLease {
        async fn put(&self, _: &str, _: &str, _: &Secret) -> Result<(), String> {
            Ok(())
        }
        async fn get(&self, _: &str, _: &str) -> Result<Option<Secret>, String> {
            Ok(None)
        }
    }

    fn provider() -> MiniProgram {
        let config = Config {
            id: "mp".into(),
            appid: "wx1".into(),
            secret: Secret::new("s"),
            api_base: "http://127.0.0.1:1".into(),
            timeout: Duration::from_secs(1),
            scan_login: None,
        };
        let client = WechatClient::new(
            http_client(Duration::from_secs(1)),
            &config.api_base,
            &config.appid,
            config.secret.clone(),
        );
        let clock: wxgate_core::clock::SharedClock = Arc::new(wxgate_core::clock::SystemClock);
        let tokens = AccessTokenCache::new(client.clone(), Arc::new(NoLease), clock);
        MiniProgram::new(
            &config,
            client,
            tokens,
            Arc::new(NoLease),
            Arc::new(MemoryState::default()),
        )
    }

    fn call<'a>(action: &'a str, body: &'a [u8]) -> Call<'a> {
        Call {
            action,
            body,
            query: &[],
            raw_query: "",
            session: None,
            cx: Context::default(),
        }
    }

    #[tokio::test]
    async fn malformed_and_replayed_codes_are_refused_locally() {
        let p = provider();
        for bad in ["", "a b", "x\n", &"a".repeat(129), "';--"] {
            assert!(
                matches!(
                    p.claim_code("code", bad).await,
                    Err(ProviderError::InvalidRequest(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            p.claim_code("code", "001OWsKC0kQWLc2tpINC0j7lKC0OWsKC")
                .await,
            Ok(())
        );
        assert_eq!(
            p.claim_code("code", "001OWsKC0kQWLc2tpINC0j7lKC0OWsKC")
                .await,
            Err(ProviderError::InvalidCode)
        );
    }

    #[tokio::test]
    async fn bodies_are_checked_before_any_call() {
        let p = provider();
        for body in [
            &b""[..],
            b"{",
            b"{}",
            b"{\"code\":1}",
            b"{\"code\":\"abc\",\"extra\":1}",
            b"[]",
        ] {
            let out = p.handle(call("login", body)).await;
            assert!(
                matches!(out, Err(ProviderError::InvalidRequest(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let out = p.handle(call("phone", b"{\"code\":\"abc\"}")).await;
        assert_eq!(out.unwrap_err(), ProviderError::Unauthorized);
    }
}
