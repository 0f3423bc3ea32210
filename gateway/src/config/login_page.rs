//! `[login_page]`: the page a browser without a session is sent to: its title, and the order
//! of the ways in (each channel declares its own option; see `wxgate_providers::kind`).

use serde::Deserialize;
use wxgate_providers::registry::ChannelConfig;

use super::index::join_index;
use super::validate::Validator;

/// `[login_page]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPage {
    /// The page's title and heading. Default `登录 · Sign in`.
    pub title: String,
    /// Channel ids shown first, in this order; the other channels follow in config order.
    pub order: Vec<String>,
}

/// `[login_page]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLoginPage {
    /// The page's title. Default `"登录 · Sign in"`.
    pub title: String,
    /// Channel ids shown first, in this order. Default: config order.
    pub order: Vec<String>,
}

impl Default for RawLoginPage {
    fn default() -> Self {
        Self {
            title: "登录 · Sign in".to_owned(),
            order: Vec::new(),
        }
    }
}

// === rules ===

impl Validator<'_> {
    pub(super) fn login_page(
        &mut self,
        raw: RawLoginPage,
        channels: &[(usize, ChannelConfig)],
        unread_channel_ids: &[(usize, String)],
    ) -> LoginPage {
        let title_chars = raw.title.trim().chars().count();
        if title_chars == 0 || title_chars > 64 {
            self.error("login_page.title", "must be 1 to 64 characters");
        }
        for (i, id) in raw.order.iter().enumerate() {
            let key = join_index("login_page.order", i);
            if unread_channel_ids.iter().any(|(_, unread)| unread == id) {
                continue;
            }
            match channels.iter().find(|(_, c)| c.id() == id) {
                None => self.error(key, format!("no channel has id {id:?}")),
                Some((_, c)) if c.login_options().is_empty() => self.error(
                    key,
                    match c.config().login_option_needs() {
                        Some(needs) => format!(
                            "channel {id:?} ({}) offers no browser sign-in ({needs})",
                            c.kind()
                        ),
                        None => format!("channel {id:?} ({}) offers no browser sign-in", c.kind()),
                    },
                ),
                Some(_) if raw.order[..i].contains(id) => {
                    self.error(key, format!("{id:?} is listed twice"));
                }
                Some(_) => {}
            }
        }
        LoginPage {
            title: raw.title.trim().to_owned(),
            order: raw.order,
        }
    }
}
