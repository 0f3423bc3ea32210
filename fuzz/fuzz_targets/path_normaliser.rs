//! The path normaliser: never panics; what it returns is absolute, clean and a fixed point, so
//! the path that matched a route is the path the upstream reads.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wxgate::path::{is_clean, normalise};

fuzz_target!(|raw: &str| {
    if is_clean(raw) {
        assert_eq!(
            normalise(raw).as_deref(),
            Ok(raw),
            "a clean path is its own normalisation"
        );
    }
    if let Ok(path) = normalise(raw) {
        assert!(path.starts_with('/'));
        assert!(!path.contains("//"), "{path:?}");
        assert!(!path.split('/').any(|s| s == "." || s == ".."), "{path:?}");
        assert!(!path.bytes().any(|b| b < 0x20
            || b == 0x7f
            || b >= 0x80
            || b == b'\\'
            || b == b';'));
        let lower = path.to_ascii_lowercase();
        assert!(!lower.contains("%2f") && !lower.contains("%5c") && !lower.contains("%00"));
        assert_eq!(
            normalise(&path),
            Ok(path.clone()),
            "normalising twice changes nothing"
        );
    }
});
