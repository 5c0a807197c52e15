//! The token service's answers, in the gateway's one [`Answer`] type: OAuth2 JSON (RFC 6749
//! §5.2 errors), and the sign-in pages with the headers that keep them from doing anything but
//! post their forms.

use super::pages;
use portcullis_core::answer::Answer;
use serde_json::Value;

pub fn json(status: u16, body: Value) -> Answer {
    Answer::json(status, body.to_string().into_bytes())
}

pub fn ok(body: Value) -> Answer {
    json(200, body)
}

/// RFC 6749 §5.2 error; `invalid_client` is 401 with a Basic challenge.
pub fn oauth_error(code: &'static str, description: &'static str) -> Answer {
    let status = match code {
        "invalid_client" => 401,
        "temporarily_unavailable" => 503,
        "not_found" => 404,
        "method_not_allowed" => 405,
        "payload_too_large" => 413,
        _ => 400,
    };
    let answer = json(
        status,
        serde_json::json!({ "error": code, "error_description": description }),
    );
    match status {
        401 => answer.with_header("www-authenticate", "Basic realm=\"portcullis\""),
        503 => answer.with_header("retry-after", "1"),
        _ => answer,
    }
}

/// An HTML page, framed by nobody, with a policy that lets it do nothing but post its forms
/// (to the gateway, and to `form_targets` where a form's answer redirects).
pub fn html(status: u16, body: String, form_targets: &[&str]) -> Answer {
    Answer::html(status, body).with_headers([
        (
            "content-security-policy",
            pages::content_security_policy(form_targets),
        ),
        ("x-frame-options", "DENY".into()),
        ("x-content-type-options", "nosniff".into()),
        ("referrer-policy", "no-referrer".into()),
    ])
}

/// `303 See Other` to `location` (the browser follows with a GET).
pub fn see_other(location: String) -> Answer {
    Answer::empty(303).with_headers([
        ("location", location),
        ("referrer-policy", "no-referrer".into()),
    ])
}

/// A page with a title and a sentence.
pub fn page(status: u16, title: &str, text: &str) -> Answer {
    html(status, pages::message(title, text), &[])
}
