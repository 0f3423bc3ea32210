//! `/wxa/business/getuserphonenumber` and the legacy encrypted phone.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

async fn exchange(sim: &Sim, token: &str, body: Value) -> Value {
    sim.post(
        &format!("/wxa/business/getuserphonenumber?access_token={token}"),
        &body,
    )
    .await
}

async fn token(sim: &Sim) -> String {
    string(&sim.stable_token(MP, MP_SECRET, false).await["access_token"])
}

#[tokio::test]
async fn success_reports_the_phone_with_a_watermark() {
    let sim = Sim::start().await;
    let token = token(&sim).await;
    let code = sim.phone_code(MP, "alice").await;
    assert_eq!(code.len(), 64);
    assert!(code
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

    let body = exchange(&sim, &token, json!({"code": code})).await;
    assert_eq!(body["errcode"], 0, "{body}");
    assert_eq!(body["errmsg"], "ok");
    let info = &body["phone_info"];
    assert_eq!(info["phoneNumber"], "13800138000");
    assert_eq!(info["purePhoneNumber"], "13800138000");
    assert_eq!(info["countryCode"], "86");
    assert_eq!(info["watermark"]["appid"], MP);
    assert!(info["watermark"]["timestamp"].as_i64().unwrap_or_default() > 1_600_000_000);
}

#[tokio::test]
async fn code_and_token_errors() {
    let sim = Sim::start().await;
    let token = token(&sim).await;

    let code = sim.phone_code(MP, "alice").await;
    assert_eq!(
        exchange(&sim, &token, json!({"code": code})).await["errcode"],
        0
    );
    assert_err(&exchange(&sim, &token, json!({"code": code})).await, 40029);

    let fresh = sim.phone_code(MP, "alice").await;
    assert_err(
        &exchange(&sim, "86_bogus", json!({"code": fresh})).await,
        40001,
    );
    let missing_token = sim
        .post("/wxa/business/getuserphonenumber", &json!({"code": fresh}))
        .await;
    assert_err(&missing_token, 41001);
    assert_err(&exchange(&sim, &token, json!({})).await, 41008);

    // A code from another mini-program under this app's token.
    let foreign = sim.phone_code(MP2, "alice").await;
    assert_err(
        &exchange(&sim, &token, json!({"code": foreign})).await,
        40013,
    );

    // `fresh` survived the failed calls, but not five minutes.
    sim.advance(301).await;
    assert_err(&exchange(&sim, &token, json!({"code": fresh})).await, 40029);
}

#[tokio::test]
async fn the_phone_is_the_one_current_when_the_code_was_minted() {
    let sim = Sim::start().await;
    let token = token(&sim).await;
    let before = sim.phone_code(MP, "alice").await;
    sim.control("/_sim/users/alice/phone", json!({"phone": "13700137000"}))
        .await;
    let after = sim.phone_code(MP, "alice").await;

    let old = exchange(&sim, &token, json!({"code": before})).await;
    assert_eq!(old["phone_info"]["purePhoneNumber"], "13800138000");
    let new = exchange(&sim, &token, json!({"code": after})).await;
    assert_eq!(new["phone_info"]["purePhoneNumber"], "13700137000");

    // Without a phone, the button yields no code at all.
    sim.control("/_sim/users/alice/phone", json!({"phone": null}))
        .await;
    let (status, _) = sim
        .control_status("/_sim/phone_code", json!({"appid": MP, "user": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn foreign_numbers_and_the_openid_check() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/users",
        json!({"name": "carol", "phone": "2025550123", "country_code": "1"}),
    )
    .await;
    let token = token(&sim).await;
    let openid = string(&sim.identity(MP, "carol").await["openid"]);

    let code = sim.phone_code(MP, "carol").await;
    let mismatch = exchange(
        &sim,
        &token,
        json!({"code": code, "openid": "o".repeat(28)}),
    )
    .await;
    assert_err(&mismatch, 40003);
    let body = exchange(&sim, &token, json!({"code": code, "openid": openid})).await;
    assert_eq!(body["phone_info"]["phoneNumber"], "+12025550123");
    assert_eq!(body["phone_info"]["purePhoneNumber"], "2025550123");
    assert_eq!(body["phone_info"]["countryCode"], "1");
}

fn decrypt(session_key: &str, iv: &str, data: &str) -> Option<Value> {
    let key: [u8; 16] = B64.decode(session_key).ok()?.try_into().ok()?;
    let iv: [u8; 16] = B64.decode(iv).ok()?.try_into().ok()?;
    let plain = cbc::Decryptor::<aes::Aes128>::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&B64.decode(data).ok()?)
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

#[tokio::test]
async fn encrypted_phone_uses_the_current_session_key() {
    let sim = Sim::start().await;
    let request = json!({"appid": MP, "user": "alice"});
    let (status, _) = sim
        .control_status("/_sim/encrypted_phone", request.clone())
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no session_key before a login"
    );

    let code = sim.login_code(MP, "alice").await;
    let old_key = string(&sim.code2session(MP, MP_SECRET, &code).await["session_key"]);
    let sealed = sim.control("/_sim/encrypted_phone", request.clone()).await;
    let (data, iv) = (string(&sealed["encryptedData"]), string(&sealed["iv"]));
    let plain = decrypt(&old_key, &iv, &data).expect("decrypts with the current key");
    assert_eq!(plain["purePhoneNumber"], "13800138000");
    assert_eq!(plain["countryCode"], "86");
    assert_eq!(plain["watermark"]["appid"], MP);

    // After a rotation the payload follows the new key; the old one no longer opens it.
    let code = sim.login_code(MP, "alice").await;
    let new_key = string(&sim.code2session(MP, MP_SECRET, &code).await["session_key"]);
    let sealed = sim.control("/_sim/encrypted_phone", request).await;
    let (data, iv) = (string(&sealed["encryptedData"]), string(&sealed["iv"]));
    assert!(decrypt(&old_key, &iv, &data).is_none_or(|v| v["purePhoneNumber"] != "13800138000"));
    assert!(decrypt(&new_key, &iv, &data).is_some());

    let forged = sim
        .control(
            "/_sim/encrypted_phone",
            json!({"appid": MP, "user": "alice", "watermark_appid": MP2}),
        )
        .await;
    let plain = decrypt(
        &new_key,
        &string(&forged["iv"]),
        &string(&forged["encryptedData"]),
    );
    assert_eq!(
        plain.map(|v| v["watermark"]["appid"].clone()),
        Some(json!(MP2))
    );
}
