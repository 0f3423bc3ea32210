//! The two vendors' request signatures, as pure functions of what goes on the wire: Tencent
//! Cloud's TC3-HMAC-SHA256 and Alibaba Cloud's ACS3-HMAC-SHA256. Both are checked against the
//! vendors' worked examples (`shared/docs/sms-vendors.md` §1.7 and §2.3).

use aws_lc_rs::{digest, hmac};

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// RFC 3986 percent-encoding as both vendors want it: unreserved characters stay, everything
/// else (UTF-8 bytes) becomes `%XY` in upper case; a space is `%20`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The UTC calendar date and time of a Unix timestamp: (year, month, day, hour, minute,
/// second). The vendors want UTC whatever the host's zone (a +8 host formatting its local date
/// breaks Tencent's signature every night).
pub fn utc(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `YYYY-MM-DD` in UTC.
pub fn utc_date(secs: i64) -> String {
    let (y, m, d, ..) = utc(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
pub fn utc_datetime(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = utc(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// One Tencent Cloud API 3.0 POST to sign.
pub struct Tc3<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    /// `sms` (the `cvm` of the documented examples).
    pub service: &'a str,
    /// Exactly the `Host` sent.
    pub host: &'a str,
    /// Exactly the `Content-Type` sent.
    pub content_type: &'a str,
    /// `X-TC-Action`, signed (lower-cased) when given; the current documentation signs it.
    pub action: Option<&'a str>,
    pub timestamp: i64,
    /// Exactly the bytes sent.
    pub body: &'a [u8],
}

/// What TC3 signing produced; the hash of the canonical request is kept for tests.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request_hash: String,
    pub signature: String,
    pub authorization: String,
}

pub fn tc3(r: &Tc3<'_>) -> Signed {
    let date = utc_date(r.timestamp);
    let mut headers = format!(
        "content-type:{}\nhost:{}\n",
        r.content_type.trim().to_ascii_lowercase(),
        r.host.trim().to_ascii_lowercase()
    );
    let mut signed = String::from("content-type;host");
    if let Some(action) = r.action {
        headers.push_str(&format!("x-tc-action:{}\n", action.to_ascii_lowercase()));
        signed.push_str(";x-tc-action");
    }
    let canonical = format!("POST\n/\n\n{headers}\n{signed}\n{}", sha256_hex(r.body));
    let canonical_request_hash = sha256_hex(canonical.as_bytes());
    let scope = format!("{date}/{}/tc3_request", r.service);
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{}\n{scope}\n{canonical_request_hash}",
        r.timestamp
    );
    let k_date = hmac_sha256(format!("TC3{}", r.secret_key).as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, r.service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&k_signing, to_sign.as_bytes()));
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        r.secret_id
    );
    Signed {
        canonical_request_hash,
        signature,
        authorization,
    }
}

/// One Alibaba Cloud V3 (ACS3-HMAC-SHA256) request to sign: the `x-acs-*` headers and `host`
/// are signed; `accept` and `user-agent` are not.
pub struct Acs3<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub action: &'a str,
    pub version: &'a str,
    /// `x-acs-date`, `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    pub date: &'a str,
    /// `x-acs-signature-nonce`: unique per request.
    pub nonce: &'a str,
    /// The query's parameters, unencoded.
    pub query: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    pub access_key_id: &'a str,
    pub access_key_secret: &'a str,
}

impl Acs3<'_> {
    /// The signed headers, in their canonical order, as they must be sent.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("host", self.host.to_string()),
            ("x-acs-action", self.action.to_string()),
            ("x-acs-content-sha256", sha256_hex(self.body)),
            ("x-acs-date", self.date.to_string()),
            ("x-acs-signature-nonce", self.nonce.to_string()),
            ("x-acs-version", self.version.to_string()),
        ]
    }

    /// The query string as signed and sent: sorted, each name and value encoded.
    pub fn query_string(&self) -> String {
        let mut pairs: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(k, v)| (percent_encode(k), percent_encode(v)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub fn acs3(r: &Acs3<'_>) -> Signed {
    let headers = r.headers();
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let canonical = format!(
        "{}\n/\n{}\n{canonical_headers}\n{signed}\n{}",
        r.method,
        r.query_string(),
        sha256_hex(r.body)
    );
    let canonical_request_hash = sha256_hex(canonical.as_bytes());
    let to_sign = format!("ACS3-HMAC-SHA256\n{canonical_request_hash}");
    let signature = hex::encode(hmac_sha256(
        r.access_key_secret.as_bytes(),
        to_sign.as_bytes(),
    ));
    let authorization = format!(
        "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={signature}",
        r.access_key_id
    );
    Signed {
        canonical_request_hash,
        signature,
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of Tencent's documented examples: literal `\u` escapes, as Python writes them.
    const TC_BODY: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn cvm(key: &str, action: Option<&str>) -> Signed {
        tc3(&Tc3 {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            secret_key: key,
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            action,
            timestamp: 1_551_113_065,
            body: TC_BODY.as_bytes(),
        })
    }

    #[test]
    fn tencent_official_examples() {
        assert_eq!(
            sha256_hex(TC_BODY.as_bytes()),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        // T1: content-type;host, the doc's curl line.
        let t1 = cvm("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", None);
        assert_eq!(
            t1.canonical_request_hash,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            t1.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        // T2: T1's request under a doc revision's masked key.
        let t2 = cvm("Gu5t9xGARNpq86cd98joQYCN3*******", None);
        assert_eq!(t2.canonical_request_hash, t1.canonical_request_hash);
        assert_eq!(
            t2.signature,
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
        // T3: the current revision signs x-tc-action.
        let t3 = cvm(
            "Gu5t9xGARNpq86cd98joQYCN3*******",
            Some("DescribeInstances"),
        );
        assert_eq!(
            t3.canonical_request_hash,
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            t3.signature,
            "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"
        );
        // T4: the newest revision's masked key.
        assert_eq!(
            cvm(&"*".repeat(32), Some("DescribeInstances")).signature,
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
    }

    #[test]
    fn tencent_send_sms_vector() {
        // T5: the exact compact body with raw UTF-8, as the sender serialises it.
        let body = r#"{"PhoneNumberSet":["+8613800138000"],"SmsSdkAppId":"1400006666","SignName":"腾讯云","TemplateId":"1110","TemplateParamSet":["123456","5"]}"#;
        let signed = tc3(&Tc3 {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            service: "sms",
            host: "sms.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            action: Some("SendSms"),
            timestamp: 1_700_000_000,
            body: body.as_bytes(),
        });
        assert_eq!(
            sha256_hex(body.as_bytes()),
            "45f181b30a0851cc6cbb33fcba656f69c904df3f21b0fd3b33b19aed75e18e54"
        );
        assert_eq!(
            signed.canonical_request_hash,
            "c221e7222af7ef3cba8d29cdf9403381cea71d95c3f25101ba3ccb1fad1c0a44"
        );
        assert_eq!(
            signed.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/sms/tc3_request, \
             SignedHeaders=content-type;host;x-tc-action, Signature=0b45ebf3ad7d0394ebee9edfc1b8efbd6a64af8223cfbaf0881e2b9d29968409"
        );
    }

    #[test]
    fn aliyun_official_v3_example() {
        // B1: RunInstances, the documentation's fixed-parameter example.
        let b1 = acs3(&Acs3 {
            method: "POST",
            host: "ecs.cn-shanghai.aliyuncs.com",
            action: "RunInstances",
            version: "2014-05-26",
            date: "2023-10-26T10:22:32Z",
            nonce: "3156853299f313e23d1673dc12e1703d",
            query: &[
                (
                    "ImageId",
                    "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
                ),
                ("RegionId", "cn-shanghai"),
            ],
            body: b"",
            access_key_id: "YourAccessKeyId",
            access_key_secret: "YourAccessKeySecret",
        });
        assert_eq!(
            b1.canonical_request_hash,
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            b1.authorization,
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;\
             x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    // B2 (the SDK's `Test_GetAuthorization`) is left out: it signs an empty method, only a
    // repeated `x-acs-test` header and a given payload hash, while `Acs3` always signs its six
    // fixed headers and hashes the body itself, so B2's input cannot be written here.

    #[test]
    fn aliyun_send_sms_vector() {
        // B3: SendSms as the SDK sends it (parameters in the query, empty body).
        let b3 = Acs3 {
            method: "POST",
            host: "dysmsapi.aliyuncs.com",
            action: "SendSms",
            version: "2017-05-25",
            date: "2024-01-01T00:00:00Z",
            nonce: "0b7e1a5f7d2c4f3a9c1e2d3f4a5b6c7d",
            query: &[
                ("PhoneNumbers", "13800138000"),
                ("SignName", "阿里云短信测试"),
                ("TemplateCode", "SMS_154950909"),
                ("TemplateParam", r#"{"code":"123456"}"#),
            ],
            body: b"",
            access_key_id: "testid",
            access_key_secret: "testsecret",
        };
        assert_eq!(
            b3.query_string(),
            "PhoneNumbers=13800138000&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95\
             &TemplateCode=SMS_154950909&TemplateParam=%7B%22code%22%3A%22123456%22%7D"
        );
        let signed = acs3(&b3);
        assert_eq!(
            signed.canonical_request_hash,
            "15e7e8967112e8d72546028db2562a24b8bd452444fe9d5e1f60421bf959e989"
        );
        assert_eq!(
            signed.signature,
            "ce215ec7c15cfd6962bdad0f851f281bfe521f16ec036d5dd01dc0eeb498f120"
        );
    }

    #[test]
    fn percent_encoding_and_utc_dates() {
        assert_eq!(percent_encode("a b*+/~"), "a%20b%2A%2B%2F~");
        assert_eq!(percent_encode("未"), "%E6%9C%AA");
        // 1551113065 is 2019-02-26 00:44:25 in UTC+8 but still the 25th in UTC.
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_datetime(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
    }
}
