//! `[[channel]]` rules.

use super::*;

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
