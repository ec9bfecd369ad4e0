//! Per-tenant quotas (C03, C04): Basic and Standard clusters stream up to 100 MB/s and store up
//! to 5 TB. Each broker enforces its share of the cluster-wide rate (the limit divided by the
//! brokers, so the tenant never exceeds it however its partitions are led) the way Kafka's
//! client quotas do (KIP-13, KIP-219): a request over the quota is still answered, with the
//! time to wait in `throttle_time_ms`, and the broker then stops reading that connection for
//! that long, so a client that ignores the hint is held back too. Nothing is dropped and no
//! connection is closed.
//!
//! The rate is a token bucket per (tenant, direction) holding at most one second of quota: a
//! tenant may burst one second's worth, then streams at the quota.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The most a single answer asks a client to wait (Kafka caps it at the quota window too).
pub const THROTTLE_MAX: Duration = Duration::from_secs(30);
/// How much quota a bucket holds when full.
const BURST: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Produce request bytes.
    Ingress,
    /// Fetch response bytes.
    Egress,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

#[derive(Debug, Default)]
pub struct TenantQuotas {
    buckets: Mutex<BTreeMap<(String, Direction), Bucket>>,
    /// Per tenant: when its storage was last measured, and the bytes it held.
    storage: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// How stale a tenant's measured storage may be (measuring walks its partitions).
const STORAGE_MEASURED_EVERY_MS: u64 = 1_000;

impl TenantQuotas {
    /// The bytes `cluster_id` stores here, measured with `measure` at most once a second.
    pub fn storage_used(&self, cluster_id: &str, now_ms: u64, measure: impl FnOnce() -> u64) -> u64 {
        let mut storage = self.storage.lock().unwrap();
        match storage.get(cluster_id) {
            Some((at_ms, used)) if now_ms.saturating_sub(*at_ms) < STORAGE_MEASURED_EVERY_MS => *used,
            _ => {
                let used = measure();
                storage.insert(cluster_id.to_string(), (now_ms, used));
                used
            }
        }
    }

    /// Counts `bytes` of `cluster_id` moving in `direction` at `now_ms` against `bytes_per_second`
    /// (this broker's share); returns how long the connection must now wait (zero: within quota).
    pub fn record(
        &self,
        cluster_id: &str,
        direction: Direction,
        bytes_per_second: u64,
        bytes: u64,
        now_ms: u64,
    ) -> Duration {
        let rate = bytes_per_second.max(1) as f64;
        let capacity = rate * BURST.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = buckets
            .entry((cluster_id.to_string(), direction))
            .or_insert(Bucket { tokens: capacity, updated_ms: now_ms });
        let elapsed_s = now_ms.saturating_sub(bucket.updated_ms) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + rate * elapsed_s).min(capacity) - bytes as f64;
        bucket.updated_ms = bucket.updated_ms.max(now_ms);
        if bucket.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-bucket.tokens / rate).min(THROTTLE_MAX)
    }
}

/// Whether a tenant storing `used` bytes on this broker, of which `share` are allowed, may
/// append more: storage is refused, not throttled, since waiting frees nothing.
pub fn storage_allows(used: u64, share: u64) -> bool {
    used < share
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let quotas = TenantQuotas::default();
        // 10 MB/s: the first 10 MB pass at once.
        assert_eq!(quotas.record("lkc-a", Direction::Ingress, 10 * MB, 10 * MB, 0), Duration::ZERO);
        // 5 MB more at once: half a second to wait.
        assert_eq!(quotas.record("lkc-a", Direction::Ingress, 10 * MB, 5 * MB, 0), Duration::from_millis(500));
        // After waiting it out, the bucket is empty, not negative: 1 MB costs 100 ms.
        let wait = quotas.record("lkc-a", Direction::Ingress, 10 * MB, MB, 500);
        assert_eq!(wait, Duration::from_millis(100));
        // Directions and tenants have buckets of their own.
        assert_eq!(quotas.record("lkc-a", Direction::Egress, 10 * MB, 10 * MB, 600), Duration::ZERO);
        assert_eq!(quotas.record("lkc-b", Direction::Ingress, 10 * MB, 10 * MB, 600), Duration::ZERO);
    }

    #[test]
    fn a_client_that_honours_the_wait_streams_at_the_quota() {
        let quotas = TenantQuotas::default();
        let (mut now_ms, mut sent) = (0u64, 0u64);
        while now_ms < 60_000 {
            sent += MB;
            now_ms += quotas.record("lkc-a", Direction::Ingress, 10 * MB, MB, now_ms).as_millis() as u64;
        }
        // 60 s at 10 MB/s, plus the first second's burst.
        assert!((600 * MB..=612 * MB).contains(&sent), "{sent}");
    }

    #[test]
    fn a_huge_request_waits_at_most_the_cap() {
        let quotas = TenantQuotas::default();
        assert_eq!(quotas.record("lkc-a", Direction::Ingress, MB, 1_000 * MB, 0), THROTTLE_MAX);
        assert!(storage_allows(5, 6) && !storage_allows(6, 6));
    }
}
