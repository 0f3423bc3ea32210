//! `wxgate user show | unbind | merge | delete`: the real binary on the config's database, on
//! SQLite and PostgreSQL. Every change is audited with the operator's name.

use serde_json::Value;
use std::process::Command;
use wxgate_core::identity::history::{audit_events_for, count_live_users};
use wxgate_core::identity::LoginAttempt;
use wxgate_core::model::{Phone, UserId, WechatIdentity};
use wxgate_core::policy::IdentityPolicy;
use wxgate_tests::gateway::gateway_bin;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx0000000000000001";
const MP2: &str = "wx0000000000000004";

fn attempt(channel: &str, appid: &str, openid: &str, phone: Option<&str>) -> LoginAttempt {
    LoginAttempt {
        channel: channel.into(),
        wechat: Some(WechatIdentity {
            appid: appid.into(),
            openid: openid.into(),
            unionid: None,
        }),
        verified_phone: phone.map(|p| {
            Phone::parse(p, wxgate_core::phone::Region::CN)
                .unwrap()
                .phone
        }),
        profile: None,
    }
}

/// `attempt` from a WeChat person with `unionid`.
fn with_unionid(mut attempt: LoginAttempt, unionid: &str) -> LoginAttempt {
    attempt.wechat.as_mut().unwrap().unionid = Some(unionid.into());
    attempt
}

/// Runs `wxgate user …` on the test database: (exit ok, stdout, stderr).
pub(crate) fn wxgate(t: &TestDb, args: &[&str]) -> (bool, String, String) {
    let config = t.dir.join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n\n[tokens]\nkeys_dir = \"{}\"\n",
            t.url,
            t.dir.join("cli-keys").display()
        ),
    )
    .unwrap();
    let out = Command::new(gateway_bin())
        .arg("user")
        .args(args)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run wxgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn show_unbind_merge_and_delete(backend: Backend) {
    let Some(t) = TestDb::new(backend).await else {
        return;
    };
    let r = t.resolver(IdentityPolicy::default());
    let a = r
        .resolve(&with_unionid(
            attempt("mp", MP, "oA", Some("13800138000")),
            "oU",
        ))
        .await
        .unwrap()
        .user;
    t.clock.advance_ms(1000);
    let b = r
        .resolve(&attempt("mp2", MP2, "oB", None))
        .await
        .unwrap()
        .user;

    // show: by phone (as people type it), as text; by openid, as JSON.
    let (ok, out, err) = tokio::task::block_in_place(|| wxgate(&t, &["show", "13800138000"]));
    assert!(ok, "{err}");
    assert!(
        out.contains(a.id.as_str()) && out.contains("wx0000000000000001:oA"),
        "{out}"
    );
    assert!(
        out.contains("+8613800138000") && out.contains("user_created"),
        "{out}"
    );
    let (ok, out, err) = tokio::task::block_in_place(|| wxgate(&t, &["show", "oB", "--json"]));
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["users"][0]["id"], b.id.as_str());
    assert_eq!(v["users"][0]["identities"][0]["openid"], "oB");
    // by unionid: it looks like an openid, but no identity has it as one.
    let (ok, out, err) = tokio::task::block_in_place(|| wxgate(&t, &["show", "oU", "--json"]));
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["users"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(v["users"][0]["id"], a.id.as_str());
    let (ok, _, err) = tokio::task::block_in_place(|| wxgate(&t, &["show", "u_nobody"]));
    assert!(!ok && err.contains("no user found"), "{err}");

    // unbind the phone, then refuse what is not bound.
    let (ok, out, err) = tokio::task::block_in_place(|| {
        wxgate(
            &t,
            &["unbind", a.id.as_str(), "13800138000", "--by", "ops-ann"],
        )
    });
    assert!(ok, "{err}");
    assert!(out.contains("unbound"), "{out}");
    let (ok, _, err) = tokio::task::block_in_place(|| {
        wxgate(&t, &["unbind", a.id.as_str(), "wx9:oZ", "--by", "ops-ann"])
    });
    assert!(!ok && err.contains("not bound"), "{err}");
    let auth = t.auth(IdentityPolicy::default());
    assert_eq!(auth.user(&a.id).await.unwrap().unwrap().phone, None);

    // merge b into a: b's id names a from now on, b's identity is a's.
    let (ok, out, err) = tokio::task::block_in_place(|| {
        wxgate(
            &t,
            &[
                "merge",
                a.id.as_str(),
                b.id.as_str(),
                "--by",
                "ops-ann",
                "--json",
            ],
        )
    });
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["survivor"], a.id.as_str());
    assert_eq!(auth.user(&b.id).await.unwrap().unwrap().id, a.id);
    assert_eq!(auth.bindings(&a.id).await.unwrap().len(), 2);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);

    // unbind an identity by appid:openid: it leaves the user, the other one stays.
    let unbound = format!("{MP2}:oB");
    let (ok, out, err) = tokio::task::block_in_place(|| {
        wxgate(&t, &["unbind", a.id.as_str(), &unbound, "--by", "ops-cy"])
    });
    assert!(ok, "{err}");
    assert!(out.contains("unbound"), "{out}");
    let left = auth.bindings(&a.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].openid, "oA");

    // delete: gone, and every change names its operator.
    let (ok, _, err) =
        tokio::task::block_in_place(|| wxgate(&t, &["delete", a.id.as_str(), "--by", "ops-bo"]));
    assert!(ok, "{err}");
    assert!(auth.user(&a.id).await.unwrap().is_none());
    assert_eq!(count_live_users(&t.db).await.unwrap(), 0);
    let events = audit_events_for(&t.db, a.id.as_str()).await.unwrap();
    let by = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .and_then(|e| e.actor.clone())
    };
    assert_eq!(by("phone_unset").as_deref(), Some("ops-ann"));
    assert_eq!(by("merge").as_deref(), Some("ops-ann"));
    assert_eq!(by("user_deleted").as_deref(), Some("ops-bo"));
    // The deletion unbinds what is left too; the operator's unbind is the one of oB.
    let unbind_of_ob = events
        .iter()
        .find(|e| e.kind == "unbind" && e.openid.as_deref() == Some("oB"));
    assert_eq!(
        unbind_of_ob.and_then(|e| e.actor.as_deref()),
        Some("ops-cy"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e.phone.as_deref().is_none_or(|p| p.contains('*'))),
        "{events:?}"
    );
    // The same WeChat identity is somebody new now.
    let again = r.resolve(&attempt("mp", MP, "oA", None)).await.unwrap();
    assert!(again.is_new);
    assert_ne!(again.user.id, UserId(a.id.0.clone()));
    // So is the same WeChat person through another app: the unionid was released with the
    // account, else it would lead back to the deleted user.
    let via_unionid = r
        .resolve(&with_unionid(attempt("mp2", MP2, "oC", None), "oU"))
        .await
        .unwrap();
    assert!(via_unionid.is_new);
    assert_ne!(via_unionid.user.id, a.id);
    assert_ne!(via_unionid.user.id, again.user.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_on_sqlite() {
    show_unbind_merge_and_delete(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_on_postgres() {
    show_unbind_merge_and_delete(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_on_mariadb() {
    show_unbind_merge_and_delete(Backend::Mysql).await;
}

/// Operator commands read the database and the keys; a channel's or webhook's secret they
/// never use need not be in their environment. `--json` goes before or after the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_need_no_secrets_they_do_not_use() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let r = t.resolver(IdentityPolicy::default());
    let a = r
        .resolve(&attempt("mp", MP, "oA", None))
        .await
        .unwrap()
        .user;
    let config = t.dir.join("prod.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n\n[tokens]\nkeys_dir = \"{}\"\n\n\
             [[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nappid = \"{MP}\"\nsecret = \"${{WXGATE_TEST_UNSET_MP_SECRET}}\"\n\n\
             [[webhook]]\nid = \"orders\"\nurl = \"${{WXGATE_TEST_UNSET_HOOK_URL}}\"\nsecret = \"${{WXGATE_TEST_UNSET_HOOK_SECRET}}\"\n",
            t.url,
            t.dir.join("cli-keys").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(gateway_bin())
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("WXGATE_TEST_UNSET_MP_SECRET")
            .output()
            .unwrap()
    };
    for args in [
        &["user", "show", "--json", a.id.as_str()][..],
        &["user", "show", a.id.as_str(), "--json"][..],
        &["user", "--json", "show", a.id.as_str()][..],
    ] {
        let out = tokio::task::block_in_place(|| run(args));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["users"][0]["id"], a.id.as_str(), "{args:?}");
    }
    let out = tokio::task::block_in_place(|| run(&["events", "list"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Serving needs them all, and says which are missing.
    let out = tokio::task::block_in_place(|| run(&["check"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for var in [
        "WXGATE_TEST_UNSET_MP_SECRET",
        "WXGATE_TEST_UNSET_HOOK_SECRET",
    ] {
        assert!(err.contains(var), "{err}");
    }
}

/// `wxgate check` says which stored phones today's parser would write otherwise (a trunk
/// prefix kept by the parser before it): typed today, they would not find their user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_stored_phones_that_are_not_canonical() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let r = t.resolver(IdentityPolicy::default());
    r.resolve(&attempt("mp", MP, "oA", Some("13800138000")))
        .await
        .unwrap();
    let mut old = attempt("mp", MP, "oB", None);
    old.verified_phone = Some(Phone::from_stored("+4407400123456".into()));
    let odd = r.resolve(&old).await.unwrap().user;
    let config = t.dir.join("check.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n\n[tokens]\nkeys_dir = \"{}\"\n",
            t.url,
            t.dir.join("k").display()
        ),
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(gateway_bin())
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("config ok"), "{text}");
    assert!(text.contains("1 of 2"), "{text}");
    assert!(text.contains(odd.id.as_str()), "{text}");
    assert!(
        !text.contains("+4407400123456"),
        "the number is masked: {text}"
    );
}
