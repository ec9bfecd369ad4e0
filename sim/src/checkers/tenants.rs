//! Tenant isolation (C28): a tenant's prober asks its own logical cluster about the names of
//! another tenant on the same brokers, and about names that exist nowhere, the same way and
//! back to back. Nothing of the other tenant may show in any answer (a topic name outside the
//! prober's own, the other cluster's id, a record of it, an ACL of its principal), and the
//! answer for "exists in another tenant" must equal the one for "does not exist", in content
//! and in time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One question a prober asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantProbe {
    pub at_ms: u64,
    /// `metadata-listing`, `metadata`, `fetch`, `produce`, `describe-acls`.
    pub kind: String,
    pub name: String,
    /// For paired probes: the pair's number and whether `name` exists in the rival tenant.
    pub pair: Option<(u64, bool)>,
    /// The answer, summarized (error codes); `None`: no answer (a timeout, a lost connection).
    pub answer: Option<String>,
    pub latency_ms: u64,
    /// Anything of the rival tenant found in the answer.
    pub leaks: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TenantLog {
    pub probes: Arc<Mutex<Vec<TenantProbe>>>,
}

/// Pairs needed before timings are compared; and the largest median difference allowed. The
/// two questions of a pair take the same path through the same brokers, so the median of
/// their differences is the network's noise around zero.
const TIMING_PAIRS_MIN: usize = 20;
const TIMING_MEDIAN_MAX_MS: f64 = 3.0;

/// (at ms, what) for every violation, and how many answers were checked.
pub fn isolation_violations(probes: &[TenantProbe]) -> (Vec<(u64, String)>, usize) {
    let mut violations = Vec::new();
    for probe in probes {
        for leak in &probe.leaks {
            violations.push((probe.at_ms, format!("{} {:?}: {leak}", probe.kind, probe.name)));
        }
    }
    // (kind, pair) -> (the rival's name's probe, the absent name's probe).
    type Pair<'a> = (Option<&'a TenantProbe>, Option<&'a TenantProbe>);
    let mut pairs: BTreeMap<(&str, u64), Pair> = BTreeMap::new();
    for probe in probes {
        if let Some((pair, rival_exists)) = probe.pair {
            let entry = pairs.entry((probe.kind.as_str(), pair)).or_default();
            if rival_exists {
                entry.0 = Some(probe);
            } else {
                entry.1 = Some(probe);
            }
        }
    }
    let mut differences: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for ((kind, _), pair) in &pairs {
        let (Some(rival), Some(absent)) = pair else { continue };
        let (Some(rival_answer), Some(absent_answer)) = (&rival.answer, &absent.answer) else { continue };
        if rival_answer != absent_answer {
            violations.push((
                rival.at_ms,
                format!(
                    "{kind}: {:?}, which exists in another tenant, was answered {rival_answer}; {:?}, which exists nowhere, {absent_answer}",
                    rival.name, absent.name
                ),
            ));
        }
        differences.entry(kind).or_default().push(rival.latency_ms as f64 - absent.latency_ms as f64);
    }
    for (kind, mut differences) in differences {
        if differences.len() < TIMING_PAIRS_MIN {
            continue;
        }
        differences.sort_by(f64::total_cmp);
        let median = differences[differences.len() / 2];
        if median.abs() > TIMING_MEDIAN_MAX_MS {
            let at = probes.iter().filter(|p| p.kind == kind).map(|p| p.at_ms).max().unwrap_or(0);
            violations.push((
                at,
                format!(
                    "{kind}: a name that exists in another tenant is answered {median:+.1} ms later (median of {} pairs) than one that exists nowhere",
                    differences.len()
                ),
            ));
        }
    }
    violations.sort();
    (violations, probes.iter().filter(|p| p.answer.is_some()).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(kind: &str, name: &str, pair: Option<(u64, bool)>, answer: &str, latency_ms: u64) -> TenantProbe {
        TenantProbe {
            at_ms: 1_000,
            kind: kind.into(),
            name: name.into(),
            pair,
            answer: Some(answer.into()),
            latency_ms,
            leaks: Vec::new(),
        }
    }

    #[test]
    fn equal_answers_in_equal_time_hold() {
        let mut probes = Vec::new();
        for pair in 0..30 {
            probes.push(probe("metadata", "payroll", Some((pair, true)), "UnknownTopicOrPartition", 5 + pair % 3));
            probes.push(probe("metadata", "absent-1", Some((pair, false)), "UnknownTopicOrPartition", 5 + pair % 2));
        }
        let (violations, checked) = isolation_violations(&probes);
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(checked, 60);
    }

    #[test]
    fn a_leak_a_different_answer_and_a_slower_answer_are_each_violations() {
        let mut listing = probe("metadata-listing", "*", None, "ok", 4);
        listing.leaks.push("lists \"lkc-2_payroll\", not a topic of its own cluster".into());
        let mut probes = vec![
            listing,
            probe("fetch", "payroll", Some((0, true)), "TopicAuthorizationFailed", 4),
            probe("fetch", "absent-0", Some((0, false)), "UnknownTopicOrPartition", 4),
        ];
        for pair in 1..=25 {
            probes.push(probe("produce", "payroll", Some((pair, true)), "UnknownTopicOrPartition", 12));
            probes.push(probe("produce", "absent", Some((pair, false)), "UnknownTopicOrPartition", 5));
        }
        let (violations, _) = isolation_violations(&probes);
        let text = format!("{violations:?}");
        assert_eq!(violations.len(), 3, "{text}");
        assert!(
            text.contains("lkc-2_payroll") && text.contains("TopicAuthorizationFailed") && text.contains("+7.0 ms")
        );
    }

    #[test]
    fn unanswered_probes_are_not_compared() {
        let mut lost = probe("metadata", "payroll", Some((0, true)), "", 10_000);
        lost.answer = None;
        let probes = vec![lost, probe("metadata", "absent", Some((0, false)), "UnknownTopicOrPartition", 5)];
        let (violations, checked) = isolation_violations(&probes);
        assert!(violations.is_empty());
        assert_eq!(checked, 1);
    }
}
