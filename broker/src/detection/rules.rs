//! The rules, as a state machine over the store's entries in the order they are read: an event
//! in, maybe an alert out. Events are recognised by their id, so a replica read twice or a
//! pipeline restarted from the start raises nothing new (and the same alert ids).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use super::{Alert, Rule, AUTH_FAILURE_BURST, BURST_WINDOW, SCAN_TOPICS, SCAN_WINDOW};
use crate::log_store::{Event, EventId};
use crate::planted_bugs::{PlantedBug, PlantedBugs};

/// Ids of events this old (by event time) behind the newest are forgotten: a re-read that old
/// raises alerts again, with the same ids, which the desk already holds.
const REMEMBER_MS: u64 = 2 * 24 * 3_600_000;
const HOUR_MS: u64 = 3_600_000;

#[derive(Default)]
pub struct Detector {
    bugs: PlantedBugs,
    seen: HashSet<EventId>,
    seen_by_time: BTreeMap<u64, Vec<EventId>>,
    /// Authentication failures per network: their times.
    failures: HashMap<String, VecDeque<u64>>,
    /// The networks each key signed in from.
    networks: HashMap<String, BTreeSet<String>>,
    deleted_keys: HashSet<String>,
    /// Refused topics per principal: (time, topic).
    refusals: HashMap<String, VecDeque<(u64, String)>>,
    raised: HashSet<String>,
}

impl Detector {
    pub fn new(bugs: PlantedBugs) -> Detector {
        Detector { bugs, ..Detector::default() }
    }

    /// Takes one event; returns the alert it trips, if any (once per alert id).
    pub fn observe(&mut self, event: &Event) -> Option<Alert> {
        if !self.remember(event) {
            return None;
        }
        let alert = self.evaluate(event)?;
        self.raised.insert(alert.id.clone()).then_some(alert)
    }

    fn remember(&mut self, event: &Event) -> bool {
        if !self.seen.insert(event.id()) {
            return false;
        }
        self.seen_by_time.entry(event.at_ms).or_default().push(event.id());
        let newest = *self.seen_by_time.keys().next_back().expect("just inserted");
        while let Some(entry) = self.seen_by_time.first_entry() {
            if *entry.key() + REMEMBER_MS >= newest {
                break;
            }
            for id in entry.remove() {
                self.seen.remove(&id);
            }
        }
        true
    }

    fn evaluate(&mut self, event: &Event) -> Option<Alert> {
        let alert = |rule: Rule, subject: &str, first_ms: u64, events: u64, detail: String| Alert {
            id: format!("{}:{subject}", rule.name()),
            rule,
            actor: event.actor.clone(),
            network: event.network.clone(),
            first_ms,
            tripped_ms: event.at_ms,
            events,
            detail,
        };
        match (event.category.as_str(), event.action.as_str(), event.outcome.as_str()) {
            (_, "kafka.operator.outside-bastion", _) => Some(alert(
                Rule::OutsideBastion,
                &format!("{}:{}", event.actor, event.network),
                event.at_ms,
                1,
                format!("the operators' key {:?} was presented from {}, not a bastion", event.actor, event.network),
            )),
            ("control-plane", "iam.api-key.deleted", "success") => {
                self.deleted_keys.insert(event.detail.clone());
                None
            }
            ("authentication", _, "failure") => {
                if self.deleted_keys.contains(&event.actor) {
                    return Some(alert(
                        Rule::RevokedKey,
                        &format!("{}:{}", event.actor, event.network),
                        event.at_ms,
                        1,
                        format!("deleted key {:?} presented from {}", event.actor, event.network),
                    ));
                }
                let times = self.failures.entry(event.network.clone()).or_default();
                times.push_back(event.at_ms);
                while times.front().is_some_and(|t| *t + BURST_WINDOW.as_millis() as u64 <= event.at_ms) {
                    times.pop_front();
                }
                (times.len() >= AUTH_FAILURE_BURST).then(|| {
                    let first = *times.front().expect("a burst");
                    alert(
                        Rule::AuthFailureBurst,
                        &format!("{}:{}", event.network, first / HOUR_MS),
                        first,
                        times.len() as u64,
                        format!(
                            "{} authentication failures from {} within {BURST_WINDOW:?}",
                            times.len(),
                            event.network
                        ),
                    )
                })
            }
            ("authentication", "kafka.authentication.succeeded", "success") => {
                let network = network_of(&event.network);
                let known = self.networks.entry(event.actor.clone()).or_default();
                let first_use = known.is_empty();
                if !known.insert(network.clone()) || first_use {
                    return None;
                }
                if self.bugs.is_on(PlantedBug::DetectionIgnoresNewNetworks) {
                    return None;
                }
                let before: Vec<&str> = known.iter().filter(|n| **n != network).map(String::as_str).collect();
                Some(alert(
                    Rule::NewNetwork,
                    &format!("{}:{network}", event.actor),
                    event.at_ms,
                    1,
                    format!("key {:?} signed in from {network}; before only from {}", event.actor, before.join(", ")),
                ))
            }
            ("authorization", "kafka.authorization.denied", _) => {
                let topic = event.detail.strip_prefix("Topic:")?.split('/').next()?.to_string();
                let refused = self.refusals.entry(event.actor.clone()).or_default();
                refused.push_back((event.at_ms, topic));
                while refused.front().is_some_and(|(t, _)| *t + SCAN_WINDOW.as_millis() as u64 <= event.at_ms) {
                    refused.pop_front();
                }
                let topics: BTreeSet<&str> = refused.iter().map(|(_, topic)| topic.as_str()).collect();
                (topics.len() >= SCAN_TOPICS).then(|| {
                    let first = refused.front().expect("a scan").0;
                    let listed: Vec<&str> = topics.iter().copied().collect();
                    alert(
                        Rule::TopicScan,
                        &format!("{}:{}", event.actor, first / HOUR_MS),
                        first,
                        refused.len() as u64,
                        format!("{:?} was refused {} topics: {}", event.actor, topics.len(), listed.join(", ")),
                    )
                })
            }
            _ => None,
        }
    }
}

/// The network an address belongs to, for "a network it never used": its /16 (IPv4) or /48.
pub fn network_of(address: &str) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, _, _] = v4.octets();
            format!("{a}.{b}.0.0/16")
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, at_s: u64, category: &str, action: &str, actor: &str, outcome: &str, network: &str) -> Event {
        Event {
            source: "broker-1@0".into(),
            seq,
            at_ms: at_s * 1000,
            category: category.into(),
            action: action.into(),
            actor: actor.into(),
            outcome: outcome.into(),
            network: network.into(),
            detail: String::new(),
        }
    }

    fn failure(seq: u64, at_s: u64, network: &str) -> Event {
        event(seq, at_s, "authentication", "kafka.authentication.failed", "guess", "failure", network)
    }

    fn sign_in(seq: u64, at_s: u64, key: &str, network: &str) -> Event {
        event(seq, at_s, "authentication", "kafka.authentication.succeeded", key, "success", network)
    }

    #[test]
    fn a_burst_of_failures_from_one_network_alerts_once() {
        let mut detector = Detector::new(PlantedBugs::none());
        let alerts: Vec<Alert> = (0..30).filter_map(|i| detector.observe(&failure(i, i, "198.51.100.7"))).collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].rule, Rule::AuthFailureBurst);
        assert_eq!((alerts[0].first_ms, alerts[0].tripped_ms, alerts[0].events), (0, 9_000, 10));
        // Nine a minute apart are no burst; nor is the same event read again.
        let mut detector = Detector::new(PlantedBugs::none());
        assert!((0..9).all(|i| detector.observe(&failure(i, i * 60, "198.51.100.7")).is_none()));
        assert!((0..20).all(|_| detector.observe(&failure(0, 0, "198.51.100.7")).is_none()));
    }

    #[test]
    fn a_key_from_a_new_network_alerts_but_its_first_network_is_learned() {
        let mut detector = Detector::new(PlantedBugs::none());
        assert!(detector.observe(&sign_in(0, 0, "app-key", "10.1.4.5")).is_none());
        assert!(detector.observe(&sign_in(1, 1, "app-key", "10.1.9.9")).is_none(), "same /16");
        let alert = detector.observe(&sign_in(2, 2, "app-key", "198.51.100.7")).expect("a new network");
        assert_eq!(alert.rule, Rule::NewNetwork);
        assert!(alert.detail.contains("198.51.0.0/16") && alert.detail.contains("10.1.0.0/16"), "{}", alert.detail);
        assert!(detector.observe(&sign_in(3, 3, "app-key", "198.51.100.8")).is_none(), "once per network");
        let mut buggy = Detector::new(PlantedBugs::from_names(["detection-ignores-new-networks"]).unwrap());
        buggy.observe(&sign_in(0, 0, "app-key", "10.1.4.5"));
        assert!(buggy.observe(&sign_in(1, 1, "app-key", "198.51.100.7")).is_none());
    }

    #[test]
    fn deleted_keys_scans_and_the_operators_key_outside_a_bastion_alert() {
        let mut detector = Detector::new(PlantedBugs::none());
        let mut deleted = event(0, 0, "control-plane", "iam.api-key.deleted", "admin", "success", "");
        deleted.detail = "old-key".into();
        assert!(detector.observe(&deleted).is_none());
        let presented = event(1, 5, "authentication", "kafka.authentication.failed", "old-key", "failure", "10.1.1.1");
        assert_eq!(detector.observe(&presented).map(|a| a.rule), Some(Rule::RevokedKey));
        let refusals: Vec<Alert> = (0..8)
            .filter_map(|i| {
                let mut refused =
                    event(10 + i, 10 + i, "authorization", "kafka.authorization.denied", "t1", "refused", "");
                refused.detail = format!("Topic:other-{i}/Read");
                detector.observe(&refused)
            })
            .collect();
        assert_eq!(refusals.iter().map(|a| a.rule).collect::<Vec<_>>(), [Rule::TopicScan]);
        assert_eq!(refusals[0].events, 5);
        let outside =
            event(30, 30, "authorization", "kafka.operator.outside-bastion", "bastion", "refused", "10.9.9.9");
        assert_eq!(detector.observe(&outside).map(|a| a.rule), Some(Rule::OutsideBastion));
    }

    #[test]
    fn old_ids_are_forgotten_but_alert_ids_are_stable() {
        let mut detector = Detector::new(PlantedBugs::none());
        detector.observe(&sign_in(0, 0, "k", "10.1.1.1"));
        let first = detector.observe(&sign_in(1, 1, "k", "198.51.100.1")).unwrap();
        detector.observe(&sign_in(2, 3 * 24 * 3600, "k", "10.1.1.1"));
        assert!(!detector.seen.contains(&("broker-1@0".to_string(), 0)), "forgotten after two days");
        let mut again = Detector::new(PlantedBugs::none());
        again.observe(&sign_in(0, 0, "k", "10.1.1.1"));
        assert_eq!(again.observe(&sign_in(1, 1, "k", "198.51.100.1")).unwrap().id, first.id);
    }
}
