//! The ticket steps of a channel call: a browser's status poll (answered here alone, the
//! session delivered once), a ticket's waiting page and image URL, and the moves another party
//! makes (scanned, confirmed, cancelled), each applied once on any replica.

use super::{json, Pending};
use crate::html;
use crate::request;
use crate::rescue::ApiError;
use crate::respond::Answer;
use crate::tickets::{Confirmed, Missing, Record, Status, Ticket};
use pingora::proxy::Session;
use sha2::{Digest, Sha256};
use wxgate_core::identity::LoginAttempt;
use wxgate_core::model::{Phone, UserId, WechatIdentity};
use wxgate_providers::provider::{Step, TicketMove};

/// A ticket's waiting page asks again this often.
const POLL_SECS: u32 = 2;

pub(super) fn ticket_gone() -> ApiError {
    ApiError::invalid_state("the sign-in ticket is unknown, expired, cancelled or already used")
}

/// The `scene` of a JSON body about a ticket (the rest is the channel's to read).
pub(super) fn scene_of(body: &[u8]) -> Result<String, ApiError> {
    let value: serde_json::Value = request::parse_json(body)?;
    value
        .get("scene")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid_request("scene is required"))
}

/// The browser asks how its ticket stands: the status, or once confirmed, its session (once).
pub(super) async fn poll(
    p: &mut Pending<'_>,
    session: &Session,
    network: Option<ipnet::IpNet>,
) -> Result<Answer, ApiError> {
    let g = p.g;
    let req = session.req_header();
    let page = !request::wants_json(req) && request::is_browser_navigation(req);
    let found = g.tickets.of_browser(req, p.channel).await?;
    // Counted after the lookup: a browser's own ticket by the ticket, so that nobody sharing
    // its address can spend its polls; anything else by the network.
    let allowed = match &found {
        Ok(ticket) => g.ticket_polls.allow(ticket.scene.clone()),
        Err(_) => network.is_none_or(|n| g.ticket_poll_misses.allow(n)),
    };
    if !allowed {
        return Err(super::too_many("asking too often"));
    }
    let found = match found {
        Ok(ticket) => ticket,
        Err(Missing::NotYours) => return Err(ticket_gone()),
        Err(Missing::Gone) => return Ok(p.ended(Status::Cancelled, true, page)),
    };
    p.return_to = Some(found.record.r.clone());
    match found.record.status {
        Status::Waiting | Status::Scanned => Ok(p.waiting(&found, page)),
        Status::Cancelled => {
            p.set_cookies.push(g.tickets.clear_cookie(p.channel));
            Ok(p.ended(Status::Cancelled, false, page))
        }
        Status::Confirmed => {
            if !g.tickets.deliver(&found).await? {
                // Picked up by a racing request of this browser: that answer has the session.
                return Ok(p.ended(Status::Cancelled, true, page));
            }
            let login = found.record.login.clone().ok_or_else(ApiError::internal)?;
            let attempt = LoginAttempt {
                channel: p.channel.to_string(),
                wechat: login
                    .appid
                    .zip(login.openid)
                    .map(|(appid, openid)| WechatIdentity {
                        appid,
                        openid,
                        unionid: None,
                    }),
                verified_phone: login.phone.map(Phone::from_stored),
                profile: None,
            };
            let replaced = crate::verify::cookie_session(g, req);
            let grant = g.auth.session_for(&UserId(login.user), &attempt).await?;
            p.end_replaced_session(replaced).await;
            p.count("ok");
            p.set_cookies.push(g.tickets.clear_cookie(p.channel));
            p.set_cookies.extend(g.cookies.session(
                grant.access_token.expose(),
                grant.refresh_token.expose(),
                g.session_max_age(),
            ));
            let to = found.record.r;
            Ok(if page {
                Answer::Redirect {
                    status: 302,
                    location: to,
                }
            } else {
                json(
                    200,
                    serde_json::json!({ "status": "confirmed", "return_to": to }),
                )
            })
        }
    }
}

impl Pending<'_> {
    /// The action of this channel's endpoint for `step` (`scan`, `scan/qr`, `scan/status`).
    fn action_of(&self, step: Step) -> Option<&'static str> {
        self.provider
            .endpoints()
            .iter()
            .find(|e| e.step == step)
            .map(|e| e.action)
    }

    fn url_of(&self, step: Step) -> String {
        format!(
            "{}/{}/{}",
            self.g.auth_prefix,
            self.channel,
            self.action_of(step).unwrap_or("")
        )
    }

    /// Where the browser starts a new ticket, coming back to the same place.
    fn restart_url(&self) -> String {
        let to = self.return_to.as_deref().unwrap_or("/");
        let action = self.action_of(Step::TicketOpen).unwrap_or("");
        self.g.start_url(self.channel, action, to)
    }

    /// The image of `ticket`: its URL names the ticket, so a browser may cache it.
    pub(super) fn image_url(&self, ticket: &Ticket) -> String {
        let tag = hex::encode(&Sha256::digest(ticket.scene.as_bytes())[..4]);
        format!("{}?v={tag}", self.url_of(Step::TicketView))
    }

    /// An open ticket's answer: its status, or its waiting page.
    pub(super) fn waiting(&self, ticket: &Ticket, page: bool) -> Answer {
        let status = ticket.record.status;
        if !page {
            return json(
                200,
                serde_json::json!({
                    "status": status.as_str(),
                    "expires_in": self.g.tickets.expires_in(ticket),
                }),
            );
        }
        let line = match status {
            Status::Scanned => "已扫码，请在手机上确认 · Scanned: confirm on your phone",
            _ => "请用微信扫码 · Scan the code with WeChat",
        };
        let (image, status_href, restart) = (
            self.image_url(ticket),
            self.url_of(Step::TicketPoll),
            self.restart_url(),
        );
        Answer::Page {
            status: 200,
            body: html::ticket_page(&html::TicketPage {
                title: &self.g.login_title,
                image_src: &image,
                status_line: line,
                status_href: &status_href,
                refresh_secs: POLL_SECS,
                restart_href: &restart,
            }),
        }
    }

    /// A ticket that ended without a login: cancelled, or (`expired`) gone.
    fn ended(&self, status: Status, expired: bool, page: bool) -> Answer {
        let word = if expired { "expired" } else { status.as_str() };
        if !page {
            return json(200, serde_json::json!({ "status": word }));
        }
        let message = if expired {
            "二维码已过期 · The code has expired"
        } else {
            "登录已取消 · The sign-in was cancelled"
        };
        Answer::Page {
            status: 200,
            body: html::ticket_ended_page(&self.g.login_title, message, &self.restart_url()),
        }
    }

    /// Applies a move to an open ticket, once: of racing moves, on any replicas, one wins and
    /// the others find the ticket no longer as they read it.
    pub(super) async fn move_ticket(
        &mut self,
        ticket: Ticket,
        change: TicketMove,
    ) -> Result<Answer, ApiError> {
        let next = self.apply_move(ticket, change).await?;
        let mut answer = serde_json::json!({ "status": next.status.as_str() });
        if next.status == Status::Scanned {
            answer["started_from"] = serde_json::json!({
                "ip": next.from.ip,
                "user_agent": next.from.user_agent,
                "at": next.from.at,
            });
        }
        Ok(json(200, answer))
    }

    /// The move itself: the ticket's record after it.
    pub(super) async fn apply_move(
        &mut self,
        ticket: Ticket,
        change: TicketMove,
    ) -> Result<Record, ApiError> {
        let g = self.g;
        let mut next = ticket.record.clone();
        match change {
            TicketMove::Scanned => next.status = Status::Scanned,
            TicketMove::Cancelled => next.status = Status::Cancelled,
            TicketMove::Confirmed(v) => {
                let attempt = self.attempt(v);
                let outcome = g.auth.resolver().resolve(&attempt).await?;
                g.note_revoked(&outcome.revoked_sessions);
                next.status = Status::Confirmed;
                next.login = Some(Confirmed {
                    user: outcome.user.id.0.clone(),
                    appid: attempt.wechat.as_ref().map(|w| w.appid.clone()),
                    openid: attempt.wechat.as_ref().map(|w| w.openid.clone()),
                    phone: attempt
                        .verified_phone
                        .as_ref()
                        .map(|p| p.as_str().to_string()),
                });
            }
        }
        let unchanged = next == ticket.record;
        if !unchanged && !g.tickets.advance(&ticket, &next).await? {
            return Err(ticket_gone());
        }
        self.count(match next.status {
            Status::Confirmed => "ticket_confirmed",
            Status::Cancelled => "ticket_cancelled",
            _ => "ticket_scanned",
        });
        Ok(next)
    }
}
