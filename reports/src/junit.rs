//! JUnit XML rendering for CI: one `<testsuite>` per scenario, one
//! `<testcase>` per expectation.

use std::fmt::Write as _;

use crate::compress_seeds;
use crate::model::{ExpectationResult, Failure, ScenarioSummary, Summary};

/// Render the summary as JUnit XML.
///
/// A failing expectation gets a `<failure>` whose message names the worst
/// seed and whose body carries the replay command of that seed's failure
/// (or of the scenario's first failure). A scenario that failed without any
/// failing expectation gets an extra `scenario` testcase carrying its
/// failures, so CI never shows a failed scenario as green.
pub fn render(summary: &Summary) -> String {
    let cases: Vec<Vec<Case>> = summary.scenarios.iter().map(cases_for).collect();
    let tests: usize = cases.iter().map(Vec::len).sum();
    let failures: usize = cases.iter().flatten().filter(|c| c.failure.is_some()).count();
    let time: f64 = summary.scenarios.iter().map(|s| finite(s.wall_seconds)).sum();

    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">",
        escape_attr(&format!("faultline {}", summary.command))
    );
    for (s, cases) in summary.scenarios.iter().zip(&cases) {
        let failed = cases.iter().filter(|c| c.failure.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">",
            escape_attr(&s.name),
            cases.len(),
            finite(s.wall_seconds)
        );
        out.push_str("    <properties>\n");
        let mut props: Vec<(String, String)> = vec![
            ("faultline_version".into(), summary.faultline_version.clone()),
            ("scenario_hash".into(), s.scenario_hash.clone()),
            ("seeds".into(), compress_seeds(&s.seeds)),
            ("simulated_hours".into(), format!("{:.2}", finite(s.simulated_hours))),
        ];
        for (claim, v) in &s.claims {
            props.push((format!("claim.{claim}"), v.as_str().to_string()));
        }
        for (kind, n) in &s.faults {
            props.push((format!("fault.{kind}"), n.to_string()));
        }
        for bug in &s.planted_bugs {
            props.push(("planted_bug".into(), bug.clone()));
        }
        for (k, v) in props {
            let _ = writeln!(out, "      <property name=\"{}\" value=\"{}\"/>", escape_attr(&k), escape_attr(&v));
        }
        out.push_str("    </properties>\n");
        let classname = escape_attr(&format!("faultline.{}", s.name));
        for c in cases {
            match &c.failure {
                None => {
                    let _ =
                        writeln!(out, "    <testcase name=\"{}\" classname=\"{classname}\"/>", escape_attr(&c.name));
                }
                Some((message, body)) => {
                    let _ = writeln!(out, "    <testcase name=\"{}\" classname=\"{classname}\">", escape_attr(&c.name));
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        escape_attr(message),
                        c.kind,
                        escape_text(body)
                    );
                    out.push_str("    </testcase>\n");
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

struct Case {
    name: String,
    kind: &'static str,
    /// (message, body)
    failure: Option<(String, String)>,
}

fn cases_for(s: &ScenarioSummary) -> Vec<Case> {
    let mut cases: Vec<Case> = s
        .expectations
        .iter()
        .map(|e| Case {
            name: e.name.clone(),
            kind: "expectation",
            failure: (!e.passed).then(|| expectation_failure(s, e)),
        })
        .collect();
    if !s.passed && s.expectations.iter().all(|e| e.passed) {
        let message = match s.failures.first() {
            Some(f) => format!("scenario failed; first failing seed {}: {}", f.seed, f.violation),
            None => "scenario failed".to_string(),
        };
        let body: Vec<String> = s.failures.iter().map(failure_block).collect();
        cases.push(Case { name: "scenario".into(), kind: "scenario", failure: Some((message, body.join("\n"))) });
    }
    cases
}

fn expectation_failure(s: &ScenarioSummary, e: &ExpectationResult) -> (String, String) {
    let mut message = format!("expected {}, observed {}", e.expected, e.observed);
    if let Some(seed) = e.worst_seed {
        let _ = write!(message, " (worst seed {seed})");
    }
    let failure =
        e.worst_seed.and_then(|seed| s.failures.iter().find(|f| f.seed == seed)).or_else(|| s.failures.first());
    let body = match failure {
        Some(f) => {
            let _ = write!(message, "; replay: {}", f.replay);
            failure_block(f)
        }
        None => message.clone(),
    };
    (message, body)
}

fn failure_block(f: &Failure) -> String {
    format!("seed {}: {}\ncapsule: {}\nreplay: {}", f.seed, f.violation, f.capsule, f.replay)
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// Escape for an XML 1.0 attribute value. Characters XML 1.0 cannot
/// represent at all (most C0 controls) become U+FFFD; line breaks and tabs
/// become character references so they survive attribute normalization.
pub(crate) fn escape_attr(s: &str) -> String {
    escape(s, true)
}

/// Escape for XML 1.0 element text; line breaks and tabs are kept literally.
pub(crate) fn escape_text(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
