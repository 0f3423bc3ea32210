//! Gateways under test, built from typed parts: sections take their keys, and channels, routes
//! and webhooks are built by kind; the TOML the binary reads is written from them.
//!
//! ```ignore
//! let gw = TestGateway::builder(&db.url, &db.dir)
//!     .channel(Channel::mini_program("mp", MP, SECRET, &sim))
//!     .route(Route::required("/api/", upstream))
//!     .limits("wechat_logins_per_minute = 100")
//!     .start();
//! ```

use crate::gateway::TestGateway;
use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

/// The keys of one table or section, one per line, in the order given.
#[derive(Debug, Clone, Default)]
struct Lines(Vec<String>);

impl Lines {
    fn of(first: &[String]) -> Self {
        Self(first.to_vec())
    }

    /// Adds each non-empty line of `keys`.
    fn add(&mut self, keys: &str) {
        self.0.extend(
            keys.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }

    /// `[[name]]` (or `[name]`, given with its brackets) and the keys under it.
    fn under(&self, header: &str) -> String {
        format!("{header}\n{}\n", self.0.join("\n"))
    }
}

/// One `[[channel]]` table.
#[derive(Debug, Clone)]
pub struct Channel {
    lines: Lines,
}

impl Channel {
    fn of(id: &str, kind: &str) -> Self {
        Self {
            lines: Lines::of(&[format!("id = \"{id}\""), format!("kind = \"{kind}\"")]),
        }
    }

    /// A mini-program on the simulator at `sim`.
    pub fn mini_program(id: &str, appid: &str, secret: &str, sim: &str) -> Self {
        Self::of(id, "wechat_miniprogram")
            .with(&format!("appid = \"{appid}\""))
            .with(&format!("secret = \"{secret}\""))
            .with(&format!("api_base = \"{sim}\""))
    }

    /// An official account (`scope` `snsapi_base` or `snsapi_userinfo`) on the simulator.
    pub fn official_account(id: &str, appid: &str, secret: &str, scope: &str, sim: &str) -> Self {
        Self::of(id, "wechat_official_account")
            .with(&format!("appid = \"{appid}\""))
            .with(&format!("secret = \"{secret}\""))
            .with(&format!("scope = \"{scope}\""))
            .with(&format!("api_base = \"{sim}\""))
            .with(&format!("open_base = \"{sim}\""))
    }

    /// A website QR login on the simulator.
    pub fn open_qr(id: &str, appid: &str, secret: &str, sim: &str) -> Self {
        Self::of(id, "wechat_open_qr")
            .with(&format!("appid = \"{appid}\""))
            .with(&format!("secret = \"{secret}\""))
            .with(&format!("api_base = \"{sim}\""))
            .with(&format!("open_base = \"{sim}\""))
    }

    /// A WeCom self-built app on the simulator (SSO, in-app and API pages all there).
    pub fn wecom(id: &str, corp_id: &str, agent_id: i64, secret: &str, sim: &str) -> Self {
        Self::of(id, "wecom")
            .with(&format!("corp_id = \"{corp_id}\""))
            .with(&format!("agent_id = {agent_id}"))
            .with(&format!("secret = \"{secret}\""))
            .with(&format!("api_base = \"{sim}\""))
            .with(&format!("login_base = \"{sim}\""))
            .with(&format!("open_base = \"{sim}\""))
    }

    /// A phone channel texting through the simulator's SMS sink (the `webhook` sender).
    pub fn phone_sms(id: &str, sim: &str) -> Self {
        Self::of(id, "phone_sms").with(&format!(
            "sender = {{ kind = \"webhook\", url = \"{sim}/sms\" }}"
        ))
    }

    /// One more key of the table (`scan_login = { page = "…" }`); empty text adds nothing.
    pub fn with(mut self, keys: &str) -> Self {
        self.lines.add(keys);
        self
    }

    fn toml(&self) -> String {
        self.lines.under("[[channel]]")
    }
}

/// One `[[route]]` table.
#[derive(Debug, Clone)]
pub struct Route {
    lines: Lines,
}

impl Route {
    fn of(prefix: &str, upstream: impl std::fmt::Display, auth: &str) -> Self {
        Self {
            lines: Lines::of(&[
                format!("prefix = \"{prefix}\""),
                format!("upstream = \"{upstream}\""),
                format!("auth = \"{auth}\""),
            ]),
        }
    }

    /// A route to a pool of `upstreams` (`auth` is `required`, `optional` or `public`).
    pub fn pool(prefix: &str, upstreams: &[std::net::SocketAddr], auth: &str) -> Self {
        let list: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
        Self {
            lines: Lines::of(&[
                format!("prefix = \"{prefix}\""),
                format!("upstream = [{}]", list.join(", ")),
                format!("auth = \"{auth}\""),
            ]),
        }
    }

    pub fn required(prefix: &str, upstream: impl std::fmt::Display) -> Self {
        Self::of(prefix, upstream, "required")
    }

    pub fn optional(prefix: &str, upstream: impl std::fmt::Display) -> Self {
        Self::of(prefix, upstream, "optional")
    }

    pub fn public(prefix: &str, upstream: impl std::fmt::Display) -> Self {
        Self::of(prefix, upstream, "public")
    }

    /// Browsers without a session are sent to this channel's sign-in page.
    pub fn login_channel(self, id: &str) -> Self {
        self.with(&format!("login_channel = \"{id}\""))
    }

    /// One more key of the table (`read_timeout = "1s"`).
    pub fn with(mut self, keys: &str) -> Self {
        self.lines.add(keys);
        self
    }

    fn toml(&self) -> String {
        self.lines.under("[[route]]")
    }
}

/// One `[[webhook]]` table.
#[derive(Debug, Clone)]
pub struct Webhook {
    lines: Lines,
}

impl Webhook {
    pub fn new(id: &str, url: &str, secret: &str) -> Self {
        Self {
            lines: Lines::of(&[
                format!("id = \"{id}\""),
                format!("url = \"{url}\""),
                format!("secret = \"{secret}\""),
            ]),
        }
    }

    /// One more key of the table (`backoff = "100ms"`).
    pub fn with(mut self, keys: &str) -> Self {
        self.lines.add(keys);
        self
    }

    fn toml(&self) -> String {
        self.lines.under("[[webhook]]")
    }
}

/// One `[[oidc.client]]` table.
#[derive(Debug, Clone)]
pub struct OidcClient {
    lines: Lines,
}

impl OidcClient {
    /// A client with a secret, sending people back to `redirect_uri`.
    pub fn confidential(client_id: &str, secret: &str, redirect_uri: &str) -> Self {
        Self {
            lines: Lines::of(&[
                format!("client_id = \"{client_id}\""),
                format!("client_secret = {}", toml_string(secret)),
                format!("redirect_uris = [\"{redirect_uri}\"]"),
            ]),
        }
    }

    /// A public client (no secret: PKCE required).
    pub fn public(client_id: &str, redirect_uri: &str) -> Self {
        Self {
            lines: Lines::of(&[
                format!("client_id = \"{client_id}\""),
                format!("redirect_uris = [\"{redirect_uri}\"]"),
            ]),
        }
    }

    /// One more key of the table (`subject = "pairwise"`).
    pub fn with(mut self, keys: &str) -> Self {
        self.lines.add(keys);
        self
    }

    fn toml(&self) -> String {
        self.lines.under("[[oidc.client]]")
    }
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A gateway to start: its database, the keys of each section, and its tables in order.
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    db_url: String,
    dir: PathBuf,
    host: &'static str,
    sections: BTreeMap<&'static str, Lines>,
    tables: Vec<String>,
    /// The CA that issued the HTTPS listener's certificate, when it has one.
    https_ca: Option<PathBuf>,
}

impl GatewayBuilder {
    pub(crate) fn new(db_url: &str, dir: &Path) -> Self {
        Self {
            db_url: db_url.to_string(),
            dir: dir.to_path_buf(),
            host: "127.0.0.1",
            sections: BTreeMap::new(),
            tables: Vec::new(),
            https_ca: None,
        }
    }

    fn section(mut self, name: &'static str, keys: &str) -> Self {
        self.sections.entry(name).or_default().add(keys);
        self
    }

    /// Keys of `[server]` (`listen` is the harness's).
    pub fn server(self, keys: &str) -> Self {
        self.section("server", keys)
    }

    /// HTTPS with `cert` (issued by the CA in `ca_file`) and `extra` keys of `[server] tls`
    /// (`hsts = "1d"`, …); `public_url` becomes `https://localhost:{port}`.
    pub fn https(mut self, cert: &crate::tls::CertFiles, ca_file: &Path, extra: &str) -> Self {
        let mut keys = format!(
            "cert = {:?}, key = {:?}",
            cert.cert.display().to_string(),
            cert.key.display().to_string()
        );
        if !extra.is_empty() {
            keys.push_str(", ");
            keys.push_str(extra);
        }
        self.https_ca = Some(ca_file.to_path_buf());
        self.server(&format!("tls = {{ {keys} }}"))
    }

    pub(crate) fn https_ca(&self) -> Option<&Path> {
        self.https_ca.as_deref()
    }

    /// The test plays the trusted proxy: its `X-Forwarded-For` is believed.
    pub fn behind_a_trusted_proxy(self) -> Self {
        self.server("trusted_proxies = [\"127.0.0.1/32\"]")
    }

    /// Keys of `[tokens]` (`keys_dir` is the harness's).
    pub fn tokens(self, keys: &str) -> Self {
        self.section("tokens", keys)
    }

    pub fn identity(self, keys: &str) -> Self {
        self.section("identity", keys)
    }

    pub fn limits(self, keys: &str) -> Self {
        self.section("limits", keys)
    }

    pub fn login_page(self, keys: &str) -> Self {
        self.section("login_page", keys)
    }

    pub fn channel(mut self, channel: Channel) -> Self {
        self.tables.push(channel.toml());
        self
    }

    pub fn route(mut self, route: Route) -> Self {
        self.tables.push(route.toml());
        self
    }

    /// Keys of `[oidc]` (the section is written even when empty).
    pub fn oidc(self, keys: &str) -> Self {
        let mut b = self.section("oidc", keys);
        b.sections.entry("oidc").or_default();
        b
    }

    pub fn oidc_client(mut self, client: OidcClient) -> Self {
        self.tables.push(client.toml());
        self
    }

    pub fn webhook(mut self, webhook: Webhook) -> Self {
        self.tables.push(webhook.toml());
        self
    }

    /// Listens on `[::]` (dual stack): tests connect over IPv4 and the gateway sees them as
    /// `::ffff:127.0.0.1`.
    pub fn dual_stack(mut self) -> Self {
        self.host = "[::]";
        self
    }

    /// The config the gateway runs with, on `port` with keys in `keys_dir`.
    pub(crate) fn config(&self, port: u16, keys_dir: &Path) -> String {
        let mut sections = self.sections.clone();
        let server = &mut sections.entry("server").or_default().0;
        server.insert(0, format!("listen = \"{}:{port}\"", self.host));
        // A wildcard listener is still reached (and named in redirects) as loopback.
        if self.https_ca.is_some() && !server.iter().any(|l| l.starts_with("public_url")) {
            server.push(format!("public_url = \"https://localhost:{port}\""));
        }
        if self.host != "127.0.0.1" && !server.iter().any(|l| l.starts_with("public_url")) {
            server.push(format!("public_url = \"http://127.0.0.1:{port}\""));
        }
        sections
            .entry("database")
            .or_default()
            .add(&format!("url = \"{}\"", self.db_url));
        let tokens = &mut sections.entry("tokens").or_default().0;
        tokens.insert(0, format!("keys_dir = \"{}\"", keys_dir.display()));
        // Tests see other replicas' logouts within a second, unless they say otherwise.
        if !tokens.iter().any(|l| l.starts_with("revocation_sync")) {
            tokens.push("revocation_sync = \"1s\"".to_string());
        }
        let mut out = String::new();
        for (name, keys) in &sections {
            out.push_str(&keys.under(&format!("[{name}]")));
            out.push('\n');
        }
        for table in &self.tables {
            out.push_str(table);
            out.push('\n');
        }
        out
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn db_url(&self) -> &str {
        &self.db_url
    }

    /// Starts the gateway binary and waits until it answers (blocking: call it inside
    /// `tokio::task::block_in_place` from an async test).
    pub fn start(&self) -> TestGateway {
        TestGateway::start_from(self)
    }
}
