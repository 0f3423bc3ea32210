//! `[limits]` rules.

use super::*;

#[test]
fn limits_group_clients_by_network_and_are_bounded() {
    let c = load("").unwrap();
    assert_eq!(
        (c.limits.ipv4_prefix, c.limits.ipv6_prefix),
        (32, 64),
        "a home line's /64 is one client"
    );
    assert_eq!(
        (
            c.limits.browser_logins_per_minute,
            c.limits.wechat_logins_per_minute
        ),
        (30, 60)
    );
    let c = load("[limits]\nipv4_prefix = 24\nipv6_prefix = 56\nwechat_logins_per_minute = 5\n")
        .unwrap();
    assert_eq!((c.limits.ipv4_prefix, c.limits.ipv6_prefix), (24, 56));
    assert_error(
        "[limits]\nipv4_prefix = 33\n",
        "limits.ipv4_prefix",
        2,
        "between 8 and 32",
    );
    assert_error(
        "[limits]\nipv6_prefix = 16\n",
        "limits.ipv6_prefix",
        2,
        "between 32 and 128",
    );
    assert_error(
        "[limits]\nbrowser_logins_per_minute = 0\n",
        "limits.browser_logins_per_minute",
        2,
        "at least 1",
    );
    assert_error(
        "[limits]\nticket_polls_per_minute = 0\n",
        "limits.ticket_polls_per_minute",
        2,
        "at least 1",
    );
    assert_error(
        "[limits]\nipv6_prefx = 64\n",
        "limits.ipv6_prefx",
        2,
        "unknown field",
    );
}
