//! Bad configs: every problem named with file, line and key, exit 1, never a panic.

use crate::support::*;

#[test]
fn the_bundled_config_is_valid() {
    let path = repo_path("config/portcullis.toml");
    let (code, out) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn every_example_config_is_valid() {
    let mut names: Vec<String> = std::fs::read_dir(repo_path("config/examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| {
            let (code, out) = run_cli(&["check", "-c", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{}: {out}", path.display());
            assert!(out.contains(": ok ("), "{out}");
            path.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "algonomy.toml",
            "envoy-ext-authz.toml",
            "exepron.toml",
            "extole.toml",
            "guest-keys.toml",
            "introspection.toml",
            "itemextend.toml",
            "multi-tenant.toml",
            "nginx-auth-request.toml",
            "oidc-jwt.toml",
            "token-service.toml"
        ]
    );
}

#[test]
fn an_unknown_key_names_file_line_and_key() {
    let (code, out) = check_config(
        "[[listeners]]\naddress = \"127.0.0.1:1\"\n\n[[routes]]\npath_prefx = \"/\"\nupstream = \"x\"\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad.toml:5:"), "{out}");
    assert!(out.contains("path_prefx"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn an_issuer_key_of_another_kind_is_a_problem_at_its_line() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:1"

[issuers.guests]
kind = "app_keys"
jwks_url = "https://idp.example/jwks"
app_keys = []

[issuers.remote]
kind = "introspection"
introspection_url = "https://idp.example/introspect"
client_id = "gw"
client_secret = "a-secret-of-some-length"
keys = []
"#,
    );
    assert_eq!(code, 1, "{out}");
    for expected in [
        "bad.toml:7:1: issuers.guests.jwks_url: not a key of a \"app_keys\" issuer",
        "bad.toml:15:1: issuers.remote.keys: not a key of a \"introspection\" issuer",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn every_semantic_problem_is_listed_at_once() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "not-an-address"

[upstreams.app]
addresses = ["127.0.0.1:80", "nowhere"]

[[routes]]
path_prefix = "/api/../x"
methods = ["FETCH ME"]
upstream = "missing"
"#,
    );
    assert_eq!(code, 1, "{out}");
    for expected in [
        "bad.toml:3:11: listeners[0].address",
        "bad.toml:6:",
        "upstreams.app.addresses[1]",
        "bad.toml:9:",
        "routes[0].path_prefix",
        "routes[0].methods[0]",
        "bad.toml:11:",
        "routes[0].upstream",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert_eq!(out.lines().count(), 5, "one line per problem:\n{out}");
}

#[test]
fn syntax_errors_and_missing_files_are_reported() {
    let (code, out) = check_config("[[listeners]\naddress = 1\n");
    assert_eq!(code, 1);
    assert!(out.contains("bad.toml:1:"), "{out}");

    let (code, out) = run_cli(&["check", "-c", "/nonexistent/portcullis.toml"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("/nonexistent/portcullis.toml: cannot read"),
        "{out}"
    );
}

#[tokio::test]
async fn serve_refuses_a_bad_config_without_panicking() {
    let err =
        GatewayProcess::try_start("[[listeners]]\naddress = \"127.0.0.1:{port}\"\nbogus = 1\n")
            .await
            .err()
            .expect("a bad config must not start");
    assert!(err.contains("portcullis.toml:3:"), "{err}");
    assert!(err.contains("bogus"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn sign_in_config_problems_are_reported_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        "[[users]]\nname = \"eve\"\npassword_argon2id = \"hunter2\"\n",
    )
    .unwrap();
    let config = |users_file: &str, client: &str| {
        format!(
            r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["127.0.0.1:2"]
[[routes]]
path_prefix = "/"
upstream = "app"
[token_service]
issuer = "https://auth.test"
store = {{ path = "/tmp/never-opened.redb" }}
[token_service.sign_in]
users_file = "{users_file}"
[token_service.clients.spa]
{client}
"#
        )
    };
    let (code, out) = check_config(&config(
        "/nonexistent/users.toml",
        "public = true\ngrants = [\"authorization_code\"]\nredirect_uris = [\"https://app.test/cb\"]",
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("token_service.sign_in.users_file: cannot read"),
        "{out}"
    );
    let (code, out) = check_config(&config(
        plain.to_str().unwrap(),
        "public = true\ngrants = [\"authorization_code\", \"password\"]\n\
         redirect_uris = [\"http://app.test/cb\", \"https://app.test/cb#frag\"]",
    ));
    assert_eq!(code, 1, "{out}");
    for expected in [
        "not a PHC password hash",
        "\"password\"",
        "is not supported",
        "must be https",
        "must not have a fragment",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    // Without redirect URIs, or with a secret on a public client.
    let (code, out) = check_config(&config(
        plain.to_str().unwrap(),
        "public = true\nsecret_sha256 = \"00\"\ngrants = [\"authorization_code\"]",
    ));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a public client has no secret"), "{out}");
    assert!(out.contains("needs at least one redirect URI"), "{out}");
}
