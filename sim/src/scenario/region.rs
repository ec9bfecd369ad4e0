//! The `[region]` section (C07): the service also runs a second region (`region-2`: its own
//! broker cluster, quorum and DNS) beside the customer's (`region-1`, where every cluster of
//! the organization is created). At `provision_at_s` the customer asks for one more cluster in
//! its region, every 2 s until the control plane places it, then writes to it: a request made
//! while the region is down must wait, never land in the other region.

use serde::{Deserialize, Serialize};

use super::ScenarioError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// When the customer asks for the extra cluster (simulated seconds from the run's start).
    pub provision_at_s: f64,
}

impl RegionSpec {
    pub fn validate(&self, file: &str, duration_s: u64) -> Result<(), ScenarioError> {
        if !(self.provision_at_s >= 0.0 && self.provision_at_s < duration_s as f64) {
            return Err(ScenarioError::invalid(
                file,
                "region.provision_at_s",
                format!("0 to duration_s ({duration_s})"),
            ));
        }
        Ok(())
    }
}
