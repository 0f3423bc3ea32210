//! Key path → line, built from the span-keeping `toml_edit` parse, so that every error (serde,
//! env, semantic) can name the line of the key it is about.

use std::collections::HashMap;
use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike, Value};

/// Lines of every key in a document. Paths look like `server.listen`, `channel[1]`,
/// `channel[1].sender.url`, `server.trusted_proxies[0]`.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    lines: HashMap<String, usize>,
}

impl KeyIndex {
    pub(crate) fn build<S: AsRef<str>>(doc: &ImDocument<S>) -> Self {
        let mut index = Self::default();
        index.table(doc.raw().as_ref(), doc.as_table(), "");
        index
    }

    /// The line of `key`, else of its nearest ancestor that has one (a missing key is reported at
    /// its table).
    pub(crate) fn line(&self, key: &str) -> Option<usize> {
        let mut key = key;
        loop {
            if let Some(line) = self.lines.get(key) {
                return Some(*line);
            }
            key = parent(key)?;
        }
    }

    fn table(&mut self, text: &str, table: &dyn TableLike, prefix: &str) {
        for (name, item) in table.iter() {
            let path = join_key(prefix, name);
            // A `[header]` table is reported at its header; anything else at its key.
            let span = match item {
                Item::Table(t) => t.span(),
                _ => None,
            }
            .or_else(|| table.key(name).and_then(|k| k.span()))
            .or_else(|| item.span());
            self.insert(text, &path, span);
            self.item(text, item, &path);
        }
    }

    fn item(&mut self, text: &str, item: &Item, path: &str) {
        match item {
            Item::Table(t) => self.table(text, t, path),
            Item::ArrayOfTables(tables) => {
                for (i, t) in tables.iter().enumerate() {
                    let path = join_index(path, i);
                    self.insert(text, &path, t.span());
                    self.table(text, t, &path);
                }
            }
            Item::Value(v) => self.value(text, v, path),
            Item::None => {}
        }
    }

    fn value(&mut self, text: &str, value: &Value, path: &str) {
        match value {
            Value::InlineTable(t) => self.table(text, t, path),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let path = join_index(path, i);
                    self.insert(text, &path, v.span());
                    self.value(text, v, &path);
                }
            }
            _ => {}
        }
    }

    fn insert(&mut self, text: &str, path: &str, span: Option<Range<usize>>) {
        if let Some(span) = span {
            self.lines
                .entry(path.to_owned())
                .or_insert_with(|| line_of(text, span.start));
        }
    }
}

/// `prefix.name`, or `name` at the root.
pub(crate) fn join_key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `prefix[i]`.
pub(crate) fn join_index(prefix: &str, i: usize) -> String {
    format!("{prefix}[{i}]")
}

/// `a.b[2]` → `a.b` → `a` → none.
fn parent(key: &str) -> Option<&str> {
    if let Some(stripped) = key.strip_suffix(']') {
        return stripped.rfind('[').map(|i| &key[..i]);
    }
    key.rfind('.').map(|i| &key[..i])
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Best-effort key path for a syntax error on `line`, from the text alone (the document did not
/// parse, so there is no tree): the last table header above it plus the key written on that line.
pub(crate) fn key_at_line(text: &str, line: usize) -> String {
    let mut table = String::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut key = None;
    for (n, raw) in text.lines().enumerate().take(line) {
        let l = raw.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_owned();
            let count = counts.entry(name.clone()).or_default();
            table = join_index(&name, *count);
            *count += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_owned();
        } else if n + 1 == line {
            key = l.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            });
        }
    }
    match (key, table.is_empty()) {
        (Some(k), _) => join_key(&table, k),
        (None, false) => table,
        (None, true) => "(document)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
[server]
listen = \"127.0.0.1:8080\"
trusted_proxies = [
  \"10.0.0.0/8\",
  \"192.168.0.0/16\",
]

[[channel]]
id = \"mp\"

[[channel]]
id = \"sms\"
sender = { kind = \"webhook\", url = \"http://x\" }
";

    #[test]
    fn indexes_keys_tables_and_array_elements() {
        let doc = ImDocument::parse(DOC).unwrap();
        let index = KeyIndex::build(&doc);
        assert_eq!(index.line("server"), Some(1));
        assert_eq!(index.line("server.listen"), Some(2));
        assert_eq!(index.line("server.trusted_proxies[1]"), Some(5));
        assert_eq!(index.line("channel[0]"), Some(8));
        assert_eq!(index.line("channel[1].id"), Some(12));
        assert_eq!(index.line("channel[1].sender.url"), Some(13));
        // Missing keys fall back to their table.
        assert_eq!(index.line("channel[1].appid"), Some(11));
        assert_eq!(index.line("tokens.issuer"), None);
    }

    #[test]
    fn guesses_the_key_of_a_syntax_error() {
        assert_eq!(key_at_line(DOC, 12), "channel[1].id");
        assert_eq!(key_at_line(DOC, 2), "server.listen");
        assert_eq!(key_at_line(DOC, 7), "server");
        assert_eq!(key_at_line("x = ", 1), "x");
        assert_eq!(key_at_line("\n", 1), "(document)");
    }

    #[test]
    fn parents() {
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), None);
    }
}
