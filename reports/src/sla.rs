//! Availability per cluster type against its SLA (C03), from the SLA months of a summary: the
//! one roll-up the Markdown and the HTML both print.

use crate::model::{wilson, Summary};

/// One cluster type's months.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeAvailability {
    pub cluster_type: String,
    pub sla_percent: f64,
    /// Each month's availability, in percent, by seed.
    pub months: Vec<(u64, f64)>,
    /// Months at or above the SLA.
    pub met: u64,
    /// 95 % Wilson interval for the share of months that meet the SLA.
    pub met_interval: (f64, f64),
    /// Mean and worst monthly availability, in percent.
    pub mean_percent: f64,
    pub worst_percent: f64,
    pub faults: u64,
    /// Simulated hours actually run, and the months' days they stand for.
    pub simulated_hours: f64,
    pub days: f64,
}

/// One entry per cluster type that has months, Basic, Standard, Dedicated first.
pub fn per_type(summary: &Summary) -> Vec<TypeAvailability> {
    let months: Vec<_> = summary.scenarios.iter().flat_map(|s| &s.sla_months).collect();
    let mut types: Vec<&str> = months.iter().map(|m| m.cluster_type.as_str()).collect();
    let rank = |t: &str| ["Basic", "Standard", "Dedicated"].iter().position(|x| *x == t).unwrap_or(3);
    types.sort_by_key(|t| (rank(t), t.to_string()));
    types.dedup();
    types
        .into_iter()
        .map(|cluster_type| {
            let of_type: Vec<_> = months.iter().filter(|m| m.cluster_type == cluster_type).collect();
            let n = of_type.len() as u64;
            let met = of_type.iter().filter(|m| m.meets_sla()).count() as u64;
            let percents: Vec<(u64, f64)> = of_type.iter().map(|m| (m.seed, m.availability * 100.0)).collect();
            TypeAvailability {
                cluster_type: cluster_type.to_string(),
                sla_percent: of_type[0].sla_percent,
                met,
                met_interval: wilson(met, n, 1.96).expect("at least one month"),
                mean_percent: percents.iter().map(|(_, p)| p).sum::<f64>() / n as f64,
                worst_percent: percents.iter().map(|(_, p)| *p).fold(100.0, f64::min),
                faults: of_type.iter().map(|m| m.faults as u64).sum(),
                simulated_hours: of_type.iter().map(|m| m.simulated_s).sum::<f64>() / 3600.0,
                days: of_type.iter().map(|m| m.days).sum(),
                months: percents,
            }
        })
        .collect()
}
