//! OData policy decisions through the real proxy: syntax errors with positions, limits,
//! private fields by level, what the upstream receives.

use crate::support::*;

const IDENTIFIED: &str = "odata-identified-4Hq9Zx2Lp7Wm";
const VERIFIED: &str = "odata-verified-8Tr3Nc6Yv1Bk";

fn config(forward: &str) -> String {
    config_with(&format!(
        r#"
[issuers.keys]
kind = "app_keys"
app_keys = [
  {{ client = "i", key = "{IDENTIFIED}", level = "identified" }},
  {{ client = "v", key = "{VERIFIED}", level = "verified" }},
]

[[routes]]
path_prefix = "/odata"
upstream = "echo"
[routes.auth]
carriers = ["token", "query"]
level = "identified"
[routes.odata]
max_top = 100
default_top = 25
max_skip = 1000
max_expand_depth = 2
private_fields = ["name", "friends", "rewards"]
private_level = "verified"
forward = "{forward}"
"#
    ))
}

async fn get_as(gw: &GatewayProcess, key: &str, target: &str) -> RawResponse {
    raw_request(
        gw.addr(),
        &get(target, &[&format!("Authorization: token {key}")]),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn syntax_errors_are_400_with_option_and_position() {
    let gw = GatewayProcess::start(&config("as_sent")).await;
    let r = get_as(&gw, VERIFIED, "/odata/People?$top=1&$filter=Price%20eq").await;
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let body = r.json();
    assert_eq!(body["error"], "invalid_odata");
    assert_eq!(body["option"], "$filter");
    assert_eq!(body["position"], 25);
    assert_eq!(body["message"], "expected an operand");
    for bad in [
        "/odata/People?$filter=a%20eq%201&$filter=b%20eq%202",
        "/odata/People?$top=1&%24TOP=2",
        "/odata/People?$bogus=1",
        "/odata/People?$expand=Customer/$ref($levels=4)",
    ] {
        let r = get_as(&gw, VERIFIED, bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.head);
        assert_eq!(r.json()["error"], "invalid_odata", "{bad}");
    }
}

#[tokio::test]
async fn limits_and_default_page_size() {
    let gw = GatewayProcess::start(&config("as_sent")).await;
    let r = get_as(&gw, VERIFIED, "/odata/People?$top=500").await;
    assert_eq!((r.status, r.json()["option"].as_str()), (400, Some("$top")));
    let r = get_as(&gw, VERIFIED, "/odata/People?$skip=5000").await;
    assert_eq!(r.status, 400);
    let r = get_as(
        &gw,
        VERIFIED,
        "/odata/People?$expand=a($expand=b($expand=c))",
    )
    .await;
    assert_eq!(
        (r.status, r.json()["option"].as_str()),
        (400, Some("$expand"))
    );
    // Sent as written, with the default page size added.
    let r = get_as(&gw, VERIFIED, "/odata/People?$filter=Age%20gt%2030&x=1").await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.echoed().query.as_deref(),
        Some("$filter=Age%20gt%2030&x=1&$top=25")
    );
    let r = get_as(&gw, VERIFIED, "/odata/People?$top=10").await;
    assert_eq!(r.echoed().query.as_deref(), Some("$top=10"));
}

#[tokio::test]
async fn private_fields_need_a_verified_principal() {
    let gw = GatewayProcess::start(&config("as_sent")).await;
    for target in [
        "/odata/People?$select=id,name",
        "/odata/People?$filter=rewards%20gt%2010",
        "/odata/People?$orderby=name",
        "/odata/People?$expand=friends",
        "/odata/People?$filter=friends/any(f:f/age%20gt%201)",
    ] {
        let r = get_as(&gw, IDENTIFIED, target).await;
        assert_eq!(r.status, 403, "{target}: {}", r.head);
        let body = r.json();
        assert_eq!(body["error"], "forbidden_field");
        assert!(
            body["field"] == "name" || body["field"] == "rewards" || body["field"] == "friends"
        );
        let r = get_as(&gw, VERIFIED, target).await;
        assert_eq!(r.status, 200, "verified {target}: {}", r.head);
    }
    assert_eq!(
        get_as(&gw, IDENTIFIED, "/odata/People?$select=id,age")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn canonical_forwarding_and_query_tokens() {
    let gw = GatewayProcess::start(&config("canonical")).await;
    let r = get_as(
        &gw,
        VERIFIED,
        "/odata/People?%24TOP=5&$filter=Age%20GT%2030%20AND%20startswith(Id,'a')",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.echoed().query.as_deref(),
        Some("$filter=Age%20gt%2030%20and%20startswith(Id,'a')&$top=5")
    );
    // A token in the query is removed before the query is policed and forwarded.
    let r = raw_request(
        gw.addr(),
        &get(
            &format!("/odata/People?access_token={VERIFIED}&$top=3"),
            &[],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().query.as_deref(), Some("$top=3"));
}

/// The config of one OData route per dialect, each in front of the echo upstream.
fn dialect_config() -> String {
    let mut routes = String::new();
    for dialect in ["strict", "olingo", "aspnet"] {
        routes.push_str(&format!(
            r#"
[[routes]]
path_prefix = "/{dialect}"
upstream = "echo"
[routes.auth]
carriers = ["token"]
level = "identified"
[routes.odata]
dialect = "{dialect}"
private_fields = ["name"]
select_allow = ["id", "age", "name"]
"#
        ));
    }
    config_with(&format!(
        r#"
[issuers.keys]
kind = "app_keys"
app_keys = [{{ client = "i", key = "{IDENTIFIED}", level = "identified" }}]
{routes}"#
    ))
}

#[tokio::test]
async fn each_route_reads_queries_as_its_backend_does() {
    let gw = GatewayProcess::start(&dialect_config()).await;
    let status = |path: &'static str, query: &'static str| {
        let gw = &gw;
        async move {
            let r = get_as(gw, IDENTIFIED, &format!("/{path}/People?{query}")).await;
            (r.status, r)
        }
    };
    // ASP.NET Core OData reads a space after a list comma; the gateway must not refuse it
    // there, and must police what it names.
    let spaced = "$orderby=Age%20desc,%20Id&$select=id,%20age";
    let (code, r) = status("aspnet", spaced).await;
    assert_eq!(code, 200, "{}", r.head);
    assert_eq!(
        r.echoed().query.as_deref(),
        Some(spaced),
        "forwarded as sent"
    );
    for other in ["strict", "olingo"] {
        assert_eq!(status(other, spaced).await.0, 400, "{other}");
    }
    // Names compare as the backend resolves them: `ID` is `id` for OData.NET only.
    assert_eq!(status("aspnet", "$select=ID,Age").await.0, 200);
    assert_eq!(status("strict", "$select=ID").await.0, 400);
    // A private field stays private in any spelling and any dialect.
    for dialect in ["strict", "olingo", "aspnet"] {
        let (code, r) = status(dialect, "$select=id,%20NAME").await;
        let expected = if dialect == "aspnet" { 403 } else { 400 };
        assert_eq!(code, expected, "{dialect}: {}", r.head);
        assert_eq!(status(dialect, "$filter=Name%20eq%20'x'").await.0, 403);
    }
    // Olingo's escaped quote in a $search phrase.
    assert_eq!(status("olingo", "$search=%22a%5C%22b%22").await.0, 200);
    assert_eq!(status("strict", "$search=%22a%5C%22b%22").await.0, 400);
    // A disguised system option never reaches a backend unpoliced, in any dialect.
    for dialect in ["strict", "olingo", "aspnet"] {
        for query in [
            "+$filter=Name%20eq%201",
            "%20$select=name",
            "$filter%20=Name%20eq%201",
        ] {
            let (code, r) = status(dialect, query).await;
            assert_eq!(code, 400, "{dialect} {query}: {}", r.head);
            assert_eq!(r.json()["error"], "invalid_odata");
        }
    }
}
