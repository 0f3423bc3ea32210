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
border-radius:.5rem}code{color:#888}form{margin:1rem 0}fieldset{border:1px solid #ddd;\
border-radius:.5rem;padding:.75rem}label{display:block;margin:.5rem 0}input{display:block;width:100%;\
box-sizing:border-box;padding:.6rem;margin-top:.3rem;font-size:1rem}button{padding:.7rem 1rem;\
border:0;border-radius:.5rem;background:#07c160;color:#fff;font-size:1rem;width:100%}\
button.secondary{background:#eee;color:#222}img{display:block;margin:0 auto}";

fn page(title: &str, body: &str) -> String {
    page_with_head(title, "", body)
}

fn page_with_head(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">{head}\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// One way to sign in, as the login page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Way {
    /// A button to a page that starts the login.
    Link {
        label: String,
        /// Where the button leads (already a local URL; escaped here).
        href: String,
        hint: Option<String>,
        /// Shown less prominently (a way that suits another device).
        secondary: bool,
    },
    /// A phone number form: posted to `action` (a local URL), then a code form follows.
    PhoneForm {
        label: String,
        action: String,
        return_to: String,
        secondary: bool,
    },
}

impl Way {
    fn secondary(&self) -> bool {
        match self {
            Way::Link { secondary, .. } | Way::PhoneForm { secondary, .. } => *secondary,
        }
    }
}

/// The login page: a notice (why the person is back here), then the ways in, the prominent
/// ones first.
pub fn login_page(title: &str, ways: &[Way], notice: Option<&str>) -> String {
    let mut body = format!("<h1>{}</h1>", escape(title));
    if let Some(notice) = notice {
        body.push_str(&format!(
            "<p class=\"notice\" id=\"notice\">{}</p>",
            escape(notice)
        ));
    }
    if ways.is_empty() {
        body.push_str("<p>No browser sign-in is configured on this gateway.</p>");
    }
    let mut ways: Vec<&Way> = ways.iter().collect();
    ways.sort_by_key(|w| w.secondary());
    for way in ways {
        match way {
            Way::Link {
                label,
                href,
                hint,
                secondary,
            } => {
                let class = if *secondary { "button secondary" } else { "button" };
                body.push_str(&format!(
                    "<a class=\"{class}\" href=\"{}\">{}</a>",
                    escape(href),
                    escape(label)
                ));
                if let Some(hint) = hint {
                    body.push_str(&format!("<p class=\"hint\">{}</p>", escape(hint)));
                }
            }
            Way::PhoneForm {
                label,
                action,
                return_to,
                ..
            } => body.push_str(&format!(
                "<form method=\"post\" action=\"{}\" id=\"phone-form\"><fieldset><legend>{}</legend>\
                 <input type=\"hidden\" name=\"return_to\" value=\"{}\">\
                 <label>手机号 · Phone number<input name=\"phone\" id=\"phone\" type=\"tel\" \
                 autocomplete=\"tel\" required maxlength=\"32\"></label>\
                 <button type=\"submit\">获取验证码 · Send a code</button></fieldset></form>",
                escape(action),
                escape(label),
                escape(return_to)
            )),
        }
    }
    page(title, &body)
}

/// The second step of a phone sign-in: the texted code, for the phone already given.
pub struct CodeForm<'a> {
    pub title: &'a str,
    /// Carried in a hidden field as typed; shown masked ([`mask_phone`]).
    pub phone: &'a str,
    /// Where the code form posts (the channel's `login`).
    pub action: &'a str,
    /// Where "send again" posts (the channel's `send_code`).
    pub resend: &'a str,
    pub return_to: &'a str,
    pub notice: Option<&'a str>,
    /// The login page, to start over with another number.
    pub start_over: &'a str,
}

/// A phone as typed, every digit but the last four hidden (`+86 *** **** 8000`): what a
/// person glancing at the screen over a shoulder should not read.
pub fn mask_phone(typed: &str) -> String {
    let digits = typed.bytes().filter(u8::is_ascii_digit).count();
    let mut seen = 0;
    typed
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen + 4 > digits {
                c
            } else {
                '*'
            }
        })
        .collect()
}

pub fn code_page(f: &CodeForm<'_>) -> String {
    let mut body = format!("<h1>{}</h1>", escape(f.title));
    if let Some(notice) = f.notice {
        body.push_str(&format!(
            "<p class=\"notice\" id=\"notice\">{}</p>",
            escape(notice)
        ));
    }
    body.push_str(&format!(
        "<p>验证码已发送至 {shown} · A code was sent to {shown}</p>\
         <form method=\"post\" action=\"{action}\" id=\"code-form\">\
         <input type=\"hidden\" name=\"phone\" value=\"{phone}\">\
         <input type=\"hidden\" name=\"return_to\" value=\"{to}\">\
         <label>验证码 · Code<input name=\"code\" id=\"code\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required></label>\
         <button type=\"submit\">登录 · Sign in</button></form>\
         <form method=\"post\" action=\"{resend}\">\
         <input type=\"hidden\" name=\"phone\" value=\"{phone}\">\
         <input type=\"hidden\" name=\"return_to\" value=\"{to}\">\
         <button type=\"submit\" class=\"secondary\">重新发送 · Send again</button></form>\
         <a class=\"button secondary\" href=\"{over}\">换个号码 · Use another number</a>",
        shown = escape(&mask_phone(f.phone)),
        action = escape(f.action),
        phone = escape(f.phone),
        to = escape(f.return_to),
        resend = escape(f.resend),
        over = escape(f.start_over),
    ));
    page(f.title, &body)
}

/// A ticket's waiting page: the code to scan, where things stand, and a reload every
/// `refresh_secs` to `status_href` (no script).
pub struct TicketPage<'a> {
    pub title: &'a str,
    pub image_src: &'a str,
    pub status_line: &'a str,
    pub status_href: &'a str,
    pub refresh_secs: u32,
    pub restart_href: &'a str,
}

pub fn ticket_page(t: &TicketPage<'_>) -> String {
    let body = format!(
        "<h1>{title}</h1><p><img id=\"code\" src=\"{img}\" width=\"240\" height=\"240\" \
         alt=\"小程序码 · mini-program code\"></p><p id=\"status\">{status}</p>\
         <a class=\"button secondary\" href=\"{restart}\">重新获取 · New code</a>",
        title = escape(t.title),
        img = escape(t.image_src),
        status = escape(t.status_line),
        restart = escape(t.restart_href),
    );
    let head = format!(
        "<meta http-equiv=\"refresh\" content=\"{};url={}\">",
        t.refresh_secs,
        escape(t.status_href)
    );
    page_with_head(t.title, &head, &body)
}

/// A ticket that ended without a login (expired, cancelled).
pub fn ticket_ended_page(title: &str, message: &str, restart_href: &str) -> String {
    let body = format!(
        "<h1>{}</h1><p class=\"notice\" id=\"status\">{}</p>\
         <a class=\"button\" href=\"{}\">重新获取 · New code</a>",
        escape(title),
        escape(message),
        escape(restart_href)
    );
    page(title, &body)
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

/// An OpenID Connect request that cannot go back to its client (an unknown client or
/// redirect URI): shown here, never redirected.
pub fn oidc_error_page(message: &str) -> String {
    let body = format!(
        "<h1>无法登录此应用 · This app's sign-in request was refused</h1><p>{}</p>\
         <p>请回到该应用重试。Go back to the app and try again.</p>",
        escape(message)
    );
    page("无法登录此应用", &body)
}

/// Asks before signing out when the request did not prove which app sent it.
pub fn logout_confirm_page(action: &str, fields: &[(String, String)]) -> String {
    let hidden: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let body = format!(
        "<h1>退出登录？ · Sign out?</h1><form method=\"post\" action=\"{}\">{hidden}\
         <button class=\"button\" type=\"submit\">退出 · Sign out</button></form>",
        escape(action)
    );
    page("退出登录", &body)
}

/// After an RP-initiated logout with nowhere to return to.
pub fn signed_out_page() -> String {
    page(
        "已退出",
        "<h1>已退出 · Signed out</h1><p>你已退出登录。You are signed out.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflected_values_are_escaped_everywhere() {
        let hostile = "\"><script>alert('x')</script>&";
        let out = login_page(
            hostile,
            &[
                Way::Link {
                    label: hostile.into(),
                    href: format!("/_auth/web/authorize?return_to={hostile}"),
                    hint: Some(hostile.into()),
                    secondary: false,
                },
                Way::PhoneForm {
                    label: hostile.into(),
                    action: hostile.into(),
                    return_to: hostile.into(),
                    secondary: false,
                },
            ],
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
        let out = code_page(&CodeForm {
            title: hostile,
            phone: hostile,
            action: hostile,
            resend: hostile,
            return_to: hostile,
            notice: Some(hostile),
            start_over: hostile,
        });
        assert!(!out.contains("<script>"), "{out}");
        let out = ticket_page(&TicketPage {
            title: hostile,
            image_src: hostile,
            status_line: hostile,
            status_href: hostile,
            refresh_secs: 2,
            restart_href: hostile,
        });
        assert!(!out.contains("<script>"), "{out}");
        let out = ticket_ended_page(hostile, hostile, hostile);
        assert!(!out.contains("<script>"), "{out}");
    }

    #[test]
    fn a_phone_is_shown_with_its_last_four_digits_only() {
        assert_eq!(mask_phone("13800138000"), "*******8000");
        assert_eq!(mask_phone("+86 138-0013-8000"), "+** ***-****-8000");
        assert_eq!(mask_phone("123"), "123");
        let page = code_page(&CodeForm {
            title: "t",
            phone: "13800138000",
            action: "/a",
            resend: "/r",
            return_to: "/",
            notice: None,
            start_over: "/s",
        });
        assert!(page.contains("sent to *******8000"), "{page}");
        assert!(
            page.contains("value=\"13800138000\""),
            "the form carries it as typed"
        );
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
