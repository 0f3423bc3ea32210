//! `[oidc]` and `[[oidc.client]]` rules.

use super::*;

const CLIENT: &str = "[[oidc.client]]\nclient_id = \"grafana\"\nclient_secret = \"grafana-secret-0123456789\"\nredirect_uris = [\"https://grafana.example/login/generic_oauth\"]\n";

#[test]
fn oidc_takes_its_defaults_from_the_server() {
    let config = load(&format!("[oidc]\n{CLIENT}")).unwrap();
    let oidc = config.oidc.expect("configured");
    assert_eq!(oidc.issuer, "http://127.0.0.1:8080/_auth");
    assert_eq!(
        oidc.discovery_path,
        "/_auth/.well-known/openid-configuration"
    );
    assert_eq!(oidc.code_ttl, Duration::from_secs(60));
    assert_eq!(oidc.access_ttl, Duration::from_secs(600));
    let client = &oidc.clients[0];
    assert_eq!(client.scopes, ["openid", "profile"]);
    assert_eq!(client.subject, crate::config::Subject::Public);
    assert!(!format!("{client:?}").contains("grafana-secret-0123456789"));
    assert!(load(CLIENT.replace("[[oidc.client]]", "[[route]]").as_str()).is_err());
    assert!(load("").unwrap().oidc.is_none(), "off unless configured");
}

#[test]
fn oidc_rules_name_their_keys() {
    let text = "[oidc]\nissuer = \"https://elsewhere.example/\"\ncode_ttl = \"1h\"\n\
        [[oidc.client]]\nclient_id = \"graf ana\"\nclient_secret = \"short\"\n\
        redirect_uris = [\"javascript:alert(1)\", \"https://a.example/cb#frag\"]\n\
        scopes = [\"profile\", \"email\"]\nsubject = \"secret\"\n";
    assert_error(text, "oidc.issuer", 2, "trailing '/'");
    assert_error(text, "oidc.code_ttl", 3, "between 10s and 10m");
    assert_error(text, "oidc.client[0].client_id", 5, "1 to 64");
    assert_error(text, "oidc.client[0].client_secret", 6, "at least 16");
    assert_error(text, "oidc.client[0].redirect_uris[0]", 7, "refused");
    assert_error(text, "oidc.client[0].redirect_uris[1]", 7, "fragment");
    assert_error(text, "oidc.client[0].scopes[1]", 8, "unknown scope");
    assert_error(text, "oidc.client[0].scopes", 8, "must hold \"openid\"");
    assert_error(text, "oidc.client[0].subject", 9, "pairwise");
    let elsewhere = format!("[oidc]\nissuer = \"https://elsewhere.example/id\"\n{CLIENT}");
    assert_error(&elsewhere, "oidc.issuer", 2, "public_url's origin");
    assert_error("[oidc]\n", "oidc", 1, "names no client");
    let twice = format!("[oidc]\n{CLIENT}{CLIENT}");
    assert_error(&twice, "oidc.client[1].client_id", 7, "duplicate client_id");
}

#[test]
fn a_public_client_has_no_secret_and_a_root_issuer_serves_discovery_at_the_root() {
    let text =
        "[server]\npublic_url = \"https://id.example\"\n[oidc]\nissuer = \"https://id.example\"\n\
        [[oidc.client]]\nclient_id = \"spa\"\nredirect_uris = [\"com.example.app:/cb\"]\n";
    let oidc = load(text).unwrap().oidc.unwrap();
    assert!(oidc.clients[0].client_secret.is_none());
    assert_eq!(oidc.discovery_path, "/.well-known/openid-configuration");
}
