//! The `[operators]` section (C10): the staff directory and a bastion per zone, and the people
//! who use them from the security-operations host. Needs `[log_store]`: every decision is an
//! event there, and the checker reads them.

use serde::{Deserialize, Serialize};

use super::ScenarioError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorsSpec {
    pub people: Vec<PersonSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PersonKind {
    /// Opens sessions with password and code, acts, and also asks for what the role does not
    /// permit and replays the code it just used.
    Diligent,
    /// Knows the password, not the second factor: guesses codes, and uses the bastions' stolen
    /// key directly at the brokers.
    WithoutMfa,
    /// Diligent until `offboard_at_s`, when the security admin ends the role; then keeps trying.
    Offboarded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonSpec {
    pub name: String,
    /// `observer` or `support`.
    pub role: broker::operators::OperatorRole,
    pub kind: PersonKind,
    /// Simulated seconds between attempts.
    pub interval_s: f64,
    #[serde(default)]
    pub offboard_at_s: Option<f64>,
}

impl OperatorsSpec {
    pub fn validate(&self, file: &str, duration_s: u64, has_log_store: bool) -> Result<(), ScenarioError> {
        if !has_log_store {
            return Err(ScenarioError::invalid(file, "operators", "a [log_store] section beside it"));
        }
        if self.people.is_empty() {
            return Err(ScenarioError::invalid(file, "operators.people", "at least one person"));
        }
        for (index, person) in self.people.iter().enumerate() {
            let key = |field: &str| format!("operators.people[{index}].{field}");
            if person.name.is_empty() || !person.name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                return Err(ScenarioError::invalid(file, key("name"), "lowercase letters and '-'"));
            }
            if self.people[..index].iter().any(|p| p.name == person.name) {
                return Err(ScenarioError::invalid(file, key("name"), "a name no other person has"));
            }
            if !(1.0..=3600.0).contains(&person.interval_s) {
                return Err(ScenarioError::invalid(file, key("interval_s"), "1 to 3600"));
            }
            let offboards = person.kind == PersonKind::Offboarded;
            match person.offboard_at_s {
                Some(at) if offboards && at > 0.0 && at < duration_s as f64 => {}
                None if !offboards => {}
                _ if offboards => {
                    return Err(ScenarioError::invalid(
                        file,
                        key("offboard_at_s"),
                        format!("0 to duration_s ({duration_s})"),
                    ))
                }
                _ => return Err(ScenarioError::invalid(file, key("offboard_at_s"), "only with kind = \"offboarded\"")),
            }
        }
        Ok(())
    }
}
