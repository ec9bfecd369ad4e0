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
