//! Parsing by ABNF rule name, for the OASIS conformance cases (and for anyone checking one
//! construct). Only the rules of query options and the expressions and literals under them
//! are here; resource paths, headers, `context` and preferences are not the gateway's.

use super::error::{ODataError, PErr, PResult};
use super::expr::common_expr;
use super::lex::{self, bws};
use super::literal;
use super::options::{parse_query, parse_whole, ParseOptions};
use super::search::search_expr;

/// `[sign] 1*DIGIT`, for the integer value rules.
fn integer(i: &str, url: bool) -> PResult<'_, ()> {
    let mut rest = i;
    if let Ok((after, sign)) = lex::sign(i) {
        if sign == '+' && !url && i.starts_with('%') {
            return PErr::fail(i, "a digit");
        }
        rest = after;
    }
    let (rest, _) = lex::digits(rest)?;
    Ok((rest, ()))
}

/// `[ qualifiedEnumTypeName ] SQUOTE enumValue SQUOTE`
fn enum_literal(i: &str) -> PResult<'_, ()> {
    let rest = lex::dotted_name(i).map(|(r, _)| r).unwrap_or(i);
    let (rest, ()) = lex::squote(rest)?;
    let (rest, _) = literal::enum_value(rest, true)?;
    let (rest, ()) = lex::squote(rest)?;
    Ok((rest, ()))
}

/// `[ "duration" ] SQUOTE durationValue SQUOTE`
fn duration_literal(i: &str) -> PResult<'_, ()> {
    let rest = if i.len() >= 8 && i[..8].eq_ignore_ascii_case("duration") {
        &i[8..]
    } else {
        i
    };
    let (rest, ()) = lex::squote(rest)?;
    let (rest, _) = literal::duration_value(rest)?;
    let (rest, ()) = lex::squote(rest)?;
    Ok((rest, ()))
}

/// Base64url payload (`binaryValue`).
fn base64_value(i: &str) -> PResult<'_, ()> {
    let len = i
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        .count();
    let pad = i[len..].bytes().take_while(|&b| b == b'=').count();
    if len == 0 || len % 4 == 1 || pad > 2 {
        return PErr::fail(i, "base64url data");
    }
    Ok((&i[len + pad..], ()))
}

/// `primitiveValue`: any payload-format primitive.
fn primitive_value(i: &str) -> PResult<'_, ()> {
    type Alternative = fn(&str) -> PResult<'_, ()>;
    let alternatives: [Alternative; 9] = [
        |i| literal::guid(i).map(|(r, _)| (r, ())),
        |i| literal::date_time_offset(i, false).map(|(r, _)| (r, ())),
        |i| literal::date(i).map(|(r, _)| (r, ())),
        |i| literal::time_of_day(i, false).map(|(r, _)| (r, ())),
        |i| literal::number(i, false).map(|(r, _)| (r, ())),
        |i| literal::duration_value(i).map(|(r, _)| (r, ())),
        |i| literal::geo_value(i, false).map(|(r, _)| (r, ())),
        |i| literal::enum_value(i, false).map(|(r, _)| (r, ())),
        base64_value,
    ];
    let mut furthest: Option<&str> = None;
    for parse in alternatives {
        match parse(i) {
            Ok(("", ())) => return Ok(("", ())),
            Ok((rest, ())) => {
                if furthest.is_none_or(|f| rest.len() < f.len()) {
                    furthest = Some(rest);
                }
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                if furthest.is_none_or(|f| e.input.len() < f.len()) {
                    furthest = Some(e.input);
                }
            }
            Err(nom::Err::Incomplete(_)) => {}
        }
    }
    PErr::fail(furthest.unwrap_or(i), "a primitive value")
}

fn unit<'a, T>(p: impl Fn(&'a str) -> PResult<'a, T>) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i| p(i).map(|(r, _)| (r, ()))
}

/// Parses `input` as the ABNF rule `rule`. `None`: the rule is not one of the gateway's.
pub fn parse_rule(rule: &str, input: &str) -> Option<Result<(), ODataError>> {
    Some(match rule {
        "queryOptions" | "systemQueryOption" | "customQueryOption" | "filter" | "select"
        | "expand" | "orderby" | "orderBy" | "search" | "compute" | "skiptoken" | "deltatoken" => {
            parse_query(input, ParseOptions::default()).map(|_| ())
        }
        "commonExpr" | "boolCommonExpr" | "boolcommonExpr" | "firstMemberExpr"
        | "propertyPathExpr" | "isofExpr" | "notExpr" => parse_whole(input, unit(common_expr)),
        "anyExpr" => parse_whole(input, |i| {
            let (rest, ()) = lex::keyword("any")(i)?;
            let (rest, _) = super::expr::lambda(rest, false)?;
            Ok((rest, ()))
        }),
        "searchExpr" => parse_whole(input, |i| {
            let (i, ()) = bws(i)?;
            unit(search_expr)(i)
        }),
        "functionParameter" => parse_whole(input, |i| {
            let (rest, _) = lex::identifier(i)?;
            let rest = rest
                .strip_prefix('=')
                .ok_or_else(|| nom::Err::Error(PErr::new(rest, "'='")))?;
            unit(common_expr)(rest)
        }),
        "odataIdentifier" => parse_whole(input, unit(lex::identifier)),
        "primitiveLiteral" => parse_whole(input, unit(literal::primitive_literal)),
        "primitiveValue" => parse_whole(input, primitive_value),
        "null" | "\"null\"" => parse_whole(input, lex::exact("null")),
        "boolean" => parse_whole(input, |i| {
            lex::keyword("true")(i).or_else(|_| lex::keyword("false")(i))
        }),
        "booleanValue" => parse_whole(input, |i| {
            lex::exact("true")(i).or_else(|_| lex::exact("false")(i))
        }),
        "guid" => parse_whole(input, unit(literal::guid)),
        "date" | "dateValue" => parse_whole(input, unit(literal::date)),
        "dateTimeOffsetValue" => parse_whole(input, unit(|i| literal::date_time_offset(i, false))),
        "dateTimeOffsetLiteral" | "dateTimeOffsetValueInUrl" => {
            parse_whole(input, unit(|i| literal::date_time_offset(i, true)))
        }
        "timeOfDayValue" => parse_whole(input, unit(|i| literal::time_of_day(i, false))),
        "timeOfDayLiteral" | "timeOfDayValueInUrl" => {
            parse_whole(input, unit(|i| literal::time_of_day(i, true)))
        }
        "durationValue" => parse_whole(input, unit(literal::duration_value)),
        "durationLiteral" => parse_whole(input, duration_literal),
        "decimalValue" | "doubleValue" | "singleValue" => {
            parse_whole(input, unit(|i| literal::number(i, false)))
        }
        "decimalLiteral" | "doubleLiteral" | "singleLiteral" => {
            parse_whole(input, unit(|i| literal::number(i, true)))
        }
        "byteValue" | "sbyteValue" | "int16Value" | "int32Value" | "int64Value" => {
            parse_whole(input, |i| integer(i, false))
        }
        "byteLiteral" | "sbyteLiteral" | "int16Literal" | "int32Literal" | "int64Literal" => {
            parse_whole(input, |i| integer(i, true))
        }
        "binaryLiteral" => parse_whole(input, unit(|i| literal::binary(i, true))),
        "stringLiteral" => parse_whole(input, unit(|i| literal::string(i, true))),
        "stringInUrl" => parse_whole(input, unit(literal::json_string)),
        "enumLiteral" => parse_whole(input, enum_literal),
        "enumValue" => parse_whole(input, unit(|i| literal::enum_value(i, false))),
        r if r.starts_with("geography") || r.starts_with("geometry") => {
            parse_whole(input, unit(|i| literal::geo_literal(i, true)))
        }
        _ => return None,
    })
}
