//! The simulation's rustls crypto provider: every source of randomness rustls uses comes from a
//! seeded ChaCha20 stream, so the same seed gives the same TLS bytes. Under madsim *ring*'s
//! `SystemRandom` reaches the OS through a raw `getrandom` syscall, so stock rustls would make
//! every run of a seed different.
//!
//! - `secure_random` (hello randoms, session ids, extension-order seed, TLS 1.3 ticket
//!   nonces/ids/age-add) draws from the stream;
//! - the only key-exchange group is an X25519 implementation whose ephemeral private keys come
//!   from the same stream;
//! - the key provider loads Ed25519 keys only: Ed25519 signatures are deterministic (RFC 8032)
//!   whereas *ring*'s ECDSA and RSA-PSS signers draw from `SystemRandom`, so any other key type is
//!   refused instead of silently making the transcript non-deterministic;
//! - cipher suites and signature verification are *ring*'s, unchanged.
//!
//! It lives here, not in `broker/`, so that no real node can select it: anyone who knows the
//! seed knows every session key. Give every simulated endpoint its own seed.

use std::fmt;
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret, SupportedKxGroup,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::{NamedGroup, PeerMisbehaved};

/// The ChaCha20 stream id of TLS randomness (certificate keys use other streams of the same seed).
const STREAM_TLS: u64 = 3;

/// A fresh provider with its own ChaCha20 stream: two calls with the same seed give two
/// providers that produce the same bytes when driven the same way. The stream is shared by all
/// connections made from configs built on that provider, so under a deterministic scheduler the
/// output stays reproducible.
///
/// rustls keeps `secure_random` and `kx_groups` as `&'static` references, so each call leaks one
/// small allocation (~150 bytes) for the rest of the process. Build one provider per simulated
/// node, not per connection.
pub fn seeded_crypto_provider(seed: u64) -> Arc<CryptoProvider> {
    let ring = rustls::crypto::ring::default_provider();
    let stream = super::chacha20_stream(seed, STREAM_TLS);
    let rng: &'static SeededRandom = Box::leak(Box::new(SeededRandom { rng: Mutex::new(stream) }));
    let x25519: &'static SeededX25519 = Box::leak(Box::new(SeededX25519 { rng }));
    Arc::new(CryptoProvider {
        cipher_suites: ring.cipher_suites,
        kx_groups: vec![x25519],
        signature_verification_algorithms: ring.signature_verification_algorithms,
        secure_random: rng,
        key_provider: &Ed25519OnlyKeyProvider,
    })
}

/// `SecureRandom` over a seeded ChaCha20 stream.
struct SeededRandom {
    rng: Mutex<ChaCha20Rng>,
}

impl fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededRandom(ChaCha20)")
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        // A poisoned lock means a panic mid-draw: fail closed.
        let mut rng = self.rng.lock().map_err(|_| GetRandomFailed)?;
        rng.fill_bytes(buf);
        Ok(())
    }
}

/// X25519 whose ephemeral private keys come from the provider's seeded stream.
struct SeededX25519 {
    rng: &'static SeededRandom,
}

impl fmt::Debug for SeededX25519 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededX25519")
    }
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes)?;
        // StaticSecret clamps the scalar and zeroizes itself on drop.
        let secret = x25519_dalek::StaticSecret::from(bytes);
        bytes.fill(0);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Ok(Box::new(SeededX25519Exchange { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct SeededX25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: [u8; 32],
}

impl ActiveKeyExchange for SeededX25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer_pub_key.try_into().map_err(|_| PeerMisbehaved::InvalidKeyShare)?;
        let shared = self.secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // Fail closed on a low-order peer point (RFC 7748 §6.1 / RFC 8446 §7.4.2):
        // the shared secret would be all zeros.
        let any_nonzero = shared.as_bytes().iter().fold(0u8, |acc, b| acc | b) != 0;
        if !shared.was_contributory() || !any_nonzero {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// *ring*'s key loading, restricted to Ed25519 (deterministic signatures).
#[derive(Debug)]
struct Ed25519OnlyKeyProvider;

impl KeyProvider for Ed25519OnlyKeyProvider {
    fn load_private_key(&self, key_der: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        match &key_der {
            PrivateKeyDer::Pkcs8(pkcs8) => rustls::crypto::ring::sign::any_eddsa_type(pkcs8),
            _ => Err(rustls::Error::General("seeded TLS accepts only Ed25519 PKCS#8 keys".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use broker::security::tls::{
        client_config, client_config_with_versions, server_config, CertificateAuthority, TlsMaterial,
    };
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, ProtocolVersion, ServerConfig, ServerConnection};

    use super::*;

    const HOST: &str = "broker-0.cluster.test";

    fn material(seed: u64) -> TlsMaterial {
        let ca = CertificateAuthority::generate_ed25519(&mut super::super::certificate_authority_key(seed)).unwrap();
        ca.issue(
            &[HOST.to_string()],
            &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
            Some(&mut super::super::leaf_key(seed)),
        )
        .unwrap()
    }

    /// An in-memory handshake; returns the negotiated version and every byte both ways.
    fn handshake(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
    ) -> Result<(ProtocolVersion, Vec<u8>), rustls::Error> {
        let mut client = ClientConnection::new(client, ServerName::try_from(HOST).unwrap())?;
        let mut server = ServerConnection::new(server)?;
        let mut transcript = Vec::new();
        while client.is_handshaking() || server.is_handshaking() {
            let mut flight = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut flight).unwrap();
            }
            server.read_tls(&mut flight.as_slice()).unwrap();
            server.process_new_packets()?;
            transcript.append(&mut flight);
            while server.wants_write() {
                server.write_tls(&mut flight).unwrap();
            }
            client.read_tls(&mut flight.as_slice()).unwrap();
            client.process_new_packets()?;
            transcript.extend(flight);
        }
        Ok((client.protocol_version().unwrap(), transcript))
    }

    fn seeded_handshake(cert_seed: u64, tls_seed: u64, tls12_only: bool) -> (ProtocolVersion, Vec<u8>) {
        let material = material(cert_seed);
        let provider = seeded_crypto_provider(tls_seed);
        let client = if tls12_only {
            client_config_with_versions(&material.ca_cert_pem, &provider, &[&rustls::version::TLS12])
        } else {
            client_config(&material.ca_cert_pem, &provider)
        };
        handshake(client.unwrap(), server_config(&material, &provider).unwrap()).unwrap()
    }

    #[test]
    fn seeded_handshakes_work_in_both_versions_and_are_byte_identical_per_seed() {
        for (tls12_only, version) in [(false, ProtocolVersion::TLSv1_3), (true, ProtocolVersion::TLSv1_2)] {
            let (negotiated, first) = seeded_handshake(7, 7, tls12_only);
            assert_eq!(negotiated, version);
            assert_eq!(first, seeded_handshake(7, 7, tls12_only).1, "same seeds, same bytes (tls12_only={tls12_only})");
            assert_ne!(first, seeded_handshake(8, 8, tls12_only).1);
            // Same certificates, another TLS stream: the provider's randomness is in play.
            assert_ne!(first[..200], seeded_handshake(7, 8, tls12_only).1[..200]);
        }
    }

    #[test]
    fn ed25519_signatures_from_the_seeded_key_provider_are_deterministic() {
        let material = material(11);
        let key = rustls_pemfile::private_key(&mut material.private_key_pem.as_bytes()).unwrap().unwrap();
        let key = seeded_crypto_provider(11).key_provider.load_private_key(key).unwrap();
        let signer = key.choose_scheme(&[rustls::SignatureScheme::ED25519]).unwrap();
        assert_eq!(signer.sign(b"transcript").unwrap(), signer.sign(b"transcript").unwrap());
        // Only Ed25519 is on offer: an ECDSA-only peer gets nothing.
        assert!(key.choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256]).is_none());
    }

    #[test]
    fn the_seeded_provider_refuses_non_ed25519_keys() {
        let ecdsa = CertificateAuthority::generate().unwrap().issue(&[HOST.to_string()], &[], None).unwrap();
        assert!(server_config(&ecdsa, &seeded_crypto_provider(1)).is_err(), "ECDSA signing draws from the OS rng");
        server_config(&ecdsa, &broker::security::tls::os_crypto_provider()).unwrap();
    }

    #[test]
    fn seeded_x25519_rejects_zero_and_malformed_peer_keys() {
        let provider = seeded_crypto_provider(9);
        assert_eq!(provider.kx_groups.len(), 1);
        let group = provider.kx_groups[0];
        assert_eq!(group.name(), NamedGroup::X25519);
        // The all-zero point and this order-8 point give an all-zero secret.
        let low_order: [u8; 32] = [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09,
            0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
        ];
        for bad in [&[0u8; 32][..], &low_order[..], &[1u8; 31][..], &[1u8; 33][..], &[][..]] {
            let exchange = group.start().unwrap();
            assert_eq!(
                exchange.complete(bad).err(),
                Some(rustls::Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare))
            );
        }
        let (a, b) = (group.start().unwrap(), group.start().unwrap());
        let (public_a, public_b) = (a.pub_key().to_vec(), b.pub_key().to_vec());
        assert_ne!(public_a, public_b);
        assert_eq!(a.complete(&public_b).unwrap().secret_bytes(), b.complete(&public_a).unwrap().secret_bytes());
        let first = seeded_crypto_provider(9).kx_groups[0].start().unwrap();
        assert_eq!(
            first.pub_key(),
            seeded_crypto_provider(9).kx_groups[0].start().unwrap().pub_key(),
            "same seed, same ephemeral keys"
        );
    }
}
