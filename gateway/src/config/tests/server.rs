//! `[server]` rules.

use super::*;

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
