//! WeChat's server-URL signature: sha1 over the parts sorted and joined, in lowercase hex
//! (`signature` over token, timestamp and nonce; `msg_signature` adds the `Encrypt` text).

use subtle::ConstantTimeEq;

/// The signature of `parts` as WeChat computes it.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        sorted.concat().as_bytes(),
    );
    hex::encode(digest.as_ref())
}

/// Whether `claimed` is the signature of `parts`, compared in constant time (a timing leak
/// would let a forger learn the signature byte by byte).
pub fn matches(claimed: &str, parts: &[&str]) -> bool {
    let expected = sign(parts);
    let claimed = claimed.to_ascii_lowercase();
    claimed.len() == expected.len() && bool::from(claimed.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // wechat-api.md §12.2: the URL-check signature of the worked vector.
    #[test]
    fn the_url_check_vector() {
        let parts = ["wxgate-token", "1796040000", "1320562132"];
        assert_eq!(sign(&parts), "caaa7beaf2f1fd178286751c283d3cf5ad913b4b");
        assert!(matches("caaa7beaf2f1fd178286751c283d3cf5ad913b4b", &parts));
        assert!(matches("CAAA7BEAF2F1FD178286751C283D3CF5AD913B4B", &parts));
    }

    #[test]
    fn any_other_signature_is_refused() {
        let parts = ["wxgate-token", "1796040000", "1320562132"];
        assert!(!matches("caaa7beaf2f1fd178286751c283d3cf5ad913b4c", &parts));
        assert!(!matches("caaa7beaf2f1fd178286751c283d3cf5ad913b4", &parts));
        assert!(!matches("", &parts));
        assert!(!matches(
            &sign(&["wxgate-token", "1796040001", "1320562132"]),
            &parts
        ));
    }
}
