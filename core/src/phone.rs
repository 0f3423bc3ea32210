//! Phone numbers as the numbering plans define them. Parsing, validity and the kind of line come
//! from libphonenumber's metadata (the `phonenumber` crate), never from hand-written rules; the
//! one thing decided here is which characters a person may type around the digits.
//!
//! Every number has one canonical form, E.164 (`+8613800138000`): a trunk prefix kept after the
//! country code (`+44 07400 123456`), spaces, dashes and full-width digits all end in the same
//! string, so one phone can never be two "phones" (and two accounts).

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex::{Regex, RegexBuilder};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// Longer input is refused unread: no number, however it is written, needs this much.
const MAX_INPUT_CHARS: usize = 64;

/// A phone number in canonical E.164. Only built by [`Phone::parse`] (or read back from storage,
/// where it was written by it), so holding one means it was valid; whether it was *verified* is
/// the caller's claim, carried by the type it sits in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

/// A region of the numbering plans: an ISO 3166 code (`CN`), or `001` for non-geographic
/// numbering (international freephone and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(&'static str);

/// What kind of line a number is, by its region's plan. Only mobiles can be trusted to receive a
/// text; where a plan cannot tell fixed lines from mobiles (`FixedLineOrMobile`: the US, …) the
/// number gets the benefit of the doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

/// A number that passed [`Phone::parse`], with what its plan says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPhone {
    pub phone: Phone,
    pub region: Region,
    pub line: LineType,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number is longer than {MAX_INPUT_CHARS} characters")]
    TooLong,
    #[error(
        "phone number may hold only digits, spaces, '-', '.', '(', ')' and a leading '+' (no letters or extensions)"
    )]
    Characters,
    #[error("not a valid phone number in {0}'s numbering plan")]
    Invalid(&'static str),
}

impl Region {
    /// Mainland China, the default of every phone channel.
    pub const CN: Region = Region("CN");

    /// The region for an ISO 3166 code the numbering plans know (`"cn"` or `"CN"`).
    pub fn from_code(code: &str) -> Option<Self> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() != 2 {
            return None;
        }
        DATABASE.by_id(upper.as_str()).map(|m| Region(m.id()))
    }

    /// The main region of a country calling code (`"86"` → `CN`, `"1"` → `US`).
    pub fn for_calling_code(code: &str) -> Option<Self> {
        let code: u16 = code.trim().parse().ok()?;
        let regions = DATABASE.region(&code)?;
        let main = DATABASE
            .by_code(&code)?
            .into_iter()
            .find(|m| m.is_main_country_for_code());
        let id = main
            .map(Metadata::id)
            .or_else(|| regions.first().copied())?;
        (id != "001").then(|| DATABASE.by_id(id).map(|m| Region(m.id())))?
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    fn metadata(&self) -> Option<&'static Metadata> {
        DATABASE.by_id(self.0)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl LineType {
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::FixedLine => "fixed_line",
            LineType::Mobile => "mobile",
            LineType::FixedLineOrMobile => "fixed_line_or_mobile",
            LineType::TollFree => "toll_free",
            LineType::PremiumRate => "premium_rate",
            LineType::SharedCost => "shared_cost",
            LineType::Voip => "voip",
            LineType::PersonalNumber => "personal_number",
            LineType::Pager => "pager",
            LineType::Uan => "uan",
            LineType::Voicemail => "voicemail",
            LineType::Unknown => "unknown",
        }
    }

    /// Whether a text sent to such a line reaches a person's phone.
    pub fn receives_sms(self) -> bool {
        matches!(self, LineType::Mobile | LineType::FixedLineOrMobile)
    }
}

impl Phone {
    /// Parses what a person typed, `default_region` giving the country of a number written
    /// without `+` or `00`. Accepted around the digits: spaces (also full-width), `-`, `.`,
    /// `(`, `)`, full-width digits, a leading `+` (or `＋`), `00` and the region's trunk prefix.
    /// Letters (vanity numbers), extensions, URIs and any other character are refused.
    pub fn parse(input: &str, default_region: Region) -> Result<ParsedPhone, PhoneError> {
        let digits = clean(input)?;
        let invalid = PhoneError::Invalid(default_region.0);
        let (code, national) = split(&digits, default_region).ok_or(invalid.clone())?;
        classify(code, &national).ok_or(invalid)
    }

    /// Parses a number that carries its country code (`+8613800138000`), as WeChat reports a
    /// verified phone: country code and national number, joined.
    pub fn parse_international(
        country_code: &str,
        national: &str,
    ) -> Result<ParsedPhone, PhoneError> {
        let cc = country_code.trim().trim_start_matches('+');
        if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::Characters);
        }
        let digits = clean(&format!("+{cc} {national}"))?;
        let region = Region::for_calling_code(cc).ok_or(PhoneError::Invalid("its"))?;
        let (code, national) = split(&digits, region).ok_or(PhoneError::Invalid("its"))?;
        classify(code, &national).ok_or(PhoneError::Invalid("its"))
    }

    /// Rebuilds a phone read back from storage (validated when it was written).
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    /// Whether a stored value is what [`Phone::parse`] makes of it today: an older parser may
    /// have kept a trunk prefix, or accepted a number no plan has.
    pub fn stored_is_canonical(stored: &str) -> bool {
        // A stored value starts with `+`: the default region plays no part.
        let Some(any) = Region::from_code("CN") else {
            return false;
        };
        stored.starts_with('+') && Phone::parse(stored, any).is_ok_and(|p| p.phone.0 == stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: keeps the country code (for +86) and the last 4 digits (`+86*******8000`).
    pub fn masked(&self) -> String {
        let s = &self.0;
        let cc_end = if s.starts_with("+86") { 3 } else { 1 }.min(s.len());
        let keep = 4.min(s.len() - cc_end);
        let hidden = s.len() - cc_end - keep;
        format!(
            "{}{}{}",
            &s[..cc_end],
            "*".repeat(hidden),
            &s[s.len() - keep..]
        )
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The digits of `input` (ASCII), with a leading `+` when it had one; refuses every character
/// a person does not type around a phone number.
fn clean(input: &str) -> Result<String, PhoneError> {
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(PhoneError::TooLong);
    }
    let trimmed = input.trim_matches(|c: char| c.is_whitespace());
    let (plus, body) = match trimmed.strip_prefix(['+', '\u{ff0b}']) {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut out = String::with_capacity(body.len() + 1);
    if plus {
        out.push('+');
    }
    for c in body.chars() {
        match c {
            '0'..='9' => out.push(c),
            '\u{ff10}'..='\u{ff19}' => {
                out.push(char::from(b'0' + (u32::from(c) - 0xff10) as u8));
            }
            ' ' | '-' | '.' | '(' | ')' => {}
            // Ideographic space and full-width punctuation, and the Unicode dashes that
            // phones and word processors substitute for '-'.
            '\u{3000}' | '\u{ff0d}' | '\u{ff0e}' | '\u{ff08}' | '\u{ff09}' => {}
            '\u{2010}'..='\u{2014}' => {}
            _ => return Err(PhoneError::Characters),
        }
    }
    if out.len() == usize::from(plus) {
        return Err(if trimmed.is_empty() {
            PhoneError::Empty
        } else {
            PhoneError::Characters
        });
    }
    Ok(out)
}

/// Country calling code and national significant number of `digits` (from [`clean`]), the
/// way libphonenumber's `parse` finds them: a `+`, or the default region's international call
/// prefix (`00` in China, `011` in the US), or the default region's own country code written
/// without either, else a national number of the default region; then the trunk prefix (and
/// any carrier code) of that country's plan is removed where what remains is still viable.
///
/// The `phonenumber` crate's own `parse` is not used: under a default region it strips that
/// region's trunk prefix from any country's number (`+44 121…` under `CN` loses digits), and it
/// strips a trunk prefix a second time regardless (`+375 801…` becomes `01…`). The metadata it
/// carries is used as it is.
fn split(digits: &str, default_region: Region) -> Option<(u16, String)> {
    let default_meta = default_region.metadata()?;
    let international = digits.strip_prefix('+').or_else(|| {
        let idd = default_meta.international_prefix()?;
        let end = anchored_start(idd.as_str())?.find(digits)?.end();
        // No country code starts with 0: then it was not a call prefix after all.
        let rest = &digits[end..];
        (!rest.is_empty() && !rest.starts_with('0')).then_some(rest)
    });
    let (code, mut national, meta) = match international {
        Some(rest) => {
            if rest.len() <= 2 || rest.starts_with('0') {
                return None;
            }
            let (code, national) = (1..=3.min(rest.len())).find_map(|n| {
                let code: u16 = rest[..n].parse().ok()?;
                DATABASE
                    .region(&code)
                    .map(|_| (code, rest[n..].to_string()))
            })?;
            (code, national, main_metadata(code)?)
        }
        None => {
            let code = default_meta.country_code();
            let national = digits
                .strip_prefix(code.to_string().as_str())
                .and_then(|rest| {
                    // Written with the country code but no `+`: believed only when that reads
                    // better than the whole as a national number.
                    let mut potential = rest.to_string();
                    strip_trunk_prefix(&mut potential, default_meta);
                    let general = default_meta.descriptors().general();
                    let better =
                        !pattern_matches(general, digits) && pattern_matches(general, &potential);
                    (better || length_of(digits, default_meta) == Length::TooLong)
                        .then_some(potential)
                })
                .unwrap_or_else(|| digits.to_string());
            (code, national, default_meta)
        }
    };
    let mut potential = national.clone();
    strip_trunk_prefix(&mut potential, meta);
    if length_of(&potential, meta) == Length::Possible {
        national = potential;
    }
    (2..=17)
        .contains(&national.len())
        .then_some((code, national))
}

/// The plan libphonenumber reads a country code's numbers by before it knows their region: the
/// code's main country (`1` → US), or its non-geographic plan (`800`).
fn main_metadata(code: u16) -> Option<&'static Metadata> {
    let all = DATABASE.by_code(&code)?;
    let main = all.iter().find(|m| m.is_main_country_for_code()).copied();
    main.or_else(|| all.first().copied())
}

/// libphonenumber's `maybeStripNationalPrefixAndCarrierCode`: removes the trunk prefix (and a
/// carrier code, or applies the plan's transform rule) unless the number matched the plan
/// before and would not after.
fn strip_trunk_prefix(national: &mut String, meta: &Metadata) {
    let pattern = match meta.national_prefix_for_parsing() {
        Some(re) => re.as_str().to_string(),
        None => match meta.national_prefix() {
            Some(prefix) if !prefix.is_empty() => regex::escape(prefix),
            _ => return,
        },
    };
    let Some(re) = anchored_start(&pattern) else {
        return;
    };
    let Some(caps) = re.captures(national) else {
        return;
    };
    let general = meta.descriptors().general();
    let viable_before = pattern_matches(general, national);
    let last_group = caps.len() - 1;
    let transformed = match meta.national_prefix_transform_rule() {
        Some(rule) if !rule.is_empty() && caps.get(last_group).is_some() => {
            // Java's `$1` may run into digits (`$15`); Rust reads `${1}` unambiguously.
            let rule = dollar_groups(rule);
            re.replacen(national, 1, rule.as_str()).into_owned()
        }
        _ => {
            let end = caps.get(0).map_or(0, |m| m.end());
            national[end..].to_string()
        }
    };
    if viable_before && !pattern_matches(general, &transformed) {
        return;
    }
    *national = transformed;
}

/// A replacement written for Java's regex (`$1`) in the `${1}` form.
fn dollar_groups(rule: &str) -> String {
    let mut out = String::with_capacity(rule.len() + 4);
    let mut chars = rule.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('$', Some(d)) if d.is_ascii_digit() => {
                out.push_str("${");
                out.push(*d);
                out.push('}');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

/// libphonenumber's `testNumberLength` for a number of unknown type: against every length the
/// plan's kinds of line allow.
fn length_of(national: &str, meta: &Metadata) -> Length {
    let (possible, local) = plan_lengths(meta);
    let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
    let (Some(&min), Some(&max)) = (possible.first(), possible.last()) else {
        return Length::Invalid;
    };
    if local.contains(&length) {
        Length::LocalOnly
    } else if length < min {
        Length::TooShort
    } else if length > max {
        Length::TooLong
    } else if possible.contains(&length) {
        Length::Possible
    } else {
        Length::Invalid
    }
}

/// The lengths of a plan's numbers: the union over its kinds of line (sorted), and the lengths
/// diallable only locally that are no kind's full length. (The crate leaves the general
/// description's own lists empty; libphonenumber's metadata build fills them so.)
fn plan_lengths(meta: &Metadata) -> (Vec<u16>, Vec<u16>) {
    let d = meta.descriptors();
    let kinds = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    let mut possible: Vec<u16> = d.general().possible_length().to_vec();
    let mut local: Vec<u16> = d.general().possible_local_length().to_vec();
    for desc in kinds.into_iter().flatten() {
        possible.extend_from_slice(desc.possible_length());
        local.extend_from_slice(desc.possible_local_length());
    }
    possible.sort_unstable();
    possible.dedup();
    local.sort_unstable();
    local.dedup();
    local.retain(|l| !possible.contains(l));
    (possible, local)
}

/// The canonical form, region and line type of a number; `None` when no region's plan has it
/// (libphonenumber's `isValidNumber`).
fn classify(code: u16, national: &str) -> Option<ParsedPhone> {
    let meta = metadata_for(code, national)?;
    let line = line_type(meta, national);
    if line == LineType::Unknown {
        return None;
    }
    Some(ParsedPhone {
        phone: Phone(format!("+{code}{national}")),
        region: Region(meta.id()),
        line,
    })
}

/// The plan a number belongs to: the only region of its country code, or the first of several
/// whose leading digits (else whose patterns) it matches.
fn metadata_for(code: u16, national: &str) -> Option<&'static Metadata> {
    let regions = DATABASE.region(&code)?;
    if let [only] = regions.as_slice() {
        return if *only == "001" {
            DATABASE.by_code(&code)?.into_iter().next()
        } else {
            DATABASE.by_id(*only)
        };
    }
    regions.into_iter().find_map(|id| {
        let meta = DATABASE.by_id(id)?;
        let fits = match meta.leading_digits() {
            Some(leading) => leading.find(national).is_some_and(|m| m.start() == 0),
            None => line_type(meta, national) != LineType::Unknown,
        };
        fits.then_some(meta)
    })
}

/// libphonenumber's `getNumberTypeHelper`: the costly and special kinds first, then fixed line
/// and mobile.
fn line_type(meta: &Metadata, national: &str) -> LineType {
    let d = meta.descriptors();
    let (lengths, _) = plan_lengths(meta);
    let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
    if !lengths.contains(&length) || !pattern_matches(d.general(), national) {
        return LineType::Unknown;
    }
    let matches =
        |desc: Option<&Descriptor>| desc.is_some_and(|desc| fully_matches(desc, national));
    let special = [
        (d.premium_rate(), LineType::PremiumRate),
        (d.toll_free(), LineType::TollFree),
        (d.shared_cost(), LineType::SharedCost),
        (d.voip(), LineType::Voip),
        (d.personal_number(), LineType::PersonalNumber),
        (d.pager(), LineType::Pager),
        (d.uan(), LineType::Uan),
        (d.voicemail(), LineType::Voicemail),
    ];
    if let Some((_, kind)) = special.into_iter().find(|(desc, _)| matches(*desc)) {
        return kind;
    }
    if matches(d.fixed_line()) {
        let bare = |desc: &Descriptor| -> String {
            let source = desc.national_number().as_str();
            source.chars().filter(|c| !c.is_whitespace()).collect()
        };
        let same_pattern = d
            .mobile()
            .zip(d.fixed_line())
            .is_some_and(|(m, f)| bare(m) == bare(f));
        return if same_pattern || matches(d.mobile()) {
            LineType::FixedLineOrMobile
        } else {
            LineType::FixedLine
        };
    }
    if matches(d.mobile()) {
        return LineType::Mobile;
    }
    LineType::Unknown
}

/// libphonenumber's `isNumberMatchingDesc`: a possible length, and the pattern matching the
/// whole number.
fn fully_matches(desc: &Descriptor, national: &str) -> bool {
    let lengths = desc.possible_length();
    let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
    (lengths.is_empty() || lengths.contains(&length)) && pattern_matches(desc, national)
}

/// The description's pattern matches the *whole* number. (The crate's own `Descriptor::is_match`
/// anchors only the start: a number one digit too long passes wherever the lengths overlap.)
fn pattern_matches(desc: &Descriptor, national: &str) -> bool {
    compiled(desc.national_number().as_str(), true).is_some_and(|re| re.is_match(national))
}

/// A pattern that must match at the start of the text (libphonenumber's `lookingAt`).
fn anchored_start(pattern: &str) -> Option<Arc<Regex>> {
    compiled(pattern, false)
}

/// The metadata's `pattern` compiled once, anchored at the start (and at the end when `whole`).
/// Shared by `Arc`: a cloned `Regex` starts a new, empty search-cache pool, so every match
/// would build its cache again.
fn compiled(pattern: &str, whole: bool) -> Option<Arc<Regex>> {
    type Cache = Mutex<[HashMap<String, Arc<Regex>>; 2]>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = &mut cache[usize::from(whole)];
    if let Some(re) = map.get(pattern) {
        return Some(re.clone());
    }
    let end = if whole { "$" } else { "" };
    // The metadata writes its patterns across lines, for reading.
    let re = Arc::new(
        RegexBuilder::new(&format!("^(?:{pattern}){end}"))
            .ignore_whitespace(true)
            .build()
            .ok()?,
    );
    map.insert(pattern.to_string(), re.clone());
    Some(re)
}

#[cfg(test)]
mod tests;
