//! Property tests of the OData parser and printer.

use portcullis_odata::ast::*;
use portcullis_odata::print::query_in;
use portcullis_odata::{parse, parse_query, to_canonical, Dialect, ParseOptions};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "Name", "Price", "Address", "City", "Tags", "Items", "Age", "Rating",
];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_string)
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Boolean),
        any::<i32>().prop_map(|n| Literal::Number(n.to_string())),
        (any::<u16>(), 1u8..99).prop_map(|(a, b)| Literal::Number(format!("{a}.{b}"))),
        any::<String>().prop_map(Literal::String),
        any::<String>().prop_map(Literal::JsonString),
        (1000u32..9999, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| Literal::Date(format!("{y:04}-{m:02}-{d:02}"))),
        any::<u128>().prop_map(|g| {
            let h = format!("{g:032x}");
            Literal::Guid(format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ))
        }),
    ]
}

fn group(e: Expr) -> Expr {
    Expr::Group { inner: Box::new(e) }
}

fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Unary { .. } => UNARY_PRECEDENCE,
        _ => u8::MAX,
    }
}

/// Combines operands the way the parser associates them, adding groups where needed.
fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    let p = op.precedence();
    let primary_level = matches!(op, BinaryOp::Has | BinaryOp::In);
    let left = if (primary_level && precedence(&left) < p) || precedence(&left) < p {
        group(left)
    } else {
        left
    };
    let right = if (primary_level && precedence(&right) != u8::MAX) || precedence(&right) <= p {
        group(right)
    } else {
        right
    };
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

/// Whether the printed expression starts with a literal (after `-` it would become one).
fn starts_with_literal(e: &Expr) -> bool {
    match e {
        Expr::Literal { .. } => true,
        Expr::Binary { left, .. } => starts_with_literal(left),
        _ => false,
    }
}

fn unary(op: UnaryOp, operand: Expr) -> Expr {
    let needs_group = (op == UnaryOp::Neg && starts_with_literal(&operand))
        || matches!(&operand, Expr::Binary { op, .. } if op.precedence() < UNARY_PRECEDENCE);
    Expr::Unary {
        op,
        operand: Box::new(if needs_group { group(operand) } else { operand }),
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(|value| Expr::Literal { value }),
        prop::collection::vec(name(), 1..3).prop_map(|names| Expr::Path {
            segments: names
                .into_iter()
                .map(|name| Segment::Name { name })
                .collect()
        }),
        name().prop_map(|n| Expr::Alias {
            name: n.to_lowercase()
        }),
    ];
    leaf.prop_recursive(4, 32, 3, |inner| {
        let ops = prop::sample::select(vec![
            BinaryOp::Or,
            BinaryOp::And,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Gt,
            BinaryOp::Le,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::DivBy,
            BinaryOp::Mod,
            BinaryOp::Has,
        ]);
        prop_oneof![
            (ops, inner.clone(), inner.clone()).prop_map(|(op, l, r)| binary(op, l, r)),
            inner.clone().prop_map(|e| unary(UnaryOp::Not, e)),
            inner.clone().prop_map(|e| unary(UnaryOp::Neg, e)),
            inner.clone().prop_map(group),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Function {
                name: "contains".into(),
                args: vec![a, b]
            }),
            inner.clone().prop_map(|a| Expr::Function {
                name: "tolower".into(),
                args: vec![a]
            }),
            (name(), inner.clone()).prop_map(|(n, p)| Expr::Path {
                segments: vec![
                    Segment::Name { name: n },
                    Segment::Lambda {
                        all: false,
                        variable: Some("x".into()),
                        predicate: Some(Box::new(p))
                    },
                ]
            }),
            prop::collection::vec(inner, 0..3).prop_map(|items| Expr::Array { items }),
        ]
    })
}

fn search() -> impl Strategy<Value = SearchExpr> {
    let word = "[a-z][a-z0-9]{0,6}".prop_map(|text| SearchExpr::Word { text });
    let leaf = prop_oneof![
        word,
        "[a-z \"\\\\]{1,8}"
            .prop_filter("not blank", |s| !s.trim().is_empty())
            .prop_map(|text| SearchExpr::Phrase { text })
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        let grouped = |e: SearchExpr| match e {
            SearchExpr::And { .. } | SearchExpr::Or { .. } => {
                SearchExpr::Group { inner: Box::new(e) }
            }
            other => other,
        };
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(move |(l, r)| SearchExpr::And {
                left: Box::new(match l {
                    SearchExpr::Or { .. } => SearchExpr::Group { inner: Box::new(l) },
                    other => other,
                }),
                right: Box::new(grouped(r)),
            }),
            (inner.clone(), inner.clone()).prop_map(move |(l, r)| SearchExpr::Or {
                left: Box::new(l),
                right: Box::new(grouped(r))
            }),
            inner.prop_map(move |e| SearchExpr::Not {
                operand: Box::new(grouped(e))
            }),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::option::of(expr()),
        prop::option::of(prop::collection::vec(
            (expr(), prop::option::of(any::<bool>())),
            1..3,
        )),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<bool>()),
        prop::option::of(search()),
        prop::option::of(prop::collection::vec(name(), 1..4)),
    )
        .prop_map(
            |(filter, orderby, top, skip, count, search, select)| Query {
                options: ExpandOptions {
                    filter,
                    orderby: orderby.map(|items| {
                        items
                            .into_iter()
                            .map(|(expr, descending)| OrderItem { expr, descending })
                            .collect()
                    }),
                    top: top.map(u64::from),
                    skip: skip.map(u64::from),
                    count,
                    search,
                    select: select.map(|names| {
                        names
                            .into_iter()
                            .map(|n| SelectItem {
                                path: vec![n],
                                parameters: None,
                                options: None,
                            })
                            .collect()
                    }),
                    ..ExpandOptions::default()
                },
                ..Query::default()
            },
        )
}

fn in_dialect(dialect: Dialect) -> ParseOptions {
    ParseOptions {
        dialect,
        ..ParseOptions::default()
    }
}

/// Whether the strict grammar can say `q` at all (its phrases hold no `"`; only Olingo escapes
/// one).
fn strict_can_say(q: &Query) -> bool {
    fn phrase_ok(s: &SearchExpr) -> bool {
        match s {
            SearchExpr::Phrase { text } => !text.contains('"'),
            SearchExpr::Word { .. } => true,
            SearchExpr::Not { operand } => phrase_ok(operand),
            SearchExpr::And { left, right } | SearchExpr::Or { left, right } => {
                phrase_ok(left) && phrase_ok(right)
            }
            SearchExpr::Group { inner } => phrase_ok(inner),
        }
    }
    q.options.search.as_ref().is_none_or(phrase_ok)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_queries_print_and_reparse_to_the_same_tree(q in query()) {
        if strict_can_say(&q) {
            let printed = to_canonical(&q);
            let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
            prop_assert_eq!(reparsed, q.clone(), "printed as {}", printed);
        }
    }

    /// Every dialect reads what it prints as the same tree.
    #[test]
    fn every_dialect_reads_its_own_printing_as_the_same_tree(q in query()) {
        for dialect in Dialect::ALL {
            if dialect != Dialect::Olingo && !strict_can_say(&q) {
                continue;
            }
            let printed = query_in(&q, dialect);
            let reparsed = parse_query(&printed, in_dialect(dialect))
                .map_err(|e| TestCaseError::fail(format!("{dialect:?} {printed}: {e}")))?;
            prop_assert_eq!(&reparsed, &q, "{:?} printed as {}", dialect, printed);
        }
    }

    /// What a lenient dialect accepts also round-trips through its printer.
    #[test]
    fn lenient_text_never_panics_and_round_trips(s in "[$a-z=&()'%0-9 ,/:@*;\\[\\]{}\"\\\\-]{0,120}") {
        for dialect in [Dialect::Olingo, Dialect::AspNet] {
            if let Ok(q) = parse_query(&s, in_dialect(dialect)) {
                let printed = query_in(&q, dialect);
                let again = parse_query(&printed, in_dialect(dialect))
                    .map_err(|e| TestCaseError::fail(format!("{dialect:?} {s:?} → {printed}: {e}")))?;
                prop_assert_eq!(again, q);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_what_parses_round_trips(s in "\\PC{0,80}") {
        if let Ok(q) = parse(&s) {
            let printed = to_canonical(&q);
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{s:?} → {printed}: {e}")))?;
            prop_assert_eq!(again, q);
        }
    }

    #[test]
    fn query_like_text_never_panics(s in "[$a-z=&()'%0-9 ,/:@*;\\[\\]{}\"-]{0,120}") {
        let _ = parse(&s);
    }
}
