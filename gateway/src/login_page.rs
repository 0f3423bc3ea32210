//! The login page: every way in that the configured channels declare (each kind says its label,
//! where it starts and where it works), shown by the client the person is in. Inside WeChat it
//! goes straight to the official account's flow; a phone number form works without script, in
//! two steps (number, then code), both posted to the phone channel's own endpoints.

use crate::html::{self, CodeForm, Way};
use crate::state::Gateway;
use wxgate_providers::kind::{Placement, Start};

/// The app a browser runs in, by its User-Agent (`request::client_app`).
pub use wxgate_providers::provider::ClientApp as Client;

/// How the page shows a way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prominence {
    /// The page sends the browser there at once.
    Straight,
    Primary,
    /// Shown less prominently, with a hint where it works.
    Secondary(Option<&'static str>),
    Hidden,
}

/// Where each kind of way in is shown, by the client: the one table of it.
pub fn prominence(placement: Placement, client: Client) -> Prominence {
    use Client::*;
    match (placement, client) {
        (Placement::InsideWechat, Wechat) | (Placement::Wecom, Wecom) => Prominence::Straight,
        (Placement::InsideWechat, Browser) => {
            Prominence::Secondary(Some("请在微信中打开此页面 · Open this page inside WeChat"))
        }
        (Placement::InsideWechat, Wecom) => Prominence::Hidden,
        // A code on this very screen cannot be scanned by the phone showing it.
        (Placement::ScanFromAnotherScreen | Placement::Wecom, Wechat)
        | (Placement::ScanFromAnotherScreen, Wecom) => Prominence::Secondary(None),
        (Placement::ScanFromAnotherScreen | Placement::Wecom, Browser)
        | (Placement::Anywhere, _) => Prominence::Primary,
    }
}

/// Where the page sends a browser at once, if anywhere (inside WeChat, the official
/// account's flow), unless it came back with an `error` (sending it back would loop).
pub fn straight_to(g: &Gateway, client: Client, to: &str) -> Option<String> {
    g.login_options
        .iter()
        .find(|o| prominence(o.option.placement, client) == Prominence::Straight)
        .and_then(|o| match o.option.start {
            Start::Page(action) => Some(g.start_url(&o.channel, action, to)),
            Start::PhoneForm => None,
        })
}

/// The page's ways in, for `client`, coming back to `to`.
pub fn ways(g: &Gateway, client: Client, to: &str) -> Vec<Way> {
    g.login_options
        .iter()
        .filter_map(|o| {
            let (secondary, hint) = match prominence(o.option.placement, client) {
                Prominence::Hidden => return None,
                Prominence::Straight | Prominence::Primary => (false, None),
                Prominence::Secondary(hint) => (true, hint),
            };
            Some(match o.option.start {
                Start::Page(action) => Way::Link {
                    label: o.option.label.to_string(),
                    href: g.start_url(&o.channel, action, to),
                    hint: hint.map(str::to_string),
                    secondary,
                },
                Start::PhoneForm => Way::PhoneForm {
                    label: o.option.label.to_string(),
                    action: format!("{}/{}/send_code", g.auth_prefix, o.channel),
                    return_to: to.to_string(),
                    secondary,
                },
            })
        })
        .collect()
}

/// The login page, with `notice` on top.
pub fn page(g: &Gateway, client: Client, to: &str, notice: Option<&str>) -> String {
    html::login_page(&g.login_title, &ways(g, client, to), notice)
}

/// The second step of a phone sign-in on `channel`: the code form for `phone` (as typed).
pub fn code_step(
    g: &Gateway,
    channel: &str,
    phone: &str,
    to: &str,
    notice: Option<&str>,
) -> String {
    let action = format!("{}/{channel}/login", g.auth_prefix);
    let resend = format!("{}/{channel}/send_code", g.auth_prefix);
    let start_over = g.login_page_for(to);
    html::code_page(&CodeForm {
        title: &g.login_title,
        phone,
        action: &action,
        resend: &resend,
        return_to: to,
        notice,
        start_over: &start_over,
    })
}

/// What a refusal says to a person on the login page, Chinese first.
pub fn notice_for(e: &crate::rescue::ApiError) -> String {
    use crate::rescue::ErrorCode::*;
    match e.code {
        InvalidRequest => format!("请检查输入 · Please check what you entered: {}", e.message),
        InvalidCode => "验证码不正确或已过期 · The code is wrong or has expired".into(),
        RateLimited => match e.retry_after {
            Some(secs) => {
                format!("操作太频繁，请 {secs} 秒后再试 · Too many attempts; try again in {secs} s")
            }
            None => "操作太频繁，请稍后再试 · Too many attempts; try again later".into(),
        },
        Forbidden => "请从登录页面提交 · Please submit from the sign-in page".into(),
        PhoneConflict => "该手机号已属于另一个账号 · This number belongs to another account".into(),
        UpstreamUnavailable => {
            "短信服务暂时不可用，请稍后再试 · Texts cannot be sent right now; try again shortly"
                .into()
        }
        StorageUnavailable => "服务暂时不可用，请稍后再试 · Try again shortly".into(),
        _ => "登录未完成，请重试 · The sign-in did not complete; please try again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_placement_is_shown_where_it_works() {
        use Client::*;
        assert_eq!(
            prominence(Placement::InsideWechat, Wechat),
            Prominence::Straight
        );
        assert!(matches!(
            prominence(Placement::InsideWechat, Browser),
            Prominence::Secondary(Some(_))
        ));
        assert_eq!(
            prominence(Placement::InsideWechat, Wecom),
            Prominence::Hidden
        );
        assert_eq!(prominence(Placement::Wecom, Wecom), Prominence::Straight);
        assert_eq!(prominence(Placement::Wecom, Browser), Prominence::Primary);
        assert_eq!(
            prominence(Placement::Wecom, Wechat),
            Prominence::Secondary(None)
        );
        assert_eq!(
            prominence(Placement::ScanFromAnotherScreen, Browser),
            Prominence::Primary
        );
        assert_eq!(
            prominence(Placement::ScanFromAnotherScreen, Wechat),
            Prominence::Secondary(None)
        );
        for client in [Wechat, Wecom, Browser] {
            assert_eq!(prominence(Placement::Anywhere, client), Prominence::Primary);
        }
    }
}
