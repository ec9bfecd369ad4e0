//! A fault in an expanded schedule: what the runner applies and a capsule stores.

use serde::{Deserialize, Serialize};

use super::{FaultKind, FaultSpec, Group};

/// A fault in an expanded schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub target: Option<Group>,
    pub peer: Option<Group>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub amount: Option<f64>,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{:>9.3}s .. {:>9.3}s] {}",
            self.start_ms as f64 / 1000.0,
            self.end_ms as f64 / 1000.0,
            self.kind.name()
        )?;
        if let Some(target) = &self.target {
            write!(f, " {target}")?;
        }
        if let Some(peer) = &self.peer {
            write!(f, " <-/-> {peer}")?;
        }
        if let Some(amount) = self.amount {
            write!(f, " amount={amount}")?;
        }
        Ok(())
    }
}

impl From<&FaultSpec> for Fault {
    fn from(spec: &FaultSpec) -> Self {
        Fault {
            kind: spec.kind.clone(),
            target: spec.target.clone(),
            peer: spec.peer.clone(),
            start_ms: (spec.start_s * 1000.0) as u64,
            end_ms: (spec.end_s * 1000.0) as u64,
            amount: spec.amount,
        }
    }
}
