//! The forms a secret takes in the files and answers a search reads: its bytes as they are,
//! base64 (standard and URL-safe) and hex. The service serialises key material, salts and
//! tokens as base64 inside JSON, so a search for raw bytes alone misses a key written there.
//!
//! Base64 packs three bytes into four characters, so the characters a secret becomes depend on
//! where it starts in the encoded bytes (its offset modulo three) and, at its edges, on its
//! neighbours. Each alignment's form keeps only the characters that the secret alone decides:
//! a secret inside a larger base64-encoded value is found as well as one encoded by itself.

use base64::Engine;
use rustc_hash::FxHashMap;

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

/// Every form of every secret, in two filters: the forms as they are over every byte, the
/// encoded ones (base64 and hex) only over runs of their alphabet at least as long as the
/// shortest of them, which sealed and binary data almost never holds (a random byte is in the
/// alphabet one time in four: a run of 15 comes once in 10^9 bytes). Sampling one byte in
/// every `shortest` finds each such run, so encoded forms cost a fraction of a pass.
pub struct Search {
    raw: Filter,
    /// The raw forms again, searched one by one with SIMD when there are few of them (a run's
    /// canaries as the disk tap searches every write: several times faster than the filter).
    raw_finders: Vec<(usize, memchr::memmem::Finder<'static>)>,
    encoded: Filter,
    /// (secret index, how it is written, the form), by pattern index.
    patterns: Vec<(usize, &'static str, Vec<u8>)>,
}

/// Up to this many raw forms are searched one by one (`Search::raw_finders`).
const FINDERS_MAX: usize = 4;

/// Shorter secrets are no secrets (and the filter reads eight bytes).
const SECRET_BYTES_MIN: usize = 8;

/// Whether `byte` can be part of a base64 (either alphabet) or hex form.
fn in_alphabet(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'-' | b'_')
}

/// A 64 Ki-bit filter on each form's first two bytes (it fits in the L1 cache and rejects nearly
/// every position), then a map on the first eight, then the whole form. Measured on 72 MB with
/// 30 keys' forms: 1.0 GB/s, where aho-corasick's DFA gave 0.55 and one memmem per form 0.15.
struct Filter {
    first_two: Vec<u64>,
    by_prefix: FxHashMap<u64, Vec<usize>>,
    shortest: usize,
}

impl Filter {
    fn new() -> Filter {
        Filter { first_two: vec![0; 1 << 10], by_prefix: FxHashMap::default(), shortest: usize::MAX }
    }

    fn add(&mut self, pattern: usize, form: &[u8]) {
        let two = u16::from_le_bytes([form[0], form[1]]) as usize;
        self.first_two[two / 64] |= 1 << (two % 64);
        let prefix = u64::from_le_bytes(form[..8].try_into().expect("8 bytes"));
        self.by_prefix.entry(prefix).or_default().push(pattern);
        self.shortest = self.shortest.min(form.len());
    }

    /// Calls `found` with (pattern, `offset` + position in `bytes`) for each candidate whose
    /// first eight bytes match, while it answers true; false once it has answered false.
    fn scan(&self, bytes: &[u8], offset: usize, found: &mut impl FnMut(usize, usize) -> bool) -> bool {
        if self.shortest == usize::MAX {
            return true;
        }
        // A plain loop: as an iterator chain the search ran at a third of the speed.
        for position in 0..bytes.len().saturating_sub(self.shortest - 1) {
            let two = u16::from_le_bytes([bytes[position], bytes[position + 1]]) as usize;
            if self.first_two[two / 64] & (1 << (two % 64)) == 0 {
                continue;
            }
            let prefix = u64::from_le_bytes(bytes[position..position + 8].try_into().expect("8 bytes"));
            let Some(candidates) = self.by_prefix.get(&prefix) else { continue };
            for &pattern in candidates {
                if !found(pattern, offset + position) {
                    return false;
                }
            }
        }
        true
    }
}

impl Search {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Search {
        let mut search =
            Search { raw: Filter::new(), raw_finders: Vec::new(), encoded: Filter::new(), patterns: Vec::new() };
        for (index, secret) in secrets.into_iter().enumerate() {
            assert!(secret.len() >= SECRET_BYTES_MIN, "a secret of {} bytes", secret.len());
            for (how, form) in forms(secret) {
                let filter = if how == "in clear" { &mut search.raw } else { &mut search.encoded };
                filter.add(search.patterns.len(), &form);
                search.patterns.push((index, how, form));
            }
        }
        let raw: Vec<usize> = (0..search.patterns.len()).filter(|p| search.patterns[*p].1 == "in clear").collect();
        if raw.len() <= FINDERS_MAX {
            search.raw_finders =
                raw.into_iter().map(|p| (p, memchr::memmem::Finder::new(&search.patterns[p].2).into_owned())).collect();
            search.raw = Filter::new();
        }
        search
    }

    /// (secret index, how it is written, byte position) of every find in `bytes`.
    pub fn finds(&self, bytes: &[u8]) -> Vec<(usize, &'static str, usize)> {
        let mut found = Vec::new();
        self.scan(bytes, |find| {
            found.push(find);
            true
        });
        found
    }

    /// The first find's secret and form, if any.
    pub fn first(&self, bytes: &[u8]) -> Option<(usize, &'static str)> {
        let mut first = None;
        self.scan(bytes, |(index, how, _)| {
            first = Some((index, how));
            false
        });
        first
    }

    /// Calls `found` for each find while it answers true.
    fn scan(&self, bytes: &[u8], mut found: impl FnMut((usize, &'static str, usize)) -> bool) {
        let mut confirm = |pattern: usize, position: usize| {
            let (index, how, form) = &self.patterns[pattern];
            !bytes[position..].starts_with(form) || found((*index, *how, position))
        };
        for (pattern, finder) in &self.raw_finders {
            for position in finder.find_iter(bytes) {
                if !confirm(*pattern, position) {
                    return;
                }
            }
        }
        if !self.raw.scan(bytes, 0, &mut confirm) {
            return;
        }
        let stride = self.encoded.shortest;
        if stride == usize::MAX {
            return;
        }
        // Every run of at least `stride` alphabet bytes holds a sampled byte; each run is
        // searched once, from its start (the sample after it inside the run is skipped).
        let mut sample = stride - 1;
        while sample < bytes.len() {
            if !in_alphabet(bytes[sample]) {
                sample += stride;
                continue;
            }
            let start = bytes[..sample].iter().rposition(|b| !in_alphabet(*b)).map_or(0, |p| p + 1);
            let end = bytes[sample..].iter().position(|b| !in_alphabet(*b)).map_or(bytes.len(), |p| sample + p);
            if end - start >= stride && !self.encoded.scan(&bytes[start..end], start, &mut confirm) {
                return;
            }
            sample = end + stride;
        }
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
