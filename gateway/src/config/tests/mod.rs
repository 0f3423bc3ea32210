//! Loader tests: each error names its key and its line; the shipped configs load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use wxgate_core::policy::{Anchor, OnPhoneConflict};
use wxgate_providers::registry::ChannelConfig;

use super::*;

mod channels;
mod database;
mod headers;
mod identity;
mod limits;
mod oidc;
mod routes;
mod server;
mod tokens;
mod webhooks;

const EXAMPLE: &str = include_str!("../../../../config/wxgate.example.toml");
const DEV: &str = include_str!("../../../../config/dev.toml");

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
        ("WXGATE_OIDC_DEMO_SECRET", "demo-oidc-secret-0123456789"),
        (
            "WXGATE_OIDC_GRAFANA_SECRET",
            "grafana-oidc-secret-0123456789",
        ),
        ("WXGATE_WECOM_SECRET", wxgate_sim::DEMO_WECOM_SECRET),
        ("WXGATE_OA_TOKEN", wxgate_sim::DEMO_OA_MESSAGE_TOKEN),
        ("WXGATE_OA_AES_KEY", wxgate_sim::DEMO_OA_ENCODING_AES_KEY),
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
    assert_eq!(ids, ["mp", "oa", "web", "wecom", "sms"]);
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
            ("wecom", "wecom"),
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
    assert!(config
        .routes
        .iter()
        .all(|r| r.upstream == ["127.0.0.1:9000"]));
}

#[test]
fn shipped_configs_fail_without_their_secrets() {
    let e = load_str(DEV, "dev.toml", &HashMap::new()).unwrap_err();
    assert_eq!(e.0.len(), 9, "{e}");
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

// === all at once ===

#[test]
fn every_error_is_reported_in_one_run_in_file_order() {
    let text = format!(
        "[server]\nlisten = \"nope\"\n[tokens]\naccess_ttl = \"2h\"\n{MP}{}{}",
        MP.replace("wx1", "wx2"),
        routes::route("/a/", "127.0.0.1:9000", "required", Some("mp"))
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
