//! Secret exposure (C15): an API key's secret exists in clear only in the response that
//! created it. After the run every disk of the world (brokers, the control plane and its
//! backups), every control-plane response the harness can get afterwards (lists and single
//! keys), and every log line at info level or above are searched for every secret the harness
//! was given.

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Log lines of a run (info and above), formatted as `target: field=value ...`.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<String>>>,
}

/// Lines kept at most (a bound on memory; a run logs far fewer at info).
const LINES_MAX: usize = 200_000;

impl LogCapture {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(event.metadata().target().to_string());
        event.record(&mut fields);
        let mut lines = self.lines.lock().unwrap();
        if lines.len() < LINES_MAX {
            lines.push(fields.0);
        }
    }
}

/// Where each secret was found: `(label of the secret, where)`, as text that never contains
/// the secret itself. A secret counts in clear, base64 or hex (`encodings::forms`).
pub fn exposures<'a>(
    secrets: &[(String, String)],
    haystacks: impl IntoIterator<Item = (String, &'a [u8])>,
) -> Vec<String> {
    if secrets.is_empty() {
        return Vec::new();
    }
    let search = super::encodings::Search::new(secrets.iter().map(|(_, secret)| secret.as_bytes()));
    let mut found = Vec::new();
    for (place, bytes) in haystacks {
        let mut seen = std::collections::BTreeSet::new();
        for (index, how, _) in search.finds(bytes) {
            if seen.insert((index, how)) {
                let how = if how == "in clear" { String::new() } else { format!(" ({how})") };
                found.push(format!("{} found in {place}{how}", secrets[index].0));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_anywhere_is_found_and_never_printed() {
        let secrets = vec![("the app key's secret".to_string(), "s3cr3t-value".to_string())];
        let clean: Vec<(String, &[u8])> =
            vec![("disk broker-1 file a".into(), b"nothing here"), ("a log line".into(), b"key=ABC")];
        assert!(exposures(&secrets, clean).is_empty());
        let leaked: Vec<(String, &[u8])> = vec![("a log line".into(), b"api key created secret=s3cr3t-value")];
        let found = exposures(&secrets, leaked);
        assert_eq!(found, vec!["the app key's secret found in a log line".to_string()]);
        assert!(!found[0].contains("s3cr3t-value"));
        // In a header or a JSON field as base64.
        use base64::Engine;
        let basic =
            format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode("KEY:s3cr3t-value"));
        let found = exposures(&secrets, vec![("a request".to_string(), basic.as_bytes())]);
        assert_eq!(found, vec!["the app key's secret found in a request (base64)".to_string()]);
    }
}
