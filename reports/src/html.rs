//! The HTML report: one self-contained page (inline CSS and SVG, nothing fetched, no script)
//! for a person who must show that the service keeps its promises. Every claim of the catalog
//! has a row, the untested ones too; charts are drawn with plotters' SVG backend.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;

use crate::claims::Claim;
use crate::compress_seeds;
use crate::history::Findings;
use crate::model::{ClaimVerdict, Failure, NoticeDistribution, ScenarioSummary, Summary, Timeline};

/// C23's promise: written notice within 72 hours of the confirmation.
const NOTICE_DEADLINE_H: f64 = 72.0;

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:1em 0;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.holds{background:#e6f4e6}.violated{background:#fbe3e3}.not-tested{background:#f4f4f4;color:#666}\
code{background:#f3f3f3;padding:1px 3px}figure{margin:1em 0}figcaption{color:#555;font-size:90%}.missing{color:#a60}";

/// Renders `summary` against the claims catalog, with the run history's findings when there are.
pub fn render(summary: &Summary, catalog: &[Claim], history: Option<&Findings>) -> String {
    let mut out = String::new();
    let title = format!("faultline {} report", summary.command);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let n = summary.scenarios.len();
    let failed = summary.failed_count();
    let _ = writeln!(
        out,
        "<p id=\"verdict\"><strong>{}</strong></p>",
        if n == 0 {
            "No scenario ran: nothing below is evidence.".to_string()
        } else if failed == 0 {
            format!("All {n} scenarios met their expectations.{}", violated_claims(summary))
        } else {
            format!("{failed} of {n} scenarios failed.{}", violated_claims(summary))
        }
    );
    if !summary.missing_scenarios.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"missing\" id=\"missing-scenarios\">Not in this run directory (a run cut short?): {}. Their claims have no evidence here.</p>",
            escape(&summary.missing_scenarios.join(", "))
        );
    }
    render_provenance(&mut out, summary);
    render_claims(&mut out, summary, catalog);
    render_history(&mut out, history);
    render_sla(&mut out, summary);
    render_availability(&mut out, summary);
    render_latency(&mut out, summary);
    render_recoveries(&mut out, summary);
    render_partition_reads(&mut out, summary);
    render_notices(&mut out, summary);
    out.push_str("</body></html>\n");
    out
}

/// " Claims violated: C20 (two-zone-outage)." or nothing: a scenario can meet its own
/// expectations while a claim's own rule finds it broken (C20's reads with two zones down).
fn violated_claims(summary: &Summary) -> String {
    let list: Vec<String> = summary
        .claim_verdicts()
        .into_iter()
        .filter(|(_, (verdict, _))| *verdict == ClaimVerdict::Violated)
        .map(|(claim, (_, scenarios))| format!("{claim} ({})", scenarios.join(", ")))
        .collect();
    if list.is_empty() {
        return String::new();
    }
    format!(" Claims violated: {}.", escape(&list.join("; ")))
}

fn render_provenance(out: &mut String, summary: &Summary) {
    out.push_str("<h2>What ran</h2>\n<table id=\"provenance\">");
    let _ = write!(out, "<tr><th>faultline</th><td>{}</td></tr>", escape(&summary.faultline_version));
    match &summary.run {
        Some(run) => {
            let _ = write!(
                out,
                "<tr><th>commit</th><td><code>{}</code></td></tr><tr><th>machine</th><td>{}</td></tr><tr><th>wall time</th><td>{:.0} s</td></tr>",
                escape(&run.commit),
                escape(&run.machine),
                run.wall_seconds
            );
            if let Some(disk) = &run.disk {
                let _ = write!(out, "<tr><th>disk</th><td>{}</td></tr>", escape(&disk.to_string()));
            }
        }
        None => out.push_str("<tr><th>commit, machine</th><td class=\"missing\">not recorded by this run</td></tr>"),
    }
    out.push_str("</table>\n<table id=\"scenarios\"><tr><th>scenario</th><th>hash</th><th>seeds</th><th>simulated h</th><th>wall s</th><th>planted bugs</th><th>verdict</th></tr>\n");
    for s in &summary.scenarios {
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{:.2}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            if s.passed { "holds" } else { "violated" },
            escape(&s.name),
            escape(&s.scenario_hash),
            escape(&compress_seeds(&s.seeds)),
            s.simulated_hours,
            s.wall_seconds,
            escape(&s.planted_bugs.join(", ")),
            if s.passed { "pass" } else { "FAIL" }
        );
    }
    out.push_str("</table>\n");
}

/// What stands behind one claim's verdict over the whole run.
#[derive(Default)]
struct ClaimEvidence<'a> {
    scenarios: Vec<&'a ScenarioSummary>,
    first_failure: Option<(&'a str, &'a Failure)>,
}

fn render_claims(out: &mut String, summary: &Summary, catalog: &[Claim]) {
    let verdicts = summary.claim_verdicts();
    let mut evidence: BTreeMap<&str, ClaimEvidence> = BTreeMap::new();
    for s in &summary.scenarios {
        for (claim, verdict) in &s.claims {
            let e = evidence.entry(claim.as_str()).or_default();
            e.scenarios.push(s);
            if *verdict == ClaimVerdict::Violated {
                let first = s.failures.iter().min_by_key(|f| f.seed).map(|f| (s.name.as_str(), f));
                if let Some((name, f)) = first {
                    if e.first_failure.is_none_or(|(_, g)| f.seed < g.seed) {
                        e.first_failure = Some((name, f));
                    }
                }
            }
        }
    }
    out.push_str("<h2>Claims</h2>\n<p>Every claim of the claims catalog (<code>scenarios/CLAIMS.md</code> says what checks each one and where the check is weaker than the claim). A claim no scenario observed is \"not tested\", never \"holds\".</p>\n");
    out.push_str("<table id=\"claims\"><tr><th>claim</th><th>promise</th><th>verdict</th><th>evidence</th></tr>\n");
    let mut ids: Vec<&str> = catalog.iter().map(|c| c.id.as_str()).collect();
    // A claim a scenario names that the catalog lacks is still shown (a stale catalog is visible).
    ids.extend(evidence.keys().filter(|id| !catalog.iter().any(|c| c.id == **id)));
    for id in ids {
        let text = catalog.iter().find(|c| c.id == id).map_or("(not in the catalog)", |c| c.text.as_str());
        let e = evidence.get(id);
        let verdict = verdicts.get(id).map_or(ClaimVerdict::NotTested, |(v, _)| *v);
        let detail = match e {
            None => "no scenario names this claim".to_string(),
            Some(e) => {
                let seeds: usize = e.scenarios.iter().map(|s| s.seeds.len()).sum();
                let hours: f64 = e.scenarios.iter().map(|s| s.simulated_hours).sum();
                let names: Vec<String> = e.scenarios.iter().map(|s| escape(&s.name)).collect();
                let mut detail = format!("{} seeds, {hours:.1} simulated h: {}", seeds, names.join(", "));
                if let Some((scenario, failure)) = e.first_failure {
                    let _ = write!(
                        detail,
                        "<br>first violation: {} seed {}: {}<br><code class=\"replay\">{}</code>",
                        escape(scenario),
                        failure.seed,
                        escape(&failure.violation),
                        escape(&failure.replay)
                    );
                }
                detail
            }
        };
        let _ = writeln!(
            out,
            "<tr class=\"claim {}\" data-claim=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            verdict.as_str(),
            escape(id),
            escape(id),
            escape(text),
            verdict_text(verdict),
            detail
        );
    }
    out.push_str("</table>\n");
}

fn render_history(out: &mut String, history: Option<&Findings>) {
    out.push_str("<h2>Against earlier runs</h2>\n");
    let Some(h) = history else {
        out.push_str("<p class=\"missing\" id=\"history\">No run history was given: no trends, no new failures, no determinism check across runs.</p>\n");
        return;
    };
    let _ = writeln!(
        out,
        "<p id=\"history\">Run <code>{}</code>, compared with {} earlier runs of the same catalog{}.</p>",
        escape(&h.run_id),
        h.runs_compared.saturating_sub(1),
        h.previous_run.as_ref().map_or(String::new(), |p| format!(" (the previous one: <code>{}</code>)", escape(p)))
    );
    if h.nondeterministic.is_empty() {
        out.push_str("<p>No seed changed its outcome at one commit.</p>\n");
    } else {
        out.push_str("<h3 class=\"violated\">Determinism bugs: the same seed, commit and scenario file, different outcomes</h3>\n<table id=\"nondeterministic\"><tr><th>scenario</th><th>seed</th><th>commit</th><th>outcomes</th></tr>\n");
        for n in &h.nondeterministic {
            let outcomes: Vec<String> = n.outcomes.iter().map(|o| escape(o)).collect();
            let _ = writeln!(
                out,
                "<tr class=\"violated\"><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape(&n.scenario),
                n.seed,
                escape(&n.commit),
                outcomes.join("<br>")
            );
        }
        out.push_str("</table>\n");
    }
    if h.groups.is_empty() {
        out.push_str("<p>No seed failed in this run.</p>\n");
    } else {
        out.push_str("<h3>Failures by signature</h3>\n<table id=\"failure-groups\"><tr><th>signature</th><th>seeds</th><th>new since the previous run</th><th>first capsule</th></tr>\n");
        for g in &h.groups {
            let seeds: Vec<String> = g.seeds.iter().take(20).map(|(s, n)| format!("{} {n}", escape(s))).collect();
            let more = if g.seeds.len() > 20 { format!(" and {} more", g.seeds.len() - 20) } else { String::new() };
            let new = h.new_failures.contains(&g.signature);
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td>{}</td><td>{} seeds: {}{more}</td><td>{}</td><td><code>{}</code></td></tr>",
                if new { "violated" } else { "not-tested" },
                escape(&g.signature),
                g.seeds.len(),
                seeds.join(", "),
                if new { "NEW" } else { "seen before" },
                escape(g.capsule.as_deref().unwrap_or("-"))
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str(
        "<h3>Trends, oldest run first</h3>\n<table id=\"trends\"><tr><th>claim or scenario</th><th>runs</th></tr>\n",
    );
    for (claim, verdicts) in &h.claim_trends {
        let cells: String = verdicts
            .iter()
            .map(|v| format!("<span class=\"{}\" title=\"{}\">&#9632;</span>", v.as_str(), verdict_text(*v)))
            .collect();
        let _ = writeln!(out, "<tr><td>{}</td><td>{cells}</td></tr>", escape(claim));
    }
    for (scenario, counts) in &h.scenario_trends {
        let cells: Vec<String> = counts
            .iter()
            .map(|(failed, seeds)| match seeds {
                0 => "–".to_string(),
                _ => format!(
                    "<span class=\"{}\">{failed}/{seeds}</span>",
                    if *failed == 0 { "holds" } else { "violated" }
                ),
            })
            .collect();
        let _ = writeln!(out, "<tr><td>{} (failed/seeds)</td><td>{}</td></tr>", escape(scenario), cells.join(" "));
    }
    out.push_str("</table>\n");
}

fn verdict_text(verdict: ClaimVerdict) -> &'static str {
    match verdict {
        ClaimVerdict::Holds => "holds",
        ClaimVerdict::Violated => "violated",
        ClaimVerdict::NotTested => "not tested",
    }
}

/// A chart in its figure, or a line saying why there is none.
fn figure(out: &mut String, name: &str, caption: &str, svg: Option<String>, missing: &str) {
    match svg {
        Some(svg) => {
            let _ = writeln!(
                out,
                "<figure class=\"chart\" data-chart=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
                escape(name),
                escape(caption)
            );
        }
        None => {
            let _ =
                writeln!(out, "<p class=\"missing\" data-missing-chart=\"{}\">{}</p>", escape(name), escape(missing));
        }
    }
}

fn render_sla(out: &mut String, summary: &Summary) {
    out.push_str("<h2 id=\"sla\">Availability per cluster type against its SLA</h2>\n<p>Each SLA month runs one cluster type for 30 simulated days with faults drawn at published failure rates (the scenario files cite them) under a light workload. Availability is measured in time, as the SLA defines it: the share of the month in which writes to every partition and reads by every consumer succeeded. Faults are simulated in full; the quiet time between them is counted as up, and one quiet stretch per month is simulated to check that it is. The interval is the 95 % Wilson interval for the share of months that meet the SLA. Months of one seed draw the same faults wherever two types share a rate (common random numbers), so the types differ by what differs: a Basic cluster's zone is all its brokers, a Dedicated cluster is reached over a peering that can be cut.</p>\n");
    let types = crate::sla::per_type(summary);
    if types.is_empty() {
        figure(
            out,
            "sla",
            "",
            None,
            "No SLA month ran in this summary: availability per cluster type against its SLA (99.5 % Basic, 99.95 % Standard and Dedicated) is not tested here.",
        );
        return;
    }
    out.push_str("<table id=\"sla-table\"><tr><th>Cluster type</th><th>SLA</th><th>Months</th><th>Meet the SLA</th><th>95 % interval</th><th>Mean</th><th>Worst month</th><th>Faults</th><th>Simulated</th></tr>\n");
    for t in &types {
        let _ = writeln!(
            out,
            "<tr class=\"sla-row\" data-cluster-type=\"{}\"><td>{}</td><td>{} %</td><td>{}</td><td>{} of {}</td><td>{:.0}-{:.0} %</td><td>{:.4} %</td><td>{:.4} %</td><td>{}</td><td>{:.1} h for {:.0} days</td></tr>",
            escape(&t.cluster_type),
            escape(&t.cluster_type),
            t.sla_percent,
            t.months.len(),
            t.met,
            t.months.len(),
            t.met_interval.0 * 100.0,
            t.met_interval.1 * 100.0,
            t.mean_percent,
            t.worst_percent,
            t.faults,
            t.simulated_hours,
            t.days,
        );
    }
    out.push_str("</table>\n");
    figure(
        out,
        "sla",
        "Monthly availability per cluster type (dots: months; bar: mean), with each type's SLA as a red line.",
        Some(sla_chart(&types)),
        "",
    );
}

fn sla_chart(types: &[crate::sla::TypeAvailability]) -> String {
    let lowest = types.iter().map(|t| t.worst_percent.min(t.sla_percent)).fold(100.0, f64::min);
    let floor = (lowest - (100.0 - lowest) * 0.2).max(0.0);
    let n = types.len() as f64;
    draw(640, 320, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..n, floor..100.0 + (100.0 - floor) * 0.05)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("availability (%)")
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()?;
        for (i, t) in types.iter().enumerate() {
            let x = i as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x + 0.1, t.sla_percent), (x + 0.9, t.sla_percent)],
                RED.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x + 0.3, t.mean_percent), (x + 0.7, t.mean_percent)],
                BLACK.stroke_width(3),
            )))?;
            let count = t.months.len().max(1) as f64;
            chart.draw_series(t.months.iter().enumerate().map(|(j, (_, percent))| {
                Circle::new((x + 0.25 + 0.5 * (j as f64 + 0.5) / count, *percent), 3, BLUE.mix(0.7).filled())
            }))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{} (SLA {} %)", t.cluster_type, t.sla_percent),
                (x + 0.1, floor + (100.0 - floor) * 0.04),
                ("sans-serif", 13),
            )))?;
        }
        Ok(())
    })
}

fn render_availability(out: &mut String, summary: &Summary) {
    out.push_str("<h2>Availability in simulated time</h2>\n<p>The share of partition-time in which writes were acknowledged (and of consumer-time in which reads succeeded) while faults were injected, per scenario: the bar is the mean over seeds, the whisker runs from the worst seed to the best. These are fault windows, not SLA months: an SLA month dilutes its faults over 30 days (next section).</p>\n");
    let rows: Vec<(&str, Vec<f64>, Vec<f64>)> = summary
        .scenarios
        .iter()
        .filter_map(|s| {
            let produce: Vec<f64> = s.uptime.iter().filter_map(|u| u.produce.during).collect();
            let fetch: Vec<f64> = s.uptime.iter().filter_map(|u| u.fetch.during).collect();
            (!produce.is_empty() || !fetch.is_empty()).then_some((s.name.as_str(), produce, fetch))
        })
        .collect();
    let svg = (!rows.is_empty()).then(|| uptime_chart(&rows));
    figure(
        out,
        "uptime",
        "Uptime during the fault windows, produce (blue) and fetch (orange); mean over seeds, whiskers worst to best seed.",
        svg,
        "No seed measured availability in time (the summary predates it, or no scenario ran).",
    );
}

fn uptime_chart(rows: &[(&str, Vec<f64>, Vec<f64>)]) -> String {
    share_chart(rows.len(), "uptime during faults", |chart, i, row| {
        let (name, produce, fetch) = &rows[i];
        for (values, color, (low, high)) in [(produce, BLUE, (0.5, 0.85)), (fetch, RGBColor(230, 120, 0), (0.15, 0.5))]
        {
            let Some((mean, min, max)) = spread(values) else { continue };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, row + low), (mean, row + high)],
                color.mix(0.6).filled(),
            )))?;
            let mid = row + (low + high) / 2.0;
            chart.draw_series(std::iter::once(PathElement::new(vec![(min, mid), (max, mid)], BLACK)))?;
        }
        chart.draw_series(std::iter::once(Text::new(name.to_string(), (1.02, row + 0.75), ("sans-serif", 13))))?;
        Ok(())
    })
}

type ShareChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Shares (0.0..=1.0) as horizontal bars, one row each (`paint` gets the row's index and its
/// y), the names right of the bars (x past 1.0), where long scenario names fit.
fn share_chart(rows: usize, x_desc: &str, mut paint: impl FnMut(&mut ShareChart, usize, f64) -> DrawResult) -> String {
    let n = rows as f64;
    draw(900, 60 + rows as u32 * 22, |root| {
        let mut chart =
            ChartBuilder::on(&root).margin(10).x_label_area_size(30).build_cartesian_2d(0.0..1.6, 0.0..n)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(x_desc)
            .x_label_formatter(&|x| if *x <= 1.0 { format!("{x:.1}") } else { String::new() })
            .draw()?;
        for i in 0..rows {
            paint(&mut chart, i, n - 1.0 - i as f64)?;
        }
        Ok(())
    })
}

/// Mean, minimum and maximum of `values`; `None` when empty.
fn spread(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((mean, min, max))
}

fn render_latency(out: &mut String, summary: &Summary) {
    out.push_str("<h2>Latency over simulated time</h2>\n<p>One seed per scenario (its first): the p50 and p99 of the produce and fetch latencies completed in each time bucket, with its faults drawn as red bands.</p>\n");
    let mut any = false;
    for s in &summary.scenarios {
        if let Some(timeline) = s.timeline.as_ref().filter(|t| !t.points.is_empty()) {
            any = true;
            figure(
                out,
                &format!("latency-{}", s.name),
                &format!("{}, seed {}: latency per {} s bucket", s.name, timeline.seed, timeline.bucket_s),
                Some(timeline_chart(timeline)),
                "",
            );
        }
    }
    if !any {
        figure(out, "latency", "", None, "No latency timeline in this summary.");
    }
}

/// One line of the timeline chart: which value of a point it draws.
type Pick = fn(&crate::model::LatencyPoint) -> Option<f64>;

fn timeline_chart(timeline: &Timeline) -> String {
    let end = timeline.points.last().map_or(1.0, |p| p.t_s + timeline.bucket_s);
    let top =
        timeline.points.iter().flat_map(|p| [p.produce_p99, p.fetch_p99]).flatten().fold(10.0_f64, f64::max) * 1.5;
    draw(900, 260, |root| {
        // Log scale: a 10 s stall and a 5 ms p50 are both readable.
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, (1.0..top).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("simulated s")
            .y_desc("ms (log)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        chart.draw_series(
            timeline
                .faults
                .iter()
                .map(|f| Rectangle::new([(f.start_s, 1.0), (f.end_s.min(end), top)], RED.mix(0.12).filled())),
        )?;
        let series: [(&str, Pick, RGBColor); 4] = [
            ("produce p50", |p| p.produce_p50, RGBColor(120, 150, 230)),
            ("produce p99", |p| p.produce_p99, BLUE),
            ("fetch p50", |p| p.fetch_p50, RGBColor(240, 180, 100)),
            ("fetch p99", |p| p.fetch_p99, RGBColor(230, 120, 0)),
        ];
        for (label, pick, color) in series {
            let points: Vec<(f64, f64)> = timeline
                .points
                .iter()
                .filter_map(|p| pick(p).map(|v| (p.t_s + timeline.bucket_s / 2.0, v.max(1.0))))
                .collect();
            chart
                .draw_series(LineSeries::new(points, color))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
        Ok(())
    })
}

fn render_recoveries(out: &mut String, summary: &Summary) {
    out.push_str("<h2>Recovery after each fault kind</h2>\n<p>From a fault's end until every partition took writes again (0 when none was down at its end), over every seed of every scenario.</p>\n");
    let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in summary.scenarios.iter().flat_map(|s| &s.recoveries) {
        by_kind.entry(r.kind.as_str()).or_default().push(r.seconds);
    }
    if by_kind.is_empty() {
        figure(out, "recovery", "", None, "No recovery was measured in this summary.");
    }
    for (kind, seconds) in by_kind {
        let (mean, _, max) = spread(&seconds).unwrap_or_default();
        figure(
            out,
            &format!("recovery-{kind}"),
            &format!("{kind}: {} faults, mean {mean:.1} s, worst {max:.1} s", seconds.len()),
            Some(histogram(&seconds, "seconds to recover")),
            "",
        );
    }
}

/// A histogram of `values` in 20 bins from 0 to their maximum.
fn histogram(values: &[f64], x_desc: &str) -> String {
    let max = values.iter().copied().fold(1.0_f64, f64::max);
    let width = max / 20.0;
    let mut bins = [0u32; 21];
    for v in values {
        bins[((v / width) as usize).min(20)] += 1;
    }
    let top = bins.iter().copied().max().unwrap_or(1) + 1;
    draw(440, 200, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..max + width, 0u32..top)?;
        chart.configure_mesh().x_desc(x_desc).y_desc("faults").draw()?;
        chart.draw_series(bins.iter().enumerate().map(|(i, n)| {
            let x = i as f64 * width;
            Rectangle::new([(x, 0), (x + width, *n)], BLUE.mix(0.6).filled())
        }))?;
        Ok(())
    })
}

fn render_partition_reads(out: &mut String, summary: &Summary) {
    out.push_str("<h2>Reads per partition during multi-zone outages (C20)</h2>\n");
    let rows: Vec<(&str, &crate::model::PartitionReadEvidence)> =
        summary.scenarios.iter().flat_map(|s| s.partition_reads.iter().map(move |r| (s.name.as_str(), r))).collect();
    if rows.is_empty() {
        out.push_str("<p class=\"missing\">No scenario had two zones down with a consumer reading: not tested.</p>\n");
        return;
    }
    out.push_str("<table id=\"partition-reads\"><tr><th>scenario</th><th>partition</th><th>readable in every seed</th><th>evidence</th></tr>\n");
    for (scenario, r) in rows {
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}-{}</td><td>{}</td><td>{}</td></tr>",
            if r.readable_during_outage { "holds" } else { "violated" },
            escape(scenario),
            escape(&r.topic),
            r.partition,
            if r.readable_during_outage { "yes" } else { "no" },
            escape(&r.evidence)
        );
    }
    out.push_str("</table>\n");
    let bars: Vec<(String, f64)> = summary
        .scenarios
        .iter()
        .flat_map(|s| s.partition_reads.iter().map(move |r| (s, r)))
        .filter(|(_, r)| r.successful_fetches + r.failed_fetches > 0)
        .map(|(s, r)| {
            let share = r.successful_fetches as f64 / (r.successful_fetches + r.failed_fetches) as f64;
            (format!("{} {}-{}", s.name, r.topic, r.partition), share)
        })
        .collect();
    figure(
        out,
        "partition-reads",
        "The share of each partition's fetches that succeeded while two zones were down, over every seed.",
        (!bars.is_empty()).then(|| partition_read_chart(&bars)),
        "No fetch counts in this summary (it predates them).",
    );
}

fn partition_read_chart(bars: &[(String, f64)]) -> String {
    share_chart(bars.len(), "fetches that succeeded during the outage", |chart, i, row| {
        let (name, share) = &bars[i];
        let color = if *share > 0.0 { BLUE } else { RED };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, row + 0.2), (share.max(0.005), row + 0.8)],
            color.mix(0.6).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(name.clone(), (1.02, row + 0.75), ("sans-serif", 13))))?;
        Ok(())
    })
}

fn render_notices(out: &mut String, summary: &Summary) {
    out.push_str("<h2>Breach notifications (C23)</h2>\n");
    let notices: Vec<&crate::model::BreachNotice> = summary.scenarios.iter().flat_map(|s| &s.breach_notices).collect();
    if notices.is_empty() {
        figure(
            out,
            "notices",
            "",
            None,
            "No breach was confirmed in this run: the 72-hour promise is not tested here.",
        );
        return;
    }
    let d = NoticeDistribution::of(notices.iter().copied(), NOTICE_DEADLINE_H);
    let hours: Vec<f64> = notices.iter().map(|n| n.hours.unwrap_or(f64::INFINITY)).collect();
    let caption = format!(
        "{} notices, {} never arrived; {:.1} % within 72 h; the red line is the 72-hour promise (never-arrived notices are drawn past it).",
        d.notices,
        d.undelivered,
        d.within_deadline.unwrap_or(0.0) * 100.0
    );
    figure(out, "notices", &caption, Some(notice_chart(&hours)), "");
}

fn notice_chart(hours: &[f64]) -> String {
    let top = hours.iter().copied().filter(|h| h.is_finite()).fold(NOTICE_DEADLINE_H, f64::max) * 1.15;
    draw(900, 220, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..top, 0usize..hours.len().max(1))?;
        chart.configure_mesh().x_desc("hours from confirmation to the customer's inbox").y_desc("notice").draw()?;
        chart.draw_series(
            hours.iter().enumerate().map(|(i, h)| Circle::new((h.min(top * 0.98), i), 3, BLUE.filled())),
        )?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(NOTICE_DEADLINE_H, 0), (NOTICE_DEADLINE_H, hours.len().max(1))],
            RED.stroke_width(2),
        )))?;
        Ok(())
    })
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws on a `width` x `height` SVG and returns its text. Drawing into a string cannot fail
/// for want of a file; a failure of plotters itself becomes a visible note in the page.
fn draw(
    width: u32,
    height: u32,
    paint: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult,
) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| {
            paint(root.clone()).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        })
    };
    match result {
        Ok(()) => svg,
        Err(error) => format!("<p class=\"missing\">chart failed: {}</p>", escape(&error)),
    }
}

/// Text for HTML element content and attribute values.
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
