//! The phone normaliser: never panics; an accepted number is E.164 (`+` and 7 to 15 digits),
//! mainland numbers are 11 digits starting 13-19, parsing is idempotent and masking is safe.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wxgate_core::model::Phone;

fuzz_target!(|input: (&str, &str)| {
    let (raw, default_cc) = input;
    if let Ok(phone) = Phone::parse(raw, default_cc) {
        let s = phone.as_str();
        let digits = s.strip_prefix('+').expect("E.164 starts with +");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
        assert!((7..=15).contains(&digits.len()), "{s:?}");
        assert!(!digits.starts_with('0'));
        if let Some(national) = digits.strip_prefix("86") {
            assert_eq!(national.len(), 11, "{s:?}");
            assert!(national.starts_with('1'));
        }
        assert_eq!(
            Phone::parse(s, default_cc).as_ref().map(Phone::as_str),
            Ok(s)
        );
        let masked = phone.masked();
        assert_eq!(masked.len(), s.len());
        assert!(masked.ends_with(&s[s.len() - 4..]));
    }
});
