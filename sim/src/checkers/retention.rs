//! Per-topic retention (C13), both sides of it:
//!
//! - Late: a record goes no later than its topic's `retention.ms` plus the service's stated
//!   slack after it was written. The disk tap dates each segment of a topic with a retention by
//!   its last write and its removal; a segment removed later than its deadline, or still on a
//!   disk when the run ends past it, is a violation. A machine whose process was down cannot
//!   delete anything meanwhile: a deadline that fell while it was down moves to its return plus
//!   the time a node takes to start.
//! - Early: an acknowledged record stays readable for its `retention.ms`. A client writes the
//!   topic and reads it (`workload::retention`); a log start offset that a leader answered
//!   with, past an acknowledged record sent less than `retention.ms` before the answer, is a
//!   violation. The record was appended after it was sent, so retention may take it no sooner
//!   than `retention.ms` after the send: the check can only err towards passing.

use std::sync::{Arc, Mutex};

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

/// A record of a retention topic, acknowledged: its partition and offset, and when the request
/// that wrote it was sent (ms on the recorder's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainedAck {
    pub partition: i32,
    pub offset: i64,
    pub sent_ms: u64,
}

/// A log start offset a partition's leader answered with, and when the answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenLogStart {
    pub partition: i32,
    pub at_ms: u64,
    pub offset: i64,
}

#[derive(Debug, Default)]
struct Seen {
    acks: Vec<RetainedAck>,
    log_starts: Vec<SeenLogStart>,
}

/// What the retention topic's client saw, shared with the runner.
#[derive(Debug, Clone, Default)]
pub struct RetentionLog(Arc<Mutex<Seen>>);

impl RetentionLog {
    pub fn note_ack(&self, ack: RetainedAck) {
        self.0.lock().unwrap().acks.push(ack);
    }

    pub fn note_log_start(&self, seen: SeenLogStart) {
        self.0.lock().unwrap().log_starts.push(seen);
    }

    /// `early` over what was seen.
    pub fn early(&self, topic: &str, retention_ms: u64) -> (Vec<(u64, String)>, u64) {
        let seen = self.0.lock().unwrap();
        early(topic, &seen.acks, &seen.log_starts, retention_ms)
    }
}

/// Acknowledged records below a log start seen sooner than `retention_ms` after they were sent
/// (at ms, what), and how many acknowledged records a seen log start passed at all (each judged
/// at the first answer past it: the earliest, so the most demanding).
pub fn early(
    topic: &str,
    acks: &[RetainedAck],
    log_starts: &[SeenLogStart],
    retention_ms: u64,
) -> (Vec<(u64, String)>, u64) {
    let mut by_partition: std::collections::BTreeMap<i32, Vec<RetainedAck>> = Default::default();
    for ack in acks {
        by_partition.entry(ack.partition).or_default().push(*ack);
    }
    for acks in by_partition.values_mut() {
        acks.sort_by_key(|a| a.offset);
    }
    let mut judged_up_to: std::collections::BTreeMap<i32, usize> = Default::default();
    let mut starts = log_starts.to_vec();
    starts.sort_by_key(|s| s.at_ms);
    let (mut early, mut judged) = (Vec::new(), 0);
    for start in starts {
        let Some(acks) = by_partition.get(&start.partition) else { continue };
        let next = judged_up_to.entry(start.partition).or_default();
        while *next < acks.len() && acks[*next].offset < start.offset {
            let ack = acks[*next];
            judged += 1;
            if start.at_ms < ack.sent_ms + retention_ms {
                early.push((
                    start.at_ms,
                    format!(
                        "{topic}-{} offset {} (sent at {:.3} s) was below the log start {} answered at {:.3} s: gone {:.3} s after it was sent (retention {} s)",
                        start.partition,
                        ack.offset,
                        ack.sent_ms as f64 / 1000.0,
                        start.offset,
                        start.at_ms as f64 / 1000.0,
                        (start.at_ms - ack.sent_ms) as f64 / 1000.0,
                        retention_ms / 1000
                    ),
                ));
            }
            *next += 1;
        }
    }
    (early, judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_below_a_log_start_seen_before_its_retention_is_up_went_early() {
        let ack = |offset, sent_ms| RetainedAck { partition: 0, offset, sent_ms };
        let start = |at_ms, offset| SeenLogStart { partition: 0, at_ms, offset };
        let acks = [ack(0, 1_000), ack(1, 2_000), ack(2, 3_000), ack(3, 4_000)];
        // Offsets 0 and 1 gone at 62 s: 61 s and 60 s after they were sent.
        assert_eq!(early("clicks", &acks, &[start(62_000, 2)], 60_000), (vec![], 2));
        // Offset 2 gone at 62.5 s: 59.5 s after its send.
        let (found, judged) = early("clicks", &acks, &[start(62_000, 2), start(62_500, 3)], 60_000);
        assert_eq!(judged, 3);
        assert_eq!(
            found,
            vec![(
                62_500,
                "clicks-0 offset 2 (sent at 3.000 s) was below the log start 3 answered at 62.500 s: gone 59.500 s after it was sent (retention 60 s)"
                    .to_string()
            )]
        );
        // Judged at the first answer past it, whatever later answers say; other partitions apart.
        let other = SeenLogStart { partition: 1, at_ms: 10, offset: 100 };
        let (found, judged) = early("clicks", &acks, &[start(70_000, 4), start(1_000, 0), other], 60_000);
        assert_eq!((found.len(), judged), (0, 4));
    }

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
