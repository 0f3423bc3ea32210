//! `wxgate check` on the files TLS needs: each readable, each key matching its certificate,
//! none expired, a warning under 14 days; an upstream's `ca_file` and client certificate too.

use std::time::{SystemTime, UNIX_EPOCH};

use super::certs::{self, CertPaths};

/// Days before expiry that `check` warns at.
pub const WARN_DAYS: i64 = 14;

/// What `check` found: lines to print, and whether any is an error.
#[derive(Debug, Default)]
pub struct Findings {
    pub lines: Vec<String>,
    pub errors: usize,
}

impl Findings {
    fn error(&mut self, line: String) {
        self.errors += 1;
        self.lines.push(format!("error: {line}"));
    }
}

/// Checks the listener's pairs (`served`, labelled by key path) and the upstreams' files.
pub fn check(
    served: &[(String, CertPaths)],
    upstream_cas: &[(String, std::path::PathBuf)],
    upstream_clients: &[(String, CertPaths)],
) -> Findings {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut out = Findings::default();
    for (key, paths) in served.iter().chain(upstream_clients) {
        match certs::load(paths) {
            Err(e) => out.error(format!("{key}: {e}")),
            Ok(cert) => judge_dates(
                &mut out,
                key,
                &paths.cert,
                &cert.names,
                cert.not_before,
                cert.not_after,
                now,
            ),
        }
    }
    for (key, path) in upstream_cas {
        match certs::read_chain(path) {
            Err(e) => out.error(format!("{key}: {e}")),
            Ok(chain) => {
                for der in chain {
                    if let Ok(facts) = certs::LeafFacts::read(&der) {
                        judge_dates(
                            &mut out,
                            key,
                            path,
                            &facts.names,
                            facts.not_before,
                            facts.not_after,
                            now,
                        );
                    }
                }
            }
        }
    }
    out
}

fn judge_dates(
    out: &mut Findings,
    key: &str,
    file: &std::path::Path,
    names: &[String],
    not_before: i64,
    not_after: i64,
    now: i64,
) {
    let days_left = (not_after - now).div_euclid(86_400);
    let file = file.display();
    if not_after <= now {
        // Whole days since it expired: a day and a second ago is one day ago.
        let days_ago = (now - not_after) / 86_400;
        out.error(format!("{key}: {file} expired {days_ago} day(s) ago"));
    } else if not_before > now {
        out.error(format!("{key}: {file} is not valid yet"));
    } else if days_left < WARN_DAYS {
        out.lines.push(format!(
            "warning: {key}: {file} expires in {days_left} day(s); renew it"
        ));
    } else {
        out.lines.push(format!(
            "{key}: {file} ok for {} ({days_left} days left)",
            names.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(not_after: i64, now: i64) -> String {
        let mut out = Findings {
            lines: Vec::new(),
            errors: 0,
        };
        let file = std::path::Path::new("c.pem");
        judge_dates(&mut out, "k", file, &[], 0, not_after, now);
        out.lines.join("\n")
    }

    #[test]
    fn expiry_is_told_in_whole_days() {
        let now = 1_800_000_000;
        assert!(said(now - 86_400 - 5, now).contains("expired 1 day(s) ago"));
        assert!(said(now - 5, now).contains("expired 0 day(s) ago"));
        assert!(said(now + 3 * 86_400 + 5, now).contains("expires in 3 day(s)"));
        assert!(said(now + 30 * 86_400, now).contains("(30 days left)"));
    }
}
