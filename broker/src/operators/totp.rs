//! RFC 6238 time-based one-time passwords (HMAC-SHA1, 30-second steps, 6 digits), over ring's
//! HMAC: ring is already the service's cryptography, and what TOTP adds to it is RFC 4226's
//! dynamic truncation (a few lines, checked against the RFC's own test vectors below) rather
//! than another crate and its digest stack.

/// Seconds per step (RFC 6238's default, what authenticator apps use).
pub const STEP_S: u64 = 30;
const DIGITS: u32 = 6;

/// The `digits`-digit code of `secret` at step `step`.
fn hotp(secret: &[u8], step: u64, digits: u32) -> u32 {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = ring::hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(digits)
}

/// The step of a Unix time in ms.
pub fn step_at(unix_ms: u64) -> u64 {
    unix_ms / 1000 / STEP_S
}

/// The six-digit code at `unix_ms`, as an authenticator app shows it.
pub fn code_at(secret: &[u8], unix_ms: u64) -> String {
    format!("{:06}", hotp(secret, step_at(unix_ms), DIGITS))
}

/// The shortest secret a code is checked against: RFC 4226 4 asks for 128 bits at least. A
/// secret that is shorter (or empty, as a secret that failed to parse would be) verifies nothing.
pub const SECRET_BYTES_MIN: usize = 16;

/// The step whose code `code` is, among the current one and one either side (RFC 6238 5.2:
/// clock drift and transmission delay). All three are computed and compared in constant time,
/// so the time of a refusal says nothing about how close a guess came. `None` for a secret
/// shorter than [`SECRET_BYTES_MIN`]: fail closed.
pub fn matching_step(secret: &[u8], code: &str, unix_ms: u64) -> Option<u64> {
    use subtle::ConstantTimeEq;
    if secret.len() < SECRET_BYTES_MIN {
        return None;
    }
    let now = step_at(unix_ms);
    let mut matched = None;
    for step in now.saturating_sub(1)..=now + 1 {
        let expected = format!("{:06}", hotp(secret, step, DIGITS));
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding: how authenticator apps and `oathtool -b` take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for byte in bytes {
        buffer = (buffer << 8) | *byte as u64;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The bytes of an RFC 4648 base32 string (padding and case ignored); `None` if it is not one.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for c in text.trim_end_matches('=').chars() {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59u64, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(secret, time / STEP_S, 8), code, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = b"12345678901234567890";
        let at = 1_111_111_109_000;
        let code = code_at(secret, at);
        assert_eq!(matching_step(secret, &code, at), Some(step_at(at)));
        assert_eq!(matching_step(secret, &code, at + 30_000), Some(step_at(at)));
        assert_eq!(matching_step(secret, &code, at + 90_000), None);
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(), b"12345678901234567890");
        assert_eq!(base32_decode("not base32!"), None);
    }

    #[test]
    fn a_secret_too_short_to_be_one_verifies_no_code() {
        let at = 1_111_111_109_000;
        // An empty key is still an HMAC key: its codes are computable by anyone.
        assert_eq!(matching_step(b"", &code_at(b"", at), at), None);
        let short = b"123456789012345";
        assert_eq!(matching_step(short, &code_at(short, at), at), None);
    }

    #[test]
    fn codes_of_another_length_or_form_do_not_match() {
        let secret = b"12345678901234567890";
        let at = 1_111_111_109_000;
        let code = code_at(secret, at);
        assert_eq!(matching_step(secret, &format!("{code}0"), at), None);
        assert_eq!(matching_step(secret, &code[..5], at), None);
        assert_eq!(matching_step(secret, "", at), None);
    }
}
