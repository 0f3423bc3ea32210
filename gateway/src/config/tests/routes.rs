//! `[[route]]` rules.

use super::*;

pub(super) fn route(prefix: &str, upstream: &str, auth: &str, login: Option<&str>) -> String {
    let login = login
        .map(|l| format!("login_channel = \"{l}\"\n"))
        .unwrap_or_default();
    format!(
        "[[route]]\nprefix = \"{prefix}\"\nupstream = \"{upstream}\"\nauth = \"{auth}\"\n{login}"
    )
}

#[test]
fn route_prefix_rules() {
    assert_error(
        &route("api/", "127.0.0.1:9000", "public", None),
        "route[0].prefix",
        2,
        "must start with '/'",
    );
    assert_error(
        &route("/_auth/x", "127.0.0.1:9000", "public", None),
        "route[0].prefix",
        2,
        "is under server.auth_prefix",
    );
    assert_error(
        &route("/_auth", "127.0.0.1:9000", "public", None),
        "route[0].prefix",
        2,
        "is under server.auth_prefix",
    );
    assert!(load(&route("/_authors/", "127.0.0.1:9000", "public", None)).is_ok());
    // Prefixes that requests, once normalised, can never start with: their traffic would fall
    // silently to a broader route.
    for (prefix, reads) in [
        ("/api//v1/", "\"/api/v1/\""),
        ("/%7Euser/", "\"/~user/\""),
        ("/caf%c3%a9/", "\"/caf%C3%A9/\""),
        ("/a/./b/", "\"/a/b/\""),
        ("/a/../admin/", "\"/admin/\""),
    ] {
        assert_error(
            &route(prefix, "127.0.0.1:9000", "required", None),
            "route[0].prefix",
            2,
            &format!("can never match: requests are matched on their normalised path, where this prefix reads {reads}"),
        );
    }
    assert_error(
        &route("/a%2Fb/", "127.0.0.1:9000", "required", None),
        "route[0].prefix",
        2,
        "can never match: the gateway refuses such paths",
    );
    assert!(load(&route("/caf%C3%A9/", "127.0.0.1:9000", "public", None)).is_ok());
    let twice = format!(
        "{}{}",
        route("/a/", "127.0.0.1:9000", "public", None),
        route("/a/", "127.0.0.1:9001", "required", None)
    );
    assert_error(
        &twice,
        "route[1].prefix",
        6,
        "duplicate route prefix \"/a/\": also used by route[0].prefix (line 2)",
    );
}

#[test]
fn route_upstream_must_be_host_port() {
    assert_error(
        &route("/a/", "ftp://127.0.0.1:9000", "public", None),
        "route[0].upstream",
        3,
        "has a scheme other than http:// or https://",
    );
    assert_error(
        &route("/a/", "https://api.internal/v1", "public", None),
        "route[0].upstream",
        3,
        "without a path",
    );
    assert_error(
        &route("/a/", "127.0.0.1", "public", None),
        "route[0].upstream",
        3,
        "must be host:port",
    );
}

#[test]
fn tls_settings_belong_to_https_upstreams() {
    let plain = format!(
        "{}ca_file = \"ca.pem\"\n",
        route("/a/", "127.0.0.1:9000", "public", None)
    );
    assert_error(
        &plain,
        "route[0].ca_file",
        5,
        "applies to an https upstream only",
    );
    let half = format!(
        "{}client_cert = \"c.pem\"\n",
        route("/a/", "https://api.internal:8443", "public", None)
    );
    assert_error(
        &half,
        "route[0].client_key",
        1,
        "client_cert needs its client_key",
    );
}

#[test]
fn login_channel_must_exist_and_redirect() {
    let unknown = format!(
        "{WEB}{}",
        route("/a/", "127.0.0.1:9000", "required", Some("qr"))
    );
    assert_error(
        &unknown,
        "route[0].login_channel",
        10,
        "no channel has id \"qr\" (channels with a sign-in page: web)",
    );
    let mini = format!(
        "{MP}{}",
        route("/a/", "127.0.0.1:9000", "required", Some("mp"))
    );
    assert_error(
        &mini,
        "route[0].login_channel",
        10,
        "channel \"mp\" is a wechat_miniprogram channel without a sign-in page",
    );
    let public = format!(
        "{WEB}{}",
        route("/a/", "127.0.0.1:9000", "public", Some("web"))
    );
    assert_error(
        &public,
        "route[0].login_channel",
        10,
        "a public route never redirects to login",
    );
    assert!(load(&format!(
        "{WEB}{}",
        route("/a/", "127.0.0.1:9000", "required", Some("web"))
    ))
    .is_ok());
}

#[test]
fn a_route_naming_a_broken_channel_is_not_reported_twice() {
    let text = format!(
        "{}{}",
        WEB.replace("secret = \"s\"\n", "secret = \"s\"\nscope = \"x\"\n"),
        route("/a/", "127.0.0.1:9000", "required", Some("web"))
    );
    let all = errors(&text);
    assert_eq!(all.len(), 1, "{}", ConfigErrors(all.clone()));
    assert_eq!(all[0].key, "channel[0].scope");
}

#[test]
fn route_timeouts_default_and_are_bounded() {
    let route = "[[route]]\nprefix = \"/api/\"\nupstream = \"127.0.0.1:9000\"\nauth = \"public\"\n";
    let config = load(route).unwrap();
    assert_eq!(config.routes[0].connect_timeout, Duration::from_secs(2));
    assert_eq!(config.routes[0].read_timeout, Duration::from_secs(30));
    let slow = format!("{route}read_timeout = \"2h\"\n");
    assert_error(&slow, "route[0].read_timeout", 5, "between 100ms and 10m");
    let fast = format!("{route}connect_timeout = \"1ms\"\n");
    assert_error(
        &fast,
        "route[0].connect_timeout",
        5,
        "between 100ms and 30s",
    );
}

fn pool(upstreams: &str, extra: &str) -> String {
    format!("[[route]]\nprefix = \"/a/\"\nupstream = {upstreams}\nauth = \"required\"\n{extra}")
}

#[test]
fn pools_list_backends_of_one_scheme_with_their_checks() {
    let config = load(&pool(
        "[\"10.0.0.5:8080\", \"api.internal:8080\"]",
        "balance = \"user\"\nhealth_check = \"/healthz?deep=1\"\nhealth_interval = \"2s\"\neject_for = \"30s\"\n",
    ))
    .unwrap();
    let r = &config.routes[0];
    assert_eq!(r.upstream, ["10.0.0.5:8080", "api.internal:8080"]);
    assert_eq!(r.balance, Balance::User);
    assert_eq!(
        r.health_check,
        Some(HealthCheck::Http {
            path: "/healthz?deep=1".into()
        })
    );
    assert_eq!(r.health_interval, std::time::Duration::from_secs(2));
    assert_eq!(r.eject_for, std::time::Duration::from_secs(30));
    let plain = load(&pool("\"127.0.0.1:9000\"", "health_check = \"tcp\"\n")).unwrap();
    assert_eq!(plain.routes[0].health_check, Some(HealthCheck::Tcp));
    assert_eq!(plain.routes[0].balance, Balance::RoundRobin);

    assert_error(&pool("[]", ""), "route[0].upstream", 3, "names no address");
    assert_error(
        &pool("[\"127.0.0.1:9000\", \"127.0.0.1\"]", ""),
        "route[0].upstream[1]",
        3,
        "must be host:port",
    );
    assert_error(
        &pool("[\"127.0.0.1:9000\", \"127.0.0.1:9000\"]", ""),
        "route[0].upstream[1]",
        3,
        "is listed twice",
    );
    assert_error(
        &pool("[\"127.0.0.1:9000\", \"https://api.internal\"]", ""),
        "route[0].upstream",
        3,
        "mixes http and https",
    );
    assert_error(
        &pool("[\"https://a.internal\", \"https://b.internal\"]", ""),
        "route[0].sni",
        1,
        "name the one their certificates carry",
    );
    assert!(load(&pool(
        "[\"https://a.internal\", \"https://b.internal\"]",
        "sni = \"api.internal\"\n"
    ))
    .is_ok());
    assert_error(
        &pool(
            "[\"a.internal:80\", \"b.internal:80\"]",
            "host_header = \"upstream\"\n",
        ),
        "route[0].host_header",
        5,
        "several",
    );
    assert_error(
        &pool("\"127.0.0.1:9000\"", "health_check = \"healthz\"\n"),
        "route[0].health_check",
        5,
        "neither \"tcp\" nor a path",
    );
    assert_error(
        &pool("\"127.0.0.1:9000\"", "health_interval = \"2s\"\n"),
        "route[0].health_interval",
        5,
        "applies only with a health_check",
    );
    assert_error(
        &pool("\"127.0.0.1:9000\"", "eject_for = \"0s\"\n"),
        "route[0].eject_for",
        5,
        "must be between",
    );
    assert_error(
        &route("/a/", "127.0.0.1:9000", "public", None)
            .replace("auth = \"public\"", "auth = \"public\"\nbalance = \"user\""),
        "route[0].balance",
        5,
        "needs the user",
    );
    assert_error(
        &pool(
            "\"https://api.internal\"",
            "client_cert = \"c.pem\"\nclient_key = \"k.pem\"\nhealth_check = \"tcp\"\n",
        ),
        "route[0].health_check",
        7,
        "cannot present the client certificate",
    );
    assert_error(
        &pool("\"127.0.0.1:9000\"", "balance = \"random\"\n"),
        "route[0].balance",
        5,
        "round_robin",
    );
}

#[test]
fn dns_settings_bound_the_ttl() {
    let config = load(&format!(
        "[server]\ndns = {{ nameservers = [\"10.0.0.2\", \"10.0.0.3:5353\"], min_ttl = \"2s\", max_ttl = \"1m\" }}\n{}",
        route("/a/", "127.0.0.1:9000", "public", None)
    ))
    .unwrap();
    let dns = &config.server.dns;
    assert_eq!(
        dns.nameservers,
        [
            "10.0.0.2:53".parse::<std::net::SocketAddr>().unwrap(),
            "10.0.0.3:5353".parse().unwrap()
        ]
    );
    assert_eq!(dns.min_ttl, std::time::Duration::from_secs(2));
    assert_eq!(dns.max_ttl, std::time::Duration::from_secs(60));
    assert_error(
        &format!(
            "[server]\ndns = {{ min_ttl = \"10m\", max_ttl = \"1m\" }}\n{}",
            route("/a/", "127.0.0.1:9000", "public", None)
        ),
        "server.dns.min_ttl",
        2,
        "is above max_ttl",
    );
    assert_error(
        &format!(
            "[server]\ndns = {{ nameservers = [\"dns.internal\"] }}\n{}",
            route("/a/", "127.0.0.1:9000", "public", None)
        ),
        "server.dns.nameservers[0]",
        2,
        "is not an IP address",
    );
}

#[test]
fn identity_headers_are_known_names_and_only_on_routes_with_identity() {
    let route = |extra: &str| {
        format!("[[route]]\nprefix = \"/api/\"\nupstream = \"127.0.0.1:9000\"\nauth = \"required\"\n{extra}")
    };
    let set = load(&route("identity_headers = [\"user\", \"assertion\"]\n"))
        .unwrap()
        .routes[0]
        .identity_headers;
    assert!(set.has("user") && set.has("assertion") && !set.has("phone"));
    assert_eq!(
        load(&route("")).unwrap().routes[0].identity_headers,
        crate::headers::IdentitySet::ALL
    );
    assert_error(
        &route("identity_headers = [\"user\", \"email\"]\n"),
        "route[0].identity_headers",
        5,
        "unknown identity header \"email\"",
    );
    assert_error(
        &route("identity_headers = []\n"),
        "route[0].identity_headers",
        5,
        "is empty",
    );
    let public = "[[route]]\nprefix = \"/pub/\"\nupstream = \"127.0.0.1:9000\"\nauth = \"public\"\nidentity_headers = [\"user\"]\n";
    assert_error(
        public,
        "route[0].identity_headers",
        5,
        "public route never carries",
    );
}
