//! The `wxgate` command line: `check` accepts the shipped configs and names the key and line of
//! what is wrong. (Building this test also builds the binary the workspace's e2e tests run.)

use std::process::Command;

fn wxgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, v) in [
        ("WXGATE_MP_SECRET", "s1"),
        ("WXGATE_MP2_SECRET", "s2"),
        ("WXGATE_OA_SECRET", "s3"),
        ("WXGATE_WEB_SECRET", "s4"),
        ("WXGATE_DEV_WEBHOOK_SECRET", "dev-webhook-secret-0123"),
        ("WXGATE_WEBHOOK_ORDERS_SECRET", "orders-webhook-secret-0123"),
        ("WXGATE_OIDC_DEMO_SECRET", "demo-oidc-secret-0123456789"),
        (
            "WXGATE_OIDC_GRAFANA_SECRET",
            "grafana-oidc-secret-0123456789",
        ),
        ("WXGATE_OA_TOKEN", "oaToken123"),
        ("WXGATE_WECOM_SECRET", "wecom-secret"),
        (
            "WXGATE_OA_AES_KEY",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ),
    ] {
        c.env(k, v);
    }
    c
}

fn config(name: &str) -> String {
    format!("{}/../config/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_configs_pass_check() {
    for name in ["wxgate.example.toml", "dev.toml"] {
        let out = wxgate()
            .args(["check", "--config", &config(name)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("config ok"));
    }
}

#[test]
fn a_bad_config_fails_naming_key_and_line() {
    let dir = std::env::temp_dir().join(format!("wxgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[identity]\nanchor = \"wechat\"\n\n[[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nappid = \"wx1\"\nsecrt = \"x\"\n",
    )
    .unwrap();
    let out = wxgate()
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:8"), "{err}");
    assert!(err.contains("channel[0].secrt"), "{err}");
}

#[test]
fn a_missing_secret_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_wxgate"))
        .env_remove("WXGATE_MP_SECRET")
        .args(["check", "--config", &config("wxgate.example.toml")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WXGATE_MP_SECRET"));
}
