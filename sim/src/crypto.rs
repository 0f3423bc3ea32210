//! The legacy `encryptedData` cipher (wechat-api.md §3.2): AES-128-CBC with PKCS#7 padding, keyed by
//! the base64-decoded `session_key`. The simulator only encrypts; the decrypt half exists to prove
//! the official test vector round-trips.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// Why a payload could not be produced: only a malformed key can cause it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadSessionKey;

/// Encrypts `plaintext` as WeChat does and returns `encryptedData` (base64).
pub(crate) fn encrypt(
    session_key: &str,
    iv: &[u8; 16],
    plaintext: &[u8],
) -> Result<String, BadSessionKey> {
    let key = decode_key(session_key)?;
    let cipher = Aes128CbcEnc::new(&key.into(), &(*iv).into());
    Ok(B64.encode(cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext)))
}

fn decode_key(session_key: &str) -> Result<[u8; 16], BadSessionKey> {
    let bytes = B64.decode(session_key).map_err(|_| BadSessionKey)?;
    <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| BadSessionKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockDecryptMut;

    type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

    // The official sample from the mini-program docs (also in WxJava's tests), wechat-api.md §3.2.
    const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const CIPHERTEXT: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    const PLAINTEXT: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

    fn iv() -> [u8; 16] {
        let bytes = B64.decode(IV).unwrap_or_default();
        <[u8; 16]>::try_from(bytes.as_slice()).unwrap_or([0; 16])
    }

    fn decrypt(session_key: &str, iv: &[u8; 16], encrypted: &str) -> Option<Vec<u8>> {
        let key = decode_key(session_key).ok()?;
        let ct = B64.decode(encrypted).ok()?;
        Aes128CbcDec::new(&key.into(), &(*iv).into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ct)
            .ok()
    }

    #[test]
    fn official_vector_encrypts_byte_for_byte() {
        let produced = encrypt(SESSION_KEY, &iv(), PLAINTEXT.as_bytes());
        assert_eq!(produced.as_deref(), Ok(CIPHERTEXT));
        assert_eq!(B64.decode(CIPHERTEXT).map(|ct| ct.len()).ok(), Some(400));
    }

    #[test]
    fn official_vector_decrypts_to_the_plaintext() {
        let plain = decrypt(SESSION_KEY, &iv(), CIPHERTEXT);
        assert_eq!(plain.as_deref(), Some(PLAINTEXT.as_bytes()));
    }

    #[test]
    fn a_rotated_key_does_not_decrypt_cleanly() {
        // What a gateway holding a stale session_key sees: garbage, a padding error or bad JSON.
        let other_key = "5tF5KuDigyB6e4m7FigHvw==";
        let plain = decrypt(other_key, &iv(), CIPHERTEXT);
        assert_ne!(plain.as_deref(), Some(PLAINTEXT.as_bytes()));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(encrypt("not base64!", &iv(), b"{}"), Err(BadSessionKey));
        assert_eq!(encrypt("AAAA", &iv(), b"{}"), Err(BadSessionKey));
    }
}
