use super::*;

#[test]
fn upstreams() {
    for (ok, https, address, host) in [
        ("127.0.0.1:9000", false, "127.0.0.1:9000", "127.0.0.1"),
        ("echo:80", false, "echo:80", "echo"),
        (
            "svc.default.svc.cluster.local:8080",
            false,
            "svc.default.svc.cluster.local:8080",
            "svc.default.svc.cluster.local",
        ),
        ("[::1]:9000", false, "[::1]:9000", "::1"),
        (
            "http://127.0.0.1:9000",
            false,
            "127.0.0.1:9000",
            "127.0.0.1",
        ),
        (
            "https://API.internal:8443/",
            true,
            "API.internal:8443",
            "api.internal",
        ),
        (
            "https://api.internal",
            true,
            "api.internal:443",
            "api.internal",
        ),
        ("HTTPS://[::1]", true, "[::1]:443", "::1"),
    ] {
        let parsed = parse_upstream(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(
            (parsed.https, parsed.address.as_str(), parsed.host.as_str()),
            (https, address, host),
            "{ok}"
        );
    }
    for bad in [
        "ftp://127.0.0.1:9000",
        "https://api.internal/v1",
        "https://user@api.internal",
        "https://api.internal:0",
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        ":9000",
        "::1:9000",
        "a b:80",
    ] {
        assert!(parse_upstream(bad).is_err(), "{bad}");
    }
}
