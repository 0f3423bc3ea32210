//! `kind = "phone_sms"`: a one-time code sent by SMS, then checked on login or bind.

pub mod config;
mod provider;
pub mod sender;

pub use config::{AliyunSender, Config, Sender, Senders, TencentSender, WebhookSender};
pub use provider::PhoneSms;

impl crate::kind::Kind for Config {
    const NAME: &'static str = "phone_sms";
}

impl crate::kind::KindConfig for Config {
    fn id(&self) -> &str {
        &self.id
    }

    fn validate(&self) -> Vec<wxgate_core::rules::FieldError> {
        Config::validate(self)
    }

    fn phone_region(&self) -> Option<wxgate_core::phone::Region> {
        Some(self.default_region())
    }

    fn login_options(&self) -> Vec<crate::kind::LoginOption> {
        vec![crate::kind::LoginOption {
            label: "手机验证码登录 · Sign in with a text message",
            start: crate::kind::Start::PhoneForm,
            placement: crate::kind::Placement::Anywhere,
        }]
    }

    fn build(
        &self,
        deps: &crate::registry::ProviderDeps,
    ) -> std::sync::Arc<dyn crate::provider::LoginProvider> {
        std::sync::Arc::new(PhoneSms::new(
            self,
            sender::FailOver::build(
                &self.sender.0,
                &deps.http,
                self.send_timeout,
                deps.clock.clone(),
            ),
            deps.shared_state.clone(),
            deps.mac.clone(),
            deps.clock.clone(),
        ))
    }
}
