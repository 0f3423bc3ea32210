//! What each way of adding a header to an upstream request costs, for `bench/header-forms.sh`
//! (which runs this under callgrind at two iteration counts and divides the difference).
//!
//! One iteration is what a proxied request goes through: the client's request as parsed (a
//! `RequestHeader` with its case map), Pingora's copy of it for the upstream, six identity
//! headers added in the form named, the copy written as HTTP/1.1, everything dropped. `none`
//! adds nothing: the baseline the script subtracts.
//!
//!   cargo run --release -p wxgate --example header_forms -- FORM ITERATIONS

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The identity headers a bearer route sends, as wxgate names them.
const NAMES: [&str; 6] = [
    "X-Auth-User",
    "X-Auth-Channel",
    "X-Auth-Openid",
    "X-Auth-Unionid",
    "X-Auth-Phone",
    "X-Auth-Assertion",
];
const LOWER: [&str; 6] = [
    "x-auth-user",
    "x-auth-channel",
    "x-auth-openid",
    "x-auth-unionid",
    "x-auth-phone",
    "x-auth-assertion",
];

/// Every form this measures, with what it is.
const FORMS: [(&str, &str); 10] = [
    ("none", "no header added (the baseline)"),
    (
        "bytes",
        "insert_header(Bytes clone, HeaderValue clone): wxgate's form",
    ),
    (
        "static-lower",
        "insert_header(&'static str lower-case, HeaderValue clone)",
    ),
    (
        "static-titled",
        "insert_header(&'static str Title-Case, HeaderValue clone)",
    ),
    ("string", "insert_header(String, HeaderValue clone)"),
    (
        "header-name",
        "insert_header(HeaderName clone, HeaderValue clone)",
    ),
    (
        "str-value",
        "insert_header(&'static str lower-case, &str value)",
    ),
    (
        "no-case-none",
        "case map dropped (parts copied) before Pingora's copy, nothing added",
    ),
    (
        "no-case-insert",
        "as no-case-none, then insert_header(Bytes, HeaderValue)",
    ),
    (
        "rebuild",
        "Pingora's copy taken apart (parts copied), six HeaderMap inserts, rebuilt without case",
    ),
];

/// A client request the size of a browser's: a dozen headers, its case kept as sent.
fn client_request() -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/api/orders?page=2", None).expect("valid");
    for (name, value) in [
        ("Host", "gw.example.com"),
        (
            "User-Agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) MicroMessenger/8.0.47",
        ),
        ("Accept", "application/json"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Accept-Language", "zh-CN,zh;q=0.9"),
        (
            "Referer",
            "https://servicewechat.com/wx0000000000000001/7/page-frame.html",
        ),
        ("Connection", "keep-alive"),
        (
            "Authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
        ),
        ("X-Request-Id", "5f0c6e4c2b9a4d1e8f3a7b6c5d4e3f2a"),
    ] {
        req.append_header(name, value).expect("valid");
    }
    req
}

/// The request with its case map gone. pingora-http 0.9.1 gives no mutable access to the
/// parts, so the only way there is a copy of them (`as_owned_parts`) made into a new header,
/// whose names are then written as HTTP/2 clients send them (lower case; Pingora titles the
/// well-known ones on HTTP/1.1).
fn without_case(req: &RequestHeader) -> RequestHeader {
    RequestHeader::from(req.as_owned_parts())
}

struct Prepared {
    bytes: Vec<Bytes>,
    names: Vec<HeaderName>,
    values: Vec<HeaderValue>,
}

fn one(form: &str, client: &RequestHeader, p: &Prepared) -> usize {
    let mut downstream = client.clone();
    if form.starts_with("no-case") {
        downstream = without_case(&downstream);
    }
    let mut up = downstream.clone();
    match form {
        "none" | "no-case-none" => {}
        "bytes" | "no-case-insert" => {
            for (n, v) in p.bytes.iter().zip(&p.values) {
                up.insert_header(n.clone(), v.clone()).expect("valid");
            }
        }
        "static-lower" => {
            for (n, v) in LOWER.iter().zip(&p.values) {
                up.insert_header(*n, v.clone()).expect("valid");
            }
        }
        "static-titled" => {
            for (n, v) in NAMES.iter().zip(&p.values) {
                up.insert_header(*n, v.clone()).expect("valid");
            }
        }
        "string" => {
            for (n, v) in NAMES.iter().zip(&p.values) {
                up.insert_header(n.to_string(), v.clone()).expect("valid");
            }
        }
        "header-name" => {
            for (n, v) in p.names.iter().zip(&p.values) {
                up.insert_header(n.clone(), v.clone()).expect("valid");
            }
        }
        "str-value" => {
            for (n, v) in LOWER.iter().zip(&p.values) {
                up.insert_header(*n, v.to_str().expect("ascii"))
                    .expect("valid");
            }
        }
        "rebuild" => {
            let mut parts = up.as_owned_parts();
            parts.headers.reserve(p.names.len());
            for (n, v) in p.names.iter().zip(&p.values) {
                parts.headers.insert(n.clone(), v.clone());
            }
            up = RequestHeader::from(parts);
        }
        other => panic!("unknown form {other}"),
    }
    let mut wire = BytesMut::with_capacity(1024);
    up.header_to_h1_wire(&mut wire);
    black_box(&wire);
    wire.len()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let form = args.next();
    if form.as_deref() == Some("list") {
        for (name, what) in FORMS {
            println!("{name}\t{what}");
        }
        return;
    }
    let (Some(form), Some(n)) = (form, args.next()) else {
        eprintln!("usage: header_forms FORM ITERATIONS (or: header_forms list)");
        for (name, what) in FORMS {
            eprintln!("  {name:16} {what}");
        }
        std::process::exit(2);
    };
    assert!(FORMS.iter().any(|(f, _)| *f == form), "unknown form {form}");
    let n: u64 = n.parse().expect("ITERATIONS is a number");
    let client = client_request();
    let prepared = Prepared {
        bytes: NAMES
            .iter()
            .map(|n| Bytes::from_static(n.as_bytes()))
            .collect(),
        names: LOWER.iter().map(|n| HeaderName::from_static(n)).collect(),
        values: [
            "u_01J9Z3Q4W5E6R7T8Y9U0I1O2P3",
            "mp",
            "oXyZ0123456789abcdefghijklmn",
            "uXyZ0123456789abcdefghijklmn",
            "+8613800138000",
            "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1In0.c2lnbmF0dXJlc2lnbmF0dXJl",
        ]
        .iter()
        .map(|v| HeaderValue::from_static(v))
        .collect(),
    };
    let mut total = 0usize;
    for _ in 0..n {
        total += one(&form, black_box(&client), &prepared);
    }
    // The same bytes whatever the form, but for the names' case: printed so nothing is elided.
    println!("{form}\t{n}\t{}", total / n.max(1) as usize);
}
