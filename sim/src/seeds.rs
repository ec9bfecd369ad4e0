//! Every sub-seed of a run comes from one function: the run's seed and a named stream. A new
//! source of randomness takes a new stream, so adding one never shifts the draws of another
//! (the fault schedule of seed 42 stays seed 42's when the workload learns a new trick).

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

/// The named streams of a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The fault schedule (swarm draws, lengths, targets).
    Schedule = 1,
    /// Service settings drawn per seed (BUGGIFY-style knobs).
    Knobs = 2,
    /// The cluster's certificate authority and node certificates.
    Certificates = 3,
    /// Each node life's TLS randomness (`index` = node and life).
    NodeTls = 4,
    /// Each client's TLS randomness (`index` = client).
    ClientTls = 5,
    /// Each node life's process seed: its incarnation and new storage directory ids.
    NodeProcess = 6,
    /// The storage formatted at cluster creation (directory ids).
    Storage = 7,
    /// The workload's values (canaries in record data).
    Workload = 8,
    /// The control plane: its bootstrap (ids, secrets, salts), each life's process seed
    /// (`index` = life) and the identity provider's key.
    ControlPlane = 9,
    /// The key service: its store's randomness (`index` = site) and its frontends' TLS.
    Kms = 10,
    /// The security log store: replicas' signing keys and TLS (`index` = replica and life).
    LogStore = 11,
    /// The staff directory and the bastions (C10): TLS, session ids, operators' secrets.
    Operators = 12,
    /// Detection, the desk's outside parties (C23): TLS and certificates.
    SecurityOps = 13,
    /// The breach: the attacker's TLS, the on-call people's and the contact's delays (C23).
    Breach = 14,
    /// An SLA month: its fault draws (`index` 0) and each episode's simulation seed (`index` = episode).
    SlaMonth = 15,
}

/// The sub-seed of `stream` (and `index` within it, for per-node or per-client streams).
pub fn derive(seed: u64, stream: Stream, index: u64) -> u64 {
    let mut rng = crate::seeded::chacha8(seed);
    rng.set_stream(((stream as u64) << 32) | (index & 0xffff_ffff));
    rng.next_u64()
}

/// A generator for `stream`.
pub fn rng(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    crate::seeded::chacha8(derive(seed, stream, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_indexes_are_independent_and_stable() {
        let a = derive(42, Stream::Schedule, 0);
        assert_eq!(a, derive(42, Stream::Schedule, 0));
        assert_ne!(a, derive(42, Stream::Knobs, 0));
        assert_ne!(a, derive(42, Stream::Schedule, 1));
        assert_ne!(a, derive(43, Stream::Schedule, 0));
    }
}
