//! What every channel kind declares about itself, in its own module: its name, its id and
//! AppID, the rules of its fields, how it is built, and how a browser signs in with it (the
//! login page's option). The registry holds one line per kind; nothing else lists kinds.

use std::sync::Arc;

use crate::provider::LoginProvider;
use crate::registry::ProviderDeps;
use wxgate_core::rules::FieldError;

/// One kind's typed `[[channel]]` table.
pub trait Kind {
    /// The `kind` as written in the config (`wechat_miniprogram`).
    const NAME: &'static str;
}

/// The object-safe part of a kind's config: what the gateway asks of any channel.
pub trait KindConfig {
    /// The channel id, as written in `id`.
    fn id(&self) -> &str;
    /// The WeChat AppID, for the kinds that have one.
    fn appid(&self) -> Option<&str> {
        None
    }
    /// Pure checks of the kind's own fields (no I/O, env or clock). Keys are relative to the
    /// channel table; rules across channels (ids, duplicates) belong to the gateway.
    fn validate(&self) -> Vec<FieldError>;
    /// How a browser signs in with this channel, if it can: one option per way (an official
    /// account inside WeChat, and by following it from a desktop).
    fn login_options(&self) -> Vec<LoginOption> {
        Vec::new()
    }
    /// When there are no login options: what would give this channel one, for the error that
    /// names it on the login page (`"give it scan_login"`).
    fn login_option_needs(&self) -> Option<&'static str> {
        None
    }
    /// For a channel that reads phone numbers: the region a number typed without a country
    /// code is read in.
    fn phone_region(&self) -> Option<wxgate_core::phone::Region> {
        None
    }
    /// Builds the channel; calls nobody.
    fn build(&self, deps: &ProviderDeps) -> Arc<dyn LoginProvider>;
}

/// One way in, as the login page offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginOption {
    /// The button's label, Chinese first.
    pub label: &'static str,
    pub start: Start,
    pub placement: Placement,
}

/// How the browser starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// It is sent to this channel action (`authorize`, `scan`) with `return_to`; a route's
    /// `login_channel` may name such a channel.
    Page(&'static str),
    /// The login page shows a phone number form, then a code form (no script).
    PhoneForm,
}

/// Where a way in works, which decides how the login page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Only inside the WeChat app (official-account OAuth): there it is the way in.
    InsideWechat,
    /// WeCom: inside the WeCom app the way in (its in-app sign-in), on a desktop a code to
    /// scan with the WeCom app (its SSO page).
    Wecom,
    /// A code shown on one screen and scanned with the phone: for desktops.
    ScanFromAnotherScreen,
    /// Anywhere (a phone number and a texted code).
    Anywhere,
}
