//! `{auth_prefix}/{channel}/{action}`: finds the channel's endpoint by method and action,
//! prepares the call (the caller's session, a bounded body or login-page form, the query, a
//! browser flow's `state`, a ticket), lets the channel take its turn, and carries out its
//! [`Reply`]: the identity core for logins and binds, cookies and redirects for browser flows,
//! and ticket moves. A ticket's status poll is answered here alone.

use crate::html;
use crate::login_page;
use crate::request::{self, single};
use crate::rescue::{ApiError, ErrorCode};
use crate::respond::{self, Answer, Shape};
use crate::return_to;
use crate::state::Gateway;
use crate::tickets::{StartedFrom, Ticket};
use crate::verify::authenticate;
use crate::views;
use ticket_steps::{poll, scene_of, ticket_gone};

mod push_steps;
mod ticket_steps;
use bytes::Bytes;
use pingora::proxy::Session;
use wxgate_core::identity::LoginAttempt;
use wxgate_core::model::UserId;
use wxgate_providers::provider::{
    Call, Context, Endpoint, Interruption, LoginProvider, Reply, SessionFacts, Step, TicketFacts,
    TicketImage, Verified,
};

/// A login-page form being answered: what its pages need to show again.
struct FormInput {
    phone: String,
}

/// A channel call on its way: what the answer must carry whatever happens next.
struct Pending<'a> {
    g: &'a Gateway,
    channel: &'a str,
    provider: &'a dyn LoginProvider,
    set_cookies: Vec<String>,
    /// Where a browser flow (or a login-page form) returns to.
    return_to: Option<String>,
    /// The browser's previous session, which a new login in it ends.
    replaced_session: Option<String>,
    /// Set for a form posted from the login page: answers are pages.
    form: Option<FormInput>,
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
    let req = session.req_header();
    let method = req.method.as_str().to_string();
    let of_action: Vec<&Endpoint> = provider
        .endpoints()
        .iter()
        .filter(|e| e.action == action)
        .collect();
    let endpoint = of_action.iter().find(|e| e.method == method).map(|e| **e);
    let browser_step = endpoint.is_some_and(|e| {
        matches!(
            e.step,
            Step::BrowserStart | Step::BrowserCallback | Step::TicketOpen | Step::TicketPoll
        )
    }) && request::is_browser_navigation(req);
    let form = endpoint.is_some_and(|e| e.forms) && request::is_form(req);
    let mut pending = Pending {
        g,
        channel,
        provider: provider.as_ref(),
        set_cookies: Vec::new(),
        return_to: None,
        replaced_session: None,
        form: form.then_some(FormInput {
            phone: String::new(),
        }),
    };
    let result = match endpoint {
        Some(endpoint) if endpoint.step == Step::Push => {
            let (answer, failed) =
                push_steps::within_deadline(channel, serve(&mut pending, session, endpoint)).await;
            if let Some(outcome) = failed {
                pending.count(outcome);
            }
            answer
        }
        Some(endpoint) => serve(&mut pending, session, endpoint).await,
        None if !of_action.is_empty() => {
            let allow: Vec<&str> = of_action.iter().map(|e| e.method).collect();
            Err(ApiError::method_not_allowed(&allow.join(", ")))
        }
        None => Err(ApiError::invalid_request(format!(
            "channel {channel:?} ({}) has no {action:?} endpoint",
            provider.kind()
        ))),
    };
    let cookies: Vec<(&'static str, String)> = std::mem::take(&mut pending.set_cookies)
        .into_iter()
        .map(|c| ("set-cookie", c))
        .collect();
    match result {
        Ok(answer) => respond::write_answer(session, answer, cookies).await?,
        Err(mut e) => {
            pending.count(e.label());
            e.headers.extend(cookies);
            if let Some(input) = &pending.form {
                let page = pending.form_page(action, input, &e);
                let mut extra = e.headers.clone();
                if let Some(secs) = e.retry_after {
                    extra.push(("retry-after", secs.to_string()));
                }
                let answer = Answer::Page {
                    status: e.status,
                    body: page,
                };
                respond::write_answer(session, answer, extra).await?;
            } else {
                let login_page = g.login_page_path();
                let shape = if browser_step {
                    Shape::Page {
                        login_page: &login_page,
                    }
                } else {
                    Shape::Json
                };
                respond::write_error_as(session, &e, shape).await?;
            }
        }
    }
    Ok(true)
}

async fn serve(
    p: &mut Pending<'_>,
    session: &mut Session,
    endpoint: Endpoint,
) -> Result<Answer, ApiError> {
    let g = p.g;
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
    let client_ip = g.client_ip(session);
    let network = client_ip.map(|ip| g.networks.of(ip));
    if endpoint.calls_out && network.is_some_and(|n| !g.wechat_logins.allow(n)) {
        return Err(too_many("too many logins started"));
    }
    let body = if endpoint.method == "POST" {
        request::read_body(session).await?
    } else {
        Bytes::new()
    };
    let body = match &mut p.form {
        Some(input) => {
            // A login-page form is a browser writing with the person's cookies: it must come
            // from the gateway's own pages.
            if !crate::verify::same_origin(g, session.req_header()) {
                return Err(ApiError::cross_origin());
            }
            let (json, to, phone) = form_as_json(&body, &g.auth_prefix)?;
            input.phone = phone;
            p.return_to = Some(to);
            json
        }
        None => body,
    };
    let query = request::query_pairs(session.req_header())?;
    let mut state = None;
    let mut ticket: Option<Ticket> = None;
    match endpoint.step {
        // A push is judged by the channel (signatures), and moves its ticket by scene after.
        Step::Api | Step::Push => {}
        Step::BrowserStart => {
            if network.is_some_and(|n| !g.flow_starts.allow(n)) {
                return Err(too_many("too many logins started"));
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
        Step::TicketOpen => {
            if network.is_some_and(|n| !g.flow_starts.allow(n)) {
                return Err(too_many("too many logins started"));
            }
            let ttl = p.provider.ticket_ttl().ok_or_else(|| {
                tracing::error!(
                    channel = p.channel,
                    "a ticket endpoint without a ticket ttl"
                );
                ApiError::internal()
            })?;
            let to = return_to::sanitize(single(&query, "return_to"), &g.auth_prefix);
            let user_agent = session
                .req_header()
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let now = g.tokens.clock().now_secs();
            let from = StartedFrom::new(client_ip, user_agent, now);
            let opened = g.tickets.open(p.channel, &to, ttl, from).await?;
            p.set_cookies.push(opened.set_cookie);
            p.return_to = Some(to);
            ticket = g.tickets.by_scene(&opened.scene).await?;
            if ticket.is_none() {
                return Err(ApiError::internal());
            }
        }
        Step::TicketView => {
            let found = g
                .tickets
                .of_browser(session.req_header(), p.channel)
                .await?;
            let found = found
                .ok()
                .filter(|t| t.record.status.is_open())
                .ok_or_else(ticket_gone)?;
            if let Some((content_type, body)) = g.ticket_images.get(&found.scene) {
                return Ok(Answer::Bytes {
                    content_type,
                    body,
                    max_age: g.tickets.expires_in(&found),
                });
            }
            ticket = Some(found);
        }
        Step::TicketPoll => return poll(p, session, network).await,
        Step::TicketAct => {
            let scene = scene_of(&body)?;
            let found = g.tickets.by_scene(&scene).await?;
            let found = found
                .filter(|t| t.record.status.is_open() && t.record.c == p.channel)
                .ok_or_else(ticket_gone)?;
            ticket = Some(found);
        }
    }
    let callback_url = format!("{}{}/{}/callback", g.public_url, g.auth_prefix, p.channel);
    let network = network.map(|n| n.to_string());
    let facts_of_ticket = ticket.as_ref().map(|t| TicketFacts {
        scene: &t.scene,
        expires_in: g.tickets.expires_in(t),
    });
    let raw_query = session.req_header().uri.query().unwrap_or("").to_string();
    let reply = p
        .provider
        .handle(Call {
            action: endpoint.action,
            body: &body,
            query: &query,
            raw_query: &raw_query,
            session: facts.as_ref(),
            cx: Context {
                callback_url: &callback_url,
                state: state.as_deref(),
                client_ip,
                client_network: network.as_deref(),
                ticket: facts_of_ticket,
                public_origin: &g.public_origin,
                client_app: request::client_app(session.req_header()),
            },
        })
        .await?;
    p.carry_out(reply, endpoint.step, facts.as_ref(), ticket, session)
        .await
}

pub(super) fn too_many(message: &str) -> ApiError {
    let mut e = ApiError::new(ErrorCode::RateLimited, message);
    e.retry_after = Some(60);
    e
}

/// A login-page form as the channel's JSON body, its sanitised `return_to` and the phone as
/// typed.
fn form_as_json(body: &[u8], auth_prefix: &str) -> Result<(Bytes, String, String), ApiError> {
    let mut object = serde_json::Map::new();
    let mut to = None;
    for (name, value) in request::form_fields(body)? {
        if name == "return_to" {
            to = Some(value);
        } else {
            object.insert(name, serde_json::Value::String(value));
        }
    }
    let phone = object
        .get("phone")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_string();
    let to = return_to::sanitize(to.as_deref(), auth_prefix);
    let json = serde_json::Value::Object(object).to_string();
    Ok((Bytes::from(json), to, phone))
}

fn json(status: u16, value: serde_json::Value) -> Answer {
    Answer::Json {
        status,
        body: Bytes::from(value.to_string()),
    }
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

    /// The page a login-page form answers an error with: the form again, with the notice.
    fn form_page(&self, action: &str, input: &FormInput, e: &ApiError) -> String {
        let g = self.g;
        let to = self.return_to.as_deref().unwrap_or("/");
        let notice = login_page::notice_for(e);
        if action == "login" {
            login_page::code_step(g, self.channel, &input.phone, to, Some(&notice))
        } else {
            login_page::page(g, login_page::Client::Browser, to, Some(&notice))
        }
    }

    /// A fresh session for every login (no fixation): the one this browser held before ends.
    async fn end_replaced_session(&mut self, replaced: Option<String>) {
        if let Some(old) = replaced {
            self.g.note_revoked(std::slice::from_ref(&old));
            if let Err(e) = self.g.auth.logout(&old).await {
                tracing::warn!(error = %e, "could not end the browser's previous session");
            }
        }
    }

    /// Logs the person in with a browser session (cookies); the answer sends it to
    /// `return_to` with `status` (302 after a redirect, 303 after a form post).
    async fn browser_login(&mut self, v: Verified, status: u16) -> Result<Answer, ApiError> {
        let g = self.g;
        let grant = g.auth.login(&self.attempt(v)).await?;
        g.note_revoked(&grant.revoked_sessions);
        let replaced = self.replaced_session.take();
        self.end_replaced_session(replaced).await;
        self.count("ok");
        self.set_cookies.extend(g.cookies.session(
            grant.access_token.expose(),
            grant.refresh_token.expose(),
            g.session_max_age(),
        ));
        Ok(Answer::Redirect {
            status,
            location: self.return_to.clone().unwrap_or_else(|| "/".into()),
        })
    }

    async fn carry_out(
        &mut self,
        reply: Reply,
        step: Step,
        facts: Option<&SessionFacts>,
        ticket: Option<Ticket>,
        session: &Session,
    ) -> Result<Answer, ApiError> {
        let g = self.g;
        match reply {
            Reply::Login(v) if step == Step::Api && self.form.is_some() => {
                self.replaced_session = crate::verify::cookie_session(g, session.req_header());
                self.browser_login(v, 303).await
            }
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
                self.browser_login(v, 302).await
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
            Reply::Redirect { location } if step == Step::BrowserStart => Ok(Answer::Redirect {
                status: 302,
                location,
            }),
            Reply::Accepted { retry_after } if step == Step::Api => {
                self.count("accepted");
                match &self.form {
                    Some(input) => {
                        let to = self.return_to.as_deref().unwrap_or("/");
                        Ok(Answer::Page {
                            status: 200,
                            body: login_page::code_step(g, self.channel, &input.phone, to, None),
                        })
                    }
                    None => Ok(json(202, serde_json::json!({ "retry_after": retry_after }))),
                }
            }
            Reply::Interrupted(why) if step == Step::BrowserCallback => Ok(self.interrupted(why)),
            Reply::TicketOpened {
                image: TicketImage::Served { .. },
            } if step == Step::TicketOpen => {
                let ticket = ticket.ok_or_else(ApiError::internal)?;
                self.count("ticket_opened");
                if request::wants_json(session.req_header()) {
                    Ok(json(
                        200,
                        serde_json::json!({
                            "scene": ticket.scene,
                            "qr": self.image_url(&ticket),
                            "expires_in": g.tickets.expires_in(&ticket),
                        }),
                    ))
                } else {
                    Ok(self.waiting(&ticket, true))
                }
            }
            Reply::Bytes { content_type, body } if step == Step::TicketView => {
                let ticket = ticket.ok_or_else(ApiError::internal)?;
                g.ticket_images
                    .insert(ticket.scene.clone(), (content_type, body.clone()));
                Ok(Answer::Bytes {
                    content_type,
                    body,
                    max_age: g.tickets.expires_in(&ticket),
                })
            }
            Reply::Ticket {
                scene,
                change,
                answers: None,
            } if step == Step::TicketAct => {
                let ticket = ticket
                    .filter(|t| t.scene == scene)
                    .ok_or_else(|| misfit(self.channel, step))?;
                self.move_ticket(ticket, change).await
            }
            Reply::Ticket {
                scene,
                change,
                answers: Some(answers),
            } if step == Step::Push => self.push_move(&scene, change, answers).await,
            Reply::Pending { status } => Ok(json(200, serde_json::json!({ "status": status }))),
            Reply::Text(body) => Ok(Answer::Text { body }),
            Reply::Json(value) => Ok(json(200, value)),
            _ => Err(misfit(self.channel, step)),
        }
    }

    fn interrupted(&mut self, why: Interruption) -> Answer {
        let g = self.g;
        let to = self.return_to.clone().unwrap_or_else(|| "/".into());
        let back_with = |error: &str| Answer::Redirect {
            status: 302,
            location: format!("{}&error={error}", g.login_page_for(&to)),
        };
        match why {
            Interruption::Declined => {
                self.count("declined");
                back_with("declined")
            }
            Interruption::NotAMember => {
                self.count("not_member");
                back_with("not_member")
            }
            Interruption::NotPermitted => {
                self.count("not_permitted");
                back_with("not_permitted")
            }
            Interruption::SnapshotPage => {
                self.count("snapshot");
                let retry = g
                    .login_start(self.channel, &to)
                    .unwrap_or_else(|| g.login_page_for(&to));
                Answer::Page {
                    status: 200,
                    body: html::snapshot_page(&retry),
                }
            }
        }
    }
}

/// A reply that does not fit its step is a channel bug, never the client's doing.
fn misfit(channel: &str, step: Step) -> ApiError {
    tracing::error!(channel, ?step, "channel reply does not fit the endpoint");
    ApiError::internal()
}
