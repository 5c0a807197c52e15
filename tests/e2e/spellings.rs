//! Every spelling of a carrier is that carrier (counted, verified, removed), and method
//! overrides never reach the upstream: what a lenient framework behind the gateway would read
//! as a token or a method, the gateway has read the same way first.

use crate::auth::{World, GUEST_KEY};
use crate::support::*;

const QUERY_SPELLINGS: [&str; 6] = [
    "ACCESS_TOKEN",
    "Access_Token",
    "access%5Ftoken",
    "access.token",
    "access+token",
    "access_token%5B%5D",
];

#[tokio::test]
async fn token_spellings_on_a_public_route_are_stripped() {
    let w = World::start().await;
    let good = w.token("profile:read");
    for name in QUERY_SPELLINGS {
        let r = w.get(&format!("/public/x?a=1&{name}={good}"), &[]).await;
        assert_eq!(r.status, 200, "{name}: {}", r.head);
        assert_eq!(r.echoed().query.as_deref(), Some("a=1"), "{name}");
    }
    // Rack and older Python split queries on `;` too.
    let r = w
        .get(&format!("/public/x?a=1;access_token={good}"), &[])
        .await;
    assert_eq!(r.echoed().query.as_deref(), Some("a=1"));
    for authorization in [
        format!("Authorization: Bearer\t{good}"),
        format!("Authorization: bearer:{good}"),
        format!("Authorization: JWT {good}"),
    ] {
        let r = w.get("/public/x", &[&authorization]).await;
        assert_eq!(r.status, 200, "{authorization}");
        assert!(
            r.echoed().header_values("authorization").is_empty(),
            "{authorization} reached the upstream"
        );
    }
    let r = w
        .get(
            "/public/x",
            &[&format!(
                "Cookie: theme=dark; ACCESS%5FTOKEN={good}; Access.Token={good}"
            )],
        )
        .await;
    assert_eq!(r.echoed().header_values("cookie"), ["theme=dark"]);
    // Basic belongs to the upstream.
    let r = w.get("/public/x", &["Authorization: Basic dTpw"]).await;
    assert_eq!(r.echoed().header_values("authorization"), ["Basic dTpw"]);
}

#[tokio::test]
async fn token_spellings_beside_a_credential_are_a_second_credential() {
    let w = World::start().await;
    let good = w.token("profile:read");
    let bearer = format!("Authorization: Bearer {good}");
    for name in QUERY_SPELLINGS {
        let r = w.get(&format!("/profile/x?{name}=other"), &[&bearer]).await;
        assert_eq!(r.status, 400, "{name}: {}", r.head);
        assert_eq!(r.json()["error"], "invalid_request");
    }
    let r = w.get("/profile/x?a=1;access_token=other", &[&bearer]).await;
    assert_eq!(r.status, 400, "{}", r.head);
    let r = w
        .get("/profile/x", &[&bearer, "Cookie: ACCESS_TOKEN=other"])
        .await;
    assert_eq!(r.status, 400, "{}", r.head);
    // Custom headers in the `_` spelling that CGI-style frameworks merge with `-`.
    let r = w
        .get(
            "/guest/x",
            &[&format!("X-API-Key: {GUEST_KEY}"), "X_API_Key: other"],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.head);
    let r = w
        .get("/profile/x", &[&bearer, &format!("X_Access_Token: {good}")])
        .await;
    assert_eq!(r.status, 400, "{}", r.head);
    // Alone, a spelling is the carrier: verified, then removed before forwarding.
    let r = w
        .get(&format!("/profile/x?ACCESS_TOKEN={good}&a=1"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().query.as_deref(), Some("a=1"));
    let r = w
        .get("/profile/x", &[&format!("X_Access_Token: {good}")])
        .await;
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert!(echoed.header_values("x_access_token").is_empty());
    assert_eq!(echoed.header_values("x-auth-subject"), ["user-1"]);
    let r = w.get("/profile/x?Access_Token=forged", &[]).await;
    assert_eq!(r.status, 401, "verified like any token: {}", r.head);
}

#[tokio::test]
async fn method_overrides_never_reach_the_upstream() {
    let w = World::start().await;
    let request = "POST /public/x?_method=DELETE&b=2&%5Fmethod=PUT HTTP/1.1\r\nHost: t\r\n\
                   X-HTTP-Method-Override: DELETE\r\nX_HTTP_Method: PUT\r\n\
                   X-Method-Override: PATCH\r\nContent-Length: 0\r\n\r\n";
    let r = raw_request(w.gw.addr(), request.as_bytes()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.method, "POST");
    assert_eq!(echoed.query.as_deref(), Some("b=2"));
    for gone in [
        "x-http-method-override",
        "x_http_method",
        "x-method-override",
    ] {
        assert!(
            echoed.header_values(gone).is_empty(),
            "{gone} reached the upstream"
        );
    }
}
