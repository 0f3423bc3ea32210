//! The official account's message crypto (wechat-api.md §12.2): the SHA-1 signatures of the
//! server URL and the AES-256-CBC `<Encrypt>` envelope of pushes and passive replies.
//!
//! key = base64decode(EncodingAESKey + "="), IV = key[0..16], PKCS#7 padding to 32-byte blocks;
//! plaintext = 16 random bytes ‖ 4-byte big-endian message length ‖ message ‖ AppID.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use sha1::{Digest as _, Sha1};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// WeChat pads to 32 bytes, not the cipher's 16 (its PKCS7Encoder uses BLOCK_SIZE = 32).
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LENGTH_LEN: usize = 4;

/// The EncodingAESKey is 43 characters whose last one carries bits past the 32 bytes: a strict
/// decoder rejects most real keys, so decode as WeChat's Java SDK does, ignoring those bits.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CryptError {
    /// Not 43 characters of base64 decoding to 32 bytes.
    BadKey,
    /// Not base64, or not whole cipher blocks.
    BadCiphertext,
    /// The padding or the length prefix does not fit the plaintext.
    BadPlaintext,
    /// A message longer than the 4-byte length prefix can say.
    TooLong,
}

/// A decrypted envelope: the message and the AppID it was sealed for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) message: String,
    pub(crate) appid: String,
}

/// The AES key of an official account's server URL configuration.
#[derive(Debug, Clone)]
pub(crate) struct MessageKey([u8; 32]);

impl MessageKey {
    pub(crate) fn parse(encoding_aes_key: &str) -> Result<Self, CryptError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptError::BadKey);
        }
        let bytes = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptError::BadKey)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| CryptError::BadKey)
    }

    /// The base64 `<Encrypt>` of `message` sealed for `appid`, with the given random prefix.
    pub(crate) fn encrypt(
        &self,
        random: &[u8; RANDOM_LEN],
        message: &str,
        appid: &str,
    ) -> Result<String, CryptError> {
        let length = u32::try_from(message.len()).map_err(|_| CryptError::TooLong)?;
        let mut plain = Vec::with_capacity(RANDOM_LEN + LENGTH_LEN + message.len() + appid.len());
        plain.extend_from_slice(random);
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        // 1..=32, so it always fits a byte.
        let pad_byte = u8::try_from(pad).map_err(|_| CryptError::TooLong)?;
        plain.resize(plain.len() + pad, pad_byte);
        let cipher = Aes256CbcEnc::new_from_slices(&self.0, &self.0[..16])
            .map_err(|_| CryptError::BadKey)?;
        Ok(STANDARD.encode(cipher.encrypt_padded_vec_mut::<NoPadding>(&plain)))
    }

    /// Opens an `<Encrypt>`; checking the AppID is the caller's business.
    pub(crate) fn decrypt(&self, encrypt: &str) -> Result<Opened, CryptError> {
        let sealed = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptError::BadCiphertext)?;
        if sealed.is_empty() || sealed.len() % 16 != 0 {
            return Err(CryptError::BadCiphertext);
        }
        let cipher = Aes256CbcDec::new_from_slices(&self.0, &self.0[..16])
            .map_err(|_| CryptError::BadKey)?;
        let plain = cipher
            .decrypt_padded_vec_mut::<NoPadding>(&sealed)
            .map_err(|_| CryptError::BadCiphertext)?;
        let pad = usize::from(*plain.last().ok_or(CryptError::BadPlaintext)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptError::BadPlaintext);
        }
        let content = plain
            .get(RANDOM_LEN..plain.len() - pad)
            .ok_or(CryptError::BadPlaintext)?;
        let (length, rest) = content
            .split_first_chunk::<LENGTH_LEN>()
            .ok_or(CryptError::BadPlaintext)?;
        let length =
            usize::try_from(u32::from_be_bytes(*length)).map_err(|_| CryptError::BadPlaintext)?;
        if length > rest.len() {
            return Err(CryptError::BadPlaintext);
        }
        let (message, appid) = rest.split_at(length);
        Ok(Opened {
            message: String::from_utf8(message.to_vec()).map_err(|_| CryptError::BadPlaintext)?,
            appid: String::from_utf8(appid.to_vec()).map_err(|_| CryptError::BadPlaintext)?,
        })
    }
}

/// `sha1(sorted(parts) joined)` in lowercase hex: the URL `signature` (token, timestamp, nonce)
/// and, with the `<Encrypt>` added, the `msg_signature`.
pub(crate) fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    Sha1::digest(sorted.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked vector of wechat-api.md §12.2.
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wx0000000000000002";
    const TOKEN: &str = "wxgate-token";
    const TIMESTAMP: &str = "1796040000";
    const NONCE: &str = "1320562132";
    const RANDOM: &[u8; 16] = b"0123456789abcdef";
    const MESSAGE: &str = "<xml><ToUserName><![CDATA[gh_0000000000aa]]></ToUserName><FromUserName><![CDATA[oOA-alice-openid]]></FromUserName><CreateTime>1796040000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR]]></EventKey><Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2RtWk1]]></Ticket></xml>";
    const ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDP416U7c008c6+bv43/4vqkmuEAQcQdQeJUX3Xku1KYlekJvrsAcOmeg3LadSoxFD5gXJU2Ubnc1K1yTF+NpLnF2V7NY1CQukinwt4HWA/xs1P8UvtrR5czFzcjV8FbnJBu1G0nbNbuAsX5zDD/4qbNU+6LhicNmiganyXtPxkg6im8sSH9UAy15mhM2DMcogfXliaGYHTTSswi1qhRGaLOsdd8cERIU+B22oSETwwtZeX3lKSX57uaFWNPXEy+Xy/oJTt9CJ1ItP54YSEDAjlXvRyxFwBK7a0PnSQT7IxjQ86hC8hoZL1mJFuqS/4wEVxn30asU6eGG46EmRNmplXTx9g57rA6CAUwucxss70LW+A4JL7sgDOXIKr3JjgXg8CEfpBhQfB/vwQCNh/1b0R9rxXng0o90DwbMo5k3Kjrgaq2Xa+av4jBcycZtdsoTIoipPPos5Ai2ebLZfctPPTH1nYO0bszXF8efQJvyPFflP6S/XqMNAWys4zvg9ltMIfzkj1N581PNVDuAG3eP30o=";

    fn key() -> MessageKey {
        MessageKey::parse(KEY).unwrap_or(MessageKey([0; 32]))
    }

    #[test]
    fn the_worked_vector_encrypts_byte_for_byte() {
        assert!(MessageKey::parse(KEY).is_ok());
        assert_eq!(
            key().encrypt(RANDOM, MESSAGE, APPID).as_deref(),
            Ok(ENCRYPT)
        );
        assert_eq!(
            signature(&[TOKEN, TIMESTAMP, NONCE, ENCRYPT]),
            "0d7e848f9dd7c2baf80d9c5f7521a0f5958ecc5e"
        );
        assert_eq!(
            signature(&[TOKEN, TIMESTAMP, NONCE]),
            "caaa7beaf2f1fd178286751c283d3cf5ad913b4b"
        );
    }

    #[test]
    fn the_worked_vector_decrypts_to_message_and_appid() {
        assert_eq!(
            key().decrypt(ENCRYPT),
            Ok(Opened {
                message: MESSAGE.to_owned(),
                appid: APPID.to_owned(),
            })
        );
    }

    #[test]
    fn padding_fills_whole_32_byte_blocks_even_when_aligned() {
        // 16 + 4 + 12 + 0 = 32 bytes: a whole block of padding (32 × 0x20) is added.
        let sealed = key()
            .encrypt(RANDOM, "twelve bytes", "")
            .unwrap_or_default();
        assert_eq!(STANDARD.decode(&sealed).map(|b| b.len()).ok(), Some(64));
        let opened = key().decrypt(&sealed);
        assert_eq!(opened.map(|o| o.message).as_deref(), Ok("twelve bytes"));
    }

    #[test]
    fn bad_keys_and_ciphertexts_are_refused() {
        assert_eq!(MessageKey::parse("short").err(), Some(CryptError::BadKey));
        assert_eq!(
            MessageKey::parse(&"!".repeat(43)).err(),
            Some(CryptError::BadKey)
        );
        assert_eq!(
            key().decrypt("not base64!").err(),
            Some(CryptError::BadCiphertext)
        );
        assert_eq!(
            key().decrypt(&STANDARD.encode([0u8; 20])).err(),
            Some(CryptError::BadCiphertext)
        );
        let other = MessageKey::parse("wxgateDevEncodingAESKey0123456789abcdefghij");
        let opened = other.map(|k| k.decrypt(ENCRYPT).map(|o| o.message));
        assert_ne!(opened, Ok(Ok(MESSAGE.to_owned())));
    }
}
