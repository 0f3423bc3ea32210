//! `[tokens]` rules.

use super::*;

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
