//! Per-topic retention (C13): a record goes no later than its topic's `retention.ms` plus the
//! service's stated slack after it was written. The disk tap dates each segment of a topic with
//! a retention by its last write and its removal; a segment removed later than its deadline,
//! or still on a disk when the run ends past it, is a violation. A machine whose process was
//! down cannot delete anything meanwhile: a deadline that fell while it was down moves to its
//! return plus the time a node takes to start.

use serde::{Deserialize, Serialize};

/// One life of one segment file on one machine, as the disk tap saw it (ms on the tap's clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentLife {
    pub machine: String,
    pub file: String,
    pub last_write_ms: u64,
    pub removed_ms: Option<u64>,
}

/// What a node takes from its restart to its first retention pass (recovery, the keyring).
pub const START_ALLOWANCE_MS: u64 = 30_000;

/// Segments past their deadline (at ms, what), and how many segments went in time (removed
/// after at least the retention time: retention's work, not a truncation's).
pub fn overdue(
    lives: &[SegmentLife],
    // (directory prefix, retention.ms) of every topic with a retention.
    topics: &[(String, u64)],
    // Machine -> the (start, end) of every stretch its process was down.
    down: &std::collections::BTreeMap<String, Vec<(u64, u64)>>,
    on_disk_at_end: impl Fn(&str, &str) -> bool,
    end_ms: u64,
) -> (Vec<(u64, String)>, u64) {
    let mut late = Vec::new();
    let mut deleted = 0;
    for life in lives {
        let Some(&(_, retention_ms)) = topics.iter().find(|(prefix, _)| life.file.starts_with(prefix.as_str())) else {
            continue;
        };
        let mut deadline = life.last_write_ms + crate::claims::retention_bound_ms(retention_ms);
        // Down before its deadline: it deletes once it is back and started.
        for &(start, end) in down.get(&life.machine).map_or(&[][..], Vec::as_slice) {
            if start < deadline && end > life.last_write_ms {
                deadline = deadline.max(end + START_ALLOWANCE_MS);
            }
        }
        let late_line = |at_ms: u64, what: &str| {
            format!(
                "{}: {} {what} {:.1} s after its last write (retention {} s; deadline {:.1} s after it)",
                life.machine,
                life.file,
                (at_ms - life.last_write_ms) as f64 / 1000.0,
                retention_ms / 1000,
                (deadline - life.last_write_ms) as f64 / 1000.0
            )
        };
        match life.removed_ms {
            Some(removed) if removed > deadline => late.push((removed, late_line(removed, "went"))),
            Some(removed) => deleted += u64::from(removed >= life.last_write_ms + retention_ms),
            None if end_ms > deadline && on_disk_at_end(&life.machine, &life.file) => {
                late.push((end_ms, late_line(end_ms, "is still on disk")))
            }
            None => {}
        }
    }
    (late, deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(file: &str, last_write_ms: u64, removed_ms: Option<u64>) -> SegmentLife {
        SegmentLife { machine: "broker-1".into(), file: file.into(), last_write_ms, removed_ms }
    }

    #[test]
    fn a_segment_removed_or_left_past_its_deadline_is_late_unless_its_machine_was_down() {
        let bound = crate::claims::retention_bound_ms(60_000);
        let topics = vec![("lkc-1_clicks-".to_string(), 60_000)];
        let none = std::collections::BTreeMap::new();
        let lives = vec![
            life("lkc-1_clicks-0/0.log", 1_000, Some(1_000 + 60_000)),
            life("lkc-1_clicks-0/9.log", 2_000, Some(2_000 + bound + 1)),
            life("lkc-1_clicks-0/20.log", 3_000, None),
            life("lkc-1_orders-0/0.log", 0, None),
        ];
        let (late, deleted) = overdue(&lives, &topics, &none, |_, _| true, 3_000 + bound + 1);
        assert_eq!(deleted, 1);
        assert_eq!(late.len(), 2, "{late:?}");
        assert!(late[0].1.contains("9.log went") && late[1].1.contains("20.log is still on disk"), "{late:?}");
        // Gone from the disk without a removal (a destroyed zone): nothing to judge.
        let (late, _) = overdue(&lives[2..], &topics, &none, |_, _| false, 10_000_000);
        assert!(late.is_empty());
        // Down over the deadline: its return, and the start allowance.
        let down = [("broker-1".to_string(), vec![(60_000, 80_000)])].into();
        let (late, _) = overdue(&lives[1..2], &topics, &down, |_, _| true, 0);
        assert!(late.is_empty(), "{late:?}");
    }
}
