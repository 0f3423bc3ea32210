#!/usr/bin/env python3
"""Writes core/testdata/phones.tsv: the table wxgate's phone parser is checked against.

The verdicts come from Python `phonenumbers` (David Drysdale's port of Google's libphonenumber),
pinned to the metadata release the Rust `phonenumber` crate in Cargo.lock carries, so the table
is an independent implementation's answer over the same numbering plans. Rows:

- every region's example number of every type, written as E.164, as an international number
  with spaces, as the region writes it nationally (trunk prefix included), with the trunk
  prefix kept after the country code (`+44 07400 123456`: one phone, one E.164), and with `00`;
- each example number one digit short and one digit long;
- the ways people type a mainland mobile, and inputs that must be refused.

Columns: input, default region, then either `ok`, E.164, the number's region and its type, or
`refused` and why. Letters and characters outside the accepted set are refused by wxgate's own
rule before any parser sees them; the generator applies the same rule (`allowed`).

Usage: pip install phonenumbers==9.0.33 && scripts/phone-table.py > core/testdata/phones.tsv
"""

import sys

import phonenumbers as pn
from phonenumbers import PhoneNumberType as T

PINNED = "9.0.33"

TYPES = {
    T.FIXED_LINE: "fixed_line",
    T.MOBILE: "mobile",
    T.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    T.TOLL_FREE: "toll_free",
    T.PREMIUM_RATE: "premium_rate",
    T.SHARED_COST: "shared_cost",
    T.VOIP: "voip",
    T.PERSONAL_NUMBER: "personal_number",
    T.PAGER: "pager",
    T.UAN: "uan",
    T.VOICEMAIL: "voicemail",
    T.UNKNOWN: "unknown",
}

# Separators wxgate accepts between digits, ASCII and full-width.
SEPARATORS = set(" -.()\u3000\uff0d\uff0e\uff08\uff09\u2010\u2011\u2012\u2013\u2014")
FULL_WIDTH_DIGITS = {chr(0xFF10 + i): str(i) for i in range(10)}


def allowed(text):
    """wxgate's character rule: digits (ASCII or full-width), separators, one leading '+'."""
    body = text.strip()
    if body[:1] in ("+", "\uff0b"):
        body = body[1:]
    if not body:
        return False
    return all(c.isascii() and c.isdigit() or c in FULL_WIDTH_DIGITS or c in SEPARATORS for c in body)


def verdict(text, default_region):
    if not allowed(text):
        return ["refused", "characters"]
    try:
        number = pn.parse(text, default_region)
    except pn.NumberParseException:
        return ["refused", "invalid"]
    if not pn.is_valid_number(number):
        return ["refused", "invalid"]
    region = pn.region_code_for_number(number) or "001"
    return [
        "ok",
        pn.format_number(number, pn.PhoneNumberFormat.E164),
        region,
        TYPES[pn.number_type(number)],
    ]


def examples():
    """(region, calling code, type name, example number) for every region and type."""
    for region in sorted(pn.SUPPORTED_REGIONS):
        code = pn.country_code_for_region(region)
        for t, name in TYPES.items():
            if t in (T.UNKNOWN, T.FIXED_LINE_OR_MOBILE):
                continue
            number = pn.example_number_for_type(region, t)
            if number is not None:
                yield region, code, name, number
    for code in sorted(pn.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = pn.example_number_for_non_geo_entity(code)
        if number is not None:
            yield "001", code, "non_geographic", number


def rows():
    seen = set()

    def row(text, default_region, note):
        if (text, default_region) in seen:
            return None
        seen.add((text, default_region))
        return [text, default_region] + verdict(text, default_region) + [note]

    for region, code, name, number in examples():
        nsn = pn.national_significant_number(number)
        meta = pn.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        trunk = meta.national_prefix if meta is not None else None
        home = region if region != "001" else "CN"
        variants = [
            ("+%d%s" % (code, nsn), "CN", "e164"),
            (pn.format_number(number, pn.PhoneNumberFormat.INTERNATIONAL), "CN", "international"),
            (pn.format_number(number, pn.PhoneNumberFormat.NATIONAL), home, "national"),
            ("00%d%s" % (code, nsn), "CN", "idd"),
            ("+%d%s" % (code, nsn[:-1]), "CN", "one_short"),
            ("+%d%s0" % (code, nsn), "CN", "one_long"),
        ]
        if trunk:
            variants.append(("+%d %s%s" % (code, trunk, nsn), "CN", "trunk_kept"))
        for text, default_region, variant in variants:
            r = row(text, default_region, "%s %s %s" % (region, name, variant))
            if r:
                yield r

    mainland = [
        ("13800138000", "plain"),
        ("+8613800138000", "e164"),
        ("008613800138000", "idd"),
        ("138 0013 8000", "spaces"),
        ("138-0013-8000", "dashes"),
        ("138.0013.8000", "dots"),
        ("(138) 0013 8000", "parentheses"),
        ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "full-width digits"),
        ("\uff0b\uff18\uff16 \uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "full-width plus"),
        ("138\u30000013\u30008000", "ideographic spaces"),
        ("+86 0138 0013 8000", "trunk kept"),
        ("+86 138 0013 8000", "international"),
        ("0086 138 0013 8000", "idd spaced"),
        ("  13800138000  ", "padded"),
        ("1380013800a", "a letter"),
        ("1-800-FLOWERS", "vanity letters"),
        ("13800138000;ext=1", "extension"),
        ("tel:+8613800138000", "a URI"),
        ("138*0013#8000", "star and hash"),
        ("+", "a plus only"),
        ("", "empty"),
        ("12800138000", "not a mobile prefix"),
        ("1380013800", "one short"),
        ("+8612345", "far too short"),
        ("+1234567890123456", "too long"),
        ("+0123456789", "country code 0"),
        ("++8613800138000", "two pluses"),
        ("86+13800138000", "a plus inside"),
        ("1\u06f3800138000", "extended Arabic-Indic digit"),
    ]
    for text, note in mainland:
        r = row(text, "CN", "CN input " + note)
        if r:
            yield r

    elsewhere = [
        ("8613800138000", "CN", "country code without plus"),
        ("86 138 0013 8000", "CN", "country code without plus, spaced"),
        ("011 44 7400 123456", "US", "US international call prefix"),
        ("00 44 7400 123456", "US", "00 where the prefix is 011"),
        ("07400 123456", "GB", "GB mobile with trunk prefix"),
        ("+44 (0)7400 123456", "CN", "GB trunk prefix in parentheses"),
        ("(201) 555-0123", "US", "US national"),
        ("1 201 555 0123", "US", "US trunk prefix"),
        ("+1 900 555 0123", "CN", "US premium rate"),
        ("06 12 34 56 78", "FR", "FR mobile national"),
        ("+39 02 1234 5678", "CN", "IT fixed line keeps its 0"),
        ("+39 312 345 6789", "CN", "IT mobile"),
        ("852 5123 4567", "HK", "HK with its code, no plus"),
        ("+852 5123 4567", "CN", "HK mobile"),
        ("+853 6612 3456", "CN", "MO mobile"),
        ("+886 912 345 678", "CN", "TW mobile"),
        ("0912 345 678", "TW", "TW mobile national"),
    ]
    for text, region, note in elsewhere:
        r = row(text, region, note)
        if r:
            yield r


def main():
    if pn.__version__ != PINNED:
        sys.exit("phonenumbers %s installed; the table needs %s (the Rust crate's metadata)" % (pn.__version__, PINNED))
    out = sys.stdout
    out.write("# input\tdefault_region\tverdict\te164_or_reason\tregion\ttype\tnote\n")
    out.write("# generated by scripts/phone-table.py with phonenumbers %s; do not edit by hand\n" % PINNED)
    for r in rows():
        if r[2] == "refused":
            r = r[:4] + ["", ""] + r[4:]
        out.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
