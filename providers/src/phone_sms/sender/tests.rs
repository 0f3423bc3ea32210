//! The senders against local fakes of the vendors: each fake checks the request's signature the
//! way the vendor would (recomputed from what arrived), then answers as the vendor does.

use super::sign::{acs3, tc3, Acs3, Tc3};
use super::*;
use crate::phone_sms::config::{AliyunSender, TencentSender, WebhookSender};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use std::sync::{Arc, Mutex};
use wxgate_core::clock::ManualClock;

/// What a fake received, and what it answers next.
#[derive(Default)]
struct Fake {
    answer: Mutex<(u16, String)>,
    seen: Mutex<Vec<(HeaderMap, Option<String>, Bytes)>>,
}

async fn serve(fake: Arc<Fake>) -> String {
    async fn handle(
        State(fake): State<Arc<Fake>>,
        headers: HeaderMap,
        RawQuery(query): RawQuery,
        body: Bytes,
    ) -> impl IntoResponse {
        fake.seen.lock().unwrap().push((headers, query, body));
        let (status, body) = fake.answer.lock().unwrap().clone();
        (StatusCode::from_u16(status).unwrap(), body)
    }
    let app = Router::new().fallback(handle).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

const NOW: i64 = 1_700_000_000;

fn clock() -> SharedClock {
    Arc::new(ManualClock::new(NOW * 1000))
}

fn phone() -> Phone {
    Phone::parse("13800138000", wxgate_core::phone::Region::CN)
        .unwrap()
        .phone
}

fn message<'a>(phone: &'a Phone, code: &'a Secret) -> SmsMessage<'a> {
    SmsMessage {
        phone,
        code,
        purpose: "login",
        channel: "sms",
        ttl_minutes: 5,
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn tencent_config(endpoint: &str) -> TencentSender {
    TencentSender {
        secret_id: "AKIDtest".into(),
        secret_key: Secret::new("tencent-secret"),
        sdk_app_id: "1400006666".into(),
        sign_name: "腾讯云".into(),
        template_id: "1110".into(),
        template_params: vec!["code".into(), "minutes".into()],
        region: "ap-guangzhou".into(),
        endpoint: endpoint.into(),
    }
}

#[tokio::test]
async fn tencent_requests_are_signed_as_sent_and_answers_read_per_number() {
    let fake = Arc::new(Fake::default());
    let endpoint = serve(fake.clone()).await;
    let sender = tencent::Tencent::new(
        &tencent_config(&endpoint),
        reqwest::Client::new(),
        Duration::from_secs(2),
        clock(),
    );
    let (p, code) = (phone(), Secret::new("654321"));
    let cases = [
        (
            r#"{"Response":{"SendStatusSet":[{"SerialNo":"5000:1","PhoneNumber":"+8613800138000","Fee":1,"Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"r1"}}"#,
            Ok(()),
        ),
        // HTTP 200, but the number was refused.
        (
            r#"{"Response":{"SendStatusSet":[{"SerialNo":"","PhoneNumber":"+8613800138000","Fee":0,"Code":"LimitExceeded.PhoneNumberDailyLimit","Message":"limit","IsoCode":"CN"}],"RequestId":"r2"}}"#,
            Err(SendError::RateLimited),
        ),
        (
            r#"{"Response":{"SendStatusSet":[{"Code":"InvalidParameterValue.IncorrectPhoneNumber"}],"RequestId":"r3"}}"#,
            Err(SendError::InvalidPhone),
        ),
        (
            r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"r4"}}"#,
            Err(SendError::Failed(
                "tencent_cloud error AuthFailure.SignatureFailure".into(),
            )),
        ),
        // "OK" is not Tencent's spelling of success.
        (
            r#"{"Response":{"SendStatusSet":[{"Code":"OK"}],"RequestId":"r5"}}"#,
            Err(SendError::Failed("tencent_cloud error OK".into())),
        ),
    ];
    for (answer, want) in cases {
        *fake.answer.lock().unwrap() = (200, answer.into());
        assert_eq!(sender.send(&message(&p, &code)).await, want, "{answer}");
    }
    let seen = fake.seen.lock().unwrap();
    let (headers, _, body) = &seen[0];
    let sent: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(sent["PhoneNumberSet"][0], "+8613800138000");
    assert_eq!(sent["TemplateParamSet"], serde_json::json!(["654321", "5"]));
    assert_eq!(header(headers, "x-tc-action"), "SendSms");
    assert_eq!(header(headers, "x-tc-version"), "2021-01-11");
    assert_eq!(header(headers, "x-tc-region"), "ap-guangzhou");
    // The server's check: sign what arrived, with the shared secret.
    let expected = tc3(&Tc3 {
        secret_id: "AKIDtest",
        secret_key: "tencent-secret",
        service: "sms",
        host: header(headers, "host"),
        content_type: header(headers, "content-type"),
        action: Some(header(headers, "x-tc-action")),
        timestamp: header(headers, "x-tc-timestamp").parse().unwrap(),
        body,
    });
    assert_eq!(header(headers, "authorization"), expected.authorization);
    assert_eq!(header(headers, "x-tc-timestamp"), NOW.to_string());
}

fn aliyun_config(endpoint: &str) -> AliyunSender {
    AliyunSender {
        access_key_id: "testid".into(),
        access_key_secret: Secret::new("testsecret"),
        sign_name: "阿里云短信测试".into(),
        template_code: "SMS_154950909".into(),
        code_param: "code".into(),
        minutes_param: None,
        endpoint: endpoint.into(),
    }
}

#[tokio::test]
async fn aliyun_requests_are_signed_as_sent_and_gateway_errors_never_echoed() {
    let fake = Arc::new(Fake::default());
    let endpoint = serve(fake.clone()).await;
    let sender = aliyun::Aliyun::new(
        &aliyun_config(&endpoint),
        reqwest::Client::new(),
        Duration::from_secs(2),
        clock(),
    );
    let (p, code) = (phone(), Secret::new("654321"));
    let echo = r#"{"RequestId":"x","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&PhoneNumbers%3D8613800138000%26TemplateParam%3D%257B%2522code%2522%253A%2522654321%2522%257D","Code":"SignatureDoesNotMatch"}"#;
    let cases = [
        (
            200,
            r#"{"Code":"OK","Message":"OK","BizId":"9006197469364984^0","RequestId":"F655A8D5"}"#,
            Ok(()),
        ),
        (
            200,
            r#"{"Message":"触发分钟级流控Permits:1","RequestId":"1F3D","Code":"isv.BUSINESS_LIMIT_CONTROL"}"#,
            Err(SendError::RateLimited),
        ),
        (
            200,
            r#"{"Code":"isv.MOBILE_NUMBER_ILLEGAL","Message":"非法手机号","RequestId":"2"}"#,
            Err(SendError::InvalidPhone),
        ),
        (
            400,
            echo,
            Err(SendError::Failed(
                "aliyun answered 400 SignatureDoesNotMatch".into(),
            )),
        ),
    ];
    for (status, answer, want) in cases {
        *fake.answer.lock().unwrap() = (status, answer.into());
        let got = sender.send(&message(&p, &code)).await;
        if let Err(e) = &got {
            assert!(!e.to_string().contains("654321"), "the code leaked: {e}");
        }
        assert_eq!(got, want, "{answer}");
    }
    let seen = fake.seen.lock().unwrap();
    let (headers, query, body) = &seen[0];
    assert!(body.is_empty());
    let query = query.clone().unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("PhoneNumbers"), "8613800138000");
    assert_eq!(get("TemplateParam"), r#"{"code":"654321"}"#);
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = acs3(&Acs3 {
        method: "POST",
        host: header(headers, "host"),
        action: header(headers, "x-acs-action"),
        version: header(headers, "x-acs-version"),
        date: header(headers, "x-acs-date"),
        nonce: header(headers, "x-acs-signature-nonce"),
        query: &refs,
        body,
        access_key_id: "testid",
        access_key_secret: "testsecret",
    });
    assert_eq!(header(headers, "authorization"), expected.authorization);
    assert_eq!(header(headers, "x-acs-date"), "2023-11-14T22:13:20Z");
    let nonces: std::collections::HashSet<_> = seen
        .iter()
        .map(|(h, _, _)| header(h, "x-acs-signature-nonce").to_string())
        .collect();
    assert_eq!(nonces.len(), seen.len(), "a fresh nonce per request");
}

#[tokio::test]
async fn fail_over_tries_the_next_sender_but_not_for_a_refused_number() {
    let down = Arc::new(Fake::default());
    *down.answer.lock().unwrap() = (500, "oops".into());
    let up = Arc::new(Fake::default());
    *up.answer.lock().unwrap() = (204, String::new());
    let webhook = |url: String| -> Box<dyn SmsSender> {
        Box::new(webhook::Webhook::new(
            &WebhookSender { url },
            reqwest::Client::new(),
            Duration::from_secs(2),
        ))
    };
    let senders = FailOver::of(vec![
        webhook(serve(down.clone()).await),
        webhook(serve(up.clone()).await),
    ]);
    let (p, code) = (phone(), Secret::new("111222"));
    assert_eq!(senders.send(&message(&p, &code)).await, Ok(()));
    assert_eq!(down.seen.lock().unwrap().len(), 1);
    let delivered: serde_json::Value =
        serde_json::from_slice(&up.seen.lock().unwrap()[0].2).unwrap();
    assert_eq!(
        delivered,
        serde_json::json!({"phone": "+8613800138000", "code": "111222", "purpose": "login", "channel": "sms"})
    );

    // A vendor that refuses the number ends the attempt: the next one would refuse it too.
    let refusing = Arc::new(Fake::default());
    *refusing.answer.lock().unwrap() = (
        200,
        r#"{"Response":{"SendStatusSet":[{"Code":"FailedOperation.PhoneNumberInBlacklist"}],"RequestId":"r"}}"#.into(),
    );
    let tencent: Box<dyn SmsSender> = Box::new(tencent::Tencent::new(
        &tencent_config(&serve(refusing).await),
        reqwest::Client::new(),
        Duration::from_secs(2),
        clock(),
    ));
    let second = Arc::new(Fake::default());
    let chain = FailOver::of(vec![tencent, webhook(serve(second.clone()).await)]);
    assert_eq!(
        chain.send(&message(&p, &code)).await,
        Err(SendError::InvalidPhone)
    );
    assert!(second.seen.lock().unwrap().is_empty());
}
