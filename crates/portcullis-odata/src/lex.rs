//! The lexical layer over the raw query text: delimiters that may be percent-encoded
//! (ABNF `OPEN = "(" / "%28"`, `SQUOTE = "'" / "%27"`, …), whitespace, identifiers, keywords,
//! and the nesting bound.

use super::error::{PErr, PResult};
use std::cell::Cell;

/// Deepest nesting (parentheses, calls, lambdas, expand levels) the parser follows. Policy
/// limits are usually far lower; this one only protects the stack.
pub const MAX_NESTING: u32 = 100;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Held while parsing one nested construct.
pub struct DepthGuard;

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Enters one level of nesting, or fails (committed) past [`MAX_NESTING`].
pub fn nest(i: &str) -> Result<DepthGuard, nom::Err<PErr<'_>>> {
    DEPTH.with(|d| {
        if d.get() >= MAX_NESTING {
            Err(nom::Err::Failure(PErr::new(i, "less nesting")))
        } else {
            d.set(d.get() + 1);
            Ok(DepthGuard)
        }
    })
}

/// Resets the nesting count (a failed parse may unwind without running every guard's drop in
/// order; each top-level parse starts from zero).
pub fn reset_nesting() {
    DEPTH.with(|d| d.set(0));
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%XX` escape at the start of `i` stands for.
pub fn escaped_byte(i: &str) -> Option<u8> {
    let b = i.as_bytes();
    if b.len() >= 3 && b[0] == b'%' {
        Some(hex(b[1])? << 4 | hex(b[2])?)
    } else {
        None
    }
}

/// Matches `c` written plainly or percent-encoded; returns the rest.
pub fn sym(c: u8, expected: &'static str) -> impl Fn(&str) -> PResult<'_, ()> {
    move |i: &str| {
        if i.as_bytes().first() == Some(&c) {
            Ok((&i[1..], ()))
        } else if escaped_byte(i) == Some(c) {
            Ok((&i[3..], ()))
        } else {
            PErr::fail(i, expected)
        }
    }
}

/// Matches `c` written plainly only (e.g. `/` and `=`, which the ABNF never escapes).
pub fn plain(c: u8, expected: &'static str) -> impl Fn(&str) -> PResult<'_, ()> {
    move |i: &str| {
        if i.as_bytes().first() == Some(&c) {
            Ok((&i[1..], ()))
        } else {
            PErr::fail(i, expected)
        }
    }
}

pub fn open(i: &str) -> PResult<'_, ()> {
    sym(b'(', "'('")(i)
}
pub fn close(i: &str) -> PResult<'_, ()> {
    sym(b')', "')'")(i)
}
pub fn comma(i: &str) -> PResult<'_, ()> {
    sym(b',', "','")(i)
}
pub fn colon(i: &str) -> PResult<'_, ()> {
    sym(b':', "':'")(i)
}
pub fn semi(i: &str) -> PResult<'_, ()> {
    sym(b';', "';'")(i)
}
pub fn squote(i: &str) -> PResult<'_, ()> {
    sym(b'\'', "a quote")(i)
}
pub fn dquote(i: &str) -> PResult<'_, ()> {
    sym(b'"', "'\"'")(i)
}
pub fn star(i: &str) -> PResult<'_, ()> {
    sym(b'*', "'*'")(i)
}
pub fn at(i: &str) -> PResult<'_, ()> {
    sym(b'@', "'@'")(i)
}
pub fn begin_array(i: &str) -> PResult<'_, ()> {
    sym(b'[', "'['")(i)
}
pub fn end_array(i: &str) -> PResult<'_, ()> {
    sym(b']', "']'")(i)
}
pub fn begin_object(i: &str) -> PResult<'_, ()> {
    sym(b'{', "'{'")(i)
}
pub fn end_object(i: &str) -> PResult<'_, ()> {
    sym(b'}', "'}'")(i)
}
pub fn slash(i: &str) -> PResult<'_, ()> {
    plain(b'/', "'/'")(i)
}

/// One whitespace unit: space, tab, `%20` or `%09`.
fn white(i: &str) -> Option<&str> {
    match i.as_bytes().first() {
        Some(b' ' | b'\t') => Some(&i[1..]),
        Some(b'%') if matches!(escaped_byte(i), Some(b' ' | b'\t')) => Some(&i[3..]),
        _ => None,
    }
}

/// Optional whitespace (ABNF `BWS`).
pub fn bws(mut i: &str) -> PResult<'_, ()> {
    while let Some(rest) = white(i) {
        i = rest;
    }
    Ok((i, ()))
}

/// A list separator `,`; with whitespace around it where the dialect's server skips it.
pub fn list_comma(i: &str) -> PResult<'_, ()> {
    separator(i, comma)
}

/// A nested-option separator `;`; with whitespace around it where the dialect allows.
pub fn list_semi(i: &str) -> PResult<'_, ()> {
    separator(i, semi)
}

fn separator<'a>(i: &'a str, sep: fn(&'a str) -> PResult<'a, ()>) -> PResult<'a, ()> {
    if !super::dialect::current().spaced_lists() {
        return sep(i);
    }
    let (rest, ()) = bws(i)?;
    let (rest, ()) = sep(rest)?;
    bws(rest)
}

/// `value` without whitespace (plain or `%20`/`%09`) at either end, and how many bytes went
/// from its start.
pub fn trim_bws(value: &str) -> (&str, usize) {
    let (start, ()) = bws(value).expect("bws never fails");
    let skipped = value.len() - start.len();
    let mut end = start;
    loop {
        let trimmed = end
            .strip_suffix([' ', '\t'])
            .or_else(|| end.strip_suffix("%20"))
            .or_else(|| end.strip_suffix("%09"));
        match trimmed {
            Some(shorter) => end = shorter,
            None => return (end, skipped),
        }
    }
}

/// Required whitespace (ABNF `RWS`).
pub fn rws(i: &str) -> PResult<'_, ()> {
    match white(i) {
        Some(rest) => bws(rest),
        None => PErr::fail(i, "whitespace"),
    }
}

pub fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `odataIdentifier`: a letter or `_`, then up to 127 letters, digits or `_`.
pub fn identifier(i: &str) -> PResult<'_, &str> {
    let b = i.as_bytes();
    if !b.first().is_some_and(|&c| is_ident_start(c)) {
        return PErr::fail(i, "a name");
    }
    let len = b.iter().take_while(|&&c| is_ident_char(c)).count();
    if len > 128 {
        return PErr::cut(&i[128..], "a shorter name");
    }
    Ok((&i[len..], &i[..len]))
}

/// A dotted name: `Name`, `Ns.Name`, `Ns.Sub.Name`.
pub fn dotted_name(i: &str) -> PResult<'_, &str> {
    let (mut rest, _) = identifier(i)?;
    while rest.starts_with('.') {
        match identifier(&rest[1..]) {
            Ok((after, _)) => rest = after,
            Err(_) => break,
        }
    }
    Ok((rest, &i[..i.len() - rest.len()]))
}

/// A keyword in any case, not followed by a name character.
pub fn keyword<'a>(word: &'static str) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i: &'a str| {
        let n = word.len();
        if i.len() >= n
            && i.as_bytes()[..n].eq_ignore_ascii_case(word.as_bytes())
            && !i.as_bytes().get(n).is_some_and(|&c| is_ident_char(c))
        {
            Ok((&i[n..], ()))
        } else {
            PErr::fail(i, word)
        }
    }
}

/// A keyword in exactly this case (`null`, `INF`, `NaN`, `$it`, …).
pub fn exact<'a>(word: &'static str) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i: &'a str| {
        if i.starts_with(word)
            && !i
                .as_bytes()
                .get(word.len())
                .is_some_and(|&c| is_ident_char(c))
        {
            Ok((&i[word.len()..], ()))
        } else {
            PErr::fail(i, word)
        }
    }
}

/// `1*DIGIT`
pub fn digits(i: &str) -> PResult<'_, &str> {
    let n = i.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        PErr::fail(i, "a digit")
    } else {
        Ok((&i[n..], &i[..n]))
    }
}

/// Exactly `n` digits.
pub fn n_digits(n: usize) -> impl Fn(&str) -> PResult<'_, &str> {
    move |i: &str| {
        if i.len() >= n && i.as_bytes()[..n].iter().all(u8::is_ascii_digit) {
            Ok((&i[n..], &i[..n]))
        } else {
            PErr::fail(i, "a digit")
        }
    }
}

/// A sign: `+`, `%2B` or `-`; returns it decoded.
pub fn sign(i: &str) -> PResult<'_, char> {
    if let Some(rest) = i.strip_prefix('-') {
        Ok((rest, '-'))
    } else if let Ok((rest, ())) = sym(b'+', "a sign")(i) {
        Ok((rest, '+'))
    } else {
        PErr::fail(i, "a sign")
    }
}

/// Percent-decodes `raw` (already known to be well-formed) into a string, or `None` when the
/// result is not UTF-8.
pub fn decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_string());
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_match_plain_or_encoded() {
        assert_eq!(open("(x"), Ok(("x", ())));
        assert_eq!(open("%28x"), Ok(("x", ())));
        assert!(open("%29x").is_err());
        assert_eq!(bws("%20 \t%09x"), Ok(("x", ())));
        assert!(rws("x").is_err());
    }

    #[test]
    fn identifiers_and_keywords() {
        assert_eq!(identifier("Name1 eq"), Ok((" eq", "Name1")));
        assert!(identifier("0time").is_err());
        assert_eq!(
            dotted_name("Model.Customer/x"),
            Ok(("/x", "Model.Customer"))
        );
        assert_eq!(keyword("eq")("EQ 1"), Ok((" 1", ())));
        assert!(keyword("eq")("equal").is_err());
        assert!(exact("null")("NULL").is_err());
    }
}
