//! Where the service's keys, nonces, salts, secrets, tokens and ids come from.
//!
//! Real mode has one source: the operating system's generator ([`os`]: ring's `SystemRandom`,
//! `getrandom(2)`), read afresh for every draw. A 64-bit seed expanded by a stream cipher would
//! cap every key of a process life at 2^64 work, and a value a tenant can read (an incarnation
//! in an audit event) drawn from the same stream would let anyone test a guess offline.
//!
//! The simulation needs the same seed to give the same bytes. It hands the service its own
//! generators, through the same parameters real mode fills from the OS, as it hands in its
//! rustls crypto provider. broker/ cannot make a seeded generator at all: clippy bans
//! `SeedableRng::seed_from_u64` outside the simulation's `seeded` module (the Raft election
//! jitter, which is no secret, is the one allowed exception and says why where it is).

use std::fmt;
use std::sync::Arc;

use rand_core::{CryptoRng, RngCore};

/// A generator of secret bytes.
pub trait SecretRng: CryptoRng + Send + Sync {
    /// A generator in the same state: the same bytes from a seeded one (a harness that starts
    /// many runs from one prepared state), fresh ones from the OS.
    fn duplicate(&self) -> Generator;
}

impl<R: CryptoRng + Clone + Send + Sync + 'static> SecretRng for R {
    fn duplicate(&self) -> Generator {
        Box::new(self.clone())
    }
}

/// A generator a service owns: [`os`] in real mode.
pub type Generator = Box<dyn SecretRng>;

impl Clone for Generator {
    fn clone(&self) -> Generator {
        // On the generator inside: the box is itself a `SecretRng` (it is `Clone`), and
        // `self.duplicate()` would clone the box again, forever.
        (**self).duplicate()
    }
}

/// The operating system's generator.
#[allow(clippy::disallowed_methods, reason = "real mode's one source; the simulation hands in its own generators")]
pub fn os() -> Generator {
    Box::new(OsGenerator(ring::rand::SystemRandom::new()))
}

/// What a generator of one process life is for. The simulation keeps one stream per purpose, so
/// that the bytes of one never shift the draws of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A node's incarnation and the id of a directory it formats: published, never secret.
    Process,
    /// A node's keyring: root keys of its data, and the salts of their derivations (C08).
    Keyring,
}

/// A source of generators for the purposes of one process life.
pub trait EntropySource: Send + Sync {
    fn generator(&self, purpose: Purpose) -> Generator;
    /// The seed of the controller's election jitter (not a secret: the Raft state machine's
    /// own randomized tests replay a cluster from one seed).
    fn election_seed(&self) -> u64;
}

/// The generators of one process life: the OS in real mode ([`Entropy::os`]), the simulation's
/// seeded source in a simulated run.
#[derive(Clone)]
pub struct Entropy {
    source: Arc<dyn EntropySource>,
}

impl Entropy {
    #[allow(clippy::disallowed_methods, reason = "real mode's source; the simulation's is sim::seeded's")]
    pub fn os() -> Entropy {
        Entropy { source: Arc::new(OsSource) }
    }

    /// Generators from `source` (the simulation's).
    pub fn from_source(source: Arc<dyn EntropySource>) -> Entropy {
        Entropy { source }
    }

    pub fn generator(&self, purpose: Purpose) -> Generator {
        self.source.generator(purpose)
    }

    pub fn election_seed(&self) -> u64 {
        self.source.election_seed()
    }
}

impl fmt::Debug for Entropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Entropy")
    }
}

struct OsSource;

#[allow(clippy::disallowed_methods, reason = "real mode's source; the simulation's is sim::seeded's")]
impl EntropySource for OsSource {
    fn generator(&self, _purpose: Purpose) -> Generator {
        os()
    }

    fn election_seed(&self) -> u64 {
        os().next_u64()
    }
}

/// ring's `SystemRandom` as a `RngCore`. A failing OS generator is not something to carry on
/// from: a key made of zeros would be worse than a stopped process.
#[derive(Clone)]
struct OsGenerator(ring::rand::SystemRandom);

impl RngCore for OsGenerator {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, destination: &mut [u8]) {
        ring::rand::SecureRandom::fill(&self.0, destination).expect("the operating system's random generator failed");
    }
}

impl CryptoRng for OsGenerator {}

/// Seeded generators for the broker's own unit tests, which replay fixed keys and ids.
#[cfg(test)]
pub(crate) fn seeded_for_tests(seed: u64) -> Generator {
    #[allow(clippy::disallowed_methods, reason = "unit tests only: they replay fixed keys from a seed")]
    Box::new(<rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_os_generators_draw_different_keys() {
        let (mut first, mut second) = ([0u8; 32], [0u8; 32]);
        os().fill_bytes(&mut first);
        os().fill_bytes(&mut second);
        assert_ne!(first, second);
        assert_ne!(first, [0u8; 32]);
    }

    #[test]
    fn a_cloned_generator_continues_from_the_same_state() {
        let mut seeded = seeded_for_tests(5);
        seeded.next_u64();
        let mut copy = seeded.clone();
        assert_eq!(seeded.next_u64(), copy.next_u64());
        let (mut os_generator, mut other) = (os(), os().clone());
        assert_ne!(os_generator.next_u64(), other.next_u64());
    }

    #[test]
    fn the_os_source_gives_every_purpose_its_own_draws() {
        let entropy = Entropy::os();
        let process = entropy.generator(Purpose::Process).next_u64();
        let keyring = entropy.generator(Purpose::Keyring).next_u64();
        assert_ne!(process, keyring);
        assert_ne!(entropy.election_seed(), entropy.election_seed());
    }
}
