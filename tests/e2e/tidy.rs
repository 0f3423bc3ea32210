//! The invariants of ARCHITECTURE.md that a reading of the source can check (rust-analyzer's
//! "tidy" tests): who may import what, and who may name the identity headers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its comments and without its test module: what ships. A
/// `#[cfg(test)]` that opens a block ends the shipped part (test modules come last); one before
/// an item (`mod tests;`, a test-only `use`) hides that item only.
fn shipped_code(text: &str) -> String {
    let mut kept = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            match lines.next() {
                Some(item) if item.trim_end().ends_with('{') => break,
                _ => continue,
            }
        }
        if !line.trim_start().starts_with("//") {
            kept.push(line);
        }
    }
    kept.join("\n")
}

#[test]
fn shipped_code_reads_past_a_test_only_item_and_stops_at_the_test_module() {
    let text =
        "use a;\n#[cfg(test)]\nmod tests;\n// said\nuse b;\n#[cfg(test)]\nmod t {\n    use c;\n}\n";
    assert_eq!(shipped_code(text), "use a;\nuse b;");
}

fn offenders(dir: &str, forbidden: &[&str], skip_tests_files: bool) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources(&root().join(dir)) {
        if skip_tests_files && path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let code = shipped_code(&text);
        for needle in forbidden {
            if code.contains(needle) {
                found.push(format!("{} names {needle:?}", path.display()));
            }
        }
    }
    found
}

#[test]
fn the_core_knows_no_http() {
    let found = offenders("core/src", &["pingora", "http::", "reqwest", "axum"], false);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn providers_never_touch_the_store_tokens_sessions_or_http() {
    let found = offenders(
        "providers/src",
        &[
            "wxgate_core::store",
            "wxgate_core::token",
            "wxgate_core::auth",
            "wxgate_core::identity",
            "pingora",
            "Cookie",
            "cookie",
            "Set-Cookie",
        ],
        false,
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_headers_rs_names_identity_headers() {
    let mut found = Vec::new();
    for (path, text) in sources(&root().join("gateway/src")) {
        if path.ends_with("headers.rs") || path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let code = shipped_code(&text).to_ascii_lowercase();
        if code.contains("\"x-auth-") || code.contains("\"x_auth_") {
            found.push(path.display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "identity header names outside headers.rs: {found:#?}"
    );
}

/// A kind is named only by its own module (`providers/src/<kind>/`): the gateway and the rest
/// of the providers ask `ChannelConfig` and `KindConfig`, so a new kind is its module and one
/// `kinds!` line, with no match on kinds to extend anywhere else.
#[test]
fn only_a_kind_s_own_module_names_it() {
    let kinds = wxgate_providers::registry::ChannelConfig::KINDS;
    assert!(kinds.len() >= 4, "{kinds:?}");
    let mut found = Vec::new();
    for dir in ["gateway/src", "providers/src"] {
        for (path, text) in sources(&root().join(dir)) {
            let rel = path.strip_prefix(root()).unwrap();
            let in_tests = rel.iter().any(|p| p == "tests") || rel.ends_with("tests.rs");
            let code = shipped_code(&text);
            for kind in kinds {
                let own = path.starts_with(root().join("providers/src").join(kind));
                if !own && !in_tests && code.contains(&format!("\"{kind}\"")) {
                    found.push(format!("{} names {kind:?}", path.display()));
                }
            }
            // A match on the variants is a list of kinds.
            if !in_tests && !path.ends_with("registry.rs") {
                for line in code.lines().filter(|l| l.contains("ChannelConfig::")) {
                    let after = line.split("ChannelConfig::").nth(1).unwrap_or("");
                    if after.starts_with(|c: char| c.is_ascii_uppercase())
                        && !after.starts_with("KINDS")
                    {
                        found.push(format!(
                            "{} matches a kind: {}",
                            path.display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// The gateway's modules in layers: a module imports only modules of lower layers, so
/// imports point one way (`proxy` → `endpoints` → `channels` → `verify` → `state` → …).
const LAYERS: &[(&str, u8)] = &[
    ("access_log", 0),
    ("request_id", 0),
    ("adapters", 0),
    ("client", 0),
    ("cookies", 0),
    ("html", 0),
    ("metrics", 0),
    ("path", 0),
    ("return_to", 1),
    ("revocation", 0),
    ("throttle", 0),
    ("views", 0),
    ("tls", 0),
    ("hsts", 0),
    ("transport", 1),
    ("headers", 1),
    ("rescue", 1),
    ("respond", 2),
    ("config", 2),
    ("flow", 2),
    ("tickets", 2),
    ("upstream", 3),
    ("routes", 4),
    ("webhooks", 3),
    ("state", 5),
    ("request", 6),
    ("login_page", 7),
    ("verify", 6),
    ("channels", 8),
    ("oidc", 8),
    ("endpoints", 9),
    ("proxy", 10),
    ("app", 11),
    ("admin", 11),
    ("events_admin", 11),
    ("lib", 12),
    ("main", 12),
];

#[test]
fn gateway_imports_point_one_way() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let src = root().join("gateway/src");
    let mut problems = Vec::new();
    for (path, text) in sources(&src) {
        let relative = path.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(&own) = layer.get(module.as_str()) else {
            problems.push(format!("{module}: not in LAYERS; give it a layer"));
            continue;
        };
        let code = shipped_code(&text);
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() || name == module {
                continue;
            }
            match layer.get(name.as_str()) {
                Some(&theirs) if theirs < own => {}
                Some(&theirs) => problems.push(format!(
                    "{} (layer {own}) imports crate::{name} (layer {theirs})",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{}: crate::{name} has no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_tidy_checks_do_find_offenders() {
    // The checks above would pass on empty input; make sure they read real files.
    assert!(sources(&root().join("gateway/src")).len() > 20);
    assert!(!offenders("gateway/src", &["crate::state"], false).is_empty());
    assert_eq!(shipped_code("a\n// crate::x\n#[cfg(test)]\nmod t {}"), "a");
}

/// No Rust file of the project grows past this many lines: one that does is doing two jobs
/// (split it by subject, as `config/` is by section and the e2e suites are by folder).
const MAX_LINES: usize = 700;

#[test]
fn every_file_keeps_within_its_size_budget() {
    let mut checked = 0;
    let mut over = Vec::new();
    for dir in [
        "core",
        "providers",
        "gateway",
        "sim",
        "tests/src",
        "tests/e2e",
        "tests/examples",
        "fuzz/fuzz_targets",
    ] {
        for (path, text) in sources(&root().join(dir)) {
            checked += 1;
            let lines = text.lines().count();
            if lines > MAX_LINES {
                over.push(format!("{}: {lines} lines", path.display()));
            }
        }
    }
    assert!(checked > 100, "read {checked} files");
    assert!(over.is_empty(), "over {MAX_LINES} lines: {over:#?}");
}
