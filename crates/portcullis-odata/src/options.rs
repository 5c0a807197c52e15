//! Query options: splitting the query string, recognising option names, and the value grammar
//! of each system option, at the top level and nested in `$expand`/`$select` parentheses.

use super::ast::*;
use super::dialect::{self, Dialect};
use super::error::{ErrorKind, ODataError, PErr, PResult};
use super::expr::common_expr;
use super::lex::{self, bws, close, decode, open, rws, slash};
use super::search::search_expr;

/// Where nested options appear, which decides the options allowed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// `$expand=Nav(…)`
    Expand,
    /// `$expand=Nav/$ref(…)`
    Ref,
    /// `…/$count(…)`
    Count,
    /// `$select=Prop(…)`
    Select,
}

/// The system options OData knows, by canonical (lower-case, `$`-less) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemOption {
    Filter,
    Select,
    Expand,
    OrderBy,
    Top,
    Skip,
    Count,
    InlineCount,
    Search,
    Format,
    SkipToken,
    DeltaToken,
    Compute,
    Apply,
    Index,
    SchemaVersion,
    Levels,
    Id,
}

impl SystemOption {
    pub fn from_name(name: &str) -> Option<SystemOption> {
        use SystemOption::*;
        const NAMES: [(&str, SystemOption); 18] = [
            ("filter", Filter),
            ("select", Select),
            ("expand", Expand),
            ("orderby", OrderBy),
            ("top", Top),
            ("skip", Skip),
            ("count", Count),
            ("inlinecount", InlineCount),
            ("search", Search),
            ("format", Format),
            ("skiptoken", SkipToken),
            ("deltatoken", DeltaToken),
            ("compute", Compute),
            ("apply", Apply),
            ("index", Index),
            ("schemaversion", SchemaVersion),
            ("levels", Levels),
            ("id", Id),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, option)| option)
    }

    /// The canonical spelling, for messages and printing.
    pub fn canonical(self) -> &'static str {
        use SystemOption::*;
        match self {
            Filter => "$filter",
            Select => "$select",
            Expand => "$expand",
            OrderBy => "$orderby",
            Top => "$top",
            Skip => "$skip",
            Count => "$count",
            InlineCount => "$inlinecount",
            Search => "$search",
            Format => "$format",
            SkipToken => "$skiptoken",
            DeltaToken => "$deltatoken",
            Compute => "$compute",
            Apply => "$apply",
            Index => "$index",
            SchemaVersion => "$schemaversion",
            Levels => "$levels",
            Id => "$id",
        }
    }

    /// OData 4.01 lets these be written without `$` (not the tokens, which are opaque).
    fn dollar_optional(self) -> bool {
        !matches!(self, SystemOption::SkipToken | SystemOption::DeltaToken)
    }

    fn allowed_in(self, nesting: Nesting) -> bool {
        use SystemOption::*;
        match nesting {
            Nesting::Count => matches!(self, Filter | Search),
            Nesting::Ref => matches!(self, Filter | Search | OrderBy | Skip | Top | Count),
            Nesting::Select => matches!(
                self,
                Filter | Search | Count | OrderBy | Skip | Top | Compute | Select
            ),
            Nesting::Expand => matches!(
                self,
                Filter | Search | Count | OrderBy | Skip | Top | Select | Expand | Compute | Levels
            ),
        }
    }
}

/// `1*DIGIT` as a number.
fn unsigned(i: &str) -> PResult<'_, u64> {
    let (rest, text) = lex::digits(i)?;
    text.parse()
        .map(|n| (rest, n))
        .map_err(|_| nom::Err::Failure(PErr::new(i, "a smaller number")))
}

fn boolean(i: &str) -> PResult<'_, bool> {
    if let Ok((rest, ())) = lex::keyword("true")(i) {
        Ok((rest, true))
    } else if let Ok((rest, ())) = lex::keyword("false")(i) {
        Ok((rest, false))
    } else {
        PErr::fail(i, "true or false")
    }
}

fn orderby(i: &str) -> PResult<'_, Vec<OrderItem>> {
    let mut items = Vec::new();
    let mut rest = i;
    loop {
        let (after, expr) = common_expr(rest)?;
        let mut after = after;
        let mut descending = None;
        if let Ok((a, ())) = rws(after) {
            if let Ok((a, ())) = lex::keyword("asc")(a) {
                descending = Some(false);
                after = a;
            } else if let Ok((a, ())) = lex::keyword("desc")(a) {
                descending = Some(true);
                after = a;
            }
        }
        items.push(OrderItem { expr, descending });
        match lex::list_comma(after) {
            Ok((a, ())) => rest = a,
            Err(_) => return Ok((after, items)),
        }
    }
}

fn compute(i: &str) -> PResult<'_, Vec<ComputeItem>> {
    let mut items = Vec::new();
    let mut rest = i;
    loop {
        let (after, expr) = common_expr(rest)?;
        let (after, ()) = rws(after).map_err(|_| nom::Err::Failure(PErr::new(after, "' as '")))?;
        let (after, ()) =
            lex::keyword("as")(after).map_err(|_| nom::Err::Failure(PErr::new(after, "'as'")))?;
        let (after, ()) =
            rws(after).map_err(|_| nom::Err::Failure(PErr::new(after, "whitespace")))?;
        let (after, name) = lex::identifier(after)
            .map_err(|_| nom::Err::Failure(PErr::new(after, "a property name")))?;
        items.push(ComputeItem {
            expr,
            name: name.to_string(),
        });
        match lex::list_comma(after) {
            Ok((a, ())) => rest = a,
            Err(_) => return Ok((after, items)),
        }
    }
}

fn levels(i: &str) -> PResult<'_, Levels> {
    if let Ok((rest, ())) = lex::keyword("max")(i) {
        return Ok((rest, Levels::Max));
    }
    if i.starts_with('0') {
        return PErr::cut(i, "a level from 1, or max");
    }
    let (rest, n) = unsigned(i)?;
    let n = u32::try_from(n).map_err(|_| nom::Err::Failure(PErr::new(i, "a smaller level")))?;
    Ok((rest, Levels::Count(n)))
}

/// A path segment of `$select`/`$expand`: a name, `Ns.*`, `*`, or `@annotation`.
fn item_segment(i: &str) -> PResult<'_, String> {
    if let Ok((rest, ())) = lex::star(i) {
        return Ok((rest, "*".to_string()));
    }
    if let Ok((rest, ())) = lex::at(i) {
        let (rest, name) = lex::dotted_name(rest)?;
        let mut rest = rest;
        let mut text = format!("@{name}");
        if rest.starts_with('#') || lex::escaped_byte(rest) == Some(b'#') {
            let skip = if rest.starts_with('#') { 1 } else { 3 };
            let (after, q) = lex::identifier(&rest[skip..])?;
            text.push('#');
            text.push_str(q);
            rest = after;
        }
        return Ok((rest, text));
    }
    let (rest, name) = lex::dotted_name(i)?;
    // `Ns.*`: all operations of a schema.
    if let Some(after) = rest.strip_prefix('.') {
        if let Ok((after, ())) = lex::star(after) {
            return Ok((after, format!("{name}.*")));
        }
    }
    Ok((rest, name.to_string()))
}

fn select(i: &str) -> PResult<'_, Vec<SelectItem>> {
    let mut items = Vec::new();
    let mut rest = i;
    loop {
        let (mut after, first) = item_segment(rest)?;
        let mut path = vec![first];
        while let Ok((a, ())) = slash(after) {
            let (a, seg) =
                item_segment(a).map_err(|_| nom::Err::Failure(PErr::new(a, "a property")))?;
            path.push(seg);
            after = a;
        }
        let mut parameters = None;
        let mut options = None;
        if open(after).is_ok() {
            let _guard = lex::nest(after)?;
            let (inner, ()) = open(after)?;
            let looks_like_option = {
                let name_end = inner.trim_start_matches('$');
                let (n, _) = lex::identifier(name_end).unwrap_or((name_end, ""));
                n.starts_with('=') || inner.starts_with('@')
            };
            if looks_like_option {
                let (a, opts) = nested_options(inner, Nesting::Select)?;
                options = Some(Box::new(opts));
                after = a;
            } else {
                let mut names = Vec::new();
                let mut a = inner;
                loop {
                    let (b, name) = lex::identifier(a)
                        .map_err(|_| nom::Err::Failure(PErr::new(a, "a parameter name")))?;
                    names.push(name.to_string());
                    match lex::list_comma(b) {
                        Ok((b, ())) => a = b,
                        Err(_) => {
                            a = b;
                            break;
                        }
                    }
                }
                parameters = Some(names);
                after = a;
            }
            after = close(after)
                .map_err(|_| nom::Err::Failure(PErr::new(after, "';' or ')'")))?
                .0;
        }
        items.push(SelectItem {
            path,
            parameters,
            options,
        });
        match lex::list_comma(after) {
            Ok((a, ())) => rest = a,
            Err(_) => return Ok((after, items)),
        }
    }
}

fn expand(i: &str) -> PResult<'_, Vec<ExpandItem>> {
    let mut items = Vec::new();
    let mut rest = i;
    loop {
        let (after, item) = expand_item(rest)?;
        items.push(item);
        match lex::list_comma(after) {
            Ok((a, ())) => rest = a,
            Err(_) => return Ok((after, items)),
        }
    }
}

fn expand_item(i: &str) -> PResult<'_, ExpandItem> {
    if let Ok((rest, ())) = lex::exact("$value")(i) {
        return Ok((
            rest,
            ExpandItem {
                path: vec!["$value".into()],
                target: ExpandTarget::Value,
                options: None,
            },
        ));
    }
    let (mut rest, first) = item_segment(i)?;
    let mut path = vec![first];
    let mut target = ExpandTarget::Path;
    while let Ok((after, ())) = slash(rest) {
        if let Ok((a, ())) = lex::exact("$ref")(after) {
            target = ExpandTarget::Ref;
            rest = a;
            break;
        }
        if let Ok((a, ())) = lex::exact("$count")(after) {
            target = ExpandTarget::Count;
            rest = a;
            break;
        }
        let (a, seg) = item_segment(after)
            .map_err(|_| nom::Err::Failure(PErr::new(after, "a navigation property")))?;
        path.push(seg);
        rest = a;
    }
    let nesting = match target {
        ExpandTarget::Ref => Nesting::Ref,
        ExpandTarget::Count => Nesting::Count,
        _ => Nesting::Expand,
    };
    let mut options = None;
    if open(rest).is_ok() {
        let _guard = lex::nest(rest)?;
        let (inner, ()) = open(rest)?;
        let (after, opts) = nested_options(inner, nesting)?;
        let (after, ()) =
            close(after).map_err(|_| nom::Err::Failure(PErr::new(after, "';' or ')'")))?;
        // `*` takes only `$levels`.
        if path.last().is_some_and(|s| s == "*")
            && (opts
                != ExpandOptions {
                    levels: opts.levels,
                    ..Default::default()
                })
        {
            return PErr::cut(inner, "only $levels after '*'");
        }
        options = Some(Box::new(opts));
        rest = after;
    }
    Ok((
        rest,
        ExpandItem {
            path,
            target,
            options,
        },
    ))
}

/// `option *( SEMI option )` inside parentheses; stops before the closing `)`.
pub fn nested_options(i: &str, nesting: Nesting) -> PResult<'_, ExpandOptions> {
    let mut options = ExpandOptions::default();
    let mut rest = i;
    loop {
        let start = rest;
        if let Ok((after, ())) = lex::at(rest) {
            let (after, name) = lex::identifier(after)?;
            let after = after
                .strip_prefix('=')
                .ok_or_else(|| nom::Err::Failure(PErr::new(after, "'='")))?;
            let (after, value) = common_expr(after)?;
            options.aliases.push((name.to_string(), value));
            rest = after;
        } else {
            let name_start = rest.strip_prefix('$').unwrap_or(rest);
            let (after, name) = lex::identifier(name_start)
                .map_err(|_| nom::Err::Failure(PErr::new(start, "a query option")))?;
            let option = SystemOption::from_name(name)
                .filter(|o| o.allowed_in(nesting))
                .ok_or_else(|| nom::Err::Failure(PErr::new(start, "an option allowed here")))?;
            let after = after
                .strip_prefix('=')
                .ok_or_else(|| nom::Err::Failure(PErr::new(after, "'='")))?;
            let (after, ()) = set_option(&mut options, option, after, start)?;
            rest = after;
        }
        match lex::list_semi(rest) {
            Ok((after, ())) => rest = after,
            Err(_) => return Ok((rest, options)),
        }
    }
}

/// Parses the value of `option` into `into`; a repeated option is an error at `name_start`.
fn set_option<'a>(
    into: &mut ExpandOptions,
    option: SystemOption,
    value: &'a str,
    name_start: &'a str,
) -> PResult<'a, ()> {
    fn once<'a, T>(slot: &mut Option<T>, parsed: (&'a str, T), at: &'a str) -> PResult<'a, ()> {
        if slot.is_some() {
            return PErr::cut(at, "each option once");
        }
        *slot = Some(parsed.1);
        Ok((parsed.0, ()))
    }
    use SystemOption::*;
    match option {
        Filter => once(&mut into.filter, common_expr(value)?, name_start),
        Select => once(&mut into.select, select(value)?, name_start),
        Expand => once(&mut into.expand, expand(value)?, name_start),
        OrderBy => once(&mut into.orderby, orderby(value)?, name_start),
        Top => once(&mut into.top, unsigned(value)?, name_start),
        Skip => once(&mut into.skip, unsigned(value)?, name_start),
        Count => once(&mut into.count, boolean(value)?, name_start),
        Search => {
            let (value, ()) = bws(value)?;
            once(&mut into.search, search_expr(value)?, name_start)
        }
        Levels => once(&mut into.levels, levels(value)?, name_start),
        Compute => once(&mut into.compute, compute(value)?, name_start),
        _ => PErr::cut(name_start, "an option allowed here"),
    }
}

/// Parsing switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Read `+` as a space, as HTML forms and many HTTP libraries encode it. Off by default:
    /// in the OData ABNF `+` is a sign.
    pub plus_as_space: bool,
    /// Whose reading of the query to follow (see [`Dialect`]).
    pub dialect: Dialect,
}

/// An option of the query, split and classified, with offsets into the raw query.
struct Piece<'a> {
    name: String,
    raw_name: &'a str,
    value: Option<&'a str>,
    name_at: usize,
    value_at: usize,
}

fn syntax_error(option: &str, at: usize, expected: &str) -> ODataError {
    ODataError {
        option: option.to_string(),
        position: at,
        kind: ErrorKind::Syntax,
        message: format!("expected {expected}"),
    }
}

/// Parses a whole raw query string (without the `?`).
pub fn parse_query(raw: &str, settings: ParseOptions) -> Result<Query, ODataError> {
    dialect::within(settings.dialect, || parse_in_dialect(raw, settings))
}

fn parse_in_dialect(raw: &str, settings: ParseOptions) -> Result<Query, ODataError> {
    let converted;
    let raw = if settings.plus_as_space && raw.as_bytes().contains(&b'+') {
        converted = raw.replace('+', "%20");
        converted.as_str()
    } else {
        raw
    };
    let mut query = Query::default();
    let mut seen: Vec<SystemOption> = Vec::new();
    let mut offset = 0;
    for part in raw.split('&') {
        let part_at = offset;
        offset += part.len() + 1;
        if part.is_empty() {
            continue;
        }
        if let Some(bad) = part
            .bytes()
            .position(|b| b == b'#' || (b != b'\t' && !(b' '..=b'~').contains(&b)))
        {
            return Err(syntax_error(
                "",
                part_at + bad,
                "a character allowed in a URL query",
            ));
        }
        let (raw_name, value) = match part.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (part, None),
        };
        let name = if raw_name.as_bytes().contains(&b'%') {
            decode(raw_name).ok_or_else(|| syntax_error("", part_at, "a UTF-8 option name"))?
        } else {
            raw_name.to_string()
        };
        let piece = Piece {
            name,
            raw_name,
            value,
            name_at: part_at,
            value_at: part_at + raw_name.len() + 1,
        };
        apply_piece(&mut query, &mut seen, piece)?;
    }
    lex::reset_nesting();
    Ok(query)
}

fn apply_piece(
    query: &mut Query,
    seen: &mut Vec<SystemOption>,
    piece: Piece<'_>,
) -> Result<(), ODataError> {
    let Piece {
        name,
        raw_name,
        value,
        name_at,
        value_at,
    } = piece;
    refuse_disguised_name(&name, name_at)?;
    // Parameter aliases: `@name=value`.
    if let Some(alias) = name.strip_prefix('@') {
        if !matches!(lex::identifier(alias), Ok(("", _))) {
            return Err(syntax_error(
                "",
                name_at,
                "a parameter alias: '@' and a name",
            ));
        }
        let value = value.ok_or_else(|| syntax_error(&name, name_at + raw_name.len(), "'='"))?;
        if query.options.aliases.iter().any(|(n, _)| n == alias) {
            return Err(ODataError {
                option: name.clone(),
                position: name_at,
                kind: ErrorKind::DuplicateOption,
                message: "the alias is given twice".into(),
            });
        }
        let expr = run(&name, value, value_at, common_expr)?;
        query.options.aliases.push((alias.to_string(), expr));
        return Ok(());
    }
    let (dollar, bare) = match name.strip_prefix('$') {
        Some(bare) => (true, bare),
        None => (false, name.as_str()),
    };
    let option = SystemOption::from_name(bare).filter(|o| dollar || o.dollar_optional());
    let Some(option) = option else {
        if dollar {
            return Err(ODataError {
                option: name.clone(),
                position: name_at,
                kind: ErrorKind::UnknownOption,
                message: "unknown system query option".into(),
            });
        }
        query
            .custom
            .push((raw_name.to_string(), value.map(str::to_string)));
        return Ok(());
    };
    let label = option.canonical();
    if seen.contains(&option) {
        return Err(ODataError {
            option: label.into(),
            position: name_at,
            kind: ErrorKind::DuplicateOption,
            message: "the option is given twice".into(),
        });
    }
    seen.push(option);
    let value = value.ok_or_else(|| syntax_error(label, name_at + raw_name.len(), "'='"))?;
    use SystemOption::*;
    match option {
        Filter | Select | Expand | OrderBy | Top | Skip | Count | Search | Compute => {
            let (value, value_at) = if super::dialect::current().trims_value(option == Search) {
                let (trimmed, skipped) = lex::trim_bws(value);
                (trimmed, value_at + skipped)
            } else {
                (value, value_at)
            };
            let options = &mut query.options;
            run(label, value, value_at, |v| {
                set_option(options, option, v, v)
            })?;
        }
        Levels => return Err(syntax_error(label, name_at, "$levels only inside $expand")),
        InlineCount => {
            query.inlinecount = Some(match value.to_ascii_lowercase().as_str() {
                "allpages" => super::ast::InlineCount::AllPages,
                "none" => super::ast::InlineCount::None,
                _ => return Err(bad_value(label, value_at, "allpages or none")),
            })
        }
        Format => {
            let decoded = decode(value).unwrap_or_default();
            let known = ["json", "atom", "xml"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&decoded));
            let media = decoded
                .split_once('/')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty());
            if !known && !media {
                return Err(bad_value(
                    label,
                    value_at,
                    "json, atom, xml or a media type",
                ));
            }
            query.format = Some(decoded);
        }
        SkipToken | DeltaToken => {
            if value.is_empty() {
                return Err(bad_value(label, value_at, "a token"));
            }
            let token = Some(value.to_string());
            if option == SkipToken {
                query.skiptoken = token;
            } else {
                query.deltatoken = token;
            }
        }
        Index => {
            let digits = value.strip_prefix('-').unwrap_or(value);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                let at = value_at + value.len() - digits.len();
                return Err(bad_value(label, at, "an integer"));
            }
            query.index = Some(
                value
                    .parse()
                    .map_err(|_| bad_value(label, value_at, "a smaller integer"))?,
            );
        }
        SchemaVersion => {
            let ok = value == "*"
                || (!value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
            if !ok {
                return Err(bad_value(label, value_at, "* or a version"));
            }
            query.schemaversion = Some(value.to_string());
        }
        Apply => query.apply = Some(value.to_string()),
        Id => query.id = Some(value.to_string()),
    }
    Ok(())
}

/// An option name that a server could read as a system option or an alias once it trims
/// whitespace (a `+` is a space to form decoders, and .NET trims any Unicode whitespace) is
/// refused: passed on as a custom option it would reach the backend unpoliced.
fn refuse_disguised_name(name: &str, name_at: usize) -> Result<(), ODataError> {
    let spaced = |c: char| c.is_whitespace() || c == '+';
    let trimmed = name.trim_matches(spaced);
    if trimmed.len() == name.len() {
        return Ok(());
    }
    let bare = trimmed.strip_prefix('$').unwrap_or(trimmed);
    if trimmed.starts_with(['$', '@']) || SystemOption::from_name(bare).is_some() {
        return Err(ODataError {
            option: name.to_string(),
            position: name_at,
            kind: ErrorKind::UnknownOption,
            message: format!(
                "an option name with whitespace around it; write {trimmed:?} without it"
            ),
        });
    }
    Ok(())
}

fn bad_value(option: &str, at: usize, expected: &str) -> ODataError {
    ODataError {
        option: option.to_string(),
        position: at,
        kind: ErrorKind::BadValue,
        message: format!("expected {expected}"),
    }
}

/// Runs a value parser over the whole of `value`, mapping failures to query offsets.
fn run<'a, T>(
    option: &str,
    value: &'a str,
    value_at: usize,
    parser: impl FnOnce(&'a str) -> PResult<'a, T>,
) -> Result<T, ODataError> {
    lex::reset_nesting();
    let at = |rest: &str| value_at + value.len() - rest.len();
    match parser(value) {
        Ok(("", out)) => Ok(out),
        Ok((rest, _)) => Err(syntax_error(
            option,
            at(rest),
            "the end of the value, or an operator",
        )),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let kind = if e.expected == "less nesting" {
                ErrorKind::TooComplex
            } else {
                ErrorKind::Syntax
            };
            Err(ODataError {
                option: option.to_string(),
                position: at(e.input),
                kind,
                message: format!("expected {}", e.expected),
            })
        }
        Err(nom::Err::Incomplete(_)) => Err(syntax_error(option, at(""), "more input")),
    }
}

/// Runs `parser` over all of `input` (for the conformance harness and the CLI).
pub fn parse_whole<'a, T>(
    input: &'a str,
    parser: impl FnOnce(&'a str) -> PResult<'a, T>,
) -> Result<T, ODataError> {
    run("", input, 0, parser)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Query, ODataError> {
        parse_query(q, ParseOptions::default())
    }

    #[test]
    fn options_with_or_without_dollar_in_any_case() {
        let q = parse("$top=5&skip=10&$OrderBy=Name%20desc&%24filter=Price%20gt%205").unwrap();
        assert_eq!((q.options.top, q.options.skip), (Some(5), Some(10)));
        assert!(q.options.orderby.is_some() && q.options.filter.is_some());
        let q = parse("find=O%27Neil&!special").unwrap();
        assert_eq!(q.custom.len(), 2);
    }

    #[test]
    fn duplicates_and_unknown_options_are_refused() {
        let e = parse("$filter=a&$filter=b").unwrap_err();
        assert_eq!((e.kind, e.position), (ErrorKind::DuplicateOption, 10));
        let e = parse("$top=1&TOP=2").unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateOption);
        let e = parse("$bogus=1").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownOption);
    }

    #[test]
    fn positions_are_offsets_in_the_raw_query() {
        let e = parse("$top=1&$filter=Price%20eq").unwrap_err();
        assert_eq!(e.option, "$filter");
        assert_eq!(e.position, 25);
        assert_eq!(e.to_string(), "$filter: expected an operand at 25");
    }

    #[test]
    fn nested_expand_options() {
        let q = parse("$expand=Items($select=Quantity;$expand=Product($select=Name,Price);@c=15)")
            .unwrap();
        let items = q.options.expand.unwrap();
        let opts = items[0].options.as_ref().unwrap();
        assert!(opts.select.is_some() && opts.expand.is_some());
        assert_eq!(opts.aliases.len(), 1);
        assert!(parse("$expand=Customer/$ref($levels=4)").is_err());
        assert!(parse("$expand=Items/$count($count=true)").is_err());
        assert!(parse("$expand=Category($levels=04)").is_err());
    }

    #[test]
    fn alias_names_must_be_identifiers() {
        // Found by the fuzz target: a decoded alias name with a space and a control character.
        let e = parse("$search=blue&@tNed%20e%1conu=0").unwrap_err();
        assert_eq!((e.kind, e.position), (ErrorKind::Syntax, 13));
        assert!(parse("@p=5&$filter=Age%20gt%20@p").is_ok());
    }

    #[test]
    fn search_words_with_encoded_delimiters_round_trip() {
        // Found by the fuzz target: `%3B` is a search-word character, a raw `;` is not.
        let q = parse("$search=blD_20NOTrde%20(%20AND%3bDlD__20NOgseen)").unwrap();
        let printed = super::super::print::query(&q);
        assert_eq!(parse(&printed).unwrap(), q, "{printed}");
    }

    #[test]
    fn negated_numbers_round_trip() {
        // Found by the fuzz target: `-(-(20))` printed as `--20`, which reads as `-(-20)`.
        for raw in ["$filter=--%20%2020", "$filter=-%2020", "$filter=-%20INF"] {
            let q = parse(raw).unwrap();
            let printed = super::super::print::query(&q);
            assert_eq!(parse(&printed).unwrap(), q, "{raw} printed as {printed}");
        }
    }

    #[test]
    fn annotation_qualifiers_round_trip() {
        // Found by the fuzz target: `%23` in a qualifier was kept raw and escaped again.
        for raw in [
            "$filter=contains(x,@q%23nd0)",
            "$filter=@q%23nmItNa/m%20eq%201",
            "$filter=Price/@Measures.Currency%23Reporting%20eq%20'EUR'",
        ] {
            let q = parse(raw).unwrap();
            let printed = super::super::print::query(&q);
            assert_eq!(parse(&printed).unwrap(), q, "{raw} printed as {printed}");
        }
    }

    #[test]
    fn nested_search_parses_in_linear_time() {
        // Found by the fuzz target (slow units): look-ahead that parsed each operand twice made
        // nested groups exponential. 40 nested groups (within the nesting bound) parse at once.
        let q = format!("$search={}x{}", "a%20OR%20(".repeat(40), ")".repeat(40));
        let started = std::time::Instant::now();
        assert!(parse(&q).is_ok());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn plus_as_space_is_a_switch() {
        assert!(parse("$filter=a+eq+1").is_err());
        let q = parse_query(
            "$filter=a+eq+1",
            ParseOptions {
                plus_as_space: true,
                ..ParseOptions::default()
            },
        )
        .unwrap();
        assert!(q.options.filter.is_some());
    }
}
