//! `$search`: `NOT` binds tighter than `AND` (which juxtaposition implies), which binds tighter
//! than `OR`. The keywords are case-sensitive and are words where they cannot be operators.

use super::ast::SearchExpr;
use super::error::{PErr, PResult};
use super::lex::{self, bws, close, decode, escaped_byte, open, rws};

pub fn search_expr(i: &str) -> PResult<'_, SearchExpr> {
    let _guard = lex::nest(i)?;
    let (mut rest, mut left) = and_expr(i)?;
    while let Some(after) = operator(rest, "OR") {
        let (after, right) =
            and_expr(after).map_err(|_| nom::Err::Failure(PErr::new(after, "a search term")))?;
        left = SearchExpr::Or {
            left: Box::new(left),
            right: Box::new(right),
        };
        rest = after;
    }
    Ok((rest, left))
}

/// Whether a search term can start at `i` (a cheap look-ahead: operands are parsed once).
fn starts_term(i: &str) -> bool {
    is_word_char(i).is_some() || lex::dquote(i).is_ok() || open(i).is_ok() || lex::squote(i).is_ok()
}

/// `RWS keyword RWS` followed by the start of a term: the rest after it.
fn operator<'a>(i: &'a str, word: &'static str) -> Option<&'a str> {
    let (after, ()) = rws(i).ok()?;
    let after = after.strip_prefix(word)?;
    let (after, ()) = rws(after).ok()?;
    starts_term(after).then_some(after)
}

fn and_expr(i: &str) -> PResult<'_, SearchExpr> {
    let (mut rest, mut left) = unary(i)?;
    loop {
        if operator(rest, "OR").is_some() {
            break;
        }
        let next = if let Some(after) = operator(rest, "AND") {
            after
        } else if let Ok((after, ())) = rws(rest) {
            if !starts_term(after) {
                break;
            }
            after
        } else {
            break;
        };
        let (after, right) = unary(next)?;
        left = SearchExpr::And {
            left: Box::new(left),
            right: Box::new(right),
        };
        rest = after;
    }
    Ok((rest, left))
}

fn unary(i: &str) -> PResult<'_, SearchExpr> {
    if let Some(after) = i.strip_prefix("NOT") {
        if let Ok((after, ())) = rws(after) {
            if let Ok((rest, operand)) = unary(after) {
                return Ok((
                    rest,
                    SearchExpr::Not {
                        operand: Box::new(operand),
                    },
                ));
            }
        }
    }
    primary(i)
}

fn primary(i: &str) -> PResult<'_, SearchExpr> {
    if let Ok((rest, ())) = open(i) {
        let _guard = lex::nest(i)?;
        let (rest, ()) = bws(rest)?;
        let (rest, inner) = search_expr(rest)?;
        let (rest, ()) = bws(rest)?;
        let (rest, ()) = close(rest).map_err(|_| nom::Err::Failure(PErr::new(rest, "')'")))?;
        return Ok((
            rest,
            SearchExpr::Group {
                inner: Box::new(inner),
            },
        ));
    }
    if lex::dquote(i).is_ok() {
        return phrase(i);
    }
    word(i)
}

/// `"…"`: anything but `&` and `"` (plain or `%22`), spaces included. Where the dialect's
/// server reads `\` as an escape (Olingo), `\"` is a quote and `\\` a backslash in the
/// phrase, and a `\` before anything else is refused as that server refuses it.
fn phrase(i: &str) -> PResult<'_, SearchExpr> {
    let escapes = super::dialect::current().escaped_phrases();
    let (start, ()) = lex::dquote(i)?;
    let mut rest = start;
    let mut bytes = Vec::new();
    loop {
        if let Ok((after, ())) = lex::dquote(rest) {
            if bytes.is_empty() {
                return PErr::cut(rest, "a search phrase");
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| nom::Err::Failure(PErr::new(start, "UTF-8 text")))?;
            return Ok((after, SearchExpr::Phrase { text }));
        }
        let (byte, after) = match rest.as_bytes().first() {
            None | Some(b'&' | b'#') => return PErr::cut(rest, "a closing '\"'"),
            Some(b'%') => match escaped_byte(rest) {
                Some(b) => (b, &rest[3..]),
                None => return PErr::cut(rest, "a valid percent-escape"),
            },
            Some(&b) if !(0x20..0x7f).contains(&b) => return PErr::cut(rest, "a closing '\"'"),
            Some(&b) => (b, &rest[1..]),
        };
        rest = after;
        if escapes && byte == b'\\' {
            let (escaped, after) = match rest.as_bytes().first() {
                Some(b'%') => (escaped_byte(rest), rest.get(3..)),
                Some(&b) => (Some(b), rest.get(1..)),
                None => (None, None),
            };
            match (escaped, after) {
                (Some(b @ (b'"' | b'\\')), Some(after)) => {
                    bytes.push(b);
                    rest = after;
                }
                _ => return PErr::cut(rest, "'\"' or '\\' after '\\'"),
            }
            continue;
        }
        bytes.push(byte);
    }
}

fn is_word_char(i: &str) -> Option<usize> {
    let b = *i.as_bytes().first()?;
    match b {
        b'%' => match escaped_byte(i)? {
            b'"' | b'(' | b')' | b' ' | b'\t' => None,
            _ => Some(3),
        },
        b if b.is_ascii_alphanumeric() => Some(1),
        b'-' | b'.' | b'_' | b'~' | b'!' | b'*' | b'+' | b',' | b':' | b'@' | b'/' | b'?'
        | b'$' | b'=' => Some(1),
        _ => None,
    }
}

/// A search word, or a single-quoted (incomplete) phrase kept as written.
fn word(i: &str) -> PResult<'_, SearchExpr> {
    if let Ok((mut rest, ())) = lex::squote(i) {
        // searchExpr-incomplete: `'…'` with `''` as a quote.
        loop {
            if let Ok((after, ())) = lex::squote(rest) {
                if let Ok((after2, ())) = lex::squote(after) {
                    rest = after2;
                    continue;
                }
                let raw = &i[..i.len() - after.len()];
                let text =
                    decode(raw).ok_or_else(|| nom::Err::Failure(PErr::new(i, "UTF-8 text")))?;
                return Ok((after, SearchExpr::Word { text }));
            }
            rest = match rest.as_bytes().first() {
                None | Some(b'&' | b'#') => return PErr::cut(rest, "a closing quote"),
                Some(b'%') if escaped_byte(rest).is_none() => {
                    return PErr::cut(rest, "a valid percent-escape")
                }
                Some(b'%') => &rest[3..],
                Some(_) => &rest[1..],
            };
        }
    }
    let mut len = 0;
    while let Some(n) = is_word_char(&i[len..]).or_else(|| {
        (len > 0 && lex::squote(&i[len..]).is_ok()).then(|| {
            if i[len..].starts_with('\'') {
                1
            } else {
                3
            }
        })
    }) {
        len += n;
    }
    if len == 0 {
        return PErr::fail(i, "a search term");
    }
    let text = decode(&i[..len]).ok_or_else(|| nom::Err::Failure(PErr::new(i, "UTF-8 text")))?;
    Ok((&i[len..], SearchExpr::Word { text }))
}
