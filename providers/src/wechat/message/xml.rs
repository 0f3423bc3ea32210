//! The XML of WeChat's pushes and replies: `<xml>` with one element per field, values in
//! CDATA or text. Read by quick-xml with the document type refused outright (no DTD, so no
//! entity can be declared, expanded or fetched) and only XML's five predefined entities and
//! character references resolved; bounded in size, fields and depth. Nested elements (menu
//! events carry some) are skipped: only the root's leaf children are kept.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Larger than any push WeChat sends (they are a few hundred bytes).
pub const MAX_XML: usize = 64 * 1024;
const MAX_ELEMENTS: usize = 256;
const MAX_DEPTH: usize = 8;

/// Why a body is not a push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the body is over {MAX_XML} bytes")]
    TooLarge,
    #[error("a document type is not accepted")]
    DocumentType,
    #[error("the entity &{0}; is not accepted")]
    Entity(String),
    #[error("the root element must be <xml>")]
    Root,
    #[error("too many elements or too deep")]
    TooComplex,
    #[error("not well-formed XML")]
    Malformed,
}

/// The root's leaf children, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first field of this name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Reads a push's XML.
pub fn parse(body: &[u8]) -> Result<Fields, XmlError> {
    if body.len() > MAX_XML {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::Malformed)?;
    let mut reader = Reader::from_str(text);
    let mut fields = Vec::new();
    // The open elements' names; the value being read belongs to the innermost.
    let mut open: Vec<String> = Vec::new();
    let mut value = String::new();
    let mut leaf = true;
    let mut elements = 0usize;
    let mut seen_root = false;
    loop {
        match reader.read_event().map_err(|_| XmlError::Malformed)? {
            Event::DocType(_) => return Err(XmlError::DocumentType),
            Event::Start(e) => {
                elements += 1;
                if elements > MAX_ELEMENTS || open.len() >= MAX_DEPTH {
                    return Err(XmlError::TooComplex);
                }
                let name = String::from_utf8(e.name().as_ref().to_vec())
                    .map_err(|_| XmlError::Malformed)?;
                if open.is_empty() {
                    if seen_root || name != "xml" {
                        return Err(XmlError::Root);
                    }
                    seen_root = true;
                }
                open.push(name);
                value.clear();
                leaf = true;
            }
            Event::Empty(e) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooComplex);
                }
                if open.is_empty() {
                    return Err(XmlError::Root);
                }
                if open.len() == 1 {
                    let name = String::from_utf8(e.name().as_ref().to_vec())
                        .map_err(|_| XmlError::Malformed)?;
                    fields.push((name, String::new()));
                }
                leaf = false;
            }
            Event::End(_) => {
                let closed = open.pop().ok_or(XmlError::Malformed)?;
                if open.len() == 1 && leaf {
                    fields.push((closed, std::mem::take(&mut value)));
                }
                // The parent of a closed element holds elements, not a value.
                leaf = false;
                value.clear();
            }
            Event::Text(t) => {
                if !open.is_empty() {
                    value.push_str(&t.xml10_content().map_err(|_| XmlError::Malformed)?);
                } else if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(XmlError::Malformed);
                }
            }
            Event::CData(c) => {
                if open.is_empty() {
                    return Err(XmlError::Malformed);
                }
                value.push_str(std::str::from_utf8(&c).map_err(|_| XmlError::Malformed)?);
            }
            Event::GeneralRef(r) => {
                if open.is_empty() {
                    return Err(XmlError::Malformed);
                }
                value.push(resolve(&r)?);
            }
            Event::Decl(_) | Event::Comment(_) => {}
            Event::PI(_) => return Err(XmlError::Malformed),
            Event::Eof => break,
        }
    }
    if !seen_root || !open.is_empty() {
        return Err(XmlError::Malformed);
    }
    Ok(Fields(fields))
}

/// XML's five predefined entities and character references; nothing else exists here.
fn resolve(r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if r.is_char_ref() {
        return r
            .resolve_char_ref()
            .ok()
            .flatten()
            .ok_or(XmlError::Malformed);
    }
    let name = std::str::from_utf8(r).map_err(|_| XmlError::Malformed)?;
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(XmlError::Entity(other.chars().take(32).collect())),
    }
}

/// One field of a reply: text goes in CDATA, numbers as they are (WeChat's own shape).
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Text(&'a str),
    Number(i64),
}

/// `<xml>` with these fields, in order.
pub fn write(fields: &[(&str, Value<'_>)]) -> String {
    let mut out = String::from("<xml>");
    for (name, value) in fields {
        out.push('<');
        out.push_str(name);
        out.push('>');
        match value {
            // A "]]>" inside would end the section early: split it across two sections.
            Value::Text(t) => {
                out.push_str("<![CDATA[");
                out.push_str(&t.replace("]]>", "]]]]><![CDATA[>"));
                out.push_str("]]>");
            }
            Value::Number(n) => out.push_str(&n.to_string()),
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests;
