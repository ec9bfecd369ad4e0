//! The simulation's generators. Every key, id, nonce and TLS random a simulated service makes
//! comes from here, seeded from the run's seed, so that the same seed gives the same bytes.
//!
//! The service cannot reach any of this: it takes its generators as parameters and its rustls
//! provider as a value (`broker::entropy`), which real mode fills from the operating system, and
//! clippy bans `SeedableRng::seed_from_u64` everywhere but this module. Anyone who knows a seed
//! knows every key made from it: that is the point here, and the reason it lives nowhere else.

pub mod tls;

use std::sync::Arc;

use broker::entropy::{Entropy, EntropySource, Generator, Purpose};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};
use rand_core::SeedableRng;

/// The ChaCha20 streams of one certificate seed (the CA's key, a leaf's key and serial).
const STREAM_CA_KEY: u64 = 1;
const STREAM_LEAF: u64 = 2;

/// Stream constants of a node life's seed, one per purpose: its published ids never come from
/// the stream of its keys.
const NODE_PROCESS: u64 = 0x696e_6361_726e_6174;
const NODE_KEYRING: u64 = 0x6b65_7972_696e_6721;

#[allow(clippy::disallowed_methods, reason = "the simulation's seeded generators are made here and only here")]
fn chacha20(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// ChaCha20 stream `stream` of `seed`.
pub(crate) fn chacha20_stream(seed: u64, stream: u64) -> ChaCha20Rng {
    let mut rng = chacha20(seed);
    rng.set_stream(stream);
    rng
}

/// The harness's own draws (schedules, knobs, workload values): ChaCha8 from `seed`.
#[allow(clippy::disallowed_methods, reason = "the simulation's seeded generators are made here and only here")]
pub fn chacha8(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A service's generator (a key service's store, a control plane, a staff directory, a bastion,
/// a client's field cipher) from `seed`.
pub fn generator(seed: u64) -> Generator {
    Box::new(chacha20(seed))
}

/// The key of a seeded certificate authority (`broker::security::tls::CertificateAuthority::generate_ed25519`).
pub fn certificate_authority_key(seed: u64) -> ChaCha20Rng {
    chacha20_stream(seed, STREAM_CA_KEY)
}

/// A leaf certificate's key and serial (`CertificateAuthority::issue`).
pub fn leaf_key(seed: u64) -> ChaCha20Rng {
    chacha20_stream(seed, STREAM_LEAF)
}

/// The generators of one node life, from its process seed.
pub fn node_entropy(seed: u64) -> Entropy {
    Entropy::from_source(Arc::new(NodeEntropy { seed }))
}

struct NodeEntropy {
    seed: u64,
}

impl EntropySource for NodeEntropy {
    fn generator(&self, purpose: Purpose) -> Generator {
        match purpose {
            Purpose::Process => Box::new(chacha8(self.seed ^ NODE_PROCESS)),
            Purpose::Keyring => Box::new(chacha20(self.seed ^ NODE_KEYRING)),
        }
    }

    fn election_seed(&self) -> u64 {
        self.seed
    }
}

#[cfg(test)]
mod tests {
    use rand_core::RngCore;

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_purposes_differ() {
        let draw = |seed, purpose| node_entropy(seed).generator(purpose).next_u64();
        assert_eq!(draw(7, Purpose::Keyring), draw(7, Purpose::Keyring));
        assert_ne!(draw(7, Purpose::Keyring), draw(8, Purpose::Keyring));
        assert_ne!(draw(7, Purpose::Keyring), draw(7, Purpose::Process));
    }
}
