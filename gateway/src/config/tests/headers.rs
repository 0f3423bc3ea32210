//! `[headers]` rules.

use super::*;

#[test]
fn identity_header_names_are_configurable_and_checked() {
    let config = load("[headers]\nuser = \"X-User-Id\"\n").unwrap();
    assert_eq!(config.headers.user, "X-User-Id");
    assert_eq!(
        config.headers.phone, "X-Auth-Phone",
        "unset names keep the contract default"
    );
    assert_error(
        "[headers]\nuser = \"X User\"\n",
        "headers.user",
        2,
        "not a header name",
    );
    assert_error(
        "[headers]\nphone = \"Cookie\"\n",
        "headers.phone",
        2,
        "already owns",
    );
    assert_error(
        "[headers]\nuser = \"X-Id\"\nopenid = \"x-id\"\n",
        "headers.openid",
        3,
        "also used by headers.user",
    );
    assert_error(
        "[headers]\nusr = \"X-Id\"\n",
        "headers.usr",
        2,
        "unknown field",
    );
}
