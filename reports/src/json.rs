//! JSON rendering: the machine-readable summary (`summary.json`).

use crate::model::Summary;

/// Pretty JSON, keys in declaration order (maps sorted by key), trailing newline.
pub fn render(summary: &Summary) -> String {
    let mut out = serde_json::to_string_pretty(summary).expect("Summary always serializes to JSON");
    out.push('\n');
    out
}

/// Parse a summary previously produced by [`render`].
pub fn parse(text: &str) -> Result<Summary, serde_json::Error> {
    serde_json::from_str(text)
}
