//! Writing answers on the wire: JSON, pages, redirects, bytes and text, each with the headers
//! every gateway answer carries (`Cache-Control: no-store` unless it says otherwise). What an
//! error answers is decided in `rescue`; this module only writes it.

use crate::html;
use crate::rescue::ApiError;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// What the gateway answers once a channel (or the gateway itself) has taken its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Json {
        status: u16,
        body: Bytes,
    },
    /// 302, or 303 after a form post (the browser then GETs the location).
    Redirect {
        status: u16,
        location: String,
    },
    Page {
        status: u16,
        body: String,
    },
    /// An image a browser may keep for `max_age` seconds (its URL names what it shows).
    Bytes {
        content_type: &'static str,
        body: Bytes,
        max_age: u64,
    },
    Text {
        body: String,
    },
}

/// Writes `answer` with the `extra` headers (cookies to set).
pub async fn write_answer(
    session: &mut Session,
    answer: Answer,
    mut extra: Vec<(&'static str, String)>,
) -> pingora::Result<()> {
    match answer {
        Answer::Json { status, body } => write_json(session, status, body, &extra).await,
        Answer::Redirect { status, location } => {
            extra.push(("location", location));
            write_empty(session, status, &extra).await
        }
        Answer::Page { status, body } => {
            extra.extend(html::security_headers());
            write(
                session,
                status,
                "text/html; charset=utf-8",
                Bytes::from(body),
                &extra,
            )
            .await
        }
        Answer::Bytes {
            content_type,
            body,
            max_age,
        } => write_cached(session, content_type, body, max_age, &extra).await,
        Answer::Text { body } => {
            write(
                session,
                200,
                "text/plain; charset=utf-8",
                Bytes::from(body),
                &extra,
            )
            .await
        }
    }
}

/// How an error is shown: JSON for API clients, a page for a browser in a browser flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape<'a> {
    Json,
    /// An HTML page; its "try again" link points to the login page (`{auth_prefix}/login`).
    Page {
        login_page: &'a str,
    },
}

/// Every gateway answer carries the request's id (set on the request before anything answers).
fn echo_request_id(session: &Session, resp: &mut ResponseHeader) -> pingora::Result<()> {
    if let Some(id) = session.req_header().headers.get(crate::request_id::HEADER) {
        resp.insert_header(crate::request_id::HEADER, id.clone())?;
    }
    Ok(())
}

/// The request's id, for an error body.
fn request_id(session: &Session) -> Option<&str> {
    session
        .req_header()
        .headers
        .get(crate::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Writes a complete response with `body` of `content_type`.
pub async fn write(
    session: &mut Session,
    status: u16,
    content_type: &'static str,
    body: Bytes,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(status, Some(5 + extra.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    echo_request_id(session, &mut resp)?;
    for (k, v) in extra {
        resp.append_header(*k, v.as_str())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await
}

/// Writes a complete JSON response.
pub async fn write_json(
    session: &mut Session,
    status: u16,
    body: Bytes,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    write(session, status, "application/json", body, extra).await
}

/// Writes an error as the contract's JSON body.
pub async fn write_error(session: &mut Session, e: &ApiError) -> pingora::Result<()> {
    write_error_as(session, e, Shape::Json).await
}

/// Writes an error as JSON or as a page; status, `Retry-After` and cookies are the same.
pub async fn write_error_as(
    session: &mut Session,
    e: &ApiError,
    shape: Shape<'_>,
) -> pingora::Result<()> {
    let mut extra = e.headers.clone();
    if let Some(secs) = e.retry_after {
        extra.push(("retry-after", secs.to_string()));
    }
    match shape {
        Shape::Json => {
            if e.status == 401 {
                extra.push(("www-authenticate", "Bearer".to_string()));
            }
            let body = e.body_with(request_id(session));
            write_json(session, e.status, body, &extra).await
        }
        Shape::Page { login_page } => {
            extra.extend(html::security_headers());
            let page = html::error_page(e.code.as_str(), &e.message, login_page);
            write(
                session,
                e.status,
                "text/html; charset=utf-8",
                Bytes::from(page),
                &extra,
            )
            .await
        }
    }
}

/// A response without body (204, 302).
pub async fn write_empty(
    session: &mut Session,
    status: u16,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3 + extra.len()))?;
    resp.insert_header("content-length", "0")?;
    resp.insert_header("cache-control", "no-store")?;
    echo_request_id(session, &mut resp)?;
    for (k, v) in extra {
        resp.append_header(*k, v.as_str())?;
    }
    session.write_response_header(Box::new(resp), true).await
}

/// A complete 200 answer a browser may cache privately for `max_age` seconds.
async fn write_cached(
    session: &mut Session,
    content_type: &'static str,
    body: Bytes,
    max_age: u64,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(200, Some(5 + extra.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", format!("private, max-age={max_age}"))?;
    resp.insert_header("x-content-type-options", "nosniff")?;
    echo_request_id(session, &mut resp)?;
    for (k, v) in extra {
        resp.append_header(*k, v.as_str())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await
}
