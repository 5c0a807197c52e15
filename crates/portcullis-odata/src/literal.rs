//! Primitive literals (OData ABNF §7). Each parser works on raw text; with `url` set, the
//! delimiters the ABNF lets a URL percent-encode (`:`, `+`, `'`, `,`, ` `, `;`) may be encoded.

use super::ast::Literal;
use super::error::{PErr, PResult};
use super::lex::{self, decode, escaped_byte, is_ident_char};

/// Matches `c`, or (in a URL) its percent-encoded form.
fn d(c: u8, url: bool) -> impl Fn(&str) -> PResult<'_, ()> {
    move |i: &str| {
        if i.as_bytes().first() == Some(&c) {
            Ok((&i[1..], ()))
        } else if url && escaped_byte(i) == Some(c) {
            Ok((&i[3..], ()))
        } else {
            PErr::fail(i, "a delimiter")
        }
    }
}

/// Matches an ASCII word in any case (ABNF quoted strings are case-insensitive).
fn word<'a>(w: &'static str) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i: &'a str| {
        if i.len() >= w.len() && i.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes()) {
            Ok((&i[w.len()..], ()))
        } else {
            PErr::fail(i, w)
        }
    }
}

fn no_name_char_follows(i: &str) -> bool {
    !i.as_bytes()
        .first()
        .is_some_and(|&c| is_ident_char(c) || c == b'.' || c == b'-')
}

fn consumed<'a>(start: &'a str, rest: &'a str) -> &'a str {
    &start[..start.len() - rest.len()]
}

/// Two digits within `lo..=hi`.
fn two_digit(lo: u8, hi: u8, what: &'static str) -> impl Fn(&str) -> PResult<'_, u8> {
    move |i: &str| {
        let (rest, text) = lex::n_digits(2)(i).map_err(|_| nom::Err::Error(PErr::new(i, what)))?;
        let v: u8 = text.parse().expect("two digits");
        if (lo..=hi).contains(&v) {
            Ok((rest, v))
        } else {
            PErr::fail(i, what)
        }
    }
}

/// `year "-" month "-" day`
pub fn date(i: &str) -> PResult<'_, &str> {
    let start = i;
    let i = i.strip_prefix('-').unwrap_or(i);
    let (i, year) = lex::digits(i)?;
    if year.len() < 4 || (year.len() > 4 && year.starts_with('0')) {
        return PErr::fail(start, "a date");
    }
    let (i, ()) = lex::plain(b'-', "'-'")(i)?;
    let (i, _) = two_digit(1, 12, "a month")(i)?;
    let (i, ()) = lex::plain(b'-', "'-'")(i)?;
    let (i, _) = two_digit(1, 31, "a day")(i)?;
    Ok((i, consumed(start, i)))
}

/// `hour COLON minute [ COLON second [ "." fractionalSeconds ] ]`
pub fn time_of_day(i: &str, url: bool) -> PResult<'_, &str> {
    let start = i;
    let (i, _) = two_digit(0, 23, "an hour")(i)?;
    let (i, ()) = d(b':', url)(i)?;
    let (i, _) = two_digit(0, 59, "minutes")(i)?;
    let mut i = i;
    if let Ok((after, ())) = d(b':', url)(i) {
        let (after, _) = two_digit(0, 60, "seconds")(after)?;
        i = after;
        if let Some(frac) = i.strip_prefix('.') {
            let (after, digits) = lex::digits(frac)?;
            if digits.len() > 12 {
                return PErr::fail(frac, "at most 12 fractional digits");
            }
            i = after;
        }
    }
    Ok((i, consumed(start, i)))
}

/// `date "T" timeOfDay ( "Z" / SIGN hour COLON minute )`
pub fn date_time_offset(i: &str, url: bool) -> PResult<'_, &str> {
    let start = i;
    let (i, _) = date(i)?;
    let (i, ()) = word("T")(i)?;
    let (i, _) = time_of_day(i, url)?;
    let i = if let Ok((rest, ())) = word("Z")(i) {
        rest
    } else {
        let (rest, sign) = lex::sign(i)?;
        if sign == '+' && !url && i.starts_with('%') {
            return PErr::fail(i, "a sign");
        }
        let (rest, _) = two_digit(0, 23, "an offset hour")(rest)?;
        let (rest, ()) = d(b':', url)(rest)?;
        let (rest, _) = two_digit(0, 59, "offset minutes")(rest)?;
        rest
    };
    Ok((i, consumed(start, i)))
}

/// `8HEXDIG "-" 4HEXDIG "-" 4HEXDIG "-" 4HEXDIG "-" 12HEXDIG`
pub fn guid(i: &str) -> PResult<'_, &str> {
    let mut rest = i;
    for (n, group) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        let len = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if len < group {
            return PErr::fail(&rest[len..], "a hex digit");
        }
        rest = &rest[group..];
        if n < 4 {
            rest = rest
                .strip_prefix('-')
                .ok_or_else(|| nom::Err::Error(PErr::new(rest, "'-'")))?;
        }
    }
    Ok((rest, consumed(i, rest)))
}

/// `decimalValue` / `doubleValue`: `[SIGN] 1*DIGIT ["." 1*DIGIT] [e [SIGN] 1*DIGIT]`, or
/// `NaN`, `INF`, `-INF`. Returns the decoded text.
pub fn number(i: &str, url: bool) -> PResult<'_, String> {
    for special in ["NaN", "-INF", "INF"] {
        if let Some(rest) = i.strip_prefix(special) {
            if no_name_char_follows(rest) {
                return Ok((rest, special.to_string()));
            }
        }
    }
    let mut text = String::new();
    let mut rest = i;
    if let Ok((after, sign)) = lex::sign(i) {
        if sign == '+' && !url && i.starts_with('%') {
            return PErr::fail(i, "a number");
        }
        text.push(sign);
        rest = after;
    }
    let (after, int) = lex::digits(rest)?;
    text.push_str(int);
    rest = after;
    if let Some(frac) = rest.strip_prefix('.') {
        let (after, digits) = lex::digits(frac)?;
        text.push('.');
        text.push_str(digits);
        rest = after;
    }
    if let Some(exp) = rest.strip_prefix(['e', 'E']) {
        text.push('e');
        let mut after = exp;
        if let Ok((a, sign)) = lex::sign(exp) {
            text.push(sign);
            after = a;
        }
        let (a, digits) = lex::digits(after)?;
        text.push_str(digits);
        rest = a;
    }
    if !no_name_char_follows(rest) {
        return PErr::fail(rest, "the end of the number");
    }
    Ok((rest, text))
}

/// `SQUOTE *( SQUOTE SQUOTE / pchar-no-SQUOTE ) SQUOTE`; returns the decoded text.
pub fn string(i: &str, url: bool) -> PResult<'_, String> {
    let (mut rest, ()) = d(b'\'', url)(i)?;
    let mut raw = Vec::new();
    loop {
        if let Ok((after, ())) = d(b'\'', url)(rest) {
            // A doubled quote is one quote; a single one ends the string.
            if let Ok((after2, ())) = d(b'\'', url)(after) {
                raw.push(b'\'');
                rest = after2;
                continue;
            }
            let text = String::from_utf8(raw)
                .map_err(|_| nom::Err::Failure(PErr::new(i, "UTF-8 text")))?;
            return Ok((after, text));
        }
        match rest.as_bytes().first() {
            None => return PErr::cut(rest, "a closing quote"),
            Some(b'%') if url => match escaped_byte(rest) {
                Some(b) => {
                    raw.push(b);
                    rest = &rest[3..];
                }
                None => return PErr::cut(rest, "a valid percent-escape"),
            },
            // `&` is a pchar; in a query it never gets here (options are split on it first).
            Some(&b) if b == b'#' || !(0x20..0x7f).contains(&b) => {
                return PErr::cut(rest, "a closing quote")
            }
            Some(&b) => {
                raw.push(b);
                rest = &rest[1..];
            }
        }
    }
}

/// `"…"` with JSON escapes (`\` may be `%5C`, the quotes `%22`); returns the decoded text.
pub fn json_string(i: &str) -> PResult<'_, String> {
    let (mut rest, ()) = lex::dquote(i)?;
    let mut raw = Vec::new();
    loop {
        if let Ok((after, ())) = lex::dquote(rest) {
            let text = String::from_utf8(raw)
                .map_err(|_| nom::Err::Failure(PErr::new(i, "UTF-8 text")))?;
            return Ok((after, text));
        }
        let (after, b) = match rest.as_bytes().first() {
            None => return PErr::cut(rest, "a closing '\"'"),
            Some(b'%') => match escaped_byte(rest) {
                Some(b) => (&rest[3..], b),
                None => return PErr::cut(rest, "a valid percent-escape"),
            },
            Some(&b) if b == b'#' || !(0x20..0x7f).contains(&b) => {
                return PErr::cut(rest, "a closing '\"'")
            }
            Some(&b) => (&rest[1..], b),
        };
        if b == b'\\' {
            let (after2, e) = match after.as_bytes().first() {
                Some(b'%') => match escaped_byte(after) {
                    Some(e) => (&after[3..], e),
                    None => return PErr::cut(after, "an escape"),
                },
                Some(&e) => (&after[1..], e),
                None => return PErr::cut(after, "an escape"),
            };
            match e {
                b'"' | b'\\' | b'/' => raw.push(e),
                b'b' => raw.push(8),
                b'f' => raw.push(12),
                b'n' => raw.push(b'\n'),
                b'r' => raw.push(b'\r'),
                b't' => raw.push(b'\t'),
                b'u' => {
                    let hex = after2
                        .get(..4)
                        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                    let Some(hex) = hex else {
                        return PErr::cut(after2, "four hex digits");
                    };
                    let c = char::from_u32(u32::from_str_radix(hex, 16).expect("hex"))
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    let mut buf = [0u8; 4];
                    raw.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    rest = &after2[4..];
                    continue;
                }
                _ => return PErr::cut(after, "a JSON escape"),
            }
            rest = after2;
        } else {
            raw.push(b);
            rest = after;
        }
    }
}

/// `[ "-" ] "P" [ 1*DIGIT "D" ] [ "T" [ 1*DIGIT "H" ] [ 1*DIGIT "M" ] [ 1*DIGIT [ "." 1*DIGIT ] "S" ] ]`
pub fn duration_value(i: &str) -> PResult<'_, &str> {
    let start = i;
    let i = i.strip_prefix('-').unwrap_or(i);
    let (mut i, ()) = word("P")(i)?;
    fn unit<'a>(i: &'a str, u: &'static str, fraction: bool) -> Option<&'a str> {
        let (rest, _) = lex::digits(i).ok()?;
        let rest = if fraction {
            match rest.strip_prefix('.') {
                Some(f) => lex::digits(f).ok()?.0,
                None => rest,
            }
        } else {
            rest
        };
        word(u)(rest).ok().map(|(r, ())| r)
    }
    if let Some(rest) = unit(i, "D", false) {
        i = rest;
    }
    if let Ok((rest, ())) = word("T")(i) {
        let mut r = rest;
        let mut any = false;
        for (u, f) in [("H", false), ("M", false), ("S", true)] {
            if let Some(after) = unit(r, u, f) {
                r = after;
                any = true;
            }
        }
        if !any {
            return PErr::fail(rest, "hours, minutes or seconds");
        }
        i = r;
    }
    Ok((i, consumed(start, i)))
}

/// `binary'…'` with base64url (optionally padded).
pub fn binary(i: &str, url: bool) -> PResult<'_, String> {
    let (rest, ()) = word("binary")(i)?;
    let (rest, ()) = d(b'\'', url)(rest)?;
    let len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        .count();
    let body = &rest[..len];
    let mut after = &rest[len..];
    let pad = after.bytes().take_while(|&b| b == b'=').count();
    after = &after[pad..];
    let total = len + pad;
    if len % 4 == 1 || (pad > 0 && total % 4 != 0) || pad > 2 {
        return PErr::cut(&rest[len..], "base64url data");
    }
    let (after, ()) =
        d(b'\'', url)(after).map_err(|_| nom::Err::Failure(PErr::new(after, "a closing quote")))?;
    Ok((after, body.to_string()))
}

/// `enumValue`: members or integer values, comma-separated.
pub fn enum_value(i: &str, url: bool) -> PResult<'_, String> {
    let start = i;
    let mut rest = i;
    loop {
        if let Ok((after, _)) = lex::identifier(rest) {
            rest = after;
        } else {
            let mut r = rest;
            if let Ok((after, sign)) = lex::sign(rest) {
                if sign == '+' && !url && rest.starts_with('%') {
                    return PErr::fail(rest, "an enumeration member");
                }
                r = after;
            }
            let (after, _) = lex::digits(r)
                .map_err(|_| nom::Err::Error(PErr::new(rest, "an enumeration member")))?;
            rest = after;
        }
        match d(b',', url)(rest) {
            Ok((after, ())) => rest = after,
            Err(_) => break,
        }
    }
    let text = decode(consumed(start, rest)).unwrap_or_default();
    Ok((rest, text))
}

/// `Ns.Type'Member,…'`
pub fn enum_literal(i: &str, url: bool) -> PResult<'_, Literal> {
    let (rest, name) = lex::dotted_name(i)?;
    if !name.contains('.') {
        return PErr::fail(i, "a qualified enumeration type");
    }
    let (rest, ()) = d(b'\'', url)(rest)?;
    let (rest, value) = enum_value(rest, url)?;
    let (rest, ()) = d(b'\'', url)(rest)?;
    Ok((
        rest,
        Literal::Enum {
            type_name: name.to_string(),
            value,
        },
    ))
}

// --- geography / geometry (Well-Known Text subset of the ABNF) ---

fn sp(url: bool) -> impl Fn(&str) -> PResult<'_, ()> {
    move |i: &str| d(b' ', url)(i)
}

fn position(i: &str, url: bool) -> PResult<'_, ()> {
    let (mut rest, _) = number(i, false)?;
    let (r, ()) = sp(url)(rest)?;
    let (r, _) = number(r, false)?;
    rest = r;
    for _ in 0..2 {
        match sp(url)(rest).and_then(|(r, ())| number(r, false)) {
            Ok((r, _)) => rest = r,
            Err(_) => break,
        }
    }
    Ok((rest, ()))
}

/// `( position *( COMMA position ) )`
fn positions(i: &str, url: bool, allow_empty: bool) -> PResult<'_, ()> {
    let (mut rest, ()) = d(b'(', url)(i)?;
    if allow_empty {
        if let Ok((r, ())) = d(b')', url)(rest) {
            return Ok((r, ()));
        }
    }
    let (r, ()) = position(rest, url)?;
    rest = r;
    while let Ok((r, ())) = d(b',', url)(rest) {
        let (r, ()) = position(r, url)?;
        rest = r;
    }
    d(b')', url)(rest)
}

/// `( item *( COMMA item ) )` where item is parsed by `f`; empty when allowed.
fn list_of<'a>(
    i: &'a str,
    url: bool,
    allow_empty: bool,
    f: impl Fn(&'a str) -> PResult<'a, ()>,
) -> PResult<'a, ()> {
    let _guard = lex::nest(i)?;
    let (mut rest, ()) = d(b'(', url)(i)?;
    if allow_empty {
        if let Ok((r, ())) = d(b')', url)(rest) {
            return Ok((r, ()));
        }
    }
    let (r, ()) = f(rest)?;
    rest = r;
    while let Ok((r, ())) = d(b',', url)(rest) {
        let (r, ()) = f(r)?;
        rest = r;
    }
    d(b')', url)(rest)
}

fn wkt(i: &str, url: bool) -> PResult<'_, ()> {
    if let Ok((r, ())) = word("Point")(i) {
        let (r, ()) = d(b'(', url)(r)?;
        let (r, ()) = position(r, url)?;
        return d(b')', url)(r);
    }
    if let Ok((r, ())) = word("LineString")(i) {
        return positions(r, url, false);
    }
    if let Ok((r, ())) = word("Polygon")(i) {
        return list_of(r, url, false, |x| positions(x, url, false));
    }
    if let Ok((r, ())) = word("MultiPoint")(i) {
        return list_of(r, url, true, |x| positions(x, url, false));
    }
    if let Ok((r, ())) = word("MultiLineString")(i) {
        return list_of(r, url, true, |x| positions(x, url, false));
    }
    if let Ok((r, ())) = word("MultiPolygon")(i) {
        return list_of(r, url, true, |x| {
            list_of(x, url, false, |y| positions(y, url, false))
        });
    }
    if let Ok((r, ())) = word("GeometryCollection")(i) {
        return list_of(r, url, true, |x| wkt(x, url));
    }
    PErr::fail(i, "a geography or geometry value")
}

/// `SRID=n;` then a WKT value. Returns the consumed raw text.
pub fn geo_value(i: &str, url: bool) -> PResult<'_, &str> {
    let start = i;
    let (r, ()) = word("SRID")(i)?;
    let (r, ()) = lex::plain(b'=', "'='")(r)?;
    let (r, srid) = lex::digits(r)?;
    if srid.len() > 5 {
        return PErr::fail(r, "an SRID of at most 5 digits");
    }
    let (r, ()) = d(b';', url)(r)?;
    let (r, ()) = wkt(r, url)?;
    Ok((r, consumed(start, r)))
}

/// `geography'…'` or `geometry'…'`
pub fn geo_literal(i: &str, url: bool) -> PResult<'_, Literal> {
    let (rest, geography) = if let Ok((r, ())) = word("geography")(i) {
        (r, true)
    } else {
        let (r, ()) = word("geometry")(i)?;
        (r, false)
    };
    let (rest, ()) = d(b'\'', url)(rest)?;
    let (rest, value) = geo_value(rest, url)?;
    let (rest, ()) =
        d(b'\'', url)(rest).map_err(|_| nom::Err::Failure(PErr::new(rest, "a closing quote")))?;
    Ok((
        rest,
        Literal::Geo {
            geography,
            value: decode(value).unwrap_or_default(),
        },
    ))
}

/// Whether `i` starts with `n` digits followed by `next` (cheap look-ahead before a full parse).
fn digits_then(i: &str, n: usize, next: u8) -> bool {
    let b = i.as_bytes();
    b.len() > n && b[..n].iter().all(u8::is_ascii_digit) && b[n] == next
}

/// Any primitive literal as written in a URL. Dispatches on the first byte, so an operand
/// that is a plain property name costs a couple of comparisons.
pub fn primitive_literal(i: &str) -> PResult<'_, Literal> {
    let first = i.as_bytes().first().copied().unwrap_or(0);
    match first {
        b'\'' => return string(i, true).map(|(r, s)| (r, Literal::String(s))),
        b'%' => {
            return match escaped_byte(i) {
                Some(b'\'') => string(i, true).map(|(r, s)| (r, Literal::String(s))),
                Some(b'+') => number(i, true).map(|(r, n)| (r, Literal::Number(n))),
                _ => PErr::fail(i, "a literal"),
            }
        }
        b'0'..=b'9' | b'-' | b'+' => return numeric_literal(i),
        b'n' => {
            if let Ok((r, ())) = lex::exact("null")(i) {
                return Ok((r, Literal::Null));
            }
        }
        b'N' | b'I' => {
            if let Ok((r, n)) = number(i, true) {
                return Ok((r, Literal::Number(n)));
            }
        }
        _ => {}
    }
    let lower = first.to_ascii_lowercase();
    if lower == b't' || lower == b'f' {
        for (w, v) in [("true", true), ("false", false)] {
            if let Ok((r, ())) = lex::keyword(w)(i) {
                return Ok((r, Literal::Boolean(v)));
            }
        }
    }
    // A GUID may start with a hex letter (`a02e8710-…`).
    if first.is_ascii_hexdigit() && i.as_bytes().get(8) == Some(&b'-') {
        if let Ok((r, g)) = guid(i) {
            if no_name_char_follows(r) {
                return Ok((r, Literal::Guid(g.to_ascii_lowercase())));
            }
        }
    }
    match lower {
        b'd' => {
            if let Ok((r, ())) = word("duration")(i) {
                if let Ok((r, ())) = d(b'\'', true)(r) {
                    let (r, value) = duration_value(r)?;
                    let (r, ()) = d(b'\'', true)(r)?;
                    return Ok((r, Literal::Duration(value.to_string())));
                }
            }
        }
        b'b' => {
            if let Ok((r, b)) = binary(i, true) {
                return Ok((r, Literal::Binary(b)));
            }
        }
        b'g' => {
            if let Ok((r, g)) = geo_literal(i, true) {
                return Ok((r, g));
            }
        }
        _ => {}
    }
    // `Ns.Type'Member'`: only when a dotted name is directly followed by a quote.
    if let Ok((after, name)) = lex::dotted_name(i) {
        if name.contains('.') && (after.starts_with('\'') || escaped_byte(after) == Some(b'\'')) {
            return enum_literal(i, true);
        }
    }
    PErr::fail(i, "a literal")
}

/// Literals that start with a digit or a sign: GUID, date-time, date, time of day, number.
fn numeric_literal(i: &str) -> PResult<'_, Literal> {
    if i.as_bytes().get(8) == Some(&b'-') {
        if let Ok((r, g)) = guid(i) {
            if no_name_char_follows(r) {
                return Ok((r, Literal::Guid(g.to_ascii_lowercase())));
            }
        }
    }
    let unsigned = i.strip_prefix('-').unwrap_or(i);
    let year_digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if year_digits >= 4 && unsigned.as_bytes().get(year_digits) == Some(&b'-') {
        if let Ok((r, t)) = date_time_offset(i, true) {
            if no_name_char_follows(r) {
                return Ok((r, Literal::DateTimeOffset(decode(t).unwrap_or_default())));
            }
        }
        if let Ok((r, t)) = date(i) {
            if no_name_char_follows(r) && !r.starts_with(['T', 't']) {
                return Ok((r, Literal::Date(t.to_string())));
            }
        }
    }
    if digits_then(i, 2, b':') || (digits_then(i, 2, b'%') && escaped_byte(&i[2..]) == Some(b':')) {
        if let Ok((r, t)) = time_of_day(i, true) {
            if no_name_char_follows(r) {
                return Ok((r, Literal::TimeOfDay(decode(t).unwrap_or_default())));
            }
        }
    }
    number(i, true).map(|(r, n)| (r, Literal::Number(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Literal {
        let (rest, l) = primitive_literal(text).unwrap();
        assert!(rest.is_empty(), "{text}: left {rest:?}");
        l
    }

    #[test]
    fn each_kind_of_literal() {
        assert_eq!(lit("null"), Literal::Null);
        assert_eq!(lit("tRUe"), Literal::Boolean(true));
        assert_eq!(lit("-2.5e%2B3"), Literal::Number("-2.5e+3".into()));
        assert_eq!(lit("%2B42"), Literal::Number("+42".into()));
        assert_eq!(lit("-INF"), Literal::Number("-INF".into()));
        assert_eq!(lit("'O''Neil'"), Literal::String("O'Neil".into()));
        assert_eq!(lit("%27O'%27Neil'"), Literal::String("O'Neil".into()));
        assert_eq!(
            lit("'Hugo''s%20Tavern'"),
            Literal::String("Hugo's Tavern".into())
        );
        assert_eq!(lit("2012-09-03"), Literal::Date("2012-09-03".into()));
        assert_eq!(
            lit("2012-09-03T23%3A59%2B01%3A00"),
            Literal::DateTimeOffset("2012-09-03T23:59+01:00".into())
        );
        assert_eq!(
            lit("11:22:33.4444444"),
            Literal::TimeOfDay("11:22:33.4444444".into())
        );
        assert_eq!(
            lit("duration'P6DT23H59M59.9999S'"),
            Literal::Duration("P6DT23H59M59.9999S".into())
        );
        assert_eq!(lit("binary'Zm9vYg=='"), Literal::Binary("Zm9vYg".into()));
        assert!(matches!(
            lit("01234567-89ab-cdef-0123-456789abcdef"),
            Literal::Guid(_)
        ));
        assert!(matches!(
            lit("a02e8710-0eac-e7bc-70aa-8f73c31efa85"),
            Literal::Guid(_)
        ));
        assert!(matches!(
            lit("Sales.Pattern'Solid%2CYellow,%2B42'"),
            Literal::Enum { .. }
        ));
        assert!(matches!(
            lit("geography'SRID=0;MultiPolygon(((1 1,1 1),(1 1,2 2,3 3,1 1)))'"),
            Literal::Geo { .. }
        ));
    }

    #[test]
    fn malformed_literals_fail_where_they_go_wrong() {
        let fail_at = |r: PResult<'_, &str>, input: &str| match r {
            Ok((rest, _)) => input.len() - rest.len(),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => input.len() - e.input.len(),
            Err(nom::Err::Incomplete(_)) => usize::MAX,
        };
        assert_eq!(
            fail_at(
                date_time_offset("2011-12-31T24:00Z", false),
                "2011-12-31T24:00Z"
            ),
            11
        );
        assert_eq!(fail_at(duration_value("P1Y6D"), "P1Y6D"), 1);
        assert!(string("'O'Neil'", true).map(|(r, _)| r) == Ok("Neil'"));
        assert!(binary("X'1a'", true).is_err());
        assert!(number("42.", false).is_err());
        assert!(number(".1", false).is_err());
    }
}
