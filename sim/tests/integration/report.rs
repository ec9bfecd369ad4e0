//! `faultline report`: every format rebuilt from a run directory without rerunning anything,
//! and the HTML page checked in a real browser (headless Chromium, from Debian's packages).

use std::path::{Path, PathBuf};
use std::process::Command;

use sim::scenario::LoadedScenario;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn catalog() -> Vec<LoadedScenario> {
    sim::scenario::load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")).unwrap()
}

/// A scratch directory under target/, kept after the test for a person to look at.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/faultline/report-check").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_partial_run_directory_is_rebuilt_from_its_outcomes() {
    // One seed's outcome of one scenario, as a nightly interrupted early leaves it.
    let dir = scratch("partial");
    std::fs::create_dir_all(dir.join("outcomes")).unwrap();
    let outcome = fixtures().join("partial-run/outcomes/single-zone-outage-seed-1.json");
    std::fs::copy(&outcome, dir.join("outcomes/single-zone-outage-seed-1.json")).unwrap();

    let summary = sim::summary::rebuild(&dir, &catalog()).unwrap();
    assert_eq!(summary.scenarios.len(), 1);
    let scenario = &summary.scenarios[0];
    assert_eq!((scenario.name.as_str(), scenario.seeds.as_slice()), ("single-zone-outage", &[1][..]));
    assert!(scenario.passed, "{:?}", scenario.expectations.iter().filter(|e| !e.passed).collect::<Vec<_>>());
    assert_eq!(scenario.uptime.len(), 1);
    assert!(!scenario.recoveries.is_empty() && scenario.timeline.is_some());
    sim::summary::write(&dir, &summary, None).unwrap();
    for format in ["summary.json", "summary.md", "summary.xml", "summary.html"] {
        assert!(dir.join(format).exists(), "{format}");
    }
    // The report says what is missing: every other scenario of the catalog.
    assert_eq!(summary.missing_scenarios.len(), catalog().len() - 1);
    let html = std::fs::read_to_string(dir.join("summary.html")).unwrap();
    assert!(html.contains("id=\"missing-scenarios\"") && html.contains("zone-loss-short"), "{html}");
    // The rebuilt summary.json is read back as is on the next rebuild.
    assert_eq!(sim::summary::rebuild(&dir, &catalog()).unwrap(), summary);
}

#[test]
fn a_run_is_recorded_in_the_history_and_its_report_rebuilt_with_the_findings() {
    let dir = scratch("history");
    std::fs::create_dir_all(dir.join("outcomes")).unwrap();
    let outcome = fixtures().join("partial-run/outcomes/single-zone-outage-seed-1.json");
    std::fs::copy(&outcome, dir.join("outcomes/single-zone-outage-seed-1.json")).unwrap();
    let mut summary = sim::summary::rebuild(&dir, &catalog()).unwrap();
    summary.run = Some(sim::summary::run_info("sweep", 1.0));
    let loaded = catalog().into_iter().find(|l| l.scenario.name == "single-zone-outage").unwrap();
    let outcome: sim::runner::RunOutcome = serde_json::from_str(&std::fs::read_to_string(&outcome).unwrap()).unwrap();
    let seeds = vec![sim::summary::seed_record(&loaded, &outcome, &Default::default())];
    let history = dir.join("history.sqlite");
    let findings = sim::summary::record(history.to_str().unwrap(), &summary, seeds).unwrap();
    assert_eq!((findings.runs_compared, findings.groups.len()), (1, 0));
    sim::summary::write(&dir, &summary, Some(&findings)).unwrap();
    // `faultline report` finds the run in the directory's history by the summary's run id.
    let again = sim::summary::findings(&dir, None, &summary).unwrap().expect("the local history is read");
    assert_eq!(again, findings);
    let html = std::fs::read_to_string(dir.join("summary.html")).unwrap();
    assert!(html.contains("No seed changed its outcome at one commit"), "{html}");
    let unreachable = sim::summary::findings(&dir, Some("postgres://nobody:s3cret@127.0.0.1:1/none"), &summary)
        .unwrap_err()
        .to_string();
    assert!(unreachable.contains("postgres://nobody:***@127.0.0.1:1/none"), "{unreachable}");
    assert!(!unreachable.contains("s3cret"), "the password is not shown: {unreachable}");
}

#[test]
fn an_empty_run_directory_gives_a_report_that_says_nothing_ran() {
    let dir = scratch("empty");
    let summary = sim::summary::rebuild(&dir, &catalog()).unwrap();
    assert!(summary.scenarios.is_empty());
    sim::summary::write(&dir, &summary, None).unwrap();
    let html = std::fs::read_to_string(dir.join("summary.html")).unwrap();
    assert!(html.contains("No scenario ran"), "{html}");
    let missing = sim::summary::rebuild(&dir.join("no-such-run"), &catalog()).unwrap_err().to_string();
    assert!(missing.contains("no-such-run"), "{missing}");
}

/// Appended to a copy of the page: after layout, one line per chart with its drawn size and
/// how many shapes it holds. The report itself has no script.
const RENDER_CHECK: &str = r#"<script>
window.addEventListener('load', () => {
  const lines = [];
  for (const figure of document.querySelectorAll('figure.chart')) {
    const svg = figure.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    const shapes = svg ? svg.querySelectorAll('rect,path,polyline,polygon,circle,line,text').length : 0;
    lines.push(`${figure.dataset.chart} ${Math.round(box.width)} ${Math.round(box.height)} ${shapes}`);
  }
  const rows = document.querySelectorAll('tr.claim').length;
  const pre = document.createElement('pre');
  pre.id = 'render-check';
  pre.textContent = `claims ${rows}\n` + lines.join('\n');
  document.body.appendChild(pre);
});
</script></body>"#;

#[test]
fn the_html_report_of_a_real_nightly_renders_in_chromium() {
    // summary.json of a real `cargo faultline nightly` (all 48 scenarios, their default seeds,
    // SLA months included).
    let dir = scratch("nightly");
    std::fs::copy(fixtures().join("nightly/summary.json"), dir.join("summary.json")).unwrap();
    let summary = sim::summary::rebuild(&dir, &catalog()).unwrap();
    assert!(summary.scenarios.len() >= 40, "a whole nightly: {}", summary.scenarios.len());
    sim::summary::write(&dir, &summary, None).unwrap();
    let html = std::fs::read_to_string(dir.join("summary.html")).unwrap();
    let probe = dir.join("summary-render-check.html");
    std::fs::write(&probe, html.replace("</body>", RENDER_CHECK)).unwrap();

    let chromium = |args: &[&str]| {
        let output = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
            .arg("--window-size=1200,9000")
            .args(args)
            .output()
            .expect("chromium is installed (ci/test.sh installs Debian's package)");
        assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let url = format!("file://{}", probe.display());
    let dom = chromium(&["--virtual-time-budget=10000", "--dump-dom", &url]);
    let check = dom
        .split("<pre id=\"render-check\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the render check did not run:\n{}", &dom[..dom.len().min(2000)]));
    let mut lines = check.lines();
    let claims: usize = lines.next().and_then(|l| l.strip_prefix("claims ")).unwrap().parse().unwrap();
    assert_eq!(claims, reports::claims::catalog().len(), "a row per claim of the catalog");
    for claim in reports::claims::catalog() {
        assert!(dom.contains(&format!("data-claim=\"{}\"", claim.id)), "no row for {}", claim.id);
    }
    let charts: Vec<&str> = lines.collect();
    assert_eq!(charts.len(), html.matches("<figure class=\"chart\"").count());
    for cluster_type in ["Basic", "Standard", "Dedicated"] {
        assert!(dom.contains(&format!("data-cluster-type=\"{cluster_type}\"")), "no SLA row for {cluster_type}");
    }
    for name in ["sla", "uptime", "latency-single-zone-outage", "recovery-zone-outage", "partition-reads", "notices"] {
        assert!(charts.iter().any(|c| c.split(' ').next() == Some(name)), "no {name} chart in {charts:?}");
    }
    for chart in &charts {
        let fields: Vec<&str> = chart.split(' ').collect();
        let number = |i: usize| fields[i].parse::<u32>().unwrap();
        assert!(number(1) >= 200 && number(2) >= 100, "{chart}: drawn too small or not at all");
        assert!(number(3) >= 10, "{chart}: too few shapes to be a chart");
    }

    let screenshot = dir.join("summary.png");
    chromium(&[
        &format!("--screenshot={}", screenshot.display()),
        &format!("file://{}", dir.join("summary.html").display()),
    ]);
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "screenshot of {} bytes", png.len());
    eprintln!("screenshot: {} ({} charts, {claims} claims)", screenshot.display(), charts.len());
}
