//! `[identity]` rules.

use super::*;

#[test]
fn on_phone_conflict_is_for_the_wechat_anchor_only() {
    assert_error(
        "[identity]\nanchor = \"phone\"\non_phone_conflict = \"merge\"\n",
        "identity.on_phone_conflict",
        3,
        "anchor = \"wechat\" only",
    );
    let c = load("[identity]\nanchor = \"phone\"\non_phone_conflict = \"reject\"\n").unwrap();
    assert_eq!(c.identity.anchor, Anchor::Phone);
    let c = load("[identity]\non_phone_conflict = \"move\"\n").unwrap();
    assert_eq!(c.identity.on_phone_conflict, OnPhoneConflict::Move);
}
