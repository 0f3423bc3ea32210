//! `Strict-Transport-Security` on every answer of an HTTPS listener, the gateway's own and the
//! upstreams' alike: a Pingora downstream module, which sees every response header written.

use async_trait::async_trait;
use pingora::http::ResponseHeader;
use pingora::modules::http::{HttpModule, HttpModuleBuilder, Module};

/// Builds the per-request module that adds the header.
pub struct Hsts(pub http::HeaderValue);

impl Hsts {
    pub fn max_age(age: std::time::Duration) -> Self {
        let value = format!("max-age={}", age.as_secs());
        Self(http::HeaderValue::from_str(&value).expect("digits are a header value"))
    }
}

impl HttpModuleBuilder for Hsts {
    fn init(&self) -> Module {
        Box::new(AddHsts(self.0.clone()))
    }
}

struct AddHsts(http::HeaderValue);

#[async_trait]
impl HttpModule for AddHsts {
    async fn response_header_filter(
        &mut self,
        resp: &mut ResponseHeader,
        _end_of_stream: bool,
    ) -> pingora::Result<()> {
        // An upstream's own policy stands.
        if !resp
            .headers
            .contains_key(http::header::STRICT_TRANSPORT_SECURITY)
        {
            resp.insert_header(http::header::STRICT_TRANSPORT_SECURITY, self.0.clone())?;
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
