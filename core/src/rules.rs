//! Config rules every section shares, written once: durations, http(s) URLs and ids, and the
//! shape of a problem found. Pure: no I/O, environment or clock. The gateway's sections and the
//! channel kinds' configs both use them.

pub mod duration;

/// One problem in a config section. `key` is relative to the table being checked (`appid`,
/// `sender.url`); the loader prefixes it with the table's own path and adds the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub key: std::borrow::Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(key: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// An absolute http(s) URL with a host. The value is not echoed: webhook URLs may carry a token.
pub fn check_http_url(key: &'static str, value: &str, out: &mut Vec<FieldError>) {
    let problem = match url::Url::parse(value) {
        Err(e) => Some(format!(
            "not a URL ({e}); expected e.g. \"https://api.weixin.qq.com\""
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some(format!("scheme {:?} is not http or https", u.scheme()))
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("URL has no host".to_owned()),
        Ok(_) => None,
    };
    if let Some(message) = problem {
        out.push(FieldError::new(key, message));
    }
}

/// An id that appears in URL paths and metric labels: 1 to 32 of `[a-z0-9_-]`.
pub fn is_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_errors(value: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        check_http_url("api_base", value, &mut out);
        out
    }

    #[test]
    fn http_urls_pass_others_fail_without_echoing_the_value() {
        assert!(url_errors("https://api.weixin.qq.com").is_empty());
        assert!(url_errors("http://127.0.0.1:9200").is_empty());
        let errs = url_errors("ftp://files.example.com/?token=abc");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("\"ftp\""), "{:?}", errs[0]);
        assert!(!errs[0].message.contains("token=abc"));
        assert_eq!(url_errors("api.weixin.qq.com")[0].key, "api_base");
    }

    #[test]
    fn ids_are_short_lower_case_words() {
        for good in ["mp", "sms_2", "web-qr", &"a".repeat(32)] {
            assert!(is_id(good), "{good}");
        }
        for bad in ["", "MP", "a b", "a/b", "é", &"a".repeat(33)] {
            assert!(!is_id(bad), "{bad:?}");
        }
    }
}
