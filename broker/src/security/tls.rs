//! TLS for the broker: certificate material, a dev certificate authority, and
//! rustls client/server configurations.
//!
//! # Policy
//!
//! TLS 1.2 is the minimum and TLS 1.3 is preferred. There is deliberately no
//! way to turn TLS off from this module: every configuration it builds
//! requires a certificate chain (server) or a trusted CA (client).
//!
//! # Crypto providers
//!
//! Configurations are built on the rustls `CryptoProvider` the caller hands in: real mode uses
//! [`os_crypto_provider`] (stock rustls + *ring*, randomness from the operating system). The
//! simulation brings its own seeded provider (in `sim/`), so that the same seed gives the same
//! TLS bytes; nothing in the broker can build one, so a real node cannot select it.
//!
//! Certificates for simulation come from [`CertificateAuthority::generate_ed25519`] and
//! [`CertificateAuthority::issue`] with `Some(generator)`: Ed25519 keys (deterministic
//! signatures, RFC 8032) drawn from the caller's generator, fixed validity 2000-01-01 ..
//! 2100-01-01, serial numbers from the same generator, so the simulation's seeded generators give
//! byte-identical PEMs. Only the simulation can seed one (see `crate::entropy`).

use std::fmt;
use std::io::BufReader;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_core::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
pub use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The protocol versions every configuration built here enables, most
/// preferred first. Nothing below TLS 1.2 exists in rustls at all, and this
/// module offers no way to add or remove versions.
pub(crate) static SUPPORTED_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Fixed validity window of seeded certificates: the simulator's clock starts
/// near 2022, well inside it.
const SEEDED_NOT_BEFORE: (i32, u8, u8) = (2000, 1, 1);
const SEEDED_NOT_AFTER: (i32, u8, u8) = (2100, 1, 1);

/// Real-mode validity: from one day ago (clock skew) to ten years ahead.
const REAL_BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);
const REAL_LIFETIME: Duration = Duration::from_secs(3653 * 24 * 60 * 60);

/// Serial number of every seeded CA certificate.
const SEEDED_CA_SERIAL: &[u8] = &[0x01];

/// Subject of the dev CA: this organization, and this common-name prefix
/// followed by a fingerprint of the CA's public key. The subject is a function
/// of the key so that [`CertificateAuthority::from_pem`], which has no X.509
/// parser, can rebuild it; the fingerprint keeps distinct dev CAs from sharing
/// a name (a client that trusts another dev CA then fails with
/// `UnknownIssuer` instead of a confusing `BadSignature`).
const CA_COMMON_NAME_PREFIX: &str = "broker dev CA";
const CA_ORGANIZATION: &str = "broker dev cluster";

/// DNS name of the throwaway certificate [`CertificateAuthority::from_pem`]
/// issues to check that a key and a certificate belong together.
const PROBE_NAME: &str = "ca-consistency-probe.invalid";

/// PKCS#8 v1 (RFC 5208 / RFC 8410) prefix of an Ed25519 private key: the
/// 32-byte seed follows.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, // SEQUENCE, 46 bytes
    0x02, 0x01, 0x00, // INTEGER 0 (version v1)
    0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, // AlgorithmIdentifier { id-Ed25519 }
    0x04, 0x22, 0x04, 0x20, // OCTET STRING { OCTET STRING (32 bytes) }
];

/// Everything that can go wrong building TLS material or configurations.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen failed to generate or load a key pair, or to build or sign a
    /// certificate (includes DNS names that are not valid IA5 strings).
    #[error("certificate generation failed: {0}")]
    CertGen(#[from] rcgen::Error),

    /// rustls refused a configuration: unusable protocol versions for the
    /// provider, a private key that does not match its certificate, a
    /// certificate that cannot be added to a trust store, and the like.
    #[error("rustls configuration error: {0}")]
    Rustls(#[from] rustls::Error),

    /// The verifier for a trust store could not be built (e.g. no roots).
    #[error("certificate verifier error: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),

    /// A PEM document could not be read (bad base64, truncated section...).
    #[error("malformed PEM in {what}: {detail}")]
    Pem {
        /// Which input was being read.
        what: &'static str,
        /// The parser's message.
        detail: String,
    },

    /// A PEM document held no item of the kind that was expected.
    #[error("no {0} found in PEM input")]
    MissingPem(&'static str),

    /// [`CertificateAuthority::issue`] was asked for a certificate without
    /// any DNS name or IP address, which no client could verify.
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoSubjectNames,

    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed")]
    OsRandom,

    /// [`CertificateAuthority::from_pem`]: the key does not belong to the
    /// certificate, or the certificate is not a CA made by this module, or it
    /// is not currently valid.
    #[error("CA certificate and key do not form a usable dev CA: {0}")]
    CaMismatch(String),
}

/// PEM-encoded TLS material for one endpoint.
///
/// `Debug` never prints the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// The CA certificate clients should trust.
    pub ca_cert_pem: String,
    /// The endpoint's certificate chain, leaf first.
    pub cert_chain_pem: String,
    /// The endpoint's private key (PKCS#8 "PRIVATE KEY").
    pub private_key_pem: String,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// A development certificate authority that issues server certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority").field("cert_pem", &self.cert_pem).field("key", &"<redacted>").finish()
    }
}

impl CertificateAuthority {
    /// Real mode: an ECDSA P-256 CA whose key comes from the OS rng, valid
    /// from one day ago to ten years from now, with a random serial number.
    pub fn generate() -> Result<Self, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params = ca_params(&key, Validity::FromNow, os_serial()?);
        Self::self_signed(params, key)
    }

    /// Deterministic: an Ed25519 CA whose key is the next 32 bytes of `key_random`, valid
    /// 2000-01-01 .. 2100-01-01, serial number 1. The same bytes always give byte-identical
    /// certificate and key PEMs.
    pub fn generate_ed25519(key_random: &mut dyn RngCore) -> Result<Self, TlsError> {
        let key = ed25519_key_from_rng(key_random)?;
        let params = ca_params(&key, Validity::Seeded, SerialNumber::from_slice(SEEDED_CA_SERIAL));
        Self::self_signed(params, key)
    }

    fn self_signed(params: CertificateParams, key: KeyPair) -> Result<Self, TlsError> {
        let cert = params.self_signed(&key)?;
        Ok(Self { issuer: Issuer::new(params, key), cert_pem: cert.pem() })
    }

    /// The CA certificate, PEM-encoded: what clients trust.
    pub fn ca_cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// Issue a server certificate for `dns_names` and `ips`, signed by this CA.
    ///
    /// * `Some(random)` — deterministic: an Ed25519 leaf key and serial
    ///   number from `random`, validity 2000-01-01 .. 2100-01-01. The
    ///   result is byte-identical across runs only if the CA is Ed25519 too
    ///   (an ECDSA CA signs with fresh randomness each time).
    /// * `None` — real mode: an ECDSA P-256 key from the OS rng, a
    ///   random serial, validity from one day ago to ten years ahead.
    ///
    /// The common name is the first DNS name (or the first IP address).
    pub fn issue(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
        random: Option<&mut dyn RngCore>,
    ) -> Result<TlsMaterial, TlsError> {
        let (key, serial, validity) = match random {
            Some(random) => {
                let key = ed25519_key_from_rng(random)?;
                let mut serial = [0u8; 16];
                random.fill_bytes(&mut serial);
                (key, positive_serial(serial), Validity::Seeded)
            }
            None => (KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?, os_serial()?, Validity::FromNow),
        };
        let params = leaf_params(dns_names, ips, serial, validity)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(TlsMaterial {
            ca_cert_pem: self.cert_pem.clone(),
            cert_chain_pem: cert.pem(),
            private_key_pem: key.serialize_pem(),
        })
    }

    /// The CA certificate and private key as PEM, `(cert, key)`, for the
    /// real-mode dev cluster to persist. The key is PKCS#8 "PRIVATE KEY".
    pub(crate) fn to_pem(&self) -> (String, String) {
        (self.cert_pem.clone(), self.issuer.key().serialize_pem())
    }

    /// Reload a CA saved with [`to_pem`](Self::to_pem).
    ///
    /// The certificate must be one this module made: its subject is rebuilt
    /// from the key (see `CA_COMMON_NAME_PREFIX`), since no X.509 parser is
    /// available to read it back.
    ///
    /// As a consistency check a throwaway certificate is issued with the key
    /// and verified against the certificate as the only trust anchor, at the
    /// current time: a key that does not belong to the certificate, a foreign
    /// CA, or an expired CA is refused with [`TlsError::CaMismatch`].
    pub(crate) fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let certs = parse_certs(cert_pem, "CA certificate")?;
        let [ca_der] = certs.as_slice() else {
            return Err(TlsError::CaMismatch(format!("expected exactly one certificate, found {}", certs.len())));
        };
        let key = KeyPair::from_pem(key_pem)?;
        // rcgen's issuer only needs subject, key-id method, key usages and
        // the key; validity and serial of these params are never used.
        let params = ca_params(&key, Validity::Seeded, SerialNumber::from_slice(SEEDED_CA_SERIAL));
        let ca = Self { issuer: Issuer::new(params, key), cert_pem: cert_pem.to_owned() };
        ca.check_consistent(ca_der)?;
        Ok(ca)
    }

    #[allow(clippy::disallowed_methods, reason = "real mode only: the simulation never reloads a CA")]
    fn check_consistent(&self, ca_der: &CertificateDer<'static>) -> Result<(), TlsError> {
        // A throwaway probe key (real mode only: the simulation never reloads a CA).
        let probe_key = ed25519_key_from_rng(&mut crate::entropy::os())?;
        let params = leaf_params(&[PROBE_NAME.to_owned()], &[], SerialNumber::from_slice(&[0x7f]), Validity::Seeded)?;
        let probe = params.signed_by(&probe_key, &self.issuer)?;

        let mut roots = RootCertStore::empty();
        roots.add(ca_der.clone())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()?;
        let name = ServerName::try_from(PROBE_NAME).map_err(|e| TlsError::CaMismatch(e.to_string()))?;
        verifier
            .verify_server_cert(probe.der(), &[], &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| TlsError::CaMismatch(e.to_string()))
    }
}

/// Stock rustls + *ring*: randomness from the operating system. Real mode.
pub fn os_crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Server configuration: TLS 1.3 and 1.2 only, no client authentication, no
/// ALPN. The key must be one `provider` can load.
/// A TLS acceptor over `server_config`.
pub fn acceptor(material: &TlsMaterial, provider: &Arc<CryptoProvider>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    Ok(tokio_rustls::TlsAcceptor::from(server_config(material, provider)?))
}

pub fn server_config(material: &TlsMaterial, provider: &Arc<CryptoProvider>) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = parse_certs(&material.cert_chain_pem, "certificate chain")?;
    let key = parse_private_key(&material.private_key_pem)?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(SUPPORTED_VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = Vec::new();
    Ok(Arc::new(config))
}

/// Client configuration trusting only the CA(s) in `ca_cert_pem`: TLS 1.3 and
/// 1.2 only, no client certificate.
pub fn client_config(ca_cert_pem: &str, provider: &Arc<CryptoProvider>) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_with_versions(ca_cert_pem, provider, SUPPORTED_VERSIONS)
}

/// A client configuration restricted to `versions` (a subset of [`SUPPORTED_VERSIONS`]).
pub fn client_config_with_versions(
    ca_cert_pem: &str,
    provider: &Arc<CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(ca_cert_pem, "CA certificate")? {
        roots.add(cert)?;
    }
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------
// Certificate helpers
// ---------------------------------------------------------------------------

/// Ed25519 key from the next 32 bytes of `rng`, via a hand-built PKCS#8 v1 DER.
fn ed25519_key_from_rng(rng: &mut dyn RngCore) -> Result<KeyPair, TlsError> {
    let mut der = Vec::with_capacity(ED25519_PKCS8_V1_PREFIX.len() + 32);
    der.extend_from_slice(&ED25519_PKCS8_V1_PREFIX);
    der.resize(ED25519_PKCS8_V1_PREFIX.len() + 32, 0);
    rng.fill_bytes(&mut der[ED25519_PKCS8_V1_PREFIX.len()..]);
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der.as_slice()), &rcgen::PKCS_ED25519);
    der.fill(0);
    Ok(key?)
}

fn ca_distinguished_name(key: &KeyPair) -> DistinguishedName {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key_raw());
    let fingerprint: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    dn.push(DnType::CommonName, format!("{CA_COMMON_NAME_PREFIX} {fingerprint}"));
    dn
}

fn ca_params(key: &KeyPair, validity: Validity, serial: SerialNumber) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_distinguished_name(key);
    // May sign end-entity certificates only.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity.apply(&mut params);
    params.serial_number = Some(serial);
    params
}

fn leaf_params(
    dns_names: &[String],
    ips: &[IpAddr],
    serial: SerialNumber,
    validity: Validity,
) -> Result<CertificateParams, TlsError> {
    let common_name = match (dns_names.first(), ips.first()) {
        (Some(name), _) => name.clone(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => return Err(TlsError::NoSubjectNames),
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = dns_names
        .iter()
        .map(|name| Ok(SanType::DnsName(name.clone().try_into()?)))
        .chain(ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
        .collect::<Result<Vec<_>, rcgen::Error>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params);
    params.serial_number = Some(serial);
    Ok(params)
}

/// Which validity window a certificate gets. rcgen takes `time::OffsetDateTime`
/// values without re-exporting the `time` crate, so the dates are written into
/// the params directly instead of being passed around.
#[derive(Clone, Copy)]
enum Validity {
    /// 2000-01-01 .. 2100-01-01.
    Seeded,
    /// One day ago .. ten years from now (wall clock).
    FromNow,
}

impl Validity {
    #[allow(clippy::disallowed_methods, reason = "real certificates are valid from the host's now")]
    fn apply(self, params: &mut CertificateParams) {
        match self {
            Validity::Seeded => {
                let (y, m, d) = SEEDED_NOT_BEFORE;
                params.not_before = rcgen::date_time_ymd(y, m, d);
                let (y, m, d) = SEEDED_NOT_AFTER;
                params.not_after = rcgen::date_time_ymd(y, m, d);
            }
            Validity::FromNow => {
                let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
                let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
                params.not_before = now - REAL_BACKDATE;
                params.not_after = now + REAL_LIFETIME;
            }
        }
    }
}

/// A 16-byte serial from the OS rng.
#[allow(clippy::disallowed_methods, reason = "real certificate serials must be unpredictable")]
fn os_serial() -> Result<SerialNumber, TlsError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| TlsError::OsRandom)?;
    Ok(positive_serial(bytes))
}

/// Serial numbers must be positive and non-zero (RFC 5280 §4.1.2.2).
fn positive_serial(mut bytes: [u8; 16]) -> SerialNumber {
    bytes[0] &= 0x7f;
    bytes[0] |= 0x40;
    SerialNumber::from_slice(&bytes)
}

fn parse_certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut BufReader::new(pem.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { what, detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::MissingPem(what));
    }
    Ok(certs)
}

fn parse_private_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut BufReader::new(pem.as_bytes()))
        .map_err(|e| TlsError::Pem { what: "private key", detail: e.to_string() })?
        .ok_or(TlsError::MissingPem("private key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, Connection, ProtocolVersion, ServerConnection};
    use std::io::{Read, Write};
    use std::net::Ipv4Addr;

    const HOST: &str = "broker-0.cluster.test";

    fn seeded(seed: u64) -> crate::entropy::Generator {
        crate::entropy::seeded_for_tests(seed)
    }

    fn names() -> Vec<String> {
        vec![HOST.to_owned(), "localhost".to_owned()]
    }

    fn ips() -> Vec<IpAddr> {
        vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]
    }

    /// Every byte each side put on the wire, and what was negotiated.
    #[derive(Debug)]
    struct Session {
        client_to_server: Vec<u8>,
        server_to_client: Vec<u8>,
        version: ProtocolVersion,
    }

    impl Session {
        fn digest(&self) -> Vec<u8> {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            for (tag, bytes) in [(b'C', &self.client_to_server), (b'S', &self.server_to_client)] {
                ctx.update(&[tag]);
                ctx.update(&(bytes.len() as u64).to_be_bytes());
                ctx.update(bytes);
            }
            ctx.finish().as_ref().to_vec()
        }
    }

    #[derive(Debug)]
    struct Failure {
        side: &'static str,
        error: rustls::Error,
    }

    /// Moves everything `from` wants to send into `to`; false if nothing moved.
    fn pump(
        from: &mut Connection,
        to: &mut Connection,
        to_side: &'static str,
        log: &mut Vec<u8>,
    ) -> Result<bool, Failure> {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).expect("writing to a Vec cannot fail");
        }
        if buf.is_empty() {
            return Ok(false);
        }
        log.extend_from_slice(&buf);
        let mut rd: &[u8] = &buf;
        while !rd.is_empty() {
            to.read_tls(&mut rd).expect("reading from a slice cannot fail");
            to.process_new_packets().map_err(|error| Failure { side: to_side, error })?;
        }
        Ok(true)
    }

    fn pump_both(client: &mut Connection, server: &mut Connection, s: &mut Session) -> Result<(), Failure> {
        for _ in 0..32 {
            let a = pump(client, server, "server", &mut s.client_to_server)?;
            let b = pump(server, client, "client", &mut s.server_to_client)?;
            if !a && !b {
                return Ok(());
            }
        }
        panic!("connection did not quiesce");
    }

    fn read_all(conn: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
        out
    }

    /// Handshake over in-memory buffers, then a request/response round trip.
    fn run_session(
        client_cfg: Arc<ClientConfig>,
        server_cfg: Arc<ServerConfig>,
        name: ServerName<'static>,
    ) -> Result<Session, Failure> {
        let mut client: Connection = ClientConnection::new(client_cfg, name).unwrap().into();
        let mut server: Connection = ServerConnection::new(server_cfg).unwrap().into();
        let mut s = Session {
            client_to_server: Vec::new(),
            server_to_client: Vec::new(),
            version: ProtocolVersion::Unknown(0),
        };
        pump_both(&mut client, &mut server, &mut s)?;
        assert!(!client.is_handshaking() && !server.is_handshaking());
        let version = client.protocol_version().unwrap();
        assert_eq!(Some(version), server.protocol_version());
        s.version = version;

        client.writer().write_all(b"ApiVersionsRequest").unwrap();
        pump_both(&mut client, &mut server, &mut s)?;
        assert_eq!(read_all(&mut server), b"ApiVersionsRequest");
        server.writer().write_all(b"ApiVersionsResponse").unwrap();
        pump_both(&mut client, &mut server, &mut s)?;
        assert_eq!(read_all(&mut client), b"ApiVersionsResponse");

        client.send_close_notify();
        pump_both(&mut client, &mut server, &mut s)?;
        Ok(s)
    }

    fn host() -> ServerName<'static> {
        ServerName::try_from(HOST).unwrap()
    }

    fn tls12_only_client(ca_pem: &str) -> Arc<ClientConfig> {
        client_config_with_versions(ca_pem, &os_crypto_provider(), &[&rustls::version::TLS12]).unwrap()
    }

    fn is_ed25519(key: &PrivateKeyDer<'_>) -> bool {
        matches!(key, PrivateKeyDer::Pkcs8(pkcs8) if rustls::crypto::ring::sign::any_eddsa_type(pkcs8).is_ok())
    }

    fn assert_both_versions_work(material: &TlsMaterial) {
        let server = server_config(material, &os_crypto_provider()).unwrap();
        let s13 =
            run_session(client_config(&material.ca_cert_pem, &os_crypto_provider()).unwrap(), server.clone(), host())
                .unwrap();
        assert_eq!(s13.version, ProtocolVersion::TLSv1_3);
        let s12 = run_session(tls12_only_client(&material.ca_cert_pem), server, host()).unwrap();
        assert_eq!(s12.version, ProtocolVersion::TLSv1_2);
    }

    // (1) + (3): in-memory handshakes, TLS 1.3 by default and TLS 1.2-only clients.

    #[test]
    fn handshake_round_trip_os_entropy_tls13_and_tls12() {
        let ca = CertificateAuthority::generate().unwrap();
        let material = ca.issue(&names(), &ips(), None).unwrap();
        assert_both_versions_work(&material);
    }

    #[test]
    fn os_entropy_serves_seeded_ed25519_certificates_too() {
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(3)).unwrap();
        let material = ca.issue(&names(), &ips(), Some(&mut seeded(3))).unwrap();
        assert_both_versions_work(&material);
    }

    #[test]
    fn ip_address_san_verifies() {
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(5)).unwrap();
        let material = ca.issue(&names(), &ips(), Some(&mut seeded(5))).unwrap();
        let e = os_crypto_provider();
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)).into());
        run_session(client_config(&material.ca_cert_pem, &e).unwrap(), server_config(&material, &e).unwrap(), name)
            .unwrap();
    }

    // (2): determinism.

    #[test]
    fn os_entropy_transcripts_differ_between_runs() {
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(7)).unwrap();
        let material = ca.issue(&names(), &ips(), Some(&mut seeded(7))).unwrap();
        let run = || {
            run_session(
                client_config(&material.ca_cert_pem, &os_crypto_provider()).unwrap(),
                server_config(&material, &os_crypto_provider()).unwrap(),
                host(),
            )
            .unwrap()
            .digest()
        };
        assert_ne!(run(), run());
    }

    #[test]
    fn seeded_certificates_are_reproducible() {
        let pems = |seed| {
            let ca = CertificateAuthority::generate_ed25519(&mut seeded(seed)).unwrap();
            let m = ca.issue(&names(), &ips(), Some(&mut seeded(seed + 1_000))).unwrap();
            (ca.to_pem(), m)
        };
        let (ca_a, leaf_a) = pems(7);
        let (ca_b, leaf_b) = pems(7);
        assert_eq!(ca_a, ca_b);
        assert_eq!(leaf_a, leaf_b);
        let (ca_c, leaf_c) = pems(8);
        assert_ne!(ca_a.0, ca_c.0);
        assert_ne!(ca_a.1, ca_c.1);
        assert_ne!(leaf_a.cert_chain_pem, leaf_c.cert_chain_pem);
        assert_ne!(leaf_a.private_key_pem, leaf_c.private_key_pem);
        // Keys are Ed25519, and distinct between the CA and its leaf.
        assert!(is_ed25519(&parse_private_key(&ca_a.1).unwrap()));
        assert!(is_ed25519(&parse_private_key(&leaf_a.private_key_pem).unwrap()));
        assert_ne!(ca_a.1, leaf_a.private_key_pem);
    }

    // (3): nothing below TLS 1.2.

    #[test]
    fn server_config_never_offers_below_tls12() {
        assert_eq!(SUPPORTED_VERSIONS.len(), 2);
        assert_eq!(SUPPORTED_VERSIONS[0].version, ProtocolVersion::TLSv1_3);
        assert_eq!(SUPPORTED_VERSIONS[1].version, ProtocolVersion::TLSv1_2);

        let ca = CertificateAuthority::generate_ed25519(&mut seeded(1)).unwrap();
        let material = ca.issue(&names(), &[], Some(&mut seeded(1))).unwrap();
        {
            let cfg = server_config(&material, &os_crypto_provider()).unwrap();
            assert!(cfg.alpn_protocols.is_empty());
            // `ServerConfig::versions` is private; its Debug lists the enabled versions.
            let dbg = format!("{cfg:?}");
            let start = dbg.find("versions: [").expect("versions in Debug output");
            let end = start + dbg[start..].find(']').unwrap();
            let versions = &dbg[start..end];
            assert!(versions.contains("TLSv1_2") && versions.contains("TLSv1_3"), "{versions}");
            for old in ["SSLv2", "SSLv3", "TLSv1_0", "TLSv1_1"] {
                assert!(!versions.contains(old), "{versions}");
            }
            for suite in &cfg.crypto_provider().cipher_suites {
                assert!(matches!(suite.version().version, ProtocolVersion::TLSv1_2 | ProtocolVersion::TLSv1_3));
            }

            // A TLS 1.1 / 1.0 ClientHello is refused.
            for legacy in [[0x03, 0x02], [0x03, 0x01]] {
                let mut server = ServerConnection::new(cfg.clone()).unwrap();
                let hello = legacy_client_hello(legacy);
                let mut rd: &[u8] = &hello;
                server.read_tls(&mut rd).unwrap();
                let err = server.process_new_packets().unwrap_err();
                assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
            }
        }
    }

    /// A minimal ClientHello with `client_version` and no supported_versions
    /// extension, offering an ECDHE-ECDSA suite and X25519.
    fn legacy_client_hello(client_version: [u8; 2]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&client_version);
        body.extend_from_slice(&[0x42; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x09]); // suites
        body.extend_from_slice(&[0x01, 0x00]); // compression: null
        let exts: Vec<u8> = [
            &[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d][..], // supported_groups: x25519
            &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00][..],             // ec_point_formats
        ]
        .concat();
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![0x01, 0x00];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    // (4): trust.

    #[test]
    fn client_that_does_not_trust_the_ca_fails() {
        for (server_ca, other_ca, seed) in [
            (
                CertificateAuthority::generate_ed25519(&mut seeded(7)).unwrap(),
                CertificateAuthority::generate_ed25519(&mut seeded(70)).unwrap(),
                Some(7),
            ),
            (CertificateAuthority::generate().unwrap(), CertificateAuthority::generate().unwrap(), None),
        ] {
            let entropy = os_crypto_provider();
            let material =
                server_ca.issue(&names(), &[], seed.map(seeded).as_mut().map(|g| g as &mut dyn RngCore)).unwrap();
            let server = server_config(&material, &entropy).unwrap();
            for client in
                [client_config(&other_ca.ca_cert_pem(), &entropy).unwrap(), tls12_only_client(&other_ca.ca_cert_pem())]
            {
                let err = run_session(client, server.clone(), host()).unwrap_err();
                assert_eq!(err.side, "client");
                assert!(
                    matches!(err.error, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
                    "{:?}",
                    err.error
                );
            }
        }
    }

    #[test]
    fn client_rejects_a_name_not_in_the_certificate() {
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(7)).unwrap();
        let material = ca.issue(&names(), &[], Some(&mut seeded(7))).unwrap();
        let e = os_crypto_provider();
        let err = run_session(
            client_config(&material.ca_cert_pem, &e).unwrap(),
            server_config(&material, &e).unwrap(),
            ServerName::try_from("broker-9.cluster.test").unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err.error, rustls::Error::InvalidCertificate(_)), "{:?}", err.error);
    }

    // (5): secrets stay out of Debug.

    #[test]
    fn tls_material_debug_redacts_the_private_key() {
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(7)).unwrap();
        let material = ca.issue(&names(), &[], Some(&mut seeded(7))).unwrap();
        let dbg = format!("{material:?} {material:#?}");
        let key_body: String = material.private_key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!key_body.is_empty());
        assert!(!dbg.contains(&key_body));
        for line in material.private_key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!dbg.contains(line), "key line leaked");
        }
        assert!(!dbg.contains("PRIVATE KEY"));
        assert!(dbg.contains("<redacted>"));
        assert!(dbg.contains("BEGIN CERTIFICATE"));

        let (_, ca_key) = ca.to_pem();
        let ca_dbg = format!("{ca:?}");
        assert!(!ca_dbg.contains("PRIVATE KEY"));
        for line in ca_key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!ca_dbg.contains(line));
        }
    }

    // Persistence and other API edges.

    #[test]
    fn ca_round_trips_through_pem() {
        for ca in [
            CertificateAuthority::generate().unwrap(),
            CertificateAuthority::generate_ed25519(&mut seeded(21)).unwrap(),
        ] {
            let (cert, key) = ca.to_pem();
            let reloaded = CertificateAuthority::from_pem(&cert, &key).unwrap();
            assert_eq!(reloaded.ca_cert_pem(), cert);
            assert_eq!(reloaded.to_pem(), (cert.clone(), key.clone()));
            let material = reloaded.issue(&names(), &ips(), None).unwrap();
            assert_eq!(material.ca_cert_pem, cert);
            assert_both_versions_work(&material);
        }
        // A reloaded seeded CA issues byte-identical seeded leaves.
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(21)).unwrap();
        let (cert, key) = ca.to_pem();
        let reloaded = CertificateAuthority::from_pem(&cert, &key).unwrap();
        assert_eq!(
            ca.issue(&names(), &ips(), Some(&mut seeded(4))).unwrap(),
            reloaded.issue(&names(), &ips(), Some(&mut seeded(4))).unwrap()
        );
    }

    #[test]
    fn ca_from_pem_rejects_mismatched_or_bad_input() {
        let a = CertificateAuthority::generate_ed25519(&mut seeded(1)).unwrap();
        let b = CertificateAuthority::generate_ed25519(&mut seeded(2)).unwrap();
        let (cert_a, _) = a.to_pem();
        let (_, key_b) = b.to_pem();
        assert!(matches!(CertificateAuthority::from_pem(&cert_a, &key_b), Err(TlsError::CaMismatch(_))));
        // A leaf certificate is not a CA.
        let leaf = a.issue(&names(), &[], Some(&mut seeded(1))).unwrap();
        assert!(CertificateAuthority::from_pem(&leaf.cert_chain_pem, &leaf.private_key_pem).is_err());
        assert!(matches!(CertificateAuthority::from_pem("", &key_b), Err(TlsError::MissingPem(_))));
        assert!(CertificateAuthority::from_pem(&cert_a, "not a key").is_err());
    }

    #[test]
    fn bad_inputs_are_reported() {
        let ca = CertificateAuthority::generate_ed25519(&mut seeded(1)).unwrap();
        assert!(matches!(ca.issue(&[], &[], Some(&mut seeded(1))), Err(TlsError::NoSubjectNames)));
        assert!(matches!(ca.issue(&["bad name ü".to_owned()], &[], Some(&mut seeded(1))), Err(TlsError::CertGen(_))));
        assert!(matches!(client_config("", &os_crypto_provider()), Err(TlsError::MissingPem(_))));
        let mut material = ca.issue(&names(), &[], Some(&mut seeded(1))).unwrap();
        material.private_key_pem.clear();
        assert!(matches!(server_config(&material, &os_crypto_provider()), Err(TlsError::MissingPem("private key"))));
        // A key that does not match the certificate is refused by rustls.
        let other = ca.issue(&names(), &[], Some(&mut seeded(2))).unwrap();
        material.private_key_pem = other.private_key_pem;
        assert!(server_config(&material, &os_crypto_provider()).is_err());
        // Only-IP certificate: CN falls back to the address.
        ca.issue(&[], &ips(), Some(&mut seeded(3))).unwrap();
    }
}
