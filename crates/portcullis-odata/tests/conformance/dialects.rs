//! Each dialect's lenient forms, as its server documents or implements them: every one parses
//! to the tree of its strict spelling in its own dialect, and is refused where that server
//! would refuse it (strict: the OASIS ABNF).
//!
//! Sources: Apache Olingo 4's `SearchTokenizer` (trims the `$search` value; a phrase escapes
//! `"` and `\` with `\`, anything else after `\` is forbidden) and `UriTokenizer` (`,` taken
//! without whitespace, the end of each value required); Microsoft.OData.Core's
//! `ExpressionLexer` (whitespace skipped between tokens; `"…"` strings in collection literals)
//! and ASP.NET Core OData's case-insensitive property resolution.

use portcullis_core::principal::Principal;
use portcullis_odata::policy::ODataPolicy;
use portcullis_odata::{parse_query, Dialect, ParseOptions, Query};

fn parse_in(dialect: Dialect, query: &str) -> Result<Query, String> {
    let options = ParseOptions {
        dialect,
        ..ParseOptions::default()
    };
    parse_query(query, options).map_err(|e| e.to_string())
}

/// `lenient` reads as `strict` in `dialect`, and only there (among the given refusers).
fn same_tree(dialect: Dialect, lenient: &str, strict: &str, refused_by: &[Dialect]) {
    let expected = parse_in(Dialect::Strict, strict)
        .unwrap_or_else(|e| panic!("the strict spelling {strict:?} must parse: {e}"));
    let read = parse_in(dialect, lenient)
        .unwrap_or_else(|e| panic!("{dialect:?} must read {lenient:?}: {e}"));
    assert_eq!(
        read, expected,
        "{dialect:?} reads {lenient:?} as another tree"
    );
    for other in refused_by {
        assert!(
            parse_in(*other, lenient).is_err(),
            "{other:?} must refuse {lenient:?}"
        );
    }
}

#[test]
fn aspnet_takes_whitespace_around_list_separators() {
    use Dialect::*;
    for (lenient, strict) in [
        ("$orderby=Name asc, Age desc", "$orderby=Name asc,Age desc"),
        ("$orderby=Name%20asc%20,%20Age", "$orderby=Name asc,Age"),
        ("$select=Id, Name ,Price", "$select=Id,Name,Price"),
        ("$expand=Orders, Items", "$expand=Orders,Items"),
        (
            "$expand=Orders($select=Id; $top=2), Items",
            "$expand=Orders($select=Id;$top=2),Items",
        ),
        (
            "$compute=Price mul 2 as Double, Age as Years",
            "$compute=Price mul 2 as Double,Age as Years",
        ),
    ] {
        same_tree(AspNet, lenient, strict, &[Strict, Olingo]);
    }
}

#[test]
fn aspnet_takes_whitespace_around_values() {
    use Dialect::*;
    for (lenient, strict) in [
        ("$filter=Price gt 10 ", "$filter=Price gt 10"),
        ("$filter=%20Price gt 10%20", "$filter=Price gt 10"),
        ("$top= 5", "$top=5"),
        ("$orderby=Name ", "$orderby=Name"),
    ] {
        same_tree(AspNet, lenient, strict, &[Strict, Olingo]);
    }
}

#[test]
fn aspnet_takes_double_quoted_strings_in_in_lists() {
    use Dialect::*;
    same_tree(
        AspNet,
        "$filter=Name in (\"Milk\", \"Cheese\")",
        "$filter=Name in ('Milk', 'Cheese')",
        &[Strict, Olingo],
    );
    same_tree(
        AspNet,
        "$filter=Name in (%22a%5C%22b%22,'c')",
        "$filter=Name in ('a\"b','c')",
        &[Strict, Olingo],
    );
}

#[test]
fn olingo_escapes_quotes_and_backslashes_in_search_phrases() {
    use Dialect::*;
    let phrase = |text: &str| {
        let query = parse_in(Olingo, text).unwrap();
        match query.options.search {
            Some(portcullis_odata::ast::SearchExpr::Phrase { text }) => text,
            other => panic!("{text:?} is not one phrase: {other:?}"),
        }
    };
    assert_eq!(phrase("$search=\"a\\\"b\""), "a\"b");
    assert_eq!(phrase("$search=%22a%5C%22b%22"), "a\"b");
    assert_eq!(phrase("$search=\"a\\\\b\""), "a\\b");
    // Olingo forbids anything else after the escape character.
    assert!(parse_in(Olingo, "$search=\"a\\b\"").is_err());
    // The strict grammar has no escape: the phrase ends at the second quote.
    assert!(parse_in(Strict, "$search=\"a\\\"b\"").is_err());
    assert!(parse_in(AspNet, "$search=\"a\\\"b\"").is_err());
}

#[test]
fn olingo_trims_the_search_value_only() {
    use Dialect::*;
    same_tree(Olingo, "$search= blue ", "$search=blue", &[Strict]);
    same_tree(
        Olingo,
        "$search=%20blue%20OR%20red%20",
        "$search=blue OR red",
        &[Strict],
    );
    // Olingo's tokenizer requires the end of a $filter value and takes ',' bare.
    assert!(parse_in(Olingo, "$filter=Price gt 10 ").is_err());
    assert!(parse_in(Olingo, "$orderby=Name, Age").is_err());
}

#[test]
fn a_name_a_server_could_trim_into_a_system_option_is_refused_in_every_dialect() {
    for dialect in Dialect::ALL {
        for query in [
            " $filter=Secret eq 1",
            "+$filter=Secret eq 1",
            "%20$filter=Secret eq 1",
            "%09$select=Secret",
            "%C2%A0$filter=Secret eq 1",
            "$filter%20=Secret eq 1",
            " filter=Secret eq 1",
            "+@p=1",
        ] {
            let refused = parse_in(dialect, query)
                .err()
                .unwrap_or_else(|| panic!("{dialect:?} passed {query:?}"));
            assert!(refused.contains("whitespace"), "{refused}");
        }
        // A custom option stays a custom option.
        assert!(parse_in(dialect, "+debug=1&x%20y=2").is_ok());
    }
}

#[test]
fn names_are_compared_as_the_server_resolves_them() {
    let policy = |dialect| ODataPolicy {
        parse: ParseOptions {
            dialect,
            ..ParseOptions::default()
        },
        select_allow: Some(vec!["id".into(), "price".into()]),
        private_fields: vec!["email".into()],
        ..ODataPolicy::default()
    };
    let anonymous = Principal::Anonymous;
    // OData.NET resolves `ID` to `id`: allowed there, refused where names are exact.
    assert!(policy(Dialect::AspNet)
        .check("$select=ID,Price", &anonymous)
        .is_ok());
    for dialect in [Dialect::Strict, Dialect::Olingo] {
        assert_eq!(
            policy(dialect)
                .check("$select=ID", &anonymous)
                .unwrap_err()
                .status,
            400
        );
    }
    // A private field is private in any spelling, in every dialect.
    for dialect in Dialect::ALL {
        let refused = policy(dialect)
            .check("$filter=EMAIL eq 'x'", &anonymous)
            .unwrap_err();
        assert_eq!(refused.status, 403, "{dialect:?}");
    }
}

#[test]
fn canonical_forwarding_prints_what_the_dialect_reads_alike() {
    let policy = ODataPolicy {
        parse: ParseOptions {
            dialect: Dialect::Olingo,
            ..ParseOptions::default()
        },
        forwarding: portcullis_odata::policy::Forwarding::Canonical,
        ..ODataPolicy::default()
    };
    let forwarded = policy
        .check("$search=\"say \\\"hi\\\"\"", &Principal::Anonymous)
        .unwrap()
        .expect("canonical forwarding rewrites");
    assert_eq!(forwarded, "$search=%22say%20%5C%22hi%5C%22%22");
    let again = parse_in(Dialect::Olingo, &forwarded).unwrap();
    assert_eq!(
        again,
        parse_in(Dialect::Olingo, "$search=\"say \\\"hi\\\"\"").unwrap()
    );
}
