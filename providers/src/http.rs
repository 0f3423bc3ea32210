//! How channels talk to the outside (WeChat, SMS vendors): one client with short timeouts that
//! follows no redirect, and answers read up to a bound. A redirect from "WeChat" would send the
//! next request (and its secrets) wherever the redirect says; an endless answer would hold a
//! worker's memory.

use std::time::Duration;

/// No WeChat or SMS vendor answer comes near this.
pub const MAX_ANSWER: usize = 1024 * 1024;

/// The one place such a client is built.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Why an answer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed")]
    Transport,
    #[error("answer longer than {MAX_ANSWER} bytes")]
    TooLarge,
}

/// The answer's body, refused as soon as it grows past [`MAX_ANSWER`] (a declared length over it
/// is refused unread).
pub async fn body(mut response: reqwest::Response) -> Result<bytes::Bytes, ReadError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut out = bytes::BytesMut::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                ReadError::Timeout
            } else {
                ReadError::Transport
            }
        })?;
        let Some(chunk) = chunk else {
            return Ok(out.freeze());
        };
        if out.len() + chunk.len() > MAX_ANSWER {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;

    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let base = serve(
            axum::Router::new()
                .route(
                    "/",
                    get(|| async { Redirect::temporary("/elsewhere").into_response() }),
                )
                .route("/elsewhere", get(|| async { "followed" })),
        )
        .await;
        let response = client(Duration::from_secs(2))
            .get(&base)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 307);
        assert_ne!(body(response).await.unwrap().as_ref(), b"followed");
    }

    #[tokio::test]
    async fn answers_are_read_up_to_a_mebibyte() {
        let base = serve(
            axum::Router::new()
                .route("/fits", get(|| async { "x".repeat(MAX_ANSWER) }))
                .route("/declared", get(|| async { "x".repeat(MAX_ANSWER + 1) }))
                .route(
                    "/streamed",
                    get(|| async {
                        // No Content-Length: only counting the chunks can stop it.
                        let chunks = (0..20).map(|_| {
                            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 64 * 1024]))
                        });
                        axum::body::Body::from_stream(futures::stream::iter(chunks))
                    }),
                ),
        )
        .await;
        let http = client(Duration::from_secs(5));
        let fits = http.get(format!("{base}/fits")).send().await.unwrap();
        assert_eq!(body(fits).await.unwrap().len(), MAX_ANSWER);
        for path in ["declared", "streamed"] {
            let r = http.get(format!("{base}/{path}")).send().await.unwrap();
            assert_eq!(body(r).await, Err(ReadError::TooLarge), "{path}");
        }
    }
}
