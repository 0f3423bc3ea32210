//! Start-up: open the database and keys on a control runtime, start the background tasks
//! (revocation sync, key reload, metrics), then hand the listener to Pingora.

use crate::adapters;
use crate::config::Config;
use crate::cookies::CookieNames;
use crate::flow::Flows;
use crate::metrics::Metrics;
use crate::proxy::GatewayProxy;
use crate::revocation::RevocationList;
use crate::routes::RouteTable;
use crate::state::{Channels, Gateway, PageOption};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::auth::AuthService;
use wxgate_core::clock::{SharedClock, SystemClock};
use wxgate_core::identity::Resolver;
use wxgate_core::store::short_lived::ShortLived;
use wxgate_core::store::Db;
use wxgate_core::token::{Sessions, TokenService};

/// Tunables that are not part of the TOML contract.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Pingora worker threads (default: the number of CPUs).
    pub threads: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

/// Builds the shared state on `rt` (which must outlive the server: it drives the database
/// connections and the background tasks).
pub fn build(config: &Config, rt: &tokio::runtime::Runtime) -> anyhow::Result<Arc<Gateway>> {
    let clock: SharedClock = Arc::new(SystemClock);
    let (db, tokens) = rt.block_on(async {
        let db = Db::connect(&config.database.url)
            .await
            .with_context(|| {
                format!(
                    "connecting to the database ({})",
                    redact_url(&config.database.url)
                )
            })?
            .with_subscriptions(config.webhooks.iter().map(|w| w.subscription()).collect());
        db.migrate().await.context("applying migrations")?;
        if config.oidc.is_some() {
            wxgate_core::token::keys::KeySet::ensure_oidc(&config.tokens.keys_dir, clock.now_ms())
                .context("creating the id_token key")?;
        }
        let tokens = TokenService::open(
            config.tokens.issuer.clone(),
            config.tokens.access_ttl,
            config.tokens.keys_dir.clone(),
            clock.clone(),
        )
        .context("loading signing keys")?
        .with_key_activation(config.tokens.key_activation);
        anyhow::Ok((db, Arc::new(tokens)))
    })?;
    let resolver = Resolver::new(db.clone(), config.identity, clock.clone());
    let sessions = Sessions::new(db.clone(), clock.clone(), config.tokens.refresh_ttl);
    let short_lived = ShortLived::new(db.clone(), clock.clone());
    let channels = build_channels(config, &db, &tokens, &clock, &short_lived);
    let auth = AuthService::new(db.clone(), resolver, sessions, tokens.clone());
    let metrics = Arc::new(Metrics::new()?);
    let routes = {
        // The resolver spawns its work on the runtime that builds it.
        let _inside = rt.enter();
        let mut pools = crate::upstream::PoolContext::new(
            config.server.dns.clone(),
            metrics.transport.pools.clone(),
        );
        RouteTable::compile(&config.routes, &mut pools)?
    };
    rt.block_on(routes.start_pools(rt.handle()))?;
    Arc::new(crate::webhooks::Dispatcher::new(
        db,
        clock.clone(),
        metrics.clone(),
    )?)
    .spawn(rt.handle(), &config.webhooks);
    let mut route_metrics: Vec<_> = config
        .routes
        .iter()
        .map(|r| metrics.route(&r.prefix))
        .collect();
    route_metrics.push(metrics.route(&config.server.auth_prefix));
    route_metrics.push(metrics.route("none"));
    let public_url = config.server.public_url.trim_end_matches('/').to_string();
    let https = url::Url::parse(&public_url).is_ok_and(|u| u.scheme() == "https");
    let cookies = CookieNames::new(https);
    let access_log = match config.server.access_log {
        crate::config::AccessLogFormat::Off => None,
        format => Some(
            crate::access_log::AccessLog::start(
                if format == crate::config::AccessLogFormat::Logfmt {
                    crate::access_log::Format::Logfmt
                } else {
                    crate::access_log::Format::Json
                },
                metrics.transport.access_log_dropped.clone(),
            )
            .context("starting the access log")?,
        ),
    };
    let gateway = Arc::new(Gateway {
        access_log,
        auth_prefix: config.server.auth_prefix.clone(),
        public_origin: origin_of(&public_url),
        public_url,
        routes,
        hsts: config.server.tls.as_ref().and_then(|t| t.hsts),
        idle_timeout_secs: config.server.idle_timeout.as_secs().max(1),
        channels,
        channel_appids: config
            .channels
            .iter()
            .filter_map(|c| Some((c.id().to_string(), c.appid()?.to_string())))
            .collect(),
        login_options: login_options(config),
        login_title: config.login_page.title.clone(),
        tickets: crate::tickets::Tickets::new(short_lived.clone(), cookies.clone()),
        ticket_polls: crate::throttle::Throttle::new(
            config.limits.ticket_polls_per_minute,
            Duration::from_secs(60),
        ),
        ticket_poll_misses: crate::throttle::Throttle::new(
            config.limits.ticket_polls_per_minute,
            Duration::from_secs(60),
        ),
        ticket_images: moka::sync::Cache::builder()
            .weigher(
                |_scene: &String, (_, image): &(&'static str, bytes::Bytes)| {
                    u32::try_from(image.len()).unwrap_or(u32::MAX)
                },
            )
            .max_capacity(32 * 1024 * 1024)
            .time_to_live(Duration::from_secs(600))
            .build(),
        auth,
        tokens,
        oidc: config.oidc.clone().map(|c| crate::state::OidcState {
            codes: wxgate_core::oidc::Codes::new(short_lived.clone(), c.code_ttl),
            // As long as a browser flow's state lives: a sign-in takes no longer.
            pending: wxgate_core::oidc::Pending::new(short_lived.clone(), Duration::from_secs(600)),
            config: c,
        }),
        flows: Flows::new(short_lived, cookies.clone()),
        flow_starts: crate::throttle::Throttle::new(
            config.limits.browser_logins_per_minute,
            Duration::from_secs(60),
        ),
        keyless_renewals: crate::throttle::Throttle::new(
            KEYLESS_RENEWALS_PER_MINUTE,
            Duration::from_secs(60),
        ),
        wechat_logins: crate::throttle::Throttle::new(
            config.limits.wechat_logins_per_minute,
            Duration::from_secs(60),
        ),
        networks: crate::client::Networks {
            ipv4_prefix: config.limits.ipv4_prefix,
            ipv6_prefix: config.limits.ipv6_prefix,
        },
        revocations: Arc::new(RevocationList::default()),
        headers: config.headers.clone(),
        keep_underscored_headers: config.server.underscore_headers
            == crate::config::UnderscoreHeaders::Keep,
        preserve_header_case: config.server.preserve_header_case,
        cookies,
        refresh_ttl: config.tokens.refresh_ttl,
        renewals_refused: moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(60))
            .build(),
        trusted_proxies: config.server.trusted_proxies.clone(),
        metrics,
        route_metrics,
    });
    spawn_background(rt, &gateway, config.tokens.revocation_sync);
    if let Some(addr) = config.server.metrics_listen {
        let metrics = gateway.metrics.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("binding metrics_listen {addr}"))?;
        tracing::info!(%addr, "metrics listening");
        rt.spawn(serve_metrics(listener, metrics));
    }
    Ok(gateway)
}

/// Builds every configured channel that this version serves.
fn build_channels(
    config: &Config,
    db: &Db,
    tokens: &Arc<TokenService>,
    clock: &SharedClock,
    short_lived: &ShortLived,
) -> Channels {
    let deps = wxgate_providers::registry::ProviderDeps {
        http: wxgate_providers::wechat::client::http_client(Duration::from_secs(5)),
        clock: clock.clone(),
        token_lease: Arc::new(adapters::DbTokenLease(db.clone())),
        session_keys: Arc::new(adapters::DbSessionKeys {
            db: db.clone(),
            tokens: tokens.clone(),
        }),
        shared_state: Arc::new(adapters::DbSharedState(short_lived.clone())),
        mac: Arc::new(adapters::VaultMac(tokens.clone())),
    };
    let mut channels = Channels::new();
    for channel in &config.channels {
        let provider = channel.build(&deps);
        let actions: Vec<_> = provider.endpoints().iter().map(|e| e.action).collect();
        tracing::info!(
            channel = channel.id(),
            kind = channel.kind(),
            ?actions,
            "channel ready"
        );
        channels.insert(channel.id().to_string(), provider);
    }
    channels
}

/// The ways a browser can sign in: the channels `[login_page] order` names first, in that
/// order, then the others in config order.
fn login_options(config: &Config) -> Vec<PageOption> {
    let mut all: Vec<PageOption> = config
        .channels
        .iter()
        .flat_map(|c| {
            c.login_options().into_iter().map(|option| PageOption {
                channel: c.id().to_string(),
                option,
            })
        })
        .collect();
    let rank = |o: &PageOption| {
        config
            .login_page
            .order
            .iter()
            .position(|id| *id == o.channel)
            .unwrap_or(usize::MAX)
    };
    // Stable: channels the order does not name keep their config order.
    all.sort_by_key(rank);
    all
}

fn spawn_background(rt: &tokio::runtime::Runtime, g: &Arc<Gateway>, every: Duration) {
    let gateway = g.clone();
    rt.spawn(async move {
        let clock = gateway.tokens.clock().clone();
        let ttl_ms = i64::try_from(gateway.tokens.access_ttl().as_millis()).unwrap_or(i64::MAX / 2);
        // Each poll looks back further than the last one reached: `revoked_at` is written by
        // other replicas' clocks, which may run behind ours by seconds. Re-reading a revocation
        // already known costs one row.
        let overlap = (i64::try_from(every.as_millis()).unwrap_or(5_000) * 2).max(30_000);
        // At start, every session revoked within one access-token lifetime still matters.
        let mut since = clock.now_ms() - ttl_ms;
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            let started = clock.now_ms();
            match gateway.auth.sessions().revoked_since(since).await {
                Ok(revoked) => {
                    for (sid, at) in revoked {
                        gateway
                            .revocations
                            .insert(sid, gateway.revocation_horizon_ms(at));
                    }
                    since = started - overlap;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "revocation sync failed; keeping the current list")
                }
            }
            gateway.revocations.prune(started);
        }
    });
    let gateway = g.clone();
    // At least twice per key_activation, so a rotated key is read everywhere before it signs.
    let reload_every = Duration::from_millis(
        u64::try_from(g.tokens.key_activation_ms() / 2)
            .unwrap_or(30_000)
            .clamp(1_000, 30_000),
    );
    rt.spawn(async move {
        let mut ticker = tokio::time::interval(reload_every);
        loop {
            ticker.tick().await;
            match gateway.tokens.reload() {
                Ok(true) => tracing::info!("signing keys reloaded after a rotation"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not reload signing keys"),
            }
        }
    });
}

async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}

/// Runs the gateway until it is signalled to stop.
pub fn run(config: Config, options: RunOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wxgate-control")
        .enable_all()
        .build()?;
    let gateway = build(&config, &rt)?;
    serve(gateway, &config, options, rt)
}

/// Hands the listener to Pingora; never returns while serving.
pub fn serve(
    gateway: Arc<Gateway>,
    config: &Config,
    options: RunOptions,
    control: tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    use pingora::server::configuration::ServerConf;
    use pingora::server::Server;
    let run_dir = std::env::temp_dir().join(format!("wxgate-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir)?;
    let mut conf = ServerConf {
        threads: options.threads.max(1),
        // Each connection stays on the thread that accepted it: Pingora's no-steal runtime
        // cost 31 µs CPU per proxied request against 36 µs with work stealing (bench/proxy.sh).
        work_stealing: false,
        upstream_keepalive_pool_size: 256,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    conf.pid_file = run_dir.join("wxgate.pid").display().to_string();
    conf.upgrade_sock = run_dir.join("upgrade.sock").display().to_string();
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let listen = config.server.listen.to_string();
    let proxy = pingora::proxy::http_proxy(&server.configuration, GatewayProxy(gateway.clone()));
    let handshakes = match &config.server.tls {
        None => None,
        Some(tls) => Some(crate::transport::Handshakes {
            acceptor: serve_tls(tls, &gateway, &control)?,
            refused_slow: gateway
                .metrics
                .transport
                .refused
                .with_label_values(&["tls_handshake_timeout"]),
        }),
    };
    let app = guarded(proxy, config, &gateway, handshakes);
    let mut service = pingora::services::listening::Service::new("wxgate".to_owned(), app);
    // TLS, when on, is the guarded app's first step: the listener itself is plain TCP.
    service.add_tcp(&listen);
    match &config.server.tls {
        None => {}
        Some(tls) => {
            if let Some(addr) = tls.redirect_listen {
                let listener = control
                    .block_on(tokio::net::TcpListener::bind(addr))
                    .with_context(|| format!("binding server.tls.redirect_listen {addr}"))?;
                tracing::info!(%addr, "redirecting plain HTTP to {}", gateway.public_url);
                control.spawn(serve_redirects(listener, gateway.public_url.clone()));
            }
        }
    }
    server.add_service(service);
    tracing::info!(
        addr = %listen,
        threads = options.threads,
        https = config.server.tls.is_some(),
        "gateway listening"
    );
    // The control runtime must stay alive for as long as the server runs.
    let _control = control;
    server.run_forever()
}

/// The proxy with every client connection guarded by the `[server]` transport limits.
fn guarded<A>(
    proxy: A,
    config: &Config,
    gateway: &Gateway,
    tls: Option<crate::transport::Handshakes>,
) -> crate::transport::GuardedApp<A> {
    let refused = &gateway.metrics.transport.refused;
    let server = &config.server;
    let limits = crate::transport::Limits {
        header_timeout: server.header_timeout,
        idle_timeout: server.idle_timeout,
        min_body_rate: server.min_body_rate,
        max_connection_age: server.max_connection_age,
        refused_header: refused.with_label_values(&["header_timeout"]),
        refused_body: refused.with_label_values(&["slow_body"]),
    };
    let caps = server.max_connections_per_network.map(|max| {
        crate::transport::NetworkCaps::new(max, gateway.networks, server.trusted_proxies.clone())
    });
    crate::transport::GuardedApp::new(
        proxy,
        limits,
        caps,
        refused.with_label_values(&["per_network_cap"]),
        tls,
    )
}

/// The HTTPS handshake: certificates by SNI from a store that a control task re-reads when the
/// files change; TLS 1.2 and 1.3 with rustls's forward-secret AEAD suites in the server's
/// order (strongest first, whatever the client lists first); ALPN `h2` then `http/1.1`.
fn serve_tls(
    tls: &crate::config::Tls,
    gateway: &Arc<Gateway>,
    control: &tokio::runtime::Runtime,
) -> anyhow::Result<pingora::listeners::tls::Acceptor> {
    use crate::tls::{CertStore, Reload};
    let store = Arc::new(
        CertStore::load(tls.certs.clone()).map_err(|e| anyhow::anyhow!("server.tls: {e}"))?,
    );
    publish_expiry(&store, &gateway.metrics);
    for cert in store.current().iter() {
        tracing::info!(cert = %cert.paths.cert.display(), names = ?cert.names, "serving certificate");
    }
    let watched = store.clone();
    let metrics = gateway.metrics.clone();
    control.spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(2));
        loop {
            ticker.tick().await;
            let store = watched.clone();
            // File reads and key parsing stay off the control runtime's one thread.
            let outcome = tokio::task::spawn_blocking(move || store.reload_if_changed()).await;
            match outcome {
                Ok(Reload::Unchanged) => {}
                Ok(Reload::Reloaded) => {
                    metrics.transport.cert_reloads.with_label_values(&["reloaded"]).inc();
                    publish_expiry(&watched, &metrics);
                    tracing::info!("certificates reloaded after their files changed");
                }
                Ok(Reload::Failed(e)) => {
                    metrics.transport.cert_reloads.with_label_values(&["failed"]).inc();
                    tracing::error!(error = %e, "the changed certificate files do not load; still serving the previous certificates");
                }
                Err(e) => tracing::error!(error = %e, "certificate reload task failed"),
            }
        }
    });
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
    .with_no_client_auth()
    .with_cert_resolver(store);
    server.ignore_client_order = true;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(pingora::listeners::tls::Acceptor::from_server_config(
        Arc::new(server),
    ))
}

fn publish_expiry(store: &crate::tls::CertStore, metrics: &Metrics) {
    for cert in store.current().iter() {
        metrics
            .transport
            .cert_expiry
            .with_label_values(&[&cert.paths.cert.display().to_string()])
            .set(cert.not_after as f64);
    }
}

/// The plain listener of `redirect_listen`: every request goes to the same path on
/// `public_url`, whatever `Host` it named (a redirect never follows a client-chosen host).
async fn serve_redirects(listener: tokio::net::TcpListener, public_url: String) {
    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let public_url = public_url.clone();
        async move {
            let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
            (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, format!("{public_url}{path}"))],
            )
                .into_response()
        }
    });
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "redirect listener stopped");
    }
}

/// The origin of a URL as a browser serialises it in `Origin` (lower-case scheme and host, no
/// default port); the config has checked it is an http(s) URL.
fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_string(),
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Renewals per client network per minute of cookies whose signing key is unknown here: a
/// real browser needs one per session after two key rotations within `access_ttl`.
const KEYLESS_RENEWALS_PER_MINUTE: u32 = 10;

/// The demo webhook's secret, known to `wxgate dev`'s gateway and its demo upstream alike.
const DEV_WEBHOOK_SECRET: &str = "demo-webhook-secret-0123456789";

/// `wxgate dev`: the WeChat simulator (seeded with demo apps and users) on 127.0.0.1:9200, the
/// demo upstream that echoes the identity headers on 127.0.0.1:9000, and the gateway on
/// `config/dev.toml` (SQLite under `data/`).
pub fn dev(options: RunOptions) -> anyhow::Result<()> {
    let env: std::collections::HashMap<String, String> = [
        ("WXGATE_MP_SECRET", "demo-mp-secret"),
        ("WXGATE_MP2_SECRET", "demo-mp2-secret"),
        ("WXGATE_OA_SECRET", "demo-oa-secret"),
        ("WXGATE_WEB_SECRET", "demo-web-secret"),
        ("WXGATE_DEV_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        ("WXGATE_OIDC_DEMO_SECRET", "demo-oidc-secret-0123456789"),
        ("WXGATE_WECOM_SECRET", wxgate_sim::DEMO_WECOM_SECRET),
        ("WXGATE_OA_TOKEN", wxgate_sim::DEMO_OA_MESSAGE_TOKEN),
        ("WXGATE_OA_AES_KEY", wxgate_sim::DEMO_OA_ENCODING_AES_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = crate::config::load_str(
        include_str!("../../config/dev.toml"),
        "config/dev.toml",
        &env,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wxgate-control")
        .enable_all()
        .build()?;
    let (sim, upstream) = rt.block_on(async {
        let sim = wxgate_sim::Simulator::new();
        sim.seed_demo();
        // The simulated mini-program's scan page calls the gateway's `mp` channel.
        sim.set_backend(
            "wx0000000000000001",
            &format!(
                "{}{}/mp",
                config.server.public_url, config.server.auth_prefix
            ),
        );
        // The simulated official account pushes its events to the gateway's `oa` channel.
        sim.set_server_url(
            "wx0000000000000002",
            &format!(
                "{}{}/oa/message",
                config.server.public_url, config.server.auth_prefix
            ),
        );
        let sim = sim
            .serve("127.0.0.1:9200".parse()?)
            .await
            .context("starting the WeChat simulator on 127.0.0.1:9200")?;
        let upstream = wxgate_sim::serve_echo_upstream_with_events(
            "127.0.0.1:9000".parse()?,
            DEV_WEBHOOK_SECRET,
        )
        .await
        .context("starting the demo upstream on 127.0.0.1:9000")?;
        anyhow::Ok((sim, upstream))
    })?;
    tracing::info!(simulator = %sim.base_url(), upstream = %upstream.base_url(), "dev services up");
    let gateway = build(&config, &rt)?;
    let base = format!("http://{}", config.server.listen);
    println!(
        "\nwxgate dev is up.\n  gateway    {base}\n  simulator  {}\n  upstream   {}\n\nTry:\n  curl -s {base}/_auth/healthz\n  curl -s {base}/pub/hello\n  curl -si {base}/api/hello     # 401 without a token\n  open {base}/api/hello in a browser: the login page (QR, mini-program scan, follow, SMS)\n  mini-program scan: after the code shows, confirm it at {}/_sim/miniprogram/scan\n  follow to sign in: after the code shows, scan it at {}/_sim/officialaccount/scan\n  see README.md for mini-program and browser logins step by step\n",
        sim.base_url(),
        upstream.base_url(),
        sim.base_url(),
        sim.base_url()
    );
    // The simulator and upstream handles stop their servers when dropped: keep them.
    let _keep = (sim, upstream);
    serve(gateway, &config, options, rt)
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_drop_the_path() {
        assert_eq!(
            super::origin_of("https://gw.example.com/base/"),
            "https://gw.example.com"
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            super::origin_of("HTTPS://GW.Example.com:443/x"),
            "https://gw.example.com"
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/wx"),
            "postgres://app:***@db:5432/wx"
        );
        assert_eq!(
            super::redact_url("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }
}
