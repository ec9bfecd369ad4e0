//! A request and a response of the service's HTTPS APIs, as their pure handlers see them
//! (no I/O here: `http` serves them).

use serde_json::{json, Value};

pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json(status: u16, value: Value) -> Self {
        ApiResponse { status, content_type: "application/json", body: serde_json::to_vec(&value).expect("JSON") }
    }

    /// An RFC 9457 problem.
    pub fn problem(status: u16, title: &str, detail: &str) -> Self {
        let slug: String = title.to_lowercase().replace(' ', "-");
        let value = json!({
            "type": format!("https://faultline.dev/problems/{slug}"),
            "title": title,
            "status": status,
            "detail": detail,
        });
        ApiResponse {
            status,
            content_type: "application/problem+json",
            body: serde_json::to_vec(&value).expect("JSON"),
        }
    }

    pub fn empty(status: u16) -> Self {
        ApiResponse { status, content_type: "application/json", body: Vec::new() }
    }
}

/// The SHA-256 (hex) of a principal's token, as a server's principal table holds it.
pub fn token_hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The principal of an HTTP Basic `authorization` whose token hashes to what `expected` holds
/// for it.
pub fn basic_principal<'a>(
    authorization: Option<&str>,
    expected: impl Fn(&str) -> Option<&'a String>,
) -> Option<String> {
    use base64::Engine;
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    // Principals contain colons (`service:broker/…`); tokens do not.
    let (principal, token) = std::str::from_utf8(&decoded).ok()?.rsplit_once(':')?;
    (token_hash(token) == *expected(principal)?).then(|| principal.to_string())
}
