//! The forms a secret takes in the files and answers a search reads: its bytes as they are,
//! base64 (standard and URL-safe) and hex. The service serialises key material, salts and
//! tokens as base64 inside JSON, so a search for raw bytes alone misses a key written there.
//!
//! Base64 packs three bytes into four characters, so the characters a secret becomes depend on
//! where it starts in the encoded bytes (its offset modulo three) and, at its edges, on its
//! neighbours. Each alignment's form keeps only the characters that the secret alone decides:
//! a secret inside a larger base64-encoded value is found as well as one encoded by itself.

use aho_corasick::AhoCorasick;
use base64::Engine;

/// Below this a base64 form keeps too little of a secret to name it (12 bytes: 80 bits kept).
const BASE64_SECRET_MIN: usize = 12;

/// (how it is written, the bytes to look for) for `secret`: raw, base64 at each alignment in
/// both alphabets (for secrets of 12 bytes or more), and hex in both cases.
pub fn forms(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut forms = vec![("in clear", secret.to_vec())];
    let alphabets = if secret.len() >= BASE64_SECRET_MIN { &ALPHABETS[..] } else { &[] };
    for (alphabet, engine) in alphabets {
        for lead in 0..3usize {
            // `lead` bytes of something else before it: the characters that mix them with the
            // secret are dropped, and so are those mixing its last bits with what follows.
            let padded = [vec![0u8; lead], secret.to_vec()].concat();
            let encoded = engine.encode(&padded);
            let first = (lead * 8).div_ceil(6);
            let last = padded.len() * 8 / 6;
            let form = encoded.as_bytes()[first..last].to_vec();
            // Without a `+` or `/` the two alphabets write it alike: one find, not two.
            if !forms.iter().any(|(_, known)| *known == form) {
                forms.push((alphabet, form));
            }
        }
    }
    let lower: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    forms.push(("hex", lower.to_uppercase().into_bytes()));
    forms.push(("hex", lower.into_bytes()));
    forms
}

const ALPHABETS: [(&str, &base64::engine::GeneralPurpose); 2] = [
    ("base64", &base64::engine::general_purpose::STANDARD_NO_PAD),
    ("URL-safe base64", &base64::engine::general_purpose::URL_SAFE_NO_PAD),
];

/// One automaton for every form of every secret, searched in one pass.
pub struct Search {
    automaton: AhoCorasick,
    /// Each pattern's (secret index, how it is written), by pattern index.
    patterns: Vec<(usize, &'static str)>,
}

impl Search {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Search {
        let mut patterns = Vec::new();
        let mut needles = Vec::new();
        for (index, secret) in secrets.into_iter().enumerate() {
            for (how, form) in forms(secret) {
                patterns.push((index, how));
                needles.push(form);
            }
        }
        Search { automaton: AhoCorasick::new(&needles).expect("patterns build an automaton"), patterns }
    }

    /// (secret index, how it is written, byte position) of every find in `bytes`, overlapping
    /// finds included.
    pub fn finds<'h>(&'h self, bytes: &'h [u8]) -> impl Iterator<Item = (usize, &'static str, usize)> + 'h {
        self.automaton.find_overlapping_iter(bytes).map(|found| {
            let (index, how) = self.patterns[found.pattern().as_usize()];
            (index, how, found.start())
        })
    }

    /// Whether any form of any secret is in `bytes` (the first find's secret and form).
    pub fn first(&self, bytes: &[u8]) -> Option<(usize, &'static str)> {
        self.automaton.find(bytes).map(|found| self.patterns[found.pattern().as_usize()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_found_in_clear_in_base64_at_any_offset_and_in_hex() {
        let secret: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37).wrapping_add(11)).collect();
        let search = Search::new([secret.as_slice()]);
        let found = |bytes: &[u8]| search.first(bytes).map(|(index, how)| (index, how.to_string()));
        assert_eq!(found(&[b"xx".as_slice(), &secret, b"yy"].concat()), Some((0, "in clear".into())));
        for lead in 0..3 {
            let value = [vec![0xAB; lead], secret.clone(), vec![0xCD; 2]].concat();
            for engine in [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
            ] {
                let json = format!(r#"{{"material":"{}"}}"#, engine.encode(&value));
                assert!(found(json.as_bytes()).is_some_and(|(_, how)| how.contains("base64")), "lead {lead}: {json}");
            }
        }
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(found(format!("key={hex}").as_bytes()), Some((0, "hex".into())));
        assert_eq!(found(format!("key={}", hex.to_uppercase()).as_bytes()), Some((0, "hex".into())));
        // Another secret's encodings, and a near miss, are not it.
        let other: Vec<u8> = secret.iter().map(|b| b ^ 1).collect();
        let text =
            [base64::engine::general_purpose::STANDARD.encode(&other).into_bytes(), secret[..31].to_vec()].concat();
        assert_eq!(found(&text), None);
    }
}
