use super::*;

/// `core/testdata/phones.tsv`: Python `phonenumbers` (an independent port of libphonenumber,
/// on the same metadata release) judged every row; see `scripts/phone-table.py`.
const TABLE: &str = include_str!("../../testdata/phones.tsv");

struct Row<'a> {
    input: &'a str,
    default_region: &'a str,
    /// `Ok((e164, region, type))` or `Err(reason)`.
    want: Result<(&'a str, &'a str, &'a str), &'a str>,
    note: &'a str,
}

fn rows() -> impl Iterator<Item = Row<'static>> {
    TABLE.lines().filter(|l| !l.starts_with('#')).map(|line| {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "malformed row {line:?}");
        let want = match f[2] {
            "ok" => Ok((f[3], f[4], f[5])),
            "refused" => Err(f[3]),
            other => panic!("verdict {other:?}"),
        };
        Row {
            input: f[0],
            default_region: f[1],
            want,
            note: f[6],
        }
    })
}

fn verdict(
    input: &str,
    region: &str,
) -> Result<(String, &'static str, &'static str), &'static str> {
    let region = Region::from_code(region).expect("a known region");
    match Phone::parse(input, region) {
        Ok(p) => Ok((p.phone.0, p.region.as_str(), p.line.as_str())),
        Err(PhoneError::Characters | PhoneError::Empty | PhoneError::TooLong) => Err("characters"),
        Err(PhoneError::Invalid(_)) => Err("invalid"),
    }
}

#[test]
fn every_number_in_the_table_is_judged_as_libphonenumber_judges_it() {
    let mut disagreements = Vec::new();
    let mut total = 0;
    for row in rows() {
        total += 1;
        let got = verdict(row.input, row.default_region);
        let same = match (&got, &row.want) {
            (Ok((e164, region, line)), Ok((w164, wregion, wline))) => {
                e164 == w164 && region == wregion && line == wline
            }
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        if !same {
            disagreements.push(format!(
                "{:?} ({}; {}): got {got:?}, want {:?}",
                row.input, row.default_region, row.note, row.want
            ));
        }
    }
    assert!(total > 6000, "the table has {total} rows");
    assert!(
        disagreements.is_empty(),
        "{} of {total} rows disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

fn cn(input: &str) -> Result<ParsedPhone, PhoneError> {
    Phone::parse(input, Region::CN)
}

#[test]
fn regions_come_from_codes_the_plans_know() {
    assert_eq!(Region::for_calling_code("86"), Some(Region::CN));
    assert_eq!(
        Region::for_calling_code("1").map(|r| r.as_str()),
        Some("US")
    );
    assert_eq!(
        Region::for_calling_code("44").map(|r| r.as_str()),
        Some("GB")
    );
    assert_eq!(
        Region::for_calling_code("7").map(|r| r.as_str()),
        Some("RU")
    );
    // Non-geographic (international freephone) and unassigned codes name no region.
    for code in ["800", "999", "0", "", "8x", "86 "] {
        assert_eq!(
            Region::for_calling_code(code).filter(|_| code != "86 "),
            None,
            "{code:?}"
        );
    }
    assert_eq!(Region::from_code("cn"), Some(Region::CN));
    assert_eq!(
        Region::from_code("HK").map(|r| r.to_string()),
        Some("HK".into())
    );
    for bad in ["001", "XX", "CHN", "", "c"] {
        assert_eq!(Region::from_code(bad), None, "{bad:?}");
    }
}

#[test]
fn only_mobiles_and_lines_that_may_be_mobiles_receive_texts() {
    let textable: Vec<_> = [
        LineType::FixedLine,
        LineType::Mobile,
        LineType::FixedLineOrMobile,
        LineType::TollFree,
        LineType::PremiumRate,
        LineType::SharedCost,
        LineType::Voip,
        LineType::PersonalNumber,
        LineType::Pager,
        LineType::Uan,
        LineType::Voicemail,
        LineType::Unknown,
    ]
    .into_iter()
    .filter(|t| t.receives_sms())
    .collect();
    assert_eq!(textable, [LineType::Mobile, LineType::FixedLineOrMobile]);
    assert_eq!(cn("13800138000").unwrap().line, LineType::Mobile);
    assert_eq!(
        cn("+1 201 555 0123").unwrap().line,
        LineType::FixedLineOrMobile
    );
    assert_eq!(cn("+44 121 234 5678").unwrap().line, LineType::FixedLine);
    assert_eq!(cn("+44 90 1234 5678").unwrap().line, LineType::PremiumRate);
}

#[test]
fn one_phone_has_one_canonical_form() {
    for input in [
        "13800138000",
        "+86 0138 0013 8000",
        "138-0013-8000",
        "（138）0013－8000",
        "８６１３８００１３８０００",
        "0086 13800138000",
    ] {
        assert_eq!(
            cn(input).unwrap().phone.as_str(),
            "+8613800138000",
            "{input:?}"
        );
    }
    assert_eq!(
        cn("+44 07400 123456").unwrap().phone,
        cn("+44 7400 123456").unwrap().phone
    );
}

#[test]
fn what_is_not_a_phone_number_is_refused_with_its_reason() {
    assert_eq!(cn(""), Err(PhoneError::Empty));
    assert_eq!(cn("   "), Err(PhoneError::Empty));
    assert_eq!(cn("+"), Err(PhoneError::Characters));
    assert_eq!(cn("1380013800a"), Err(PhoneError::Characters));
    assert_eq!(cn("13800138000\u{0}"), Err(PhoneError::Characters));
    assert_eq!(cn(&"1".repeat(65)), Err(PhoneError::TooLong));
    assert_eq!(cn("12800138000"), Err(PhoneError::Invalid("CN")));
    let message = cn("1-800-FLOWERS").unwrap_err().to_string();
    assert!(message.contains("no letters"), "{message}");
}

#[test]
fn wechat_reports_country_code_and_number_apart() {
    let p = Phone::parse_international("86", "13800138000").unwrap();
    assert_eq!(p.phone.as_str(), "+8613800138000");
    let hk = Phone::parse_international("852", "51234567").unwrap();
    assert_eq!(
        (hk.phone.as_str(), hk.region.as_str()),
        ("+85251234567", "HK")
    );
    assert!(Phone::parse_international("8a", "13800138000").is_err());
    assert!(Phone::parse_international("86", "12345").is_err());
}

#[test]
fn stored_phones_are_told_canonical_or_not() {
    assert!(Phone::stored_is_canonical("+8613800138000"));
    assert!(Phone::stored_is_canonical("+447400123456"));
    // What the hand-written parser before let through.
    for old in [
        "+4407400123456",
        "+8612345678",
        "13800138000",
        "+86 13800138000",
    ] {
        assert!(!Phone::stored_is_canonical(old), "{old}");
    }
}

#[test]
fn masks_keep_the_country_code_and_last_four() {
    assert_eq!(cn("13800138000").unwrap().phone.masked(), "+86*******8000");
    assert_eq!(cn("+447400123456").unwrap().phone.masked(), "+********3456");
}

#[test]
fn masks_never_overlap_on_short_values() {
    for stored in ["+", "+8", "+86", "+861", "+8612345", "+1234"] {
        let masked = Phone::from_stored(stored.to_string()).masked();
        assert_eq!(masked.len(), stored.len(), "{stored}");
    }
}
