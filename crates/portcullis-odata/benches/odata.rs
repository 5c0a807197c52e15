//! Parsing (and policing) realistic OData queries. Target: median under 2 µs for a typical
//! 100-byte query. `cargo bench --bench odata`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use portcullis_core::principal::{Level, Principal};
use portcullis_odata::policy::{ODataPolicy, PrivateAccess};
use portcullis_odata::{parse, parse_query, to_canonical, Dialect, ParseOptions};
use std::hint::black_box;

/// (name, query) as clients send them.
const QUERIES: &[(&str, &str)] = &[
    ("short list filter", "$filter=Status%20eq%20'Open'&$top=20"),
    (
        "typical 100 B",
        "$filter=Price%20gt%2010%20and%20startswith(Name,'Milk')&$orderby=Price%20desc&$top=20&$skip=40",
    ),
    (
        "functions and lambda",
        "$filter=contains(tolower(Name),'coffee')%20and%20Tags/any(t:t%20eq%20'organic')%20and%20year(Created)%20ge%202020%20and%20Price%20mul%201.2%20le%2050&$select=Id,Name,Price&$orderby=Created%20desc,Name",
    ),
    (
        "nested expand",
        "$expand=Orders($filter=Total%20gt%20100;$orderby=Date%20desc;$top=5;$expand=Items($select=Sku,Qty;$expand=Product($select=Name))),Address&$select=Id,Email&$count=true",
    ),
    (
        "in list and search",
        "$filter=Country%20in%20('DE','FR','IT','ES')%20and%20not%20Deleted&$search=blue%20OR%20(red%20AND%20NOT%20green)&$top=50",
    ),
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("odata parse");
    for (name, query) in QUERIES {
        group.throughput(Throughput::Bytes(query.len() as u64));
        group.bench_function(*name, |b| b.iter(|| parse(black_box(query)).unwrap()));
    }
    group.finish();

    let mut group = c.benchmark_group("odata parse + policy");
    let policy = ODataPolicy {
        max_top: Some(100),
        default_top: Some(25),
        private_fields: vec!["Email".into(), "Address".into()],
        private_access: PrivateAccess {
            level: Level::Verified,
            scope: None,
        },
        ..ODataPolicy::default()
    };
    let principal = Principal::Anonymous;
    for (name, query) in QUERIES.iter().take(3) {
        group.bench_function(*name, |b| {
            b.iter(|| policy.check(black_box(query), &principal))
        });
    }
    group.finish();

    // The typical query in each dialect, spelled as that dialect's clients may spell it.
    let mut group = c.benchmark_group("odata parse by dialect (typical 100 B)");
    for dialect in Dialect::ALL {
        let query = match dialect {
            Dialect::AspNet => "$filter=Price%20gt%2010%20and%20startswith(Name,'Milk')%20&$orderby=Price%20desc,%20Name&$top=20&$skip=40",
            _ => QUERIES[1].1,
        };
        let options = ParseOptions {
            dialect,
            ..ParseOptions::default()
        };
        group.bench_function(dialect.name(), |b| {
            b.iter(|| parse_query(black_box(query), options).unwrap())
        });
    }
    group.finish();

    let parsed = parse(QUERIES[1].1).unwrap();
    c.bench_function("odata print canonical (typical 100 B)", |b| {
        b.iter(|| to_canonical(black_box(&parsed)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
