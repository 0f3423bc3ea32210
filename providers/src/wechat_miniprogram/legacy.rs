//! The legacy phone payload of older clients: `encryptedData` + `iv`, AES-128-CBC with the
//! user's session_key, PKCS#7 padding, and a watermark naming the mini-program.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// Bad base64 or lengths: the client's fault.
    #[error("encryptedData and iv must be base64 (16-byte iv, whole AES blocks)")]
    Malformed,
    /// Padding or JSON broke: the session_key is stale or wrong, so the client must log in again.
    #[error("the payload does not decrypt with the current session")]
    StaleSession,
    /// The watermark names another mini-program.
    #[error("the payload was made for another mini-program")]
    WrongApp,
}

#[derive(Debug, Deserialize)]
pub struct LegacyPhone {
    #[serde(rename = "purePhoneNumber")]
    pub pure_phone_number: String,
    #[serde(rename = "countryCode", default)]
    pub country_code: serde_json::Value,
    pub watermark: Watermark,
}

#[derive(Debug, Deserialize)]
pub struct Watermark {
    pub appid: String,
}

/// Decrypts a payload with a base64 session_key (16 bytes).
pub fn decrypt(session_key: &str, iv: &str, data: &str) -> Result<Vec<u8>, LegacyError> {
    let key = STANDARD
        .decode(session_key)
        .map_err(|_| LegacyError::StaleSession)?;
    let iv = STANDARD.decode(iv).map_err(|_| LegacyError::Malformed)?;
    let mut data = STANDARD.decode(data).map_err(|_| LegacyError::Malformed)?;
    if key.len() != 16 {
        return Err(LegacyError::StaleSession);
    }
    if iv.len() != 16 || data.is_empty() || data.len() % 16 != 0 {
        return Err(LegacyError::Malformed);
    }
    let plain = Aes128CbcDec::new_from_slices(&key, &iv)
        .map_err(|_| LegacyError::Malformed)?
        .decrypt_padded_mut::<Pkcs7>(&mut data)
        .map_err(|_| LegacyError::StaleSession)?;
    Ok(plain.to_vec())
}

/// Decrypts and checks a phone payload for `appid`; returns (national number, country code).
pub fn phone(
    session_key: &str,
    iv: &str,
    data: &str,
    appid: &str,
) -> Result<(String, String), LegacyError> {
    let plain = decrypt(session_key, iv, data)?;
    let phone: LegacyPhone =
        serde_json::from_slice(&plain).map_err(|_| LegacyError::StaleSession)?;
    if phone.watermark.appid != appid {
        return Err(LegacyError::WrongApp);
    }
    let cc = match &phone.country_code {
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => "86".to_string(),
    };
    Ok((phone.pure_phone_number, cc))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official sample (wechat-api.md §3.2).
    const KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

    #[test]
    fn the_official_sample_decrypts() {
        let plain = decrypt(KEY, IV, DATA).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(v["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert_eq!(v["unionId"], "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
        assert_eq!(v["watermark"]["appid"], "wx4f4bc4dec97d474b");
    }

    #[test]
    fn a_wrong_key_or_mangled_input_is_refused() {
        assert_eq!(
            decrypt("HyVFkGl5F5OQWJZZaNzBBg==", IV, DATA).err(),
            Some(LegacyError::StaleSession)
        );
        assert_eq!(
            decrypt(KEY, "AAAA", DATA).err(),
            Some(LegacyError::Malformed)
        );
        assert_eq!(
            decrypt(KEY, IV, "AAAAAAAA").err(),
            Some(LegacyError::Malformed)
        );
        assert_eq!(decrypt(KEY, IV, "%%%").err(), Some(LegacyError::Malformed));
        // The sample is a user-info payload: no phone fields, so it is not accepted as a phone.
        assert_eq!(
            phone(KEY, IV, DATA, "wx4f4bc4dec97d474b").err(),
            Some(LegacyError::StaleSession)
        );
    }
}
