//! Connections held per key (a source address, a principal) with a maximum: the bound that
//! keeps one client from holding every socket, buffer and task of a broker. A slot is given
//! back when its connection ends (the slot is dropped with the connection's task).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// `max.connections.per.ip` (KIP-308's per-address bound), for sources outside the service's
/// own ranges: a client host, or a NAT in front of many.
pub const CONNECTIONS_PER_IP_MAX: usize = 1_000;
/// Authenticated connections per customer API key on one broker.
pub const CONNECTIONS_PER_PRINCIPAL_MAX: usize = 1_000;

pub(crate) struct ConnectionCounts<K: Ord + Clone> {
    max: usize,
    held: Arc<Mutex<BTreeMap<K, usize>>>,
}

impl<K: Ord + Clone> ConnectionCounts<K> {
    pub(crate) fn new(max: usize) -> Self {
        ConnectionCounts { max, held: Arc::default() }
    }

    /// A slot for one more connection of `key`, or `None` at the maximum.
    pub(crate) fn acquire(&self, key: K) -> Option<ConnectionSlot<K>> {
        let mut held = self.held.lock().unwrap();
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot { key, held: self.held.clone() })
    }
}

/// One connection's place in its key's count.
pub(crate) struct ConnectionSlot<K: Ord + Clone> {
    key: K,
    held: Arc<Mutex<BTreeMap<K, usize>>>,
}

impl<K: Ord + Clone> Drop for ConnectionSlot<K> {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap();
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

impl<K: Ord + Clone> std::fmt::Debug for ConnectionSlot<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionSlot")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_max_slots_and_a_dropped_slot_is_given_back() {
        let counts = ConnectionCounts::new(2);
        let first = counts.acquire("a").expect("room");
        let _second = counts.acquire("a").expect("room");
        assert!(counts.acquire("a").is_none(), "a third is refused");
        assert!(counts.acquire("b").is_some(), "other keys count on their own");
        drop(first);
        assert!(counts.acquire("a").is_some(), "a closed connection's slot is given back");
    }
}
