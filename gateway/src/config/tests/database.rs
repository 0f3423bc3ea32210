//! `[database]` rules.

use super::*;

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
