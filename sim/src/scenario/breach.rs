//! The `[breach]` section (C23): an attacker on the internet with the workload's leaked API
//! key (first guessing secrets, if `guesses`), the detection pipeline reading the security log,
//! the incident desk (served by the control plane) paging an on-call rota whose people answer
//! after delays drawn from the scenario's distributions, in a calendar with working hours,
//! weekends and holidays, and the customer's security contact, whose inbox takes the written
//! notice. Faults on the detection pipeline (`down`, `partitioned` from the log store) and on
//! the notice channel (the inbox unreachable) are windows in simulated seconds from t = 0; they
//! may reach into `[log_store] days_after`. Needs `[log_store]`.

use serde::{Deserialize, Serialize};

use super::ScenarioError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreachSpec {
    pub kind: BreachKind,
    /// When the attacker starts, in the cluster's part of the run.
    pub start_s: f64,
    /// Wrong secrets the attacker tries first (an authentication-failure burst), 0 for none.
    #[serde(default)]
    pub guesses: u32,
    /// Fetches with the leaked key, one a second.
    pub reads: u32,
    pub calendar: CalendarSpec,
    pub oncall: OncallSpec,
    /// How long the customer's contact takes to acknowledge a notice.
    pub contact_ack_s: Delay,
    #[serde(default)]
    pub detection_faults: Vec<Window>,
    /// The customer's inbox unreachable.
    #[serde(default)]
    pub notice_channel_faults: Vec<Window>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreachKind {
    /// The workload's API key, leaked, used from a host on the internet.
    LeakedKey,
}

/// The simulated wall clock's start: `start` (RFC 9557, `2027-03-26T14:00[Europe/Berlin]`)
/// plus a per-seed draw in `0..start_jitter_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    pub start: String,
    #[serde(default)]
    pub start_jitter_s: f64,
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncallSpec {
    /// One person a week in turn; an unacknowledged page escalates down the list.
    pub rota: Vec<String>,
    /// Page to acknowledgement, in working hours and outside them.
    pub ack_s: Delay,
    pub ack_off_hours_s: Delay,
    /// Acknowledgement to the decision (confirm, or close as no access).
    pub investigate_s: Delay,
    /// The chance a page goes unanswered (the next page escalates).
    #[serde(default)]
    pub miss: f64,
}

/// A log-normal delay, by its median and its 90th percentile, in simulated seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delay {
    pub median: f64,
    pub p90: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default)]
    pub kind: WindowKind,
    pub start_s: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    /// The machine is down (its process killed; restarted at the end).
    #[default]
    Down,
    /// It runs but reaches none of the log store's replicas.
    Partitioned,
}

impl Delay {
    /// A draw, from a standard normal `z`.
    pub fn draw(&self, z: f64) -> f64 {
        let sigma = (self.p90 / self.median).ln() / 1.281_551_565_5;
        self.median * (sigma * z).exp()
    }

    fn validate(&self, file: &str, key: &str) -> Result<(), ScenarioError> {
        if !(self.median > 0.0 && self.p90 >= self.median && self.p90.is_finite()) {
            return Err(ScenarioError::invalid(file, key, "median > 0 and p90 >= median"));
        }
        Ok(())
    }
}

impl BreachSpec {
    pub fn validate(&self, file: &str, duration_s: u64, end_s: f64, has_log_store: bool) -> Result<(), ScenarioError> {
        if !has_log_store {
            return Err(ScenarioError::invalid(file, "breach", "a [log_store] section beside it"));
        }
        if !(0.0..duration_s as f64).contains(&self.start_s) {
            return Err(ScenarioError::invalid(file, "breach.start_s", format!("0 to duration_s ({duration_s})")));
        }
        if !(1..=10_000).contains(&self.reads) || self.guesses > 10_000 {
            return Err(ScenarioError::invalid(file, "breach.reads", "1 to 10000 (and guesses at most 10000)"));
        }
        let start = self.calendar.start.parse::<jiff::Zoned>().map_err(|e| {
            ScenarioError::invalid(
                file,
                "breach.calendar.start",
                format!("a time with its zone, 2027-03-26T14:00[Europe/Berlin] ({e})"),
            )
        })?;
        if start.year() < 2023 || start.year() > 2100 {
            return Err(ScenarioError::invalid(file, "breach.calendar.start", "a time from 2023 to 2100"));
        }
        if !(0.0..=30.0 * 86_400.0).contains(&self.calendar.start_jitter_s) {
            return Err(ScenarioError::invalid(file, "breach.calendar.start_jitter_s", "0 to 30 days"));
        }
        broker::incidents::calendar::Calendar::new(
            start.time_zone().iana_name().unwrap_or("UTC"),
            &self.calendar.holidays,
        )
        .map_err(|e| ScenarioError::invalid(file, "breach.calendar.holidays", e))?;
        let rota = &self.oncall.rota;
        if rota.is_empty()
            || rota.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        {
            return Err(ScenarioError::invalid(
                file,
                "breach.oncall.rota",
                "one or more names of lowercase letters and '-'",
            ));
        }
        if !(0.0..0.9).contains(&self.oncall.miss) {
            return Err(ScenarioError::invalid(file, "breach.oncall.miss", "0 to 0.9"));
        }
        self.oncall.ack_s.validate(file, "breach.oncall.ack_s")?;
        self.oncall.ack_off_hours_s.validate(file, "breach.oncall.ack_off_hours_s")?;
        self.oncall.investigate_s.validate(file, "breach.oncall.investigate_s")?;
        self.contact_ack_s.validate(file, "breach.contact_ack_s")?;
        for (key, windows) in
            [("detection_faults", &self.detection_faults), ("notice_channel_faults", &self.notice_channel_faults)]
        {
            for (index, window) in windows.iter().enumerate() {
                if !(window.start_s >= 0.0 && window.duration_s > 0.0 && window.start_s + window.duration_s < end_s) {
                    return Err(ScenarioError::invalid(
                        file,
                        format!("breach.{key}[{index}]"),
                        format!("start_s >= 0, duration_s > 0, ending before the run's end ({end_s} s)"),
                    ));
                }
                if key == "notice_channel_faults" && window.kind != WindowKind::Down {
                    return Err(ScenarioError::invalid(file, format!("breach.{key}[{index}].kind"), "\"down\""));
                }
            }
        }
        Ok(())
    }

    /// This seed's simulated wall-clock start, in ms since the epoch.
    pub fn start_unix_ms(&self, jitter: f64) -> u64 {
        let start = self.calendar.start.parse::<jiff::Zoned>().expect("validated");
        start.timestamp().as_millisecond() as u64 + (jitter * self.calendar.start_jitter_s * 1000.0) as u64
    }

    pub fn calendar(&self) -> broker::incidents::calendar::Calendar {
        let start = self.calendar.start.parse::<jiff::Zoned>().expect("validated");
        broker::incidents::calendar::Calendar::new(
            start.time_zone().iana_name().unwrap_or("UTC"),
            &self.calendar.holidays,
        )
        .expect("validated")
    }
}
