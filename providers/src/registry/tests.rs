use super::*;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    channel: Vec<ChannelConfig>,
}

/// One valid table per kind; each test misspells one key of it.
const TABLES: [(&str, &str); 4] = [
    (
        "wechat_miniprogram",
        "id = \"mp\"\nappid = \"wx1\"\nsecret = \"s\"\n",
    ),
    (
        "wechat_official_account",
        "id = \"oa\"\nappid = \"wx2\"\nsecret = \"s\"\nscope = \"snsapi_userinfo\"\n",
    ),
    (
        "wechat_open_qr",
        "id = \"web\"\nappid = \"wx3\"\nsecret = \"s\"\n",
    ),
    (
        "phone_sms",
        "id = \"sms\"\nsender = { kind = \"webhook\", url = \"http://127.0.0.1:9100/sms\" }\n",
    ),
];

fn doc(kind: &str, body: &str) -> String {
    format!("[[channel]]\nkind = \"{kind}\"\n{body}")
}

#[test]
fn every_kind_parses_through_the_tagged_enum() {
    for (kind, body) in TABLES {
        let parsed: Doc = toml::from_str(&doc(kind, body)).unwrap();
        let channel = &parsed.channel[0];
        assert_eq!(channel.kind(), kind);
        assert!(ChannelConfig::KINDS.contains(&channel.kind()));
        assert!(
            channel.validate().is_empty(),
            "{kind}: {:?}",
            channel.validate()
        );
    }
}

#[test]
fn misspelt_key_is_rejected_for_every_kind_through_the_tagged_enum() {
    for (kind, body) in TABLES {
        let text = doc(kind, &format!("{body}idd = \"typo\"\n"));
        let err = toml::from_str::<Doc>(&text).unwrap_err();
        assert!(
            err.message().contains("unknown field `idd`"),
            "{kind}: {err}"
        );
    }
}

#[test]
fn misspelt_key_is_rejected_for_every_kind_through_deserialize_kind() {
    for (kind, body) in TABLES {
        let table: toml::Value = toml::from_str(&format!("{body}idd = \"typo\"\n")).unwrap();
        let err = ChannelConfig::deserialize_kind(kind, table).unwrap_err();
        assert!(
            err.message().contains("unknown field `idd`"),
            "{kind}: {err}"
        );
    }
}

#[test]
fn unknown_kind_lists_the_kinds() {
    let table: toml::Value = toml::from_str("id = \"x\"").unwrap();
    let err = ChannelConfig::deserialize_kind("wechat_work", table).unwrap_err();
    for kind in ChannelConfig::KINDS {
        assert!(err.message().contains(kind), "{err}");
    }
}

#[test]
fn accessors() {
    let table: toml::Value = toml::from_str(TABLES[1].1).unwrap();
    let oa = ChannelConfig::deserialize_kind("wechat_official_account", table).unwrap();
    assert_eq!(
        (oa.id(), oa.kind(), oa.appid()),
        ("oa", "wechat_official_account", Some("wx2"))
    );
    assert_eq!(oa.login_page(), Some("authorize"));
    let table: toml::Value = toml::from_str(TABLES[3].1).unwrap();
    let sms = ChannelConfig::deserialize_kind("phone_sms", table).unwrap();
    assert_eq!(sms.appid(), None);
    assert_eq!(
        sms.login_page(),
        None,
        "the phone form lives on the login page"
    );
    assert_eq!(sms.login_options().len(), 1);
    let table: toml::Value = toml::from_str(TABLES[0].1).unwrap();
    let mp = ChannelConfig::deserialize_kind("wechat_miniprogram", table).unwrap();
    assert_eq!(mp.login_options(), [], "no scan_login, no browser login");
    let table: toml::Value = toml::from_str(&format!(
        "{}scan_login = {{ page = \"pages/login/scan\" }}\n",
        TABLES[0].1
    ))
    .unwrap();
    let scan = ChannelConfig::deserialize_kind("wechat_miniprogram", table).unwrap();
    assert_eq!(scan.login_page(), Some("scan"));
}
/// Why the gateway reads `kind` itself: through the tagged enum, the error points at the
/// whole `[[channel]]` table from its header (line 1), not at the misspelt key (line 6).
#[test]
fn tagged_enum_loses_the_line_of_the_key() {
    let text = doc(
        "wechat_miniprogram",
        "id = \"mp\"\nappid = \"wx1\"\nsecret = \"s\"\nidd = 1\n",
    );
    let err = toml::from_str::<Doc>(&text).unwrap_err();
    assert!(err.message().contains("unknown field `idd`"), "{err}");
    let span = err.span().unwrap();
    assert_eq!(span.start, 0);
    assert!(text[span].starts_with("[[channel]]\nkind"));
}
