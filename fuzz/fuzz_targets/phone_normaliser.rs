//! The phone parser: never panics; an accepted number is E.164 (`+` and at most 17 digits, no
//! leading 0) of a known region, parsing it again gives it back (one canonical form), and
//! masking is safe.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wxgate_core::phone::{Phone, Region};

fuzz_target!(|input: (&str, &str)| {
    let (raw, region) = input;
    let region = Region::from_code(region).unwrap_or(Region::CN);
    if let Ok(parsed) = Phone::parse(raw, region) {
        let s = parsed.phone.as_str();
        let digits = s.strip_prefix('+').expect("E.164 starts with +");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
        assert!((3..=20).contains(&digits.len()), "{s:?}");
        assert!(!digits.starts_with('0'));
        let again = Phone::parse(s, region).expect("canonical form parses");
        assert_eq!(again, parsed, "one canonical form");
        assert!(Phone::stored_is_canonical(s));
        let masked = parsed.phone.masked();
        assert_eq!(masked.len(), s.len());
        assert!(masked.ends_with(&s[s.len() - 4..]));
    }
});
