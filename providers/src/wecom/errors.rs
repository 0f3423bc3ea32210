//! WeCom's errcodes in the channel contract's terms (wechat-api.md §14). The `errmsg` and its
//! `hint` are logged by the client; only the errcode decides.

use crate::provider::ProviderError;
use crate::wechat::WxError;

pub fn mapped(e: WxError, path: &str) -> ProviderError {
    match e {
        // A bad, reused or expired code.
        WxError::Api { errcode: 40029 } => ProviderError::InvalidCode,
        WxError::Api {
            errcode: 45009 | 45011,
        } => ProviderError::RateLimited { retry_after: 60 },
        // Our configuration: the secret, the corp id, the trusted domain, the trusted IPs.
        WxError::Api {
            errcode: errcode @ (40001 | 40013 | 40091 | 40056 | 50001 | 60020 | 41001),
        } => {
            tracing::error!(
                path,
                errcode,
                "wecom refused the app's configuration; see the hint logged with it"
            );
            ProviderError::Misconfigured(format!("{path}: errcode {errcode}"))
        }
        other => other.into_provider_error(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_configuration_errors_are_told_apart() {
        let map = |c| mapped(WxError::Api { errcode: c }, "/p");
        assert_eq!(map(40029), ProviderError::InvalidCode);
        for config in [40001, 40013, 50001, 60020] {
            assert!(
                matches!(map(config), ProviderError::Misconfigured(_)),
                "{config}"
            );
        }
        assert!(matches!(map(-1), ProviderError::Unavailable(_)));
        assert!(matches!(
            mapped(WxError::Timeout, "/p"),
            ProviderError::Unavailable(_)
        ));
    }
}
