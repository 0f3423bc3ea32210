//! The flat XML of official-account pushes and passive replies: `<xml><Tag><![CDATA[..]]></Tag>
//! <N>123</N>…</xml>`. The simulator builds it and reads replies back; a tiny hand parser is
//! enough for that shape (the gateway, which must survive anything, uses a real parser).

/// One element's value: CDATA text, or a bare number as WeChat writes `CreateTime` and `MsgId`.
#[derive(Debug, Clone)]
pub(crate) enum Field {
    Text(String),
    Number(String),
}

/// `<xml>` with the elements in order.
pub(crate) fn build(fields: &[(&str, Field)]) -> String {
    let mut out = String::from("<xml>");
    for (tag, value) in fields {
        match value {
            // A `]]>` inside the text closes one section and opens the next.
            Field::Text(text) => out.push_str(&format!(
                "<{tag}><![CDATA[{}]]></{tag}>",
                text.replace("]]>", "]]]]><![CDATA[>")
            )),
            Field::Number(number) => out.push_str(&format!("<{tag}>{number}</{tag}>")),
        }
    }
    out.push_str("</xml>");
    out
}

/// The top-level elements of an `<xml>` document, in order, with CDATA and entities decoded;
/// a nested element's value is its raw inner text. None when the text is not that shape.
pub(crate) fn parse(text: &str) -> Option<Vec<(String, String)>> {
    let mut rest = text.trim();
    if rest.starts_with("<?xml") {
        rest = rest[rest.find("?>")? + 2..].trim_start();
    }
    let mut rest = rest.strip_prefix("<xml>")?.strip_suffix("</xml>")?;
    let mut fields = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(fields);
        }
        let open_end = rest.strip_prefix('<')?.find('>')? + 1;
        let tag = &rest[1..open_end];
        rest = &rest[open_end + 1..];
        if let Some(tag) = tag.strip_suffix('/') {
            fields.push((name(tag)?.to_owned(), String::new()));
            continue;
        }
        let tag = name(tag)?;
        let (value, after) = element_value(rest, tag)?;
        fields.push((tag.to_owned(), value));
        rest = after;
    }
}

/// An element name (attributes are not part of this shape).
fn name(tag: &str) -> Option<&str> {
    let ok = !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then_some(tag)
}

/// The value of an element whose opening tag was just read, and the text after its close.
fn element_value<'a>(mut rest: &'a str, tag: &str) -> Option<(String, &'a str)> {
    let close = format!("</{tag}>");
    let mut value = String::new();
    loop {
        if let Some(after) = rest.strip_prefix(close.as_str()) {
            return Some((value, after));
        }
        if let Some(section) = rest.strip_prefix("<![CDATA[") {
            let end = section.find("]]>")?;
            value.push_str(&section[..end]);
            rest = &section[end + 3..];
        } else if rest.starts_with('<') {
            // A nested element (a news reply's <Articles>): keep it raw up to our close tag.
            let end = rest.find(close.as_str())?;
            value.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let end = rest.find('<')?;
            value.push_str(&unescape(&rest[..end]));
            rest = &rest[end..];
        }
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The first value of `tag`.
pub(crate) fn field<'a>(fields: &'a [(String, String)], tag: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(name, _)| name == tag)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_documents_parse_back() {
        let xml = build(&[
            ("ToUserName", Field::Text("gh_0000000000aa".to_owned())),
            ("CreateTime", Field::Number("1796040000".to_owned())),
            ("Content", Field::Text("a]]>b <c> & d".to_owned())),
        ]);
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[gh_0000000000aa]]></ToUserName><CreateTime>1796040000</CreateTime><Content><![CDATA[a]]]]><![CDATA[>b <c> & d]]></Content></xml>"
        );
        let fields = parse(&xml).unwrap_or_default();
        assert_eq!(field(&fields, "ToUserName"), Some("gh_0000000000aa"));
        assert_eq!(field(&fields, "CreateTime"), Some("1796040000"));
        assert_eq!(field(&fields, "Content"), Some("a]]>b <c> & d"));
    }

    #[test]
    fn replies_written_by_hand_parse() {
        let reply = "<?xml version=\"1.0\"?>\n<xml>\n  <MsgType>text</MsgType>\n  <Content>1 &lt; 2</Content>\n  <Empty/>\n  <Articles><item><Title><![CDATA[t]]></Title></item></Articles>\n</xml>\n";
        let fields = parse(reply).unwrap_or_default();
        assert_eq!(field(&fields, "MsgType"), Some("text"));
        assert_eq!(field(&fields, "Content"), Some("1 < 2"));
        assert_eq!(field(&fields, "Empty"), Some(""));
        assert_eq!(
            field(&fields, "Articles"),
            Some("<item><Title><![CDATA[t]]></Title></item>")
        );
    }

    #[test]
    fn other_shapes_are_refused() {
        for text in [
            "success",
            "{\"errcode\":0}",
            "<html><body>502</body></html>",
            "<xml><A>unclosed</xml>",
            "<xml><A x=\"1\">v</A></xml>",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
