//! A minimal browser for end-to-end tests of the browser flows: it sends `Accept: text/html`,
//! keeps cookies per host (as browsers do, whatever the port), and follows redirects hop by
//! hop between the gateway and the simulator, recording every `Location`.

use reqwest::header::{HeaderMap, ACCEPT, COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use reqwest::Url;

/// One answer the browser got.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: String,
    /// The raw `Set-Cookie` values of this answer.
    pub set_cookies: Vec<String>,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}) from {}: {}", self.url, self.body))
    }

    /// The `Set-Cookie` of `name`, if this answer set or cleared it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.split('=').next() == Some(name))
            .map(String::as_str)
    }
}

pub struct Browser {
    http: reqwest::Client,
    /// (host, name, value): cookies are per host, not per port.
    jar: Vec<(String, String, String)>,
    user_agent: String,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self::with_user_agent(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36",
        )
    }

    /// A browser with this User-Agent (e.g. WeChat's, which contains `MicroMessenger`).
    pub fn with_user_agent(user_agent: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            jar: Vec::new(),
            user_agent: user_agent.to_string(),
        }
    }

    /// A browser trusting only the CA in `ca_file`, reaching `host` at `addr` (an HTTPS
    /// gateway whose certificate names `host`).
    pub fn trusting(ca_file: &std::path::Path, host: &str, addr: std::net::SocketAddr) -> Self {
        let pem = std::fs::read(ca_file).expect("CA file");
        let mut b = Self::new();
        b.http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"))
            .resolve(host, addr)
            .build()
            .expect("http client");
        b
    }

    /// The cookie `name` this browser holds for `host`.
    pub fn cookie(&self, host: &str, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|(h, n, _)| h == host && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Every cookie name this browser holds for `host`.
    pub fn cookie_names(&self, host: &str) -> Vec<String> {
        self.jar
            .iter()
            .filter(|(h, _, _)| h == host)
            .map(|(_, n, _)| n.clone())
            .collect()
    }

    /// Sets or replaces a cookie by hand (a tampering test, or a cookie a page script set).
    pub fn put_cookie(&mut self, host: &str, name: &str, value: &str) {
        self.jar.retain(|(h, n, _)| !(h == host && n == name));
        self.jar
            .push((host.to_string(), name.to_string(), value.to_string()));
    }

    /// Forgets every cookie (a new browser profile).
    pub fn clear_cookies(&mut self) {
        self.jar.clear();
    }

    fn absorb(&mut self, host: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        self.jar.retain(|(h, n, _)| !(h == host && n == name));
        if !expired {
            self.jar
                .push((host.to_string(), name.to_string(), value.to_string()));
        }
    }

    /// One request, no redirect followed.
    pub async fn get(&mut self, url: &str) -> Page {
        self.request(url, &[]).await
    }

    /// One request with extra headers.
    pub async fn request(&mut self, url: &str, extra: &[(&str, &str)]) -> Page {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let host = url.host_str().unwrap_or_default().to_string();
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|(h, _, _)| *h == host)
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect();
        let mut request = self
            .http
            .get(url.clone())
            .header(USER_AGENT, &self.user_agent);
        // A page unless the caller asks for something else (a page's script asking for JSON).
        if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("accept")) {
            request = request.header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8");
        }
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            self.absorb(&host, c);
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            url,
            headers,
            body,
            set_cookies,
        }
    }

    /// The bytes behind `url` (an image), with this browser's cookies: status, content type
    /// and body.
    pub async fn bytes(&mut self, url: &str) -> (u16, Option<String>, Vec<u8>) {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let host = url.host_str().unwrap_or_default().to_string();
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|(h, _, _)| *h == host)
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect();
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, "image/*")
            .header(USER_AGENT, &self.user_agent);
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await.unwrap_or_default().to_vec();
        (status, content_type, body)
    }

    /// Opens `url` and follows redirects (at most 10): the final page and every `Location`
    /// on the way, resolved to absolute URLs.
    pub async fn open(&mut self, url: &str) -> (Page, Vec<String>) {
        let mut trail = Vec::new();
        let mut page = self.get(url).await;
        for _ in 0..10 {
            if !(300..400).contains(&page.status) {
                return (page, trail);
            }
            let next = page
                .url
                .join(page.location().expect("a redirect has a Location"))
                .expect("a resolvable Location")
                .to_string();
            trail.push(next.clone());
            page = self.get(&next).await;
        }
        panic!("too many redirects: {trail:?}");
    }
}
