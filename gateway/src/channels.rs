//! `{auth_prefix}/{channel}/{action}`: finds the channel and its endpoint, prepares the call
//! (the caller's session, a bounded body, the query, a browser flow's `state`), lets the
//! channel take its turn, and carries out its [`Reply`]: the identity core for logins and
//! binds, cookies and redirects for browser flows.

use crate::html;
use crate::request::{self, single};
use crate::rescue::{self, ApiError, ErrorCode, Shape};
use crate::return_to;
use crate::state::Gateway;
use crate::verify::authenticate;
use crate::views;
use bytes::Bytes;
use pingora::proxy::Session;
use wxgate_core::identity::LoginAttempt;
use wxgate_core::model::UserId;
use wxgate_providers::provider::{
    Call, Context, Endpoint, Interruption, LoginProvider, Reply, SessionFacts, Step, Verified,
};

/// What the gateway answers once a channel has taken its turn.
enum Answer {
    Json { status: u16, body: Bytes },
    Redirect { location: String },
    Page { body: String },
}

/// A channel call on its way: what the answer must carry whatever happens next.
struct Pending<'a> {
    g: &'a Gateway,
    channel: &'a str,
    set_cookies: Vec<String>,
    /// Where a browser flow returns to.
    return_to: Option<String>,
    /// The browser's previous session, which a new login in it ends.
    replaced_session: Option<String>,
}

/// Serves `{channel}/{action}`; `Ok(false)` when no channel has that id.
pub async fn handle(
    g: &Gateway,
    session: &mut Session,
    channel: &str,
    action: &str,
) -> pingora::Result<bool> {
    let Some(provider) = g.channels.get(channel).cloned() else {
        return Ok(false);
    };
    let endpoint = provider
        .endpoints()
        .iter()
        .find(|e| e.action == action)
        .copied();
    let in_browser_flow = endpoint.is_some_and(|e| e.step != Step::Api)
        && request::is_browser_navigation(session.req_header());
    let mut pending = Pending {
        g,
        channel,
        set_cookies: Vec::new(),
        return_to: None,
        replaced_session: None,
    };
    let result = match endpoint {
        Some(endpoint) => serve(&mut pending, session, provider.as_ref(), endpoint).await,
        None => Err(ApiError::invalid_request(format!(
            "channel {channel:?} ({}) has no {action:?} endpoint",
            provider.kind()
        ))),
    };
    let cookies = std::mem::take(&mut pending.set_cookies);
    match result {
        Ok(answer) => write_answer(session, answer, cookies).await?,
        Err(mut e) => {
            pending.count(e.label());
            e.headers
                .extend(cookies.into_iter().map(|c| ("set-cookie", c)));
            let login_page = g.login_page_path();
            let shape = if in_browser_flow {
                Shape::Page {
                    login_page: &login_page,
                }
            } else {
                Shape::Json
            };
            rescue::write_error_as(session, &e, shape).await?;
        }
    }
    Ok(true)
}

async fn serve(
    p: &mut Pending<'_>,
    session: &mut Session,
    provider: &dyn LoginProvider,
    endpoint: Endpoint,
) -> Result<Answer, ApiError> {
    let g = p.g;
    if session.req_header().method.as_str() != endpoint.method {
        return Err(ApiError::method_not_allowed(endpoint.method));
    }
    let facts = if endpoint.needs_session {
        let auth = authenticate(g, session).await?;
        p.set_cookies.extend(auth.set_cookies);
        let claims = auth.verified.token.claims.clone();
        Some(SessionFacts {
            user_id: claims.sub.clone(),
            channel: claims.chn.clone(),
            appid: g.channel_appids.get(&claims.chn).cloned(),
            openid: claims.oid.clone(),
        })
    } else {
        None
    };
    let body = if endpoint.method == "POST" {
        request::read_body(session).await?
    } else {
        Bytes::new()
    };
    let query = request::query_pairs(session.req_header())?;
    let mut state = None;
    let client_ip = request::client_ip(g, session);
    let network = client_ip.map(|ip| g.networks.of(ip));
    let too_many = || {
        let mut e = ApiError::new(ErrorCode::RateLimited, "too many logins started");
        e.retry_after = Some(60);
        e
    };
    if endpoint.calls_out && network.is_some_and(|n| !g.wechat_logins.allow(n)) {
        return Err(too_many());
    }
    match endpoint.step {
        Step::Api => {}
        Step::BrowserStart => {
            if network.is_some_and(|n| !g.flow_starts.allow(n)) {
                return Err(too_many());
            }
            let to = return_to::sanitize(single(&query, "return_to"), &g.auth_prefix);
            let started = g.flows.start(p.channel, &to).await?;
            p.set_cookies.push(started.set_cookie);
            state = Some(started.state);
            p.return_to = Some(to);
        }
        Step::BrowserCallback => {
            let finished = g
                .flows
                .finish(session.req_header(), p.channel, single(&query, "state"))
                .await?;
            p.set_cookies.push(finished.clear_cookie);
            p.return_to = Some(finished.return_to);
            p.replaced_session = crate::verify::cookie_session(g, session.req_header());
        }
    }
    let callback_url = format!("{}{}/{}/callback", g.public_url, g.auth_prefix, p.channel);
    let network = network.map(|n| n.to_string());
    let reply = provider
        .handle(Call {
            action: endpoint.action,
            body: &body,
            query: &query,
            session: facts.as_ref(),
            cx: Context {
                callback_url: &callback_url,
                state: state.as_deref(),
                client_ip,
                client_network: network.as_deref(),
            },
        })
        .await?;
    p.carry_out(reply, endpoint.step, facts.as_ref()).await
}

impl Pending<'_> {
    fn count(&self, outcome: &str) {
        self.g
            .metrics
            .logins
            .with_label_values(&[self.channel, outcome])
            .inc();
    }

    fn attempt(&self, v: Verified) -> LoginAttempt {
        LoginAttempt {
            channel: self.channel.to_string(),
            wechat: v.wechat,
            verified_phone: v.phone,
            profile: v.profile,
        }
    }

    async fn carry_out(
        &mut self,
        reply: Reply,
        step: Step,
        facts: Option<&SessionFacts>,
    ) -> Result<Answer, ApiError> {
        let g = self.g;
        match reply {
            Reply::Login(v) if step == Step::Api => {
                let grant = g.auth.login(&self.attempt(v)).await?;
                g.note_revoked(&grant.revoked_sessions);
                self.count("ok");
                Ok(Answer::Json {
                    status: 200,
                    body: views::login_response(&grant),
                })
            }
            Reply::BrowserLogin(v) if step == Step::BrowserCallback => {
                let grant = g.auth.login(&self.attempt(v)).await?;
                g.note_revoked(&grant.revoked_sessions);
                // A fresh session for every login (no fixation): the one this browser held
                // before ends with it.
                if let Some(old) = self.replaced_session.take() {
                    g.note_revoked(std::slice::from_ref(&old));
                    if let Err(e) = g.auth.logout(&old).await {
                        tracing::warn!(error = %e, "could not end the browser's previous session");
                    }
                }
                self.count("ok");
                self.set_cookies.extend(g.cookies.session(
                    grant.access_token.expose(),
                    grant.refresh_token.expose(),
                    g.session_max_age(),
                ));
                Ok(Answer::Redirect {
                    location: self.return_to.clone().unwrap_or_else(|| "/".into()),
                })
            }
            Reply::Bind(v) => {
                let Some(facts) = facts else {
                    return Err(misfit(self.channel, step));
                };
                let user = UserId(facts.user_id.clone());
                let outcome = g.auth.resolver().bind(&user, &self.attempt(v)).await?;
                g.note_revoked(&outcome.revoked_sessions);
                self.count("ok");
                Ok(Answer::Json {
                    status: 200,
                    body: views::user_body(&outcome.user, outcome.is_new),
                })
            }
            Reply::Redirect { location } if step == Step::BrowserStart => {
                Ok(Answer::Redirect { location })
            }
            Reply::Accepted { retry_after } if step == Step::Api => {
                self.count("accepted");
                Ok(Answer::Json {
                    status: 202,
                    body: Bytes::from(
                        serde_json::json!({ "retry_after": retry_after }).to_string(),
                    ),
                })
            }
            Reply::Interrupted(why) if step == Step::BrowserCallback => {
                let to = self.return_to.clone().unwrap_or_else(|| "/".into());
                let enc = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                match why {
                    Interruption::Declined => {
                        self.count("declined");
                        Ok(Answer::Redirect {
                            location: format!(
                                "{}?return_to={}&error=declined",
                                g.login_page_path(),
                                enc(&to)
                            ),
                        })
                    }
                    Interruption::SnapshotPage => {
                        self.count("snapshot");
                        let retry = format!(
                            "{}/{}/authorize?return_to={}",
                            g.auth_prefix,
                            self.channel,
                            enc(&to)
                        );
                        Ok(Answer::Page {
                            body: html::snapshot_page(&retry),
                        })
                    }
                }
            }
            _ => Err(misfit(self.channel, step)),
        }
    }
}

/// A reply that does not fit its step is a channel bug, never the client's doing.
fn misfit(channel: &str, step: Step) -> ApiError {
    tracing::error!(channel, ?step, "channel reply does not fit the endpoint");
    ApiError::internal()
}

async fn write_answer(
    session: &mut Session,
    answer: Answer,
    cookies: Vec<String>,
) -> pingora::Result<()> {
    let mut extra: Vec<(&'static str, String)> =
        cookies.into_iter().map(|c| ("set-cookie", c)).collect();
    match answer {
        Answer::Json { status, body } => rescue::write_json(session, status, body, &extra).await,
        Answer::Redirect { location } => {
            extra.push(("location", location));
            rescue::write_empty(session, 302, &extra).await
        }
        Answer::Page { body } => {
            extra.extend(html::security_headers());
            rescue::write(
                session,
                200,
                "text/html; charset=utf-8",
                Bytes::from(body),
                &extra,
            )
            .await
        }
    }
}
