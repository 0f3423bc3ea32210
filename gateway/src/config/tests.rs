//! Loader tests: each error names its key and its line; the shipped configs load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use wxgate_core::policy::{Anchor, OnPhoneConflict};
use wxgate_providers::registry::ChannelConfig;

use super::*;

const EXAMPLE: &str = include_str!("../../../config/wxgate.example.toml");
const DEV: &str = include_str!("../../../config/dev.toml");

/// The variables the shipped configs reference, as `wxgate dev` sets them.
fn env() -> HashMap<String, String> {
    [
        ("WXGATE_MP_SECRET", "demo-mp-secret"),
        ("WXGATE_MP2_SECRET", "demo-mp2-secret"),
        ("WXGATE_OA_SECRET", "demo-oa-secret"),
        ("WXGATE_WEB_SECRET", "demo-web-secret"),
        (
            "WXGATE_DEV_WEBHOOK_SECRET",
            "demo-webhook-secret-0123456789",
        ),
        ("WXGATE_WEBHOOK_ORDERS_SECRET", "orders-webhook-secret-0123"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    load_str(text, "test.toml", &env())
}

fn errors(text: &str) -> Vec<ConfigError> {
    match load(text) {
        Ok(config) => panic!("expected errors, loaded {config:?}"),
        Err(ConfigErrors(errors)) => errors,
    }
}

/// Asserts that loading `text` fails with an error on `key` at `line` whose message contains
/// `needle`, and that the printed form names the file, line and key.
#[track_caller]
fn assert_error(text: &str, key: &str, line: usize, needle: &str) -> ConfigError {
    let all = errors(text);
    let Some(error) = all.iter().find(|e| e.key == key) else {
        panic!("no error on {key}; got:\n{}", ConfigErrors(all.clone()));
    };
    assert_eq!(error.line, Some(line), "{error}");
    assert!(error.message.contains(needle), "{error:?} lacks {needle:?}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("test.toml:{line}: {key}: ")),
        "{error}"
    );
    error.clone()
}

const MP: &str =
    "[[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nappid = \"wx1\"\nsecret = \"s\"\n";
const WEB: &str =
    "[[channel]]\nid = \"web\"\nkind = \"wechat_open_qr\"\nappid = \"wx3\"\nsecret = \"s\"\n";

// === the shipped configs ===

#[test]
fn example_config_loads() {
    let config = load(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<_> = config.channels.iter().map(ChannelConfig::id).collect();
    assert_eq!(ids, ["mp", "oa", "web", "sms"]);
    assert_eq!(config.routes[0].login_channel.as_deref(), Some("web"));
    assert_eq!(
        config.server.metrics_listen,
        Some("127.0.0.1:9091".parse().unwrap())
    );
    let Some(ChannelConfig::WechatMiniprogram(mp)) = config.channel("mp") else {
        panic!("mp is not a mini-program");
    };
    assert_eq!(mp.secret.expose(), "demo-mp-secret");
}

#[test]
fn dev_config_loads_with_the_simulator_and_demo_upstream() {
    let config = load(DEV).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.database.url, "sqlite://data/dev.db?mode=rwc");
    assert_eq!(
        config.tokens.keys_dir,
        std::path::PathBuf::from("data/dev-keys")
    );
    assert_eq!(
        config.server.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.server.metrics_listen,
        Some("127.0.0.1:9091".parse().unwrap())
    );
    let kinds: Vec<_> = config.channels.iter().map(|c| (c.id(), c.kind())).collect();
    assert_eq!(
        kinds,
        [
            ("mp", "wechat_miniprogram"),
            ("mp2", "wechat_miniprogram"),
            ("oa", "wechat_official_account"),
            ("web", "wechat_open_qr"),
            ("sms", "phone_sms"),
        ]
    );
    let Some(ChannelConfig::WechatMiniprogram(mp2)) = config.channel("mp2") else {
        panic!("mp2 is not a mini-program");
    };
    assert_eq!(
        (mp2.appid.as_str(), mp2.secret.expose()),
        ("wx0000000000000004", "demo-mp2-secret")
    );
    assert_eq!(mp2.api_base, "http://127.0.0.1:9200");
    let routes: Vec<_> = config
        .routes
        .iter()
        .map(|r| (r.prefix.as_str(), r.auth, r.login_channel.as_deref()))
        .collect();
    assert_eq!(
        routes,
        [
            ("/api/", RouteAuth::Required, None),
            ("/qr/", RouteAuth::Required, Some("web")),
            ("/pub/", RouteAuth::Public, None),
            ("/opt/", RouteAuth::Optional, None),
        ]
    );
    assert!(config.routes.iter().all(|r| r.upstream == "127.0.0.1:9000"));
}

#[test]
fn shipped_configs_fail_without_their_secrets() {
    let e = load_str(DEV, "dev.toml", &HashMap::new()).unwrap_err();
    assert_eq!(e.0.len(), 5, "{e}");
    assert!(e.0.iter().all(|e| e.message.ends_with("is not set")));
}

#[test]
fn operator_commands_need_only_the_database_and_the_keys_resolved() {
    let c = load_str_for(DEV, "dev.toml", &HashMap::new(), Scope::Operator).unwrap();
    assert_eq!(c.database.url, "sqlite://data/dev.db?mode=rwc");
    assert_eq!(
        c.webhooks.len(),
        1,
        "which webhooks want events is still known"
    );
    // What they do use must still resolve, with its key named.
    let text = "[database]\nurl = \"${WXGATE_DB_URL}\"\n[tokens]\nkeys_dir = \"${KEYS}\"\n";
    let e = load_str_for(text, "t.toml", &HashMap::new(), Scope::Operator).unwrap_err();
    let keys: Vec<_> = e.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["database.url", "tokens.keys_dir"], "{e}");
    // And a config that is wrong in itself is still refused.
    let e = load_str_for(
        "[limits]\nipv4_prefix = 0\n",
        "t.toml",
        &HashMap::new(),
        Scope::Operator,
    )
    .unwrap_err();
    assert_eq!(e.0[0].key, "limits.ipv4_prefix");
}

#[test]
fn limits_group_clients_by_network_and_are_bounded() {
    let c = load("").unwrap();
    assert_eq!(
        (c.limits.ipv4_prefix, c.limits.ipv6_prefix),
        (32, 64),
        "a home line's /64 is one client"
    );
    assert_eq!(
        (
            c.limits.browser_logins_per_minute,
            c.limits.wechat_logins_per_minute
        ),
        (30, 60)
    );
    let c = load("[limits]\nipv4_prefix = 24\nipv6_prefix = 56\nwechat_logins_per_minute = 5\n")
        .unwrap();
    assert_eq!((c.limits.ipv4_prefix, c.limits.ipv6_prefix), (24, 56));
    assert_error(
        "[limits]\nipv4_prefix = 33\n",
        "limits.ipv4_prefix",
        2,
        "between 8 and 32",
    );
    assert_error(
        "[limits]\nipv6_prefix = 16\n",
        "limits.ipv6_prefix",
        2,
        "between 32 and 128",
    );
    assert_error(
        "[limits]\nbrowser_logins_per_minute = 0\n",
        "limits.browser_logins_per_minute",
        2,
        "at least 1",
    );
    assert_error(
        "[limits]\nipv6_prefx = 64\n",
        "limits.ipv6_prefx",
        2,
        "unknown field",
    );
}

#[test]
fn load_file_reads_the_example_and_names_a_missing_file() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    assert!(load_file(&dir.join("wxgate.example.toml"), &env()).is_ok());
    let e = load_file(&dir.join("nope.toml"), &env()).unwrap_err();
    assert!(
        e.to_string()
            .contains("nope.toml: (file): cannot read the config file"),
        "{e}"
    );
}

#[test]
fn empty_config_takes_the_contract_defaults() {
    let c = load("").unwrap();
    assert_eq!(
        c.server.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
    assert_eq!(c.server.auth_prefix, "/_auth");
    assert_eq!(c.server.metrics_listen, None);
    assert!(c.server.trusted_proxies.is_empty());
    assert_eq!(c.database.url, "sqlite://data/wxgate.db?mode=rwc");
    assert_eq!(c.tokens.issuer, "wxgate");
    assert_eq!(c.tokens.access_ttl, Duration::from_secs(15 * 60));
    assert_eq!(c.tokens.refresh_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!(c.tokens.keys_dir, std::path::PathBuf::from("data/keys"));
    assert_eq!(c.tokens.revocation_sync, Duration::from_secs(5));
    assert_eq!(c.identity, IdentityPolicy::default());
    assert!(c.channels.is_empty() && c.routes.is_empty());
}

#[test]
fn public_url_defaults_from_listen_and_loses_its_trailing_slash() {
    let c = load("[server]\nlisten = \"0.0.0.0:9999\"\n").unwrap();
    assert_eq!(c.server.public_url, "http://0.0.0.0:9999");
    let c = load("[server]\npublic_url = \"https://login.example.com/\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n").unwrap();
    assert_eq!(c.server.public_url, "https://login.example.com");
    assert_eq!(
        c.server.trusted_proxies,
        ["10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()]
    );
}

// === syntax, unknown keys, types ===

#[test]
fn syntax_error_names_line_and_key() {
    let e = assert_error(
        "[server]\nlisten = \"127.0.0.1:8080\n",
        "server.listen",
        2,
        "TOML syntax error",
    );
    assert!(!e.message.contains('\n'));
}

#[test]
fn duplicate_key_is_a_syntax_error_on_its_line() {
    assert_error(
        "[tokens]\nissuer = \"a\"\nissuer = \"b\"\n",
        "tokens.issuer",
        3,
        "duplicate key",
    );
}

#[test]
fn misspelt_key_is_rejected_for_every_channel_kind() {
    let tables = [
        ("wechat_miniprogram", "appid = \"wx1\"\nsecret = \"s\"\n"),
        (
            "wechat_official_account",
            "appid = \"wx2\"\nsecret = \"s\"\n",
        ),
        ("wechat_open_qr", "appid = \"wx3\"\nsecret = \"s\"\n"),
        (
            "phone_sms",
            "sender = { kind = \"webhook\", url = \"http://127.0.0.1:9100/sms\" }\n",
        ),
    ];
    for (kind, body) in tables {
        // Lines 1-5 hold a channel that loads, so the typo is in channel[1], after its body.
        let text = format!(
            "{MP}[[channel]]\nid = \"x\"\nkind = \"{kind}\"\n{body}api_bse = \"http://x\"\n"
        );
        let line = 6 + 3 + body.lines().count();
        assert_error(&text, "channel[1].api_bse", line, "unknown field `api_bse`");
    }
}

#[test]
fn misspelt_key_in_the_sms_sender_is_named() {
    let text = "[[channel]]\nid = \"sms\"\nkind = \"phone_sms\"\nsender = { kind = \"webhook\", urll = \"http://x\" }\n";
    assert_error(text, "channel[0].sender.urll", 4, "unknown field `urll`");
}

#[test]
fn misspelt_key_in_server_tokens_route_database_identity() {
    assert_error(
        "[server]\n\nlistn = \"127.0.0.1:1\"\n",
        "server.listn",
        3,
        "unknown field `listn`",
    );
    assert_error(
        "[tokens]\naccess_tll = \"5m\"\n",
        "tokens.access_tll",
        2,
        "unknown field `access_tll`",
    );
    assert_error(
        "[database]\nuri = \"sqlite::memory:\"\n",
        "database.uri",
        2,
        "unknown field `uri`",
    );
    assert_error(
        "[identity]\nanchr = \"phone\"\n",
        "identity.anchr",
        2,
        "unknown field `anchr`",
    );
    let route = "[[route]]\nprefix = \"/a/\"\nupstream = \"127.0.0.1:9000\"\nauth = \"public\"\nlogin_chanel = \"web\"\n";
    assert_error(
        route,
        "route[0].login_chanel",
        5,
        "unknown field `login_chanel`",
    );
}

#[test]
fn unknown_section_is_named_with_a_hint() {
    assert_error(
        "\n[[channels]]\nid = \"mp\"\n",
        "channels",
        2,
        "did you mean [[channel]]?",
    );
    assert_error("[srever]\n", "srever", 1, "unknown key `srever`");
}

#[test]
fn missing_required_key_points_at_its_table() {
    assert_error(
        "[[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nsecret = \"s\"\n",
        "channel[0].appid",
        1,
        "missing field `appid`",
    );
    assert_error(
        "[[route]]\nprefix = \"/a/\"\nauth = \"public\"\n",
        "route[0].upstream",
        1,
        "missing field `upstream`",
    );
}

#[test]
fn channel_kind_missing_or_unknown() {
    assert_error(
        "[[channel]]\nid = \"mp\"\nappid = \"wx1\"\n",
        "channel[0].kind",
        1,
        "missing field `kind`; expected one of `wechat_miniprogram`",
    );
    let e = assert_error(
        "[[channel]]\nid = \"mp\"\nkind = \"wechat_work\"\n",
        "channel[0].kind",
        3,
        "unknown kind `wechat_work`",
    );
    assert!(e.message.contains("`phone_sms`"), "{e}");
}

#[test]
fn bad_duration_names_the_key_and_the_value() {
    let text = "[tokens]\nissuer = \"wxgate\"\naccess_ttl = \"15 minutes please\"\n";
    assert_error(
        text,
        "tokens.access_ttl",
        3,
        "invalid duration \"15 minutes please\"",
    );
    let sms = "[[channel]]\nid = \"sms\"\nkind = \"phone_sms\"\nsender = { kind = \"webhook\", url = \"http://x\" }\ncode_ttl = 300\n";
    assert_error(sms, "channel[0].code_ttl", 5, "duration string");
}

#[test]
fn bad_enum_values_list_the_allowed_ones() {
    let e = assert_error(
        "[identity]\nanchor = \"email\"\n",
        "identity.anchor",
        2,
        "unknown variant `email`",
    );
    assert!(
        e.message.contains("`wechat`") && e.message.contains("`phone`"),
        "{e}"
    );
    let e = assert_error(
        "[identity]\non_phone_conflict = \"ignore\"\n",
        "identity.on_phone_conflict",
        2,
        "unknown variant `ignore`",
    );
    assert!(
        ["`reject`", "`move`", "`merge`"]
            .iter()
            .all(|v| e.message.contains(v)),
        "{e}"
    );
    let route = "[[route]]\nprefix = \"/a/\"\nupstream = \"127.0.0.1:9000\"\nauth = \"private\"\n";
    let e = assert_error(route, "route[0].auth", 4, "unknown variant `private`");
    assert!(e.message.contains("`required`, `optional`"), "{e}");
    let oa = "[[channel]]\nid = \"oa\"\nkind = \"wechat_official_account\"\nappid = \"wx2\"\nsecret = \"s\"\nscope = \"snsapi_login\"\n";
    assert_error(
        oa,
        "channel[0].scope",
        6,
        "expected `snsapi_base` or `snsapi_userinfo`",
    );
}

#[test]
fn wrong_type_is_named() {
    assert_error(
        "[server]\nlisten = 8080\n",
        "server.listen",
        2,
        "invalid type: integer",
    );
    assert_error("server = \"x\"\n", "server", 1, "must be a table");
    assert_error(
        "[route]\nprefix = \"/\"\n",
        "route",
        1,
        "must be an array of tables ([[route]])",
    );
}

// === ${ENV} ===

#[test]
fn every_missing_variable_is_reported_with_its_key_and_line() {
    let text = "[[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nappid = \"wx1\"\nsecret = \"${MISSING_ONE}\"\n\n\
                [database]\nurl = \"postgres://app:${MISSING_TWO}@db/app\"\n";
    let all = errors(text);
    assert_eq!(all.len(), 2, "{}", ConfigErrors(all.clone()));
    assert_error(
        text,
        "channel[0].secret",
        5,
        "environment variable MISSING_ONE is not set",
    );
    assert_error(
        text,
        "database.url",
        8,
        "environment variable MISSING_TWO is not set",
    );
}

#[test]
fn interpolation_in_the_middle_of_a_string() {
    let mut env = env();
    env.insert("DB_PASS".into(), "s3cret".into());
    env.insert("DB_HOST".into(), "db.internal".into());
    let text = "[database]\nurl = \"postgres://app:${DB_PASS}@${DB_HOST}:5432/app\"\n";
    let config = load_str(text, "test.toml", &env).unwrap();
    assert_eq!(
        config.database.url,
        "postgres://app:s3cret@db.internal:5432/app"
    );
}

#[test]
fn a_variable_with_a_newline_is_refused_without_printing_it() {
    let mut env = env();
    env.insert(
        "WXGATE_MP_SECRET".into(),
        "CANARY_LINE_1\nCANARY_LINE_2".into(),
    );
    let e = load_str(
        MP.replace("\"s\"", "\"${WXGATE_MP_SECRET}\"").as_str(),
        "test.toml",
        &env,
    )
    .unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(
        (e.0[0].key.as_str(), e.0[0].line),
        ("channel[0].secret", Some(5))
    );
    assert!(
        e.to_string()
            .contains("WXGATE_MP_SECRET contains a newline"),
        "{e}"
    );
    assert!(!e.to_string().contains("CANARY"), "{e}");
}

#[test]
fn values_are_interpolated_after_parsing_so_they_cannot_add_keys() {
    let mut env = env();
    env.insert("INJECT".into(), "x\"\nadmin = \"yes".replace('\n', " "));
    let c = load_str("[tokens]\nissuer = \"${INJECT}\"\n", "test.toml", &env).unwrap();
    assert_eq!(c.tokens.issuer, "x\" admin = \"yes");
}

#[test]
fn secrets_never_reach_debug_or_errors() {
    let c = load(MP).unwrap();
    assert!(!format!("{c:?}").contains("demo-mp-secret"));
    let e = errors(&format!("{MP}[[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nappid = \"wx9\"\nsecret = \"${{WXGATE_MP_SECRET}}\"\n"));
    assert!(!ConfigErrors(e).to_string().contains("demo-mp-secret"));
}

// === [[channel]] rules ===

#[test]
fn duplicate_channel_id_names_both_lines() {
    let text = format!("{MP}\n{}", MP.replace("wx1", "wx2"));
    assert_error(
        &text,
        "channel[1].id",
        8,
        "duplicate channel id \"mp\": also used by channel[0].id (line 2)",
    );
}

#[test]
fn reserved_channel_ids_are_refused() {
    for id in RESERVED_CHANNEL_IDS {
        let text = MP.replace("\"mp\"", &format!("{id:?}"));
        let e = assert_error(&text, "channel[0].id", 2, "is reserved");
        assert!(e.message.starts_with(&format!("{id:?}")), "{e}");
    }
}

#[test]
fn channel_id_charset() {
    assert_error(
        &MP.replace("\"mp\"", "\"My App\""),
        "channel[0].id",
        2,
        "use 1 to 32 of a-z, 0-9, '_' and '-'",
    );
    assert_error(
        &MP.replace("\"mp\"", &format!("{:?}", "a".repeat(33))),
        "channel[0].id",
        2,
        "is not a channel id",
    );
}

#[test]
fn duplicate_appid_within_a_kind_names_both_lines() {
    let text = format!("{MP}{}", MP.replace("\"mp\"", "\"mp2\""));
    assert_error(&text, "channel[1].appid", 9, "duplicate AppID \"wx1\" for kind wechat_miniprogram: also used by channel[0].appid (line 4)");
    // The same AppID under another kind is a different app registration; allowed.
    assert!(load(&format!("{MP}{}", WEB.replace("wx3", "wx1"))).is_ok());
}

#[test]
fn kind_rules_are_reported_under_the_channel() {
    assert_error(
        &MP.replace(
            "secret = \"s\"",
            "secret = \"s\"\napi_base = \"api.weixin.qq.com\"",
        ),
        "channel[0].api_base",
        6,
        "not a URL",
    );
    assert_error(
        &MP.replace("\"wx1\"", "\"\""),
        "channel[0].appid",
        4,
        "must not be empty",
    );
    assert_error(
        &MP.replace("\"s\"", "\"\""),
        "channel[0].secret",
        5,
        "must not be empty",
    );
    let sms = "[[channel]]\nid = \"sms\"\nkind = \"phone_sms\"\nsender = { kind = \"webhook\", url = \"ftp://x\" }\ncode_ttl = \"1h\"\nmax_attempts = 0\n";
    assert_error(sms, "channel[0].sender.url", 4, "is not http or https");
    assert_error(sms, "channel[0].code_ttl", 5, "at most 10m");
    assert_error(sms, "channel[0].max_attempts", 6, "at least 1");
}

// === [[route]] rules ===

fn route(prefix: &str, upstream: &str, auth: &str, login: Option<&str>) -> String {
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
        &route("/a/", "http://127.0.0.1:9000", "public", None),
        "route[0].upstream",
        3,
        "without a scheme",
    );
    assert_error(
        &route("/a/", "127.0.0.1", "public", None),
        "route[0].upstream",
        3,
        "must be host:port",
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
        "no channel has id \"qr\" (channels with an /authorize page: web)",
    );
    let mini = format!(
        "{MP}{}",
        route("/a/", "127.0.0.1:9000", "required", Some("mp"))
    );
    assert_error(
        &mini,
        "route[0].login_channel",
        10,
        "channel \"mp\" is a wechat_miniprogram channel, which has no /authorize page",
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

// === [identity], [tokens], [server], [database] rules ===

#[test]
fn on_phone_conflict_is_for_the_wechat_anchor_only() {
    assert_error(
        "[identity]\nanchor = \"phone\"\non_phone_conflict = \"merge\"\n",
        "identity.on_phone_conflict",
        3,
        "anchor = \"wechat\" only",
    );
    let c = load("[identity]\nanchor = \"phone\"\non_phone_conflict = \"reject\"\n").unwrap();
    assert_eq!(c.identity.anchor, Anchor::Phone);
    let c = load("[identity]\non_phone_conflict = \"move\"\n").unwrap();
    assert_eq!(c.identity.on_phone_conflict, OnPhoneConflict::Move);
}

#[test]
fn token_lifetimes() {
    assert_error(
        "[tokens]\naccess_ttl = \"2h\"\n",
        "tokens.access_ttl",
        2,
        "2h must be more than 0s and at most 1h",
    );
    assert_error(
        "[tokens]\naccess_ttl = \"0s\"\n",
        "tokens.access_ttl",
        2,
        "at most 1h",
    );
    assert_error(
        "[tokens]\naccess_ttl = \"30m\"\nrefresh_ttl = \"10m\"\n",
        "tokens.access_ttl",
        2,
        "30m must be shorter than tokens.refresh_ttl (10m)",
    );
    assert_error(
        "[tokens]\nrevocation_sync = \"10m\"\n",
        "tokens.revocation_sync",
        2,
        "between 1s and 5m",
    );
    assert_error(
        "[tokens]\nrevocation_sync = \"500ms\"\n",
        "tokens.revocation_sync",
        2,
        "between 1s and 5m",
    );
    assert_error(
        "[tokens]\n\nissuer = \"\"\n",
        "tokens.issuer",
        3,
        "must not be empty",
    );
    assert_error(
        "[tokens]\nkeys_dir = \"\"\n",
        "tokens.keys_dir",
        2,
        "must not be empty",
    );
}

#[test]
fn server_addresses() {
    assert_error(
        "[server]\nlisten = \"localhost:8080\"\n",
        "server.listen",
        2,
        "is not a socket address",
    );
    assert_error(
        "[server]\nmetrics_listen = \"127.0.0.1\"\n",
        "server.metrics_listen",
        2,
        "is not a socket address",
    );
    assert_error(
        "[server]\nmetrics_listen = \"127.0.0.1:8080\"\n",
        "server.metrics_listen",
        2,
        "clashes with server.listen",
    );
    assert_error(
        "[server]\nlisten = \"0.0.0.0:8080\"\nmetrics_listen = \"127.0.0.1:8080\"\n",
        "server.metrics_listen",
        3,
        "clashes",
    );
    assert!(
        load("[server]\nlisten = \"127.0.0.1:8080\"\nmetrics_listen = \"127.0.0.2:8080\"\n")
            .is_ok()
    );
}

#[test]
fn server_public_url_and_auth_prefix() {
    assert_error(
        "[server]\npublic_url = \"ftp://example.com\"\n",
        "server.public_url",
        2,
        "is not http or https",
    );
    assert_error(
        "[server]\npublic_url = \"https://example.com/?a=1\"\n",
        "server.public_url",
        2,
        "query or fragment",
    );
    assert_error(
        "[server]\nauth_prefix = \"_auth\"\n",
        "server.auth_prefix",
        2,
        "must start with '/'",
    );
    assert_error(
        "[server]\nauth_prefix = \"/_auth/\"\n",
        "server.auth_prefix",
        2,
        "must not end with '/'",
    );
    assert_error(
        "[server]\nauth_prefix = \"/a b\"\n",
        "server.auth_prefix",
        2,
        "must be a path",
    );
}

#[test]
fn trusted_proxies_must_be_cidrs() {
    let text =
        "[server]\ntrusted_proxies = [\n  \"10.0.0.0/8\",\n  \"192.168.1.7\",\n  \"nope\",\n]\n";
    assert_error(
        text,
        "server.trusted_proxies[1]",
        4,
        "write \"192.168.1.7/32\" for one address",
    );
    assert_error(
        text,
        "server.trusted_proxies[2]",
        5,
        "\"nope\" is not a CIDR",
    );
}

#[test]
fn database_url_scheme_without_echoing_the_url() {
    let e = assert_error(
        "[database]\nurl = \"oracle://app:hunter2@db\"\n",
        "database.url",
        2,
        "sqlite:, postgres:, postgresql:, mysql: or mariadb:",
    );
    assert!(!e.message.contains("hunter2"));
    for ok in [
        "sqlite::memory:",
        "postgres://h/d",
        "postgresql://h/d",
        "mysql://h/d",
        "mariadb://h/d",
    ] {
        assert!(
            load(&format!("[database]\nurl = \"{ok}\"\n")).is_ok(),
            "{ok}"
        );
    }
}

// === all at once ===

#[test]
fn every_error_is_reported_in_one_run_in_file_order() {
    let text = format!(
        "[server]\nlisten = \"nope\"\n[tokens]\naccess_ttl = \"2h\"\n{MP}{}{}",
        MP.replace("wx1", "wx2"),
        route("/a/", "127.0.0.1:9000", "required", Some("mp"))
    );
    let all = errors(&text);
    let keys: Vec<_> = all.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        keys,
        [
            ("server.listen", Some(2)),
            ("tokens.access_ttl", Some(4)),
            ("channel[1].id", Some(11)),
            ("route[0].login_channel", Some(19)),
        ],
        "{}",
        ConfigErrors(all.clone())
    );
    assert_eq!(ConfigErrors(all).to_string().lines().count(), 4);
}

#[test]
fn a_channel_that_fails_to_read_still_has_its_id_checked_and_its_typos_named() {
    let text = "[[channel]]\nid = \"me\"\nkind = \"wechat_miniprogram\"\nappid = \"wx1\"\nsecrt = \"${NOPE}\"\n";
    let all = errors(text);
    let keys: Vec<_> = all.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        keys,
        [
            ("channel[0].id", Some(2)),
            ("channel[0].secrt", Some(5)),
            ("channel[0].secrt", Some(5))
        ],
        "{}",
        ConfigErrors(all.clone())
    );
    assert!(
        all[1].message.contains("NOPE is not set") || all[2].message.contains("NOPE is not set")
    );
    assert!(all
        .iter()
        .any(|e| e.message.starts_with("unknown field `secrt`")));
}

#[test]
fn database_debug_masks_the_password() {
    let mut env = env();
    env.insert("DB_PASS".into(), "CANARY_DB_PASSWORD".into());
    let c = load_str(
        "[database]\nurl = \"postgres://app:${DB_PASS}@db/app\"\n",
        "test.toml",
        &env,
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("CANARY_DB_PASSWORD"), "{debug}");
    assert!(debug.contains("postgres://app:***@db/app"), "{debug}");
    assert!(
        format!("{:?}", load("").unwrap().database).contains("sqlite://data/wxgate.db?mode=rwc")
    );
}

#[test]
fn identity_header_names_are_configurable_and_checked() {
    let config = load("[headers]\nuser = \"X-User-Id\"\n").unwrap();
    assert_eq!(config.headers.user, "X-User-Id");
    assert_eq!(
        config.headers.phone, "X-Auth-Phone",
        "unset names keep the contract default"
    );
    assert_error(
        "[headers]\nuser = \"X User\"\n",
        "headers.user",
        2,
        "not a header name",
    );
    assert_error(
        "[headers]\nphone = \"Cookie\"\n",
        "headers.phone",
        2,
        "already owns",
    );
    assert_error(
        "[headers]\nuser = \"X-Id\"\nopenid = \"x-id\"\n",
        "headers.openid",
        3,
        "also used by headers.user",
    );
    assert_error(
        "[headers]\nusr = \"X-Id\"\n",
        "headers.usr",
        2,
        "unknown field",
    );
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

const HOOK: &str = "[[webhook]]\nid = \"orders\"\nurl = \"https://orders.internal/events\"\nsecret = \"whsec_0123456789abcdef\"\n";

#[test]
fn a_webhook_takes_its_defaults_and_every_event_type() {
    let config = load(HOOK).unwrap();
    let hook = &config.webhooks[0];
    assert_eq!(hook.id, "orders");
    assert_eq!(hook.events, None);
    assert_eq!(hook.timeout, Duration::from_secs(10));
    assert_eq!(hook.backoff, Duration::from_secs(2));
    assert_eq!(hook.max_backoff, Duration::from_secs(600));
    assert_eq!(hook.retry_for, Duration::from_secs(86_400));
    let sub = hook.subscription();
    assert!(wxgate_core::events::EventType::ALL
        .iter()
        .all(|t| sub.wants(*t)));
    assert!(!format!("{config:?}").contains("whsec_0123456789abcdef"));
}

#[test]
fn webhook_rules_name_their_keys() {
    let text = format!("{HOOK}events = [\"user.merged\", \"user.renamed\"]\n");
    assert_error(
        &text,
        "webhook[0].events[1]",
        5,
        "unknown event type \"user.renamed\"",
    );
    let text =
        "[[webhook]]\nid = \"Orders!\"\nurl = \"ftp://x\"\nsecret = \"short\"\ntimeout = \"2m\"\n";
    assert_error(text, "webhook[0].id", 2, "a-z, 0-9");
    assert_error(text, "webhook[0].url", 3, "scheme");
    assert_error(text, "webhook[0].secret", 4, "at least 16");
    assert_error(text, "webhook[0].timeout", 5, "between 1s and 1m");
    let twice = format!("{HOOK}{HOOK}");
    assert_error(
        &twice,
        "webhook[1].id",
        6,
        "duplicate webhook id \"orders\": also used by webhook[0].id (line 2)",
    );
    let text = format!("{HOOK}backoff = \"5m\"\nmax_backoff = \"1m\"\n");
    assert_error(&text, "webhook[0].backoff", 5, "between 100ms and 1m");
    let text = format!("{HOOK}events = []\n");
    assert_error(&text, "webhook[0].events", 5, "leave it out");
    let text = format!("{HOOK}urll = \"x\"\n");
    assert_error(&text, "webhook[0].urll", 5, "unknown field");
}

#[test]
fn a_webhook_only_wants_what_it_lists() {
    let text = format!("{HOOK}events = [\"user.merged\", \"user.deleted\"]\n");
    let sub = load(&text).unwrap().webhooks[0].subscription();
    use wxgate_core::events::EventType;
    assert!(sub.wants(EventType::UserMerged) && sub.wants(EventType::UserDeleted));
    assert!(!sub.wants(EventType::UserCreated));
}
