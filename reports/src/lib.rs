//! Run outcome model and its renderers.
//!
//! The harness fills a [`Summary`]; this crate renders it as JSON
//! ([`json::render`]), Markdown for people and PR comments
//! ([`markdown::render`]), JUnit XML for CI ([`junit::render`]), one self-contained HTML page
//! with charts ([`html::render`]), and combines
//! shards of one sweep ([`merge::merge`]).

pub mod claims;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod sla;

pub use model::wilson;
pub use model::{
    Availability, BreachNotice, ClaimVerdict, DiskUse, ExpectationResult, Failure, FaultWindow, LatencyPoint,
    LatencySummary, NoticeDistribution, PartitionReadEvidence, Percentiles, PhaseRatios, Recovery, RunInfo,
    ScenarioSummary, SeedUptime, SlaMonth, Summary, Timeline,
};

/// Compress seeds for display: sorted, deduplicated, runs of three or more
/// consecutive seeds become `a..=b`, everything else is listed.
///
/// `[1, 2, 3, 5]` -> `"1..=3, 5"`; `[4, 5]` -> `"4, 5"`; `[]` -> `""`.
pub fn compress_seeds(seeds: &[u64]) -> String {
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        let end = sorted[j];
        match j - i {
            0 => parts.push(start.to_string()),
            1 => {
                parts.push(start.to_string());
                parts.push(end.to_string());
            }
            _ => parts.push(format!("{start}..={end}")),
        }
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;
