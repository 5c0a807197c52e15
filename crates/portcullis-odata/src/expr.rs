//! `commonExpr`: the expression grammar of `$filter`, `$orderby`, `$compute` and friends.
//!
//! Precedence (OData 4.01 URL conventions, table in §5.1.1.14), highest first: grouping;
//! primary (paths, calls, `has`, `in`); unary `-`/`not`; `mul div divby mod`; `add sub`;
//! `gt ge lt le`; `eq ne`; `and`; `or`. Binary operators associate to the left.

use super::ast::{Argument, BinaryOp, Expr, Literal, Segment, UnaryOp};
use super::error::{PErr, PResult};
use super::lex::{self, bws, close, colon, comma, open, rws, slash};
use super::literal;

/// Canonical functions and how many arguments each takes.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("contains", 2, 2),
    ("startswith", 2, 2),
    ("endswith", 2, 2),
    ("length", 1, 1),
    ("indexof", 2, 2),
    ("substring", 2, 3),
    ("matchespattern", 2, 2),
    ("tolower", 1, 1),
    ("toupper", 1, 1),
    ("trim", 1, 1),
    ("concat", 2, 2),
    ("hassubset", 2, 2),
    ("hassubsequence", 2, 2),
    ("year", 1, 1),
    ("month", 1, 1),
    ("day", 1, 1),
    ("hour", 1, 1),
    ("minute", 1, 1),
    ("second", 1, 1),
    ("fractionalseconds", 1, 1),
    ("totalseconds", 1, 1),
    ("date", 1, 1),
    ("time", 1, 1),
    ("totaloffsetminutes", 1, 1),
    ("now", 0, 0),
    ("maxdatetime", 0, 0),
    ("mindatetime", 0, 0),
    ("round", 1, 1),
    ("floor", 1, 1),
    ("ceiling", 1, 1),
    ("cast", 1, 2),
    ("isof", 1, 2),
    ("geo.distance", 2, 2),
    ("geo.length", 1, 1),
    ("geo.intersects", 2, 2),
];

/// The canonical function called `name` (any case), as (lower-case name, min, max arguments).
pub fn canonical_function(name: &str) -> Option<(&'static str, usize, usize)> {
    FUNCTIONS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .copied()
}

/// `commonExpr`
pub fn common_expr(i: &str) -> PResult<'_, Expr> {
    let _guard = lex::nest(i)?;
    binary(i, 1)
}

/// The binary operator (with its surrounding whitespace) at the start of `i`, if any.
fn operator(i: &str) -> Option<(&str, BinaryOp)> {
    let (after_ws, ()) = rws(i).ok()?;
    // Dispatch on the first letter: at most two keywords share one.
    let candidates: &[(&str, BinaryOp)] = match after_ws.as_bytes().first()?.to_ascii_lowercase() {
        b'o' => &[("or", BinaryOp::Or)],
        b'a' => &[("and", BinaryOp::And), ("add", BinaryOp::Add)],
        b'e' => &[("eq", BinaryOp::Eq)],
        b'n' => &[("ne", BinaryOp::Ne)],
        b'g' => &[("gt", BinaryOp::Gt), ("ge", BinaryOp::Ge)],
        b'l' => &[("lt", BinaryOp::Lt), ("le", BinaryOp::Le)],
        b's' => &[("sub", BinaryOp::Sub)],
        b'm' => &[("mul", BinaryOp::Mul), ("mod", BinaryOp::Mod)],
        b'd' => &[("divby", BinaryOp::DivBy), ("div", BinaryOp::Div)],
        _ => return None,
    };
    for &(word, op) in candidates {
        if let Ok((after_word, ())) = lex::keyword(word)(after_ws) {
            if let Ok((after, ())) = rws(after_word) {
                return Some((after, op));
            }
        }
    }
    None
}

/// An operator keyword after whitespace with no operand after it (`Price eq`): where the
/// operand should start.
fn dangling_operator(i: &str) -> Option<&str> {
    let (after_ws, ()) = rws(i).ok()?;
    const WORDS: [&str; 16] = [
        "or", "and", "eq", "ne", "gt", "ge", "lt", "le", "add", "sub", "mul", "divby", "div",
        "mod", "has", "in",
    ];
    WORDS.iter().find_map(|w| {
        let (after, ()) = lex::keyword(w)(after_ws).ok()?;
        let (after, ()) = bws(after).ok()?;
        (after.is_empty()
            || close(after).is_ok()
            || comma(after).is_ok()
            || lex::semi(after).is_ok())
        .then_some(after)
    })
}

fn binary(i: &str, min_precedence: u8) -> PResult<'_, Expr> {
    let (mut rest, mut left) = unary(i)?;
    loop {
        let Some((after_op, op)) = operator(rest) else {
            if let Some(at) = dangling_operator(rest) {
                return PErr::cut(at, "an operand");
            }
            break;
        };
        if op.precedence() < min_precedence {
            break;
        }
        let (after, right) =
            binary(after_op, op.precedence() + 1).map_err(|e| commit(e, after_op, "an operand"))?;
        left = Expr::binary(op, left, right);
        rest = after;
    }
    Ok((rest, left))
}

/// Turns a recoverable error into a committed one (after an operator, something must follow).
fn commit<'a>(e: nom::Err<PErr<'a>>, at: &'a str, expected: &'static str) -> nom::Err<PErr<'a>> {
    match e {
        nom::Err::Error(inner) => {
            if inner.input.len() < at.len() {
                nom::Err::Failure(inner)
            } else {
                nom::Err::Failure(PErr::new(at, expected))
            }
        }
        other => other,
    }
}

fn unary(i: &str) -> PResult<'_, Expr> {
    if let Some(after_minus) = i.strip_prefix('-') {
        // `-2`, `-INF` and `-10000-01-01` are literals; otherwise it negates.
        if let Ok((rest, literal)) = literal::primitive_literal(i) {
            return postfix(rest, Expr::Literal { value: literal });
        }
        let (rest, ()) = bws(after_minus)?;
        let _guard = lex::nest(i)?;
        let (rest, operand) = unary(rest).map_err(|e| commit(e, rest, "an operand"))?;
        return Ok((
            rest,
            Expr::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            },
        ));
    }
    if let Ok((after, ())) = lex::keyword("not")(i) {
        if let Ok((rest, ())) = rws(after) {
            let _guard = lex::nest(i)?;
            let (rest, operand) = unary(rest).map_err(|e| commit(e, rest, "an operand"))?;
            return Ok((
                rest,
                Expr::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(operand),
                },
            ));
        }
    }
    let (rest, primary) = primary(i)?;
    postfix(rest, primary)
}

/// `RWS ("has" / "in") RWS` at the start of `i`: the rest after it, and which.
fn postfix_operator(i: &str) -> Option<(&str, BinaryOp)> {
    let (after_ws, ()) = rws(i).ok()?;
    let (after, op) = if let Ok((after, ())) = lex::keyword("has")(after_ws) {
        (after, BinaryOp::Has)
    } else {
        (lex::keyword("in")(after_ws).ok()?.0, BinaryOp::In)
    };
    Some((rws(after).ok()?.0, op))
}

/// `has` and `in` bind tighter than anything but grouping.
fn postfix(mut rest: &str, mut left: Expr) -> PResult<'_, Expr> {
    while let Some((after_op, op)) = postfix_operator(rest) {
        let (after, right) = if op == BinaryOp::In {
            in_operand(after_op)
        } else {
            primary(after_op)
        }
        .map_err(|e| commit(e, after_op, "an operand"))?;
        left = Expr::binary(op, left, right);
        rest = after;
    }
    Ok((rest, left))
}

/// The right side of `in`: a parenthesized list of literals, or any primary.
fn in_operand(i: &str) -> PResult<'_, Expr> {
    if let Ok((rest, ())) = open(i) {
        let (mut r, ()) = bws(rest)?;
        let mut items = Vec::new();
        let list = loop {
            if let Ok((after, ())) = close(r) {
                break Some((after, items));
            }
            if !items.is_empty() {
                match comma(r).and_then(|(a, ())| bws(a)) {
                    Ok((after, ())) => r = after,
                    Err(_) => break None,
                }
            }
            match list_item(r) {
                Ok((after, lit)) => {
                    items.push(lit);
                    r = bws(after)?.0;
                }
                Err(_) => break None,
            }
        };
        if let Some((rest, items)) = list {
            if items.len() != 1 {
                return Ok((rest, Expr::List { items }));
            }
        }
    }
    primary(i)
}

/// A literal of an `in` list: a primitive literal, or where the dialect's server reads them
/// (OData.NET), a JSON-style `"…"` string, which is the same string as `'…'`.
fn list_item(i: &str) -> PResult<'_, Literal> {
    if super::dialect::current().double_quoted_in_lists() && lex::dquote(i).is_ok() {
        let (rest, text) = literal::json_string(i)?;
        return Ok((rest, Literal::String(text)));
    }
    literal::primitive_literal(i)
}

/// Grouping, literals, JSON, aliases, functions, `case`, paths.
fn primary(i: &str) -> PResult<'_, Expr> {
    let first = i.as_bytes().first().copied();
    if let Ok((rest, ())) = open(i) {
        let _guard = lex::nest(i)?;
        let (rest, ()) = bws(rest)?;
        let (rest, inner) = common_expr(rest).map_err(|e| commit(e, rest, "an operand"))?;
        let (rest, ()) = bws(rest)?;
        let (rest, ()) = close(rest).map_err(|_| nom::Err::Failure(PErr::new(rest, "')'")))?;
        return Ok((
            rest,
            Expr::Group {
                inner: Box::new(inner),
            },
        ));
    }
    if lex::begin_array(i).is_ok() {
        return array(i);
    }
    if lex::begin_object(i).is_ok() {
        return object(i);
    }
    if lex::dquote(i).is_ok() {
        let (rest, text) = literal::json_string(i)?;
        return Ok((
            rest,
            Expr::Literal {
                value: Literal::JsonString(text),
            },
        ));
    }
    if let Ok((after_at, ())) = lex::at(i) {
        let (rest, name) = annotation_name(after_at)?;
        // `@name` alone is a parameter alias; `@Ns.Term`, `@Term#Q` or `@name/…` is an
        // annotation path.
        if !name.contains(['.', '#']) && !rest.starts_with('/') {
            return Ok((rest, Expr::Alias { name }));
        }
        let first = Segment::Annotation { name };
        return path_from(rest, vec![first]);
    }
    if let Ok((rest, literal)) = literal::primitive_literal(i) {
        return Ok((rest, Expr::Literal { value: literal }));
    }
    if first == Some(b'$') {
        for variable in ["$it", "$this", "$root"] {
            if let Ok((rest, ())) = lex::exact(variable)(i) {
                return path_from(
                    rest,
                    vec![Segment::Variable {
                        name: variable.to_string(),
                    }],
                );
            }
        }
        return PErr::fail(i, "an operand");
    }
    let (after_name, name) =
        lex::dotted_name(i).map_err(|_| nom::Err::Error(PErr::new(i, "an operand")))?;
    if open(after_name).is_ok() {
        if name.eq_ignore_ascii_case("case") {
            return case(after_name);
        }
        if let Some((canonical, min, max)) = canonical_function(name) {
            return function(i, after_name, canonical, min, max);
        }
        if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
            return PErr::cut(after_name, "a collection path before any/all");
        }
    }
    path_from(i, Vec::new())
}

/// An annotation name: `Ns.Term`, `Term`, with an optional `#Qualifier` (`%23` encoded).
/// An annotation name: `Ns.Term` or `Term`, with an optional `#Qualifier` (`#` may be written
/// `%23`); returned decoded (`Term#Qualifier`).
fn annotation_name(i: &str) -> PResult<'_, String> {
    let (mut rest, term) = lex::dotted_name(i)?;
    let hash = if rest.starts_with('#') {
        Some(1)
    } else if lex::escaped_byte(rest) == Some(b'#') {
        Some(3)
    } else {
        None
    };
    let mut name = term.to_string();
    if let Some(n) = hash {
        let (after, qualifier) = lex::identifier(&rest[n..])?;
        name.push('#');
        name.push_str(qualifier);
        rest = after;
    }
    Ok((rest, name))
}

fn function<'a>(
    start: &'a str,
    after_name: &'a str,
    canonical: &'static str,
    min: usize,
    max: usize,
) -> PResult<'a, Expr> {
    let _guard = lex::nest(start)?;
    let (rest, ()) = open(after_name)?;
    let (rest, ()) = bws(rest)?;
    let (rest, args) = delimited_list(rest, true, close, "',' or ')'", |r| {
        common_expr(r).map_err(|e| commit(e, r, "an argument"))
    })?;
    if args.len() < min || args.len() > max {
        return PErr::cut(after_name, "the right number of arguments");
    }
    Ok((
        rest,
        Expr::Function {
            name: canonical.to_string(),
            args,
        },
    ))
}

/// `case(cond:value, …)`
fn case(after_name: &str) -> PResult<'_, Expr> {
    let _guard = lex::nest(after_name)?;
    let (rest, ()) = open(after_name)?;
    let (rest, ()) = bws(rest)?;
    let (rest, branches) = delimited_list(rest, false, close, "',' or ')'", |r| {
        let (after, condition) = common_expr(r).map_err(|e| commit(e, r, "a condition"))?;
        let (after, ()) = bws(after)?;
        let (after, ()) = colon(after).map_err(|_| nom::Err::Failure(PErr::new(after, "':'")))?;
        let (after, ()) = bws(after)?;
        let (after, value) = common_expr(after).map_err(|e| commit(e, after, "a value"))?;
        Ok((after, (condition, value)))
    })?;
    Ok((rest, Expr::Case { branches }))
}

/// `item *( BWS "," BWS item ) BWS end`, from just after the opening delimiter and its
/// whitespace; with `empty`, the list may be empty. `expected` names what may follow an item.
fn delimited_list<'a, T>(
    mut rest: &'a str,
    empty: bool,
    end: fn(&'a str) -> PResult<'a, ()>,
    expected: &'static str,
    mut item: impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut items = Vec::new();
    if empty {
        if let Ok((after, ())) = end(rest) {
            return Ok((after, items));
        }
    }
    loop {
        let (after, value) = item(rest)?;
        items.push(value);
        let (after, ()) = bws(after)?;
        if let Ok((after, ())) = comma(after) {
            rest = bws(after)?.0;
            continue;
        }
        let (after, ()) = end(after).map_err(|_| nom::Err::Failure(PErr::new(after, expected)))?;
        return Ok((after, items));
    }
}

/// `[ item, … ]` where an item is a JSON string or any expression.
fn array(i: &str) -> PResult<'_, Expr> {
    let _guard = lex::nest(i)?;
    let (rest, ()) = lex::begin_array(i)?;
    let (rest, ()) = bws(rest)?;
    let (rest, items) = delimited_list(rest, true, lex::end_array, "',' or ']'", |r| {
        common_expr(r).map_err(|e| commit(e, r, "an array item"))
    })?;
    Ok((rest, Expr::Array { items }))
}

/// `{ "name": value, … }`
fn object(i: &str) -> PResult<'_, Expr> {
    let _guard = lex::nest(i)?;
    let (rest, ()) = lex::begin_object(i)?;
    let (rest, ()) = bws(rest)?;
    let (rest, members) = delimited_list(rest, true, lex::end_object, "',' or '}'", |r| {
        let (after, name) = literal::json_string(r).map_err(|e| commit(e, r, "a member name"))?;
        let (after, ()) = bws(after)?;
        let (after, ()) = colon(after).map_err(|_| nom::Err::Failure(PErr::new(after, "':'")))?;
        let (after, ()) = bws(after)?;
        let (after, value) = common_expr(after).map_err(|e| commit(e, after, "a member value"))?;
        Ok((after, (name, value)))
    })?;
    Ok((rest, Expr::Object { members }))
}

/// `( [name=]value, … )` after a name: function arguments or a key predicate.
fn arguments(i: &str) -> PResult<'_, Vec<Argument>> {
    let _guard = lex::nest(i)?;
    let (rest, ()) = open(i)?;
    let (rest, ()) = bws(rest)?;
    delimited_list(rest, true, close, "',' or ')'", |r| {
        let named = lex::identifier(r).ok().and_then(|(after, name)| {
            let (after, ()) = bws(after).ok()?;
            let after = after.strip_prefix('=')?;
            Some((bws(after).ok()?.0, name))
        });
        let (value_start, name) = match named {
            Some((after, name)) => (after, Some(name.to_string())),
            None => (r, None),
        };
        let (after, value) =
            common_expr(value_start).map_err(|e| commit(e, value_start, "an argument"))?;
        Ok((after, Argument { name, value }))
    })
}

/// A lambda after `any`/`all`: `()` (any only) or `(x:predicate)`.
pub fn lambda(i: &str, all: bool) -> PResult<'_, Segment> {
    let _guard = lex::nest(i)?;
    let (rest, ()) = open(i)?;
    let (rest, ()) = bws(rest)?;
    if let Ok((after, ())) = close(rest) {
        if all {
            return PErr::cut(rest, "a lambda variable");
        }
        return Ok((
            after,
            Segment::Lambda {
                all,
                variable: None,
                predicate: None,
            },
        ));
    }
    let (after, variable) = lex::identifier(rest)
        .map_err(|_| nom::Err::Failure(PErr::new(rest, "a lambda variable")))?;
    let (after, ()) = bws(after)?;
    let (after, ()) = colon(after).map_err(|_| nom::Err::Failure(PErr::new(after, "':'")))?;
    let (after, ()) = bws(after)?;
    let (after, predicate) = common_expr(after).map_err(|e| commit(e, after, "a predicate"))?;
    let (after, ()) = bws(after)?;
    let (after, ()) = close(after).map_err(|_| nom::Err::Failure(PErr::new(after, "')'")))?;
    Ok((
        after,
        Segment::Lambda {
            all,
            variable: Some(variable.to_string()),
            predicate: Some(Box::new(predicate)),
        },
    ))
}

/// One segment after a `/` (or the first, when `segments` is empty).
fn segment<'a>(i: &'a str, first: bool) -> PResult<'a, Segment> {
    if !first {
        if let Ok((rest, ())) = lex::exact("$count")(i) {
            if open(rest).is_ok() {
                let _guard = lex::nest(i)?;
                let (rest, ()) = open(rest)?;
                let (rest, options) =
                    super::options::nested_options(rest, super::options::Nesting::Count)?;
                let (rest, ()) =
                    close(rest).map_err(|_| nom::Err::Failure(PErr::new(rest, "')'")))?;
                return Ok((
                    rest,
                    Segment::Count {
                        options: Some(Box::new(options)),
                    },
                ));
            }
            return Ok((rest, Segment::Count { options: None }));
        }
        if let Ok((rest, ())) = lex::exact("$filter")(i) {
            let _guard = lex::nest(i)?;
            let (rest, ()) = open(rest).map_err(|_| nom::Err::Failure(PErr::new(rest, "'('")))?;
            let (rest, ()) = bws(rest)?;
            let (rest, expr) = common_expr(rest).map_err(|e| commit(e, rest, "a condition"))?;
            let (rest, ()) = bws(rest)?;
            let (rest, ()) = close(rest).map_err(|_| nom::Err::Failure(PErr::new(rest, "')'")))?;
            return Ok((
                rest,
                Segment::Filter {
                    expr: Box::new(expr),
                },
            ));
        }
        for (word, all) in [("any", false), ("all", true)] {
            if let Ok((rest, ())) = lex::keyword(word)(i) {
                if open(rest).is_ok() {
                    return lambda(rest, all);
                }
            }
        }
        if let Ok((rest, ())) = lex::at(i) {
            let (rest, name) = annotation_name(rest)?;
            return Ok((rest, Segment::Annotation { name }));
        }
    }
    let (rest, name) = lex::dotted_name(i).map_err(|_| nom::Err::Error(PErr::new(i, "a name")))?;
    if open(rest).is_ok() {
        let (rest, args) = arguments(rest)?;
        return Ok((
            rest,
            Segment::Call {
                name: name.to_string(),
                args,
            },
        ));
    }
    Ok((
        rest,
        Segment::Name {
            name: name.to_string(),
        },
    ))
}

/// A path: segments joined by `/`, each possibly followed by key predicates.
fn path_from(i: &str, mut segments: Vec<Segment>) -> PResult<'_, Expr> {
    let mut rest = i;
    if segments.is_empty() {
        let (after, first) = segment(rest, true)?;
        segments.push(first);
        rest = after;
    }
    loop {
        // Key predicates on the previous segment: `(…)`.
        while open(rest).is_ok() {
            let (after, args) = arguments(rest)?;
            segments.push(Segment::Key { args });
            rest = after;
        }
        match slash(rest) {
            Ok((after, ())) => {
                let (after, next) =
                    segment(after, false).map_err(|e| commit(e, after, "a path segment"))?;
                segments.push(next);
                rest = after;
            }
            Err(_) => break,
        }
    }
    Ok((rest, Expr::Path { segments }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Expr {
        lex::reset_nesting();
        let (rest, e) = common_expr(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        assert!(rest.is_empty(), "{text}: left {rest:?}");
        e
    }

    fn op(e: &Expr) -> Option<BinaryOp> {
        match e {
            Expr::Binary { op, .. } => Some(*op),
            _ => None,
        }
    }

    #[test]
    fn precedence_follows_the_spec_table() {
        // `a eq b gt c` is `a eq (b gt c)`; `or` binds loosest; `add` tighter than `eq`.
        let e = parse("a eq b gt c");
        assert_eq!(op(&e), Some(BinaryOp::Eq));
        let e = parse("a or b and c");
        assert_eq!(op(&e), Some(BinaryOp::Or));
        let e = parse("Price add 2.45 eq 5.00");
        assert_eq!(op(&e), Some(BinaryOp::Eq));
        let e = parse("a sub b sub c");
        match e {
            Expr::Binary { left, .. } => assert_eq!(op(&left), Some(BinaryOp::Sub)),
            _ => panic!(),
        }
        // `not` applies to the `in` expression (primary binds tighter than unary).
        match parse("not Name in ('a','b')") {
            Expr::Unary { operand, .. } => assert_eq!(op(&operand), Some(BinaryOp::In)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paths_calls_and_lambdas() {
        parse("Products/Model.ProductsByColor(color=@color)/Model.BestSellingProduct/Model.MostPopularName()");
        parse("Products/$filter(Age gt 3)(ID='Sugar')");
        parse("Products/$count($filter=Price gt 5.00) gt 2");
        parse("Products/any(lambda:lambda/Completed)");
        parse("DirectReports/Sales.Manager/any()");
        parse("@Core.Messages/any(m:m/severity eq 'error')");
        parse("Price/@Measures.Currency%23Reporting eq 'EUR'");
        parse("case(X gt 0:1,X lt 0:-1,true:0)");
        parse("maxdatetime%28%20%29");
        parse("'[1,2]' eq [FirstName,LastName]");
        parse(r#"{"FirstName":Customer/FirstName,"Sizes":[1, 2 add 3]}"#);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let at = |text: &str| {
            lex::reset_nesting();
            match common_expr(text) {
                Ok((rest, _)) => text.len() - rest.len(),
                Err(nom::Err::Error(e) | nom::Err::Failure(e)) => text.len() - e.input.len(),
                Err(_) => usize::MAX,
            }
        };
        assert_eq!(at("FirstName in (FirstName,LastName)"), 23);
        assert_eq!(at("EmailAddresses eq ('Miller','Smith')"), 27);
        assert_eq!(at("any()"), 3);
        assert_eq!(at("Price eq"), 8);
        assert_eq!(at("contains(a)"), 8);
    }

    #[test]
    fn nesting_is_bounded() {
        lex::reset_nesting();
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(common_expr(&deep).is_err());
        lex::reset_nesting();
        let ok = format!("{}1{}", "(".repeat(20), ")".repeat(20));
        assert!(common_expr(&ok).is_ok());
    }
}
