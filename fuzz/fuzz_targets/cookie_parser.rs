//! The cookie reader and the stripper of the gateway's cookies: never panic; a value read is
//! visible ASCII and really is the value of that name in the header; after stripping, no cookie
//! of the gateway's namespace is left and every other pair survives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pingora::http::RequestHeader;
use wxgate::cookies::{get, is_ours, remove_ours};

fn pairs(values: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
    values
        .iter()
        .flat_map(|v| v.split(|&b| b == b';'))
        .filter_map(|p| {
            let p = p.trim_ascii();
            let eq = p.iter().position(|&b| b == b'=')?;
            Some((
                p[..eq].trim_ascii().to_vec(),
                p[eq + 1..].trim_ascii().to_vec(),
            ))
        })
        .collect()
}

fuzz_target!(|input: (Vec<&[u8]>, &str)| {
    let (values, name) = input;
    let mut req = RequestHeader::build("GET", b"/", None).unwrap();
    let mut sent: Vec<&[u8]> = Vec::new();
    for v in values.iter().take(8) {
        let Ok(value) = http::HeaderValue::from_bytes(v) else {
            continue;
        };
        req.append_header("cookie", value).unwrap();
        sent.push(v);
    }
    if let Ok(Some(value)) = get(&req, name) {
        assert!(value.bytes().all(|b| b.is_ascii_graphic()));
        assert!(pairs(&sent)
            .iter()
            .any(|(k, v)| k == name.as_bytes() && v == value.as_bytes()));
    }
    let before = pairs(&sent);
    remove_ours(&mut req);
    let after_values: Vec<&[u8]> = req
        .headers
        .get_all("cookie")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let after = pairs(&after_values);
    assert!(
        !after.iter().any(|(k, _)| is_ours(k)),
        "a gateway cookie survived"
    );
    let others: Vec<_> = before.into_iter().filter(|(k, _)| !is_ours(k)).collect();
    assert_eq!(after, others, "other cookies must pass untouched");
});
