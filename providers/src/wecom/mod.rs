//! `kind = "wecom"`: staff sign in with their WeCom (企业微信) account through a self-built app:
//! web SSO from a desktop, in-app OAuth inside WeCom.

pub mod config;
mod errors;
mod provider;
mod token;

pub use config::{Config, Scope};
pub use provider::Wecom;

use crate::kind::{Kind, KindConfig, LoginOption, Placement, Start};
use crate::registry::ProviderDeps;
use std::sync::Arc;
use wxgate_core::rules::FieldError;

impl Kind for Config {
    const NAME: &'static str = "wecom";
}

impl KindConfig for Config {
    fn id(&self) -> &str {
        &self.id
    }

    /// The corp id: WeCom members are keyed by it.
    fn appid(&self) -> Option<&str> {
        Some(&self.corp_id)
    }

    fn validate(&self) -> Vec<FieldError> {
        Config::validate(self)
    }

    fn login_options(&self) -> Vec<LoginOption> {
        vec![LoginOption {
            label: "企业微信登录 · Sign in with WeCom",
            start: Start::Page("authorize"),
            placement: Placement::Wecom,
        }]
    }

    fn build(&self, deps: &ProviderDeps) -> Arc<dyn crate::provider::LoginProvider> {
        Arc::new(Wecom::new(self, deps))
    }
}
