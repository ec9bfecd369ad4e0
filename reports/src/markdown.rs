//! Markdown rendering: the human-readable report (also used as a PR comment).

use std::fmt::Write as _;

use crate::compress_seeds;
use crate::model::{
    BreachNotice, ClaimVerdict, NoticeDistribution, Percentiles, PhaseRatios, ScenarioSummary, Summary,
};

/// C23's promise: written notice within 72 hours of the confirmation.
const NOTICE_DEADLINE_H: f64 = 72.0;

const PASS: &str = "✅";
const FAIL: &str = "❌";
const NONE: &str = "–";

/// Render the whole summary as Markdown.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let n = summary.scenarios.len();
    let failed = summary.failed_count();

    let _ = writeln!(out, "# faultline {} report", cell(&summary.command));
    out.push('\n');
    let _ = writeln!(out, "faultline {}", cell(&summary.faultline_version));
    out.push('\n');
    if let Some(disk) = summary.run.as_ref().and_then(|run| run.disk) {
        let _ = writeln!(out, "Disk: {disk}.");
        out.push('\n');
    }
    if failed == 0 {
        let _ = writeln!(out, "**{PASS} All {n} {} passed**", plural(n, "scenario"));
    } else {
        let _ = writeln!(out, "**{FAIL} {failed} of {n} {} failed**", plural(n, "scenario"));
    }
    if n == 0 {
        return out;
    }
    out.push('\n');

    out.push_str("| scenario | seeds | simulated h | faults | verdict |\n");
    out.push_str("|---|---|---:|---|:---:|\n");
    for s in &summary.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&s.name),
            seeds_cell(&s.seeds),
            fmt_f64(s.simulated_hours, 2),
            faults_cell(s),
            verdict(s.passed)
        );
    }

    render_claims(&mut out, summary);
    let notices: Vec<&BreachNotice> = summary.scenarios.iter().flat_map(|s| &s.breach_notices).collect();
    if !notices.is_empty() {
        out.push_str("\n## C23 notification times, all scenarios\n\n");
        render_notices(&mut out, notices.into_iter());
    }
    render_sla(&mut out, summary);

    for s in &summary.scenarios {
        out.push('\n');
        render_scenario(&mut out, s);
    }
    out
}

/// Availability per cluster type against its SLA (C03), when SLA months ran.
fn render_sla(out: &mut String, summary: &Summary) {
    let types = crate::sla::per_type(summary);
    if types.is_empty() {
        return;
    }
    out.push_str("\n## Availability per cluster type against its SLA\n\n| Cluster type | SLA | Months meeting it | 95 % Wilson interval | Mean | Worst month |\n|---|---|---|---|---|---|\n");
    for t in types {
        let _ = writeln!(
            out,
            "| {} | {} % | {} of {} | {:.0}-{:.0} % | {:.4} % | {:.4} % |",
            cell(&t.cluster_type),
            t.sla_percent,
            t.met,
            t.months.len(),
            t.met_interval.0 * 100.0,
            t.met_interval.1 * 100.0,
            t.mean_percent,
            t.worst_percent
        );
    }
}

fn render_scenario(out: &mut String, s: &ScenarioSummary) {
    let _ = writeln!(out, "## {} {}", verdict(s.passed), cell(&s.name));
    out.push('\n');
    let _ = writeln!(
        out,
        "Scenario hash {} · seeds {} · {} simulated h · {} s wall",
        code(&s.scenario_hash),
        seeds_cell(&s.seeds),
        fmt_f64(s.simulated_hours, 2),
        fmt_f64(s.wall_seconds, 1)
    );
    if !s.planted_bugs.is_empty() {
        out.push('\n');
        let bugs: Vec<String> = s.planted_bugs.iter().map(|b| code(b)).collect();
        let _ = writeln!(out, "Planted bugs: {}", bugs.join(", "));
    }

    out.push_str("\n### Claims\n\n");
    if s.claims.is_empty() {
        out.push_str("No claims evaluated.\n");
    } else {
        out.push_str("| claim | verdict |\n|---|---|\n");
        for (claim, v) in &s.claims {
            let _ = writeln!(out, "| {} | {} |", cell(claim), claim_cell(*v));
        }
    }

    out.push_str("\n### Expectations\n\n");
    if s.expectations.is_empty() {
        out.push_str("No expectations.\n");
    } else {
        out.push_str("| name | expected | observed | result |\n|---|---|---|---|\n");
        for e in &s.expectations {
            let result = match (e.passed, e.worst_seed) {
                (true, _) => format!("{PASS} pass"),
                (false, Some(seed)) => format!("{FAIL} fail (worst seed {seed})"),
                (false, None) => format!("{FAIL} fail"),
            };
            let _ = writeln!(out, "| {} | {} | {} | {} |", cell(&e.name), code(&e.expected), cell(&e.observed), result);
        }
    }

    out.push_str("\n### Latency (ms)\n\n");
    let lat = &s.latency_ms;
    if lat.produce.is_none() && lat.fetch.is_none() {
        out.push_str("No latency samples.\n");
    } else {
        out.push_str("| op | count | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n");
        latency_row(out, "produce", lat.produce.as_ref());
        latency_row(out, "fetch", lat.fetch.as_ref());
    }

    out.push_str("\n### Availability by phase\n\n");
    out.push_str("| op | before | during | after |\n|---|---:|---:|---:|\n");
    availability_row(out, "produce", &s.availability.produce);
    availability_row(out, "fetch", &s.availability.fetch);

    if !s.partition_reads.is_empty() {
        out.push_str("\n### C20 two-zone reads\n\n");
        out.push_str("| topic | partition | readable during outage | evidence |\n|---|---:|:---:|---|\n");
        for r in &s.partition_reads {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&r.topic),
                r.partition,
                verdict(r.readable_during_outage),
                cell(&r.evidence)
            );
        }
    }

    if !s.breach_notices.is_empty() {
        out.push_str("\n### C23 breach notices\n\n");
        render_notices(out, s.breach_notices.iter());
        out.push_str("\n| seed | incident | confirmed | breach to confirmation h | confirmation to inbox h | inbox to acknowledgement h |\n|---:|---|---|---:|---:|---:|\n");
        for n in &s.breach_notices {
            let hours = |h: Option<f64>| h.map_or("–".to_string(), |h| fmt_f64(h, 2));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                n.seed,
                cell(&n.incident),
                cell(&n.confirmed_local),
                hours(n.confirmed_after_h),
                n.hours.map_or("never arrived".to_string(), |h| fmt_f64(h, 2)),
                hours(n.acknowledged_after_h)
            );
        }
    }

    if !s.failures.is_empty() {
        out.push_str("\n### Failures\n");
        for f in &s.failures {
            out.push('\n');
            let _ = writeln!(out, "**Seed {}**: {}", f.seed, cell(&f.violation));
            out.push('\n');
            let _ = writeln!(out, "Capsule: {}", code(&f.capsule));
            out.push('\n');
            let fence = fence_for(&f.replay);
            let _ = writeln!(out, "{fence}sh\n{}\n{fence}", f.replay.trim_end());
        }
    }
}

fn latency_row(out: &mut String, op: &str, p: Option<&Percentiles>) {
    match p {
        Some(p) => {
            let _ = writeln!(
                out,
                "| {op} | {} | {} | {} | {} |",
                p.count,
                fmt_f64(p.p50, 2),
                fmt_f64(p.p99, 2),
                fmt_f64(p.max, 2)
            );
        }
        None => {
            let _ = writeln!(out, "| {op} | 0 | {NONE} | {NONE} | {NONE} |");
        }
    }
}

fn availability_row(out: &mut String, op: &str, r: &PhaseRatios) {
    let _ = writeln!(out, "| {op} | {} | {} | {} |", pct(r.before), pct(r.during), pct(r.after));
}

fn verdict(passed: bool) -> &'static str {
    if passed {
        PASS
    } else {
        FAIL
    }
}

fn claim_cell(v: ClaimVerdict) -> String {
    let icon = match v {
        ClaimVerdict::Holds => PASS,
        ClaimVerdict::Violated => FAIL,
        ClaimVerdict::NotTested => "➖",
    };
    format!("{icon} {}", v.as_str())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn seeds_cell(seeds: &[u64]) -> String {
    if seeds.is_empty() {
        NONE.to_string()
    } else {
        compress_seeds(seeds)
    }
}

fn faults_cell(s: &ScenarioSummary) -> String {
    if s.faults.is_empty() {
        return "0".to_string();
    }
    let parts: Vec<String> = s.faults.iter().map(|(k, v)| format!("{} {v}", cell(k))).collect();
    format!("{} ({})", s.total_faults(), parts.join(", "))
}

fn fmt_f64(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        NONE.to_string()
    }
}

fn pct(r: Option<f64>) -> String {
    match r {
        Some(x) if x.is_finite() => format!("{:.2}%", x * 100.0),
        _ => NONE.to_string(),
    }
}

/// Collapse newlines so free text stays on one Markdown line.
fn inline(s: &str) -> String {
    s.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Free text safe in Markdown and inside a table cell: a single line with
/// pipes, HTML-significant characters and inline-markup characters escaped.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for c in inline(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' | '\\' | '`' | '*' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Inline code span that survives backticks and pipes in the content.
fn code(s: &str) -> String {
    let s = inline(s).replace('|', "\\|");
    if s.is_empty() {
        return NONE.to_string();
    }
    let ticks = "`".repeat(longest_backtick_run(&s) + 1);
    if s.starts_with('`') || s.ends_with('`') {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

fn fence_for(s: &str) -> String {
    "`".repeat((longest_backtick_run(s) + 1).max(3))
}

fn longest_backtick_run(s: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// One verdict per claim over the whole run (violated beats holds beats not tested), with the
/// scenarios that showed it: what an SLA reader looks for first. A scenario can pass its own
/// expectations while a claim of the paper does not hold under its faults.
/// The project's claims catalog, relative to the repository root (reports are read from there).
pub const CLAIMS_CATALOG: &str = "scenarios/CLAIMS.md";

/// The distribution of confirmation-to-inbox times, in hours.
fn render_notices<'a>(out: &mut String, notices: impl Iterator<Item = &'a BreachNotice>) {
    let d = NoticeDistribution::of(notices, NOTICE_DEADLINE_H);
    let hours = |h: Option<f64>| h.map_or("–".to_string(), |h| fmt_f64(h, 2));
    out.push_str("Confirmation of unauthorized access to the written notice in the customer's inbox, in hours (deadline 72 h; a notice that never arrived counts as late).\n\n");
    out.push_str(
        "| notices | never arrived | min | median | p99 | max | within 72 h |\n|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} |",
        d.notices,
        d.undelivered,
        hours(d.min),
        hours(d.median),
        hours(d.p99),
        hours(d.max),
        d.within_deadline.map_or("–".to_string(), |s| format!("{:.1}%", s * 100.0))
    );
}

fn render_claims(out: &mut String, summary: &Summary) {
    let claims = summary.claim_verdicts();
    if claims.is_empty() {
        return;
    }
    out.push_str(
        "\n## Claims\n\nWhat checks each claim, and where the check is weaker than the claim: [scenarios/CLAIMS.md](",
    );
    out.push_str(CLAIMS_CATALOG);
    out.push_str("). A verdict from no observation is \"not tested\", never \"holds\".\n\n| claim | verdict | violated in |\n|---|---|---|\n");
    for (claim, (verdict, scenarios)) in claims {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(claim),
            claim_cell(verdict),
            if scenarios.is_empty() {
                "–".to_string()
            } else {
                scenarios.iter().map(|s| cell(s)).collect::<Vec<_>>().join(", ")
            }
        );
    }
}
