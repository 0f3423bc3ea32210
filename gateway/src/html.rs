//! The few pages the gateway renders itself: the login page, the snapshot-page notice and error
//! pages for browser flows. Plain server-rendered HTML, no script, every reflected value
//! escaped, served with headers that forbid framing, sniffing and any script at all.

/// Headers every gateway page carries.
pub fn security_headers() -> Vec<(&'static str, String)> {
    vec![
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
                .to_string(),
        ),
        ("x-frame-options", "DENY".to_string()),
        ("x-content-type-options", "nosniff".to_string()),
        ("referrer-policy", "no-referrer".to_string()),
    ]
}

/// Escapes text for an HTML text node or a double- or single-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str =
    "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;\
max-width:26rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}\
a.button{display:block;margin:.75rem 0;padding:.8rem 1rem;border-radius:.5rem;background:#07c160;\
color:#fff;text-decoration:none;text-align:center}a.button.secondary{background:#eee;color:#222}\
p.hint{color:#666;font-size:.9rem;margin-top:-.4rem}p.notice{background:#fff4e5;padding:.75rem;\
border-radius:.5rem}code{color:#888}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// One way to sign in, as the login page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOption {
    pub label: String,
    /// Where the button leads (already a local URL; escaped here).
    pub href: String,
    pub hint: Option<String>,
    /// Shown less prominently (a way that suits another device).
    pub secondary: bool,
}

/// The login page: a notice (why the person is back here), then one button per way in.
pub fn login_page(options: &[LoginOption], notice: Option<&str>) -> String {
    let mut body = String::from("<h1>登录 · Sign in</h1>");
    if let Some(notice) = notice {
        body.push_str(&format!(
            "<p class=\"notice\" id=\"notice\">{}</p>",
            escape(notice)
        ));
    }
    if options.is_empty() {
        body.push_str("<p>No browser sign-in is configured on this gateway.</p>");
    }
    for option in options {
        let class = if option.secondary {
            "button secondary"
        } else {
            "button"
        };
        body.push_str(&format!(
            "<a class=\"{class}\" href=\"{}\">{}</a>",
            escape(&option.href),
            escape(&option.label)
        ));
        if let Some(hint) = &option.hint {
            body.push_str(&format!("<p class=\"hint\">{}</p>", escape(hint)));
        }
    }
    page("登录 · Sign in", &body)
}

/// WeChat's snapshot page reported a virtual identity: the person must open the full page.
pub fn snapshot_page(retry_href: &str) -> String {
    let body = format!(
        "<h1>请使用完整服务 · Open the full page</h1>\
         <p>微信当前显示的是页面快照，无法确认您的身份。请点击页面底部的“使用完整服务”，然后重新登录。</p>\
         <p>WeChat showed a preview (snapshot) of this page, so it could not tell us who you are. \
         Tap “使用完整服务” (use the full service) at the bottom of the page, then sign in again.</p>\
         <a class=\"button\" href=\"{}\">重新登录 · Sign in again</a>",
        escape(retry_href)
    );
    page("请使用完整服务", &body)
}

/// An error in a browser flow: the contract's code and message, and a way back.
pub fn error_page(code: &str, message: &str, login_page: &str) -> String {
    let body = format!(
        "<h1>登录未完成 · Sign-in did not complete</h1><p>{}</p><p><code>{}</code></p>\
         <a class=\"button\" href=\"{}\">重新登录 · Try again</a>",
        escape(message),
        escape(code),
        escape(login_page)
    );
    page("登录未完成", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflected_values_are_escaped_everywhere() {
        let hostile = "\"><script>alert('x')</script>&";
        let out = login_page(
            &[LoginOption {
                label: hostile.into(),
                href: format!("/_auth/web/authorize?return_to={hostile}"),
                hint: Some(hostile.into()),
                secondary: false,
            }],
            Some(hostile),
        );
        assert!(!out.contains("<script>"), "{out}");
        assert!(!out.contains("'x'"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(&#39;x&#39;)"));
        let out = error_page(hostile, hostile, hostile);
        assert!(
            !out.contains("<script>") && !out.contains("\"><script"),
            "{out}"
        );
        let out = snapshot_page(hostile);
        assert!(!out.contains("<script>"), "{out}");
    }

    #[test]
    fn pages_forbid_scripts_and_framing() {
        let headers = security_headers();
        let csp = &headers
            .iter()
            .find(|(k, _)| *k == "content-security-policy")
            .unwrap()
            .1;
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("script-src"), "no script is ever allowed");
        assert!(headers
            .iter()
            .any(|(k, v)| *k == "x-frame-options" && v == "DENY"));
    }
}
