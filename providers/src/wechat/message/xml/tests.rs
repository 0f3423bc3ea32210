use super::*;

const PUSH: &str = "<xml><ToUserName><![CDATA[gh_0000000000aa]]></ToUserName><FromUserName><![CDATA[oOA-alice-openid]]></FromUserName><CreateTime>1796040000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[Zx8p]]></EventKey></xml>";

#[test]
fn a_push_reads_as_its_fields() {
    let f = parse(PUSH.as_bytes()).unwrap();
    assert_eq!(f.get("ToUserName"), Some("gh_0000000000aa"));
    assert_eq!(f.get("CreateTime"), Some("1796040000"));
    assert_eq!(f.get("Event"), Some("SCAN"));
    assert_eq!(f.get("Nope"), None);
    assert_eq!(f.iter().count(), 6);
}

#[test]
fn text_values_resolve_the_predefined_entities_and_character_references() {
    let f = parse(b"<xml><Content>a &lt;b&gt; &amp; &#x4E2D;&#25991;</Content></xml>").unwrap();
    assert_eq!(f.get("Content"), Some("a <b> & 中文"));
}

#[test]
fn a_document_type_is_refused_before_anything_is_expanded() {
    // The classic external entity (XXE) and the billion laughs: both need a DTD.
    let xxe = br#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>"#;
    assert_eq!(parse(xxe), Err(XmlError::DocumentType));
    let laughs = br#"<!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><C>&b;</C></xml>"#;
    assert_eq!(parse(laughs), Err(XmlError::DocumentType));
}

#[test]
fn an_undeclared_entity_is_refused() {
    assert_eq!(
        parse(b"<xml><Content>&x;</Content></xml>"),
        Err(XmlError::Entity("x".into()))
    );
}

#[test]
fn oversize_bodies_are_refused_unread() {
    let mut big = b"<xml><Content><![CDATA[".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_XML));
    big.extend_from_slice(b"]]></Content></xml>");
    assert_eq!(parse(&big), Err(XmlError::TooLarge));
}

#[test]
fn deep_or_crowded_documents_are_refused() {
    let deep = format!("<xml>{}{}</xml>", "<a>".repeat(20), "</a>".repeat(20));
    assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooComplex));
    let crowded = format!("<xml>{}</xml>", "<a>1</a>".repeat(300));
    assert_eq!(parse(crowded.as_bytes()), Err(XmlError::TooComplex));
}

#[test]
fn nested_elements_are_skipped_and_their_siblings_kept() {
    let f = parse(
        b"<xml><MsgType>event</MsgType><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo><Event>scancode_push</Event></xml>",
    )
    .unwrap();
    assert_eq!(f.get("MsgType"), Some("event"));
    assert_eq!(f.get("Event"), Some("scancode_push"));
    assert_eq!(f.get("ScanCodeInfo"), None);
    assert_eq!(f.get("ScanType"), None);
}

#[test]
fn what_is_not_one_xml_document_is_refused() {
    for bad in [
        &b""[..],
        b"{\"json\": true}",
        b"<root><a>1</a></root>",
        b"<xml><a>1</a></xml><xml></xml>",
        b"<xml><a>1</b></xml>",
        b"<xml><a>1</a>",
        b"<xml><?php x ?></xml>",
        b"\xff\xfe<xml/>",
    ] {
        assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn written_text_reads_back_even_with_a_cdata_end_inside() {
    let tricky = "a ]]> b <c> & 登录";
    let xml = write(&[
        ("Content", Value::Text(tricky)),
        ("CreateTime", Value::Number(1796040000)),
    ]);
    let f = parse(xml.as_bytes()).unwrap();
    assert_eq!(f.get("Content"), Some(tricky));
    assert_eq!(f.get("CreateTime"), Some("1796040000"));
}
