//! `${NAME}` interpolation. It runs on the string values of the parsed document, never on its
//! text, so a variable's value cannot change the document's structure (no injected keys or tables).

use std::collections::HashMap;

use super::error::ConfigError;
use super::index::join_index;

/// Where `${NAME}` values come from. Tests pass a `HashMap` instead of touching the process
/// environment (`std::env::set_var` races with other threads).
pub trait EnvSource {
    /// The variable's value, or `None` when it is not set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        // A value that is not UTF-8 counts as unset: the error then names the variable.
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Replaces every `${NAME}` in the string values under `value`. Returns one error per bad
/// reference; a string with an error is left as written.
pub(crate) fn interpolate(
    value: &mut toml::Value,
    key: &str,
    env: &dyn EnvSource,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        toml::Value::String(text) => match expand(text, env) {
            Ok(expanded) => *text = expanded,
            Err(messages) => errors.extend(messages.into_iter().map(|m| ConfigError::at(key, m))),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &join_index(key, i), env, errors);
            }
        }
        toml::Value::Table(table) => interpolate_table(table, key, env, errors),
        toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Datetime(_) => {}
    }
}

/// [`interpolate`] over every entry of a table; `key` is the table's own path (`""` for the root).
pub(crate) fn interpolate_table(
    table: &mut toml::Table,
    key: &str,
    env: &dyn EnvSource,
    errors: &mut Vec<ConfigError>,
) {
    for (name, value) in table.iter_mut() {
        let path = if key.is_empty() {
            name.clone()
        } else {
            format!("{key}.{name}")
        };
        interpolate(value, &path, env, errors);
    }
}

/// Expands one string. Collects every problem in it rather than stopping at the first.
/// Messages name variables, never their values.
fn expand(text: &str, env: &dyn EnvSource) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problems.push("unclosed \"${\": write ${NAME}".to_owned());
            rest = "";
            break;
        };
        let name = &after[..end];
        if !is_var_name(name) {
            problems.push(format!(
                "invalid variable reference \"${{{name}}}\": a name is letters, digits and '_', not starting with a digit"
            ));
        } else {
            match env.var(name) {
                None => problems.push(format!("environment variable {name} is not set")),
                Some(v) if v.contains(['\n', '\r']) => {
                    problems.push(format!("environment variable {name} contains a newline"));
                }
                Some(v) => out.push_str(&v),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn process_env_reports_an_unset_variable_as_none() {
        assert_eq!(ProcessEnv.var("WXGATE_TEST_SURELY_UNSET_7F3A"), None);
    }

    #[test]
    fn expands_several_references_anywhere_in_a_string() {
        let e = env(&[("HOST", "db.internal"), ("PASS", "p@ss")]);
        assert_eq!(
            expand("postgres://app:${PASS}@${HOST}:5432/app", &e).unwrap(),
            "postgres://app:p@ss@db.internal:5432/app"
        );
        assert_eq!(
            expand("no refs, $ alone, $HOME", &e).unwrap(),
            "no refs, $ alone, $HOME"
        );
    }

    #[test]
    fn reports_every_missing_variable_and_never_a_value() {
        let e = env(&[("SECRET", "CANARY\nVALUE")]);
        let problems = expand("${A}-${SECRET}-${B}", &e).unwrap_err();
        assert_eq!(
            problems,
            [
                "environment variable A is not set",
                "environment variable SECRET contains a newline",
                "environment variable B is not set",
            ]
        );
    }

    #[test]
    fn rejects_malformed_references() {
        let e = env(&[]);
        assert!(
            expand("${1X}", &e).unwrap_err()[0].contains("invalid variable reference \"${1X}\"")
        );
        assert!(expand("${}", &e).unwrap_err()[0].contains("invalid variable reference"));
        assert!(expand("abc ${OPEN", &e).unwrap_err()[0].contains("unclosed"));
    }

    #[test]
    fn walks_arrays_and_tables_with_key_paths() {
        let mut value: toml::Value =
            toml::from_str("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"${NET}\"]\n").unwrap();
        let mut errors = Vec::new();
        interpolate(&mut value, "", &env(&[]), &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "server.trusted_proxies[1]");
        assert_eq!(errors[0].message, "environment variable NET is not set");
    }
}
