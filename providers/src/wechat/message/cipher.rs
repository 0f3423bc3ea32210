//! Safe mode's cipher (wechat-api.md §12.2): key = base64(EncodingAESKey + "="), AES-256-CBC
//! with IV = key[0..16], PKCS#7 padding to 32-byte blocks; the plaintext is 16 random bytes,
//! the message's length (4 bytes, big-endian), the message, and the AppID.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// An EncodingAESKey's last character carries 2 bits past the key's 32 bytes; WeChat picks
/// them freely, so they are ignored rather than refused.
const KEY_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

type Decryptor = cbc::Decryptor<aes::Aes256>;
type Encryptor = cbc::Encryptor<aes::Aes256>;

/// WeChat pads to this, not to AES's 16-byte block.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;

/// One EncodingAESKey, decoded.
#[derive(Clone)]
pub struct MessageKey([u8; 32]);

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageKey(***)")
    }
}

/// A sealed message, opened: what it says and whose it claims to be.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    pub message: String,
    pub appid: String,
}

/// Why a ciphertext did not open. Deliberately vague: which check failed is no business of
/// whoever sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

impl MessageKey {
    /// The 43-character EncodingAESKey from the account's settings; `None` if it is not one.
    pub fn from_encoding_aes_key(text: &str) -> Option<Self> {
        if text.len() != 43 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let bytes = KEY_B64.decode(format!("{text}=")).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Self)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }

    /// Opens an `Encrypt` text.
    pub fn open(&self, encrypt: &str) -> Result<Opened, Unreadable> {
        let sealed = B64.decode(encrypt.trim()).map_err(|_| Unreadable)?;
        if sealed.is_empty() || sealed.len() % PAD_BLOCK != 0 {
            return Err(Unreadable);
        }
        let plain = Decryptor::new(&self.0.into(), &self.iv().into())
            .decrypt_padded_vec_mut::<NoPadding>(&sealed)
            .map_err(|_| Unreadable)?;
        // Only the last byte is read, as WeChat's own code does: the ciphertext was already
        // authenticated by msg_signature, so the padding carries no security.
        let pad = usize::from(*plain.last().ok_or(Unreadable)?);
        if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
            return Err(Unreadable);
        }
        let body = &plain[..plain.len() - pad];
        let rest = body.get(RANDOM_LEN..).ok_or(Unreadable)?;
        let (len, rest) = rest.split_at_checked(4).ok_or(Unreadable)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (message, appid) = rest.split_at_checked(len).ok_or(Unreadable)?;
        Ok(Opened {
            message: String::from_utf8(message.to_vec()).map_err(|_| Unreadable)?,
            appid: String::from_utf8(appid.to_vec()).map_err(|_| Unreadable)?,
        })
    }

    /// Seals `message` for `appid` behind `random` (16 fresh random bytes in use; fixed ones
    /// in the vector test) and returns the `Encrypt` text.
    pub fn seal(&self, message: &str, appid: &str, random: [u8; RANDOM_LEN]) -> String {
        let mut plain = Vec::with_capacity(RANDOM_LEN + 4 + message.len() + appid.len() + 32);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let sealed = Encryptor::new(&self.0.into(), &self.iv().into())
            .encrypt_padded_vec_mut::<NoPadding>(&plain);
        B64.encode(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // wechat-api.md §12.2, the worked vector.
    pub(crate) const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    pub(crate) const APPID: &str = "wx0000000000000002";
    pub(crate) const MESSAGE: &str = "<xml><ToUserName><![CDATA[gh_0000000000aa]]></ToUserName><FromUserName><![CDATA[oOA-alice-openid]]></FromUserName><CreateTime>1796040000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR]]></EventKey><Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2RtWk1]]></Ticket></xml>";
    pub(crate) const ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDP416U7c008c6+bv43/4vqkmuEAQcQdQeJUX3Xku1KYlekJvrsAcOmeg3LadSoxFD5gXJU2Ubnc1K1yTF+NpLnF2V7NY1CQukinwt4HWA/xs1P8UvtrR5czFzcjV8FbnJBu1G0nbNbuAsX5zDD/4qbNU+6LhicNmiganyXtPxkg6im8sSH9UAy15mhM2DMcogfXliaGYHTTSswi1qhRGaLOsdd8cERIU+B22oSETwwtZeX3lKSX57uaFWNPXEy+Xy/oJTt9CJ1ItP54YSEDAjlXvRyxFwBK7a0PnSQT7IxjQ86hC8hoZL1mJFuqS/4wEVxn30asU6eGG46EmRNmplXTx9g57rA6CAUwucxss70LW+A4JL7sgDOXIKr3JjgXg8CEfpBhQfB/vwQCNh/1b0R9rxXng0o90DwbMo5k3Kjrgaq2Xa+av4jBcycZtdsoTIoipPPos5Ai2ebLZfctPPTH1nYO0bszXF8efQJvyPFflP6S/XqMNAWys4zvg9ltMIfzkj1N581PNVDuAG3eP30o=";

    fn key() -> MessageKey {
        MessageKey::from_encoding_aes_key(KEY).unwrap()
    }

    #[test]
    fn the_vector_seals_to_the_documented_text() {
        assert_eq!(key().seal(MESSAGE, APPID, *b"0123456789abcdef"), ENCRYPT);
    }

    #[test]
    fn the_vector_opens_to_its_message_and_appid() {
        let opened = key().open(ENCRYPT).unwrap();
        assert_eq!(opened.message, MESSAGE);
        assert_eq!(opened.appid, APPID);
    }

    #[test]
    fn a_sealed_reply_opens_back() {
        let reply = "<xml><Content><![CDATA[登录成功 · signed in]]></Content></xml>";
        let sealed = key().seal(reply, APPID, rand::random());
        assert_eq!(
            key().open(&sealed).unwrap(),
            Opened {
                message: reply.into(),
                appid: APPID.into()
            }
        );
    }

    #[test]
    fn keys_that_are_not_encoding_aes_keys_are_refused() {
        assert!(MessageKey::from_encoding_aes_key("short").is_none());
        assert!(MessageKey::from_encoding_aes_key(&format!("{KEY}A")).is_none());
        assert!(
            MessageKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDE+G")
                .is_none()
        );
    }

    #[test]
    fn another_key_or_a_damaged_text_does_not_open() {
        let other =
            MessageKey::from_encoding_aes_key("zyxwvutsrqponmlkjihgfedcba9876543210ABCDEFG")
                .unwrap();
        assert!(other
            .open(ENCRYPT)
            .map(|o| o.message != MESSAGE)
            .unwrap_or(true));
        for damaged in ["", "not base64!", &ENCRYPT[..ENCRYPT.len() - 8], "AAAA"] {
            assert_eq!(key().open(damaged), Err(Unreadable), "{damaged}");
        }
    }

    #[test]
    fn a_length_past_the_end_is_unreadable_not_a_panic() {
        let mut plain = vec![0u8; 16];
        plain.extend_from_slice(&u32::MAX.to_be_bytes());
        plain.extend_from_slice(b"x");
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, pad as u8);
        let k = key();
        let sealed =
            Encryptor::new(&k.0.into(), &k.iv().into()).encrypt_padded_vec_mut::<NoPadding>(&plain);
        assert_eq!(k.open(&B64.encode(sealed)), Err(Unreadable));
    }
}
