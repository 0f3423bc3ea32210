//! RP-initiated logout: ends the browser's wxgate session and the client's session named by
//! `id_token_hint`, then returns to a registered `post_logout_redirect_uri` with `state`.
//! Without a valid hint nothing is ended on a GET: the person confirms with a button (a
//! cross-site link must not sign anyone out), and no redirect is made to an unproved client.

use super::count;
use crate::html;
use crate::respond::{write_answer, Answer};
use crate::state::{Gateway, OidcState};
use crate::verify::cookie_session;
use pingora::proxy::Session;

pub async fn logout(g: &Gateway, o: &OidcState, session: &mut Session) -> pingora::Result<()> {
    let pairs = match super::params(session).await {
        Ok(p) => p,
        Err(e) => return page(session, 400, html::oidc_error_page(&e.description)).await,
    };
    let one = |name: &str| pairs.one(name).map(str::to_string);
    let hint = match one("id_token_hint") {
        None => None,
        Some(t) => match g.tokens.read_id_token_hint(&t, &o.config.issuer) {
            Some(claims) => Some(claims),
            // A hint this provider cannot read (forged, or signed by a key rotated out) proves
            // nothing: the person is asked, as without one.
            None => {
                count(g, None, "logout", "unreadable_hint");
                None
            }
        },
    };
    let client_id = match (hint.as_ref().map(|h| h.aud.clone()), one("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return page(
                session,
                400,
                html::oidc_error_page("client_id differs from the id_token_hint's audience"),
            )
            .await
        }
        (Some(a), _) | (None, Some(a)) => Some(a),
        (None, None) => None,
    };
    let client = client_id.as_deref().and_then(|id| o.config.client(id));
    let back = match one("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match client {
            Some(c) if c.post_logout_redirect_uris.contains(&uri) => Some(uri),
            _ => {
                count(g, client, "logout", "bad_redirect_uri");
                return page(
                    session,
                    400,
                    html::oidc_error_page(
                        "post_logout_redirect_uri is not registered for this client",
                    ),
                )
                .await;
            }
        },
    };
    let confirmed = session.req_header().method == http::Method::POST
        && crate::verify::same_origin(g, session.req_header());
    // A hint proves which app asks, and for whom: someone else's id_token (anyone can hold
    // their own) does not sign this browser's person out without asking.
    let browser_sid = cookie_session(g, session.req_header());
    let hint_is_this_person = match (&hint, &browser_sid, client) {
        (Some(h), Some(sid), Some(c)) => match g.auth.sessions().get(sid).await {
            Ok(Some(s)) => super::claims::subject(g, c, s.user_id.as_str()) == h.sub,
            // Not known to match: ask.
            _ => false,
        },
        (Some(_), None, _) => true,
        _ => false,
    };
    if !hint_is_this_person && !confirmed {
        let action = format!("{}/oidc/logout", g.auth_prefix);
        return page(session, 200, html::logout_confirm_page(&action, &pairs.0)).await;
    }
    // The client's own session, named by its id_token (when it is this person's).
    if let Some(sid) = hint
        .as_ref()
        .filter(|_| hint_is_this_person)
        .and_then(|h| h.sid.clone())
    {
        let belongs = g
            .auth
            .sessions()
            .get(&sid)
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s.client_id == client_id);
        if belongs {
            g.note_revoked(std::slice::from_ref(&sid));
            if let Err(e) = g.auth.sessions().revoke(&sid, "oidc_logout").await {
                tracing::warn!(error = %e, "could not end the client's session at logout");
            }
        }
    }
    // The browser's wxgate session.
    if let Some(sid) = browser_sid {
        g.note_revoked(std::slice::from_ref(&sid));
        if let Err(e) = g.auth.logout(&sid).await {
            tracing::warn!(error = %e, "could not end the browser session at logout");
        }
    }
    count(g, client, "logout", "ok");
    let cookies = g
        .cookies
        .clear_session()
        .into_iter()
        .map(|c| ("set-cookie", c))
        .collect();
    let answer = match back {
        Some(uri) => {
            let mut url = url::Url::parse(&uri).expect("registered URIs parse");
            if let Some(state) = one("state") {
                url.query_pairs_mut().append_pair("state", &state);
            }
            Answer::Redirect {
                status: 302,
                location: url.to_string(),
            }
        }
        None => Answer::Page {
            status: 200,
            body: html::signed_out_page(),
        },
    };
    write_answer(session, answer, cookies).await
}

async fn page(session: &mut Session, status: u16, body: String) -> pingora::Result<()> {
    write_answer(session, Answer::Page { status, body }, Vec::new()).await
}
