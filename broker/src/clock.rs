//! The wall clock, in one place: under madsim it is the simulated clock, so a seed replays it.

/// Wall-clock milliseconds since the Unix epoch, for timestamps people read (audit events,
/// creation times) and for ages that must survive a restart (a segment's, for retention).
#[allow(clippy::disallowed_methods, reason = "wall time for records; madsim simulates it in simulation")]
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
