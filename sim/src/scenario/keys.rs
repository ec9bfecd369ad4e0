//! The `[keys]` section (C08, C09): whether the cluster is created with the customer's own
//! master key (bring your own key, which makes it Dedicated), and what is done to that key
//! during the run: rotations (one-off or every `rotate_every_s`), disabling and enabling,
//! removing and giving back the brokers' grant, scheduling and cancelling its deletion.
//!
//! The customer acts on its own key at the provider's console: the actions reach the key
//! service's store as the customer, whatever happens to the frontends brokers use. Without
//! `byok` the key is the one the service keeps for the cluster, and only the service rotates it.

use serde::{Deserialize, Serialize};

use super::ScenarioError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSpec {
    /// The cluster is Dedicated and created with a key the customer made and granted (C09).
    #[serde(default)]
    pub byok: bool,
    /// A rotation of the cluster's key every this many seconds, from the first (a storm).
    #[serde(default)]
    pub rotate_every_s: Option<f64>,
    #[serde(default)]
    pub actions: Vec<KeyActionSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyActionSpec {
    pub at_s: f64,
    pub action: KeyAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAction {
    /// A new version of the master key; everything wrapped before still unwraps.
    Rotate,
    /// The customer disables its key: the brokers must stop serving within the bound.
    Disable,
    Enable,
    /// The customer removes the brokers' grant on its key (a revocation too).
    RevokeGrant,
    /// The customer grants the brokers its key again.
    Grant,
    /// The customer schedules its key's deletion (the key is unusable from then on).
    ScheduleDeletion,
    /// The deletion is cancelled; the key comes back disabled (as in AWS KMS).
    CancelDeletion,
}

impl KeyAction {
    pub fn name(self) -> &'static str {
        match self {
            KeyAction::Rotate => "rotate",
            KeyAction::Disable => "disable",
            KeyAction::Enable => "enable",
            KeyAction::RevokeGrant => "revoke-grant",
            KeyAction::Grant => "grant",
            KeyAction::ScheduleDeletion => "schedule-deletion",
            KeyAction::CancelDeletion => "cancel-deletion",
        }
    }
}

impl KeysSpec {
    pub(super) fn validate(&self, file: &str, duration_s: u64) -> Result<(), ScenarioError> {
        if let Some(every) = self.rotate_every_s {
            if !(every >= 1.0 && every < duration_s as f64) {
                return Err(ScenarioError::invalid(
                    file,
                    "keys.rotate_every_s",
                    format!("1 to less than duration_s ({duration_s})"),
                ));
            }
        }
        for (index, action) in self.actions.iter().enumerate() {
            if !(action.at_s >= 0.0 && action.at_s < duration_s as f64) {
                return Err(ScenarioError::invalid(
                    file,
                    format!("keys.actions[{index}].at_s"),
                    format!("0 <= at_s < duration_s ({duration_s})"),
                ));
            }
            if !self.byok && action.action != KeyAction::Rotate {
                return Err(ScenarioError::invalid(
                    file,
                    format!("keys.actions[{index}].action"),
                    format!(
                        "\"rotate\", or `byok = true`: `{}` is the customer's act on its own key (the service only rotates the key it keeps)",
                        action.action.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every action in time order, rotations of the storm included (ms, action).
    pub fn timeline(&self, duration_s: u64) -> Vec<(u64, KeyAction)> {
        let mut timeline: Vec<(u64, KeyAction)> =
            self.actions.iter().map(|a| ((a.at_s * 1000.0) as u64, a.action)).collect();
        if let Some(every) = self.rotate_every_s {
            let mut at = every;
            while at < duration_s as f64 {
                timeline.push(((at * 1000.0) as u64, KeyAction::Rotate));
                at += every;
            }
        }
        timeline.sort();
        timeline
    }
}
