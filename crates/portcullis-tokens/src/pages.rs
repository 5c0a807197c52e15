//! The sign-in pages: small, accessible HTML with no external assets and no script. Every value
//! from a request or the config is HTML-escaped; the one stylesheet is allowed by its hash in the
//! Content-Security-Policy, so nothing else can style or run.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::LazyLock;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;\
padding:0 1rem;color:#1b1b1b;line-height:1.5}h1{font-size:1.4rem}label{display:block;\
margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;\
font-size:1rem}button{margin-top:1.2rem;margin-right:.5rem;padding:.5rem 1.2rem;font-size:1rem}\
.error{color:#a00000;border-left:4px solid #a00000;padding-left:.6rem}ul{padding-left:1.2rem}";

/// `'sha256-…'` of [`STYLE`], for `style-src`.
static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        STANDARD.encode(portcullis_core::digest::digest(STYLE))
    )
});

/// The Content-Security-Policy of every page. `form_targets` are origins a form's answer may
/// redirect to besides the gateway (browsers apply `form-action` to redirects too).
pub fn content_security_policy(form_targets: &[&str]) -> String {
    let mut targets = String::from("'self'");
    for target in form_targets {
        targets.push(' ');
        targets.push_str(target);
    }
    format!(
        "default-src 'none'; style-src {}; form-action {targets}; frame-ancestors 'none'; \
         base-uri 'none'",
        *STYLE_HASH
    )
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\
         <body><main><h1>{}</h1>{body}</main></body></html>\n",
        escape(title),
        escape(title)
    )
}

fn hidden(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

fn alert(error: Option<&str>) -> String {
    error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    })
}

/// The login form; `fields` are carried through (the authorization request and the CSRF token).
pub fn login(
    action: &str,
    client_name: Option<&str>,
    fields: &[(&str, &str)],
    error: Option<&str>,
) -> String {
    let intro = client_name.map_or(String::new(), |name| {
        format!(
            "<p>Sign in to continue to <strong>{}</strong>.</p>",
            escape(name)
        )
    });
    page(
        "Sign in",
        &format!(
            "{intro}{}<form method=\"post\" action=\"{}\">{}\
             <label for=\"username\">User name</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            alert(error),
            escape(action),
            hidden(fields)
        ),
    )
}

/// The verification page of the device grant: the user code shown on the device.
pub fn device_code(action: &str, error: Option<&str>) -> String {
    page(
        "Connect a device",
        &format!(
            "<p>Enter the code your device shows.</p>{}<form method=\"get\" action=\"{}\">\
             <label for=\"user_code\">Code</label>\
             <input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" \
             autocapitalize=\"characters\" required autofocus>\
             <button type=\"submit\">Continue</button></form>",
            alert(error),
            escape(action),
        ),
    )
}

/// The consent form: which application asks for what, allow or deny.
pub fn consent(
    action: &str,
    client_name: &str,
    user: &str,
    scopes: &[String],
    fields: &[(&str, &str)],
) -> String {
    let list: String = if scopes.is_empty() {
        "<li>your identity only</li>".into()
    } else {
        scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect()
    };
    page(
        "Allow access?",
        &format!(
            "<p><strong>{}</strong> asks to act as <strong>{}</strong> with:</p><ul>{list}</ul>\
             <form method=\"post\" action=\"{}\">{}\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            escape(client_name),
            escape(user),
            escape(action),
            hidden(fields)
        ),
    )
}

/// A message and nothing to do (errors, signed out).
pub fn message(title: &str, text: &str) -> String {
    page(title, &format!("<p>{}</p>", escape(text)))
}

/// Sign-out confirmation (a form, so that a link or image elsewhere cannot sign anyone out).
pub fn logout(action: &str, user: &str, fields: &[(&str, &str)]) -> String {
    page(
        "Sign out",
        &format!(
            "<p>You are signed in as <strong>{}</strong>.</p>\
             <form method=\"post\" action=\"{}\">{}<button type=\"submit\">Sign out</button></form>",
            escape(user),
            escape(action),
            hidden(fields)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_from_outside_is_escaped() {
        let html = login(
            "/auth/login",
            Some("<script>x</script>"),
            &[("state", "\"><img src=x>")],
            Some("a & b"),
        );
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("\"><img"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("a &amp; b"));
        assert!(html.contains("<label for=\"password\">"));
    }

    #[test]
    fn the_policy_allows_only_the_page_style_and_named_form_targets() {
        let csp = content_security_policy(&["https://app.example"]);
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(csp.contains("form-action 'self' https://app.example;"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
