//! Config errors: each names the file, the line, the key path and what is wrong.

use std::fmt;

/// One problem in a config file. `key` is a path such as `server.listen`, `channel[1].secret` or
/// `route[0].login_channel`; `line` is 1-based. The message never contains a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    /// An error not yet placed in a file: the loader fills `origin` and `line` from `key`.
    pub(crate) fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin: String::new(),
            line: None,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{}: {}: {}",
                self.origin, line, self.key, self.message
            ),
            None => write!(f, "{}: {}: {}", self.origin, self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one config, in file order. `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
