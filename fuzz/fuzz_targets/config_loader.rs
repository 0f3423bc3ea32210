//! The config loader: any text, any environment, never panics; what it accepts loads the same
//! way twice.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use wxgate::config::load_str;

fuzz_target!(|input: (&str, Vec<(String, String)>)| {
    let (text, vars) = input;
    let env: HashMap<String, String> = vars.into_iter().take(8).collect();
    if let Ok(config) = load_str(text, "fuzz.toml", &env) {
        let again = load_str(text, "fuzz.toml", &env).expect("accepted once, accepted again");
        assert_eq!(format!("{config:?}"), format!("{again:?}"));
    }
});
