//! Multi-tenancy (C28): Basic and Standard clusters are logical clusters (`lkc-…`) hosted on
//! one physical broker cluster. A customer key works inside its logical cluster's namespace:
//! every topic, group and transactional id it names is stored as `<lkc>_<name>` and given back
//! without the prefix, and a listing shows only the namespace's own names. So names collide
//! freely across tenants, and "exists in another tenant" takes the same path as "does not
//! exist": the lookup is of a different name. The rewriting happens once, at the edge, around
//! the handlers; authorization sees the names the tenant uses (its ACLs are written in them).
//! The service's own keys (brokers, operator keys from the credentials file) see raw names.

use kafka_protocol::messages::{GroupId, RequestKind, ResponseKind, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use crate::control_plane::model::{internal_topic_name, SERVICE_TOPICS};
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::security::sasl::Principal;

/// One logical cluster's namespace.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    cluster_id: String,
    prefix: String,
    bugs: PlantedBugs,
}

impl Tenant {
    /// The namespace a principal works in; `None` for the service's own keys.
    pub(crate) fn of(principal: &Principal, bugs: PlantedBugs) -> Option<Tenant> {
        let customer = principal.customer.as_ref().filter(|c| !c.cluster_id.is_empty())?;
        Some(Tenant { cluster_id: customer.cluster_id.clone(), prefix: format!("{}_", customer.cluster_id), bugs })
    }

    pub(crate) fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn internal(&self, name: &str) -> String {
        internal_topic_name(&self.cluster_id, name)
    }

    /// The tenant's name for an internal one; `None` if it belongs to another namespace.
    pub(crate) fn visible<'a>(&self, internal: &'a str) -> Option<&'a str> {
        if SERVICE_TOPICS.contains(&internal) {
            return Some(internal);
        }
        internal.strip_prefix(&self.prefix)
    }

    /// How a listing shows an internal topic name, if at all.
    pub(crate) fn listed<'a>(&self, internal: &'a str) -> Option<&'a str> {
        match self.visible(internal) {
            Some(name) => Some(name),
            // Planted: the listing forgets the namespace and shows every tenant's topics.
            None if self.bugs.is_on(PlantedBug::MetadataListsAllTenants) => Some(internal),
            None => None,
        }
    }

    fn topic(&self, name: &mut TopicName) {
        name.0 = StrBytes::from_string(self.internal(&name.0));
    }

    fn group(&self, id: &mut GroupId) {
        id.0 = StrBytes::from_string(format!("{}{}", self.prefix, id.0.as_str()));
    }

    fn key(&self, key: &mut StrBytes) {
        *key = StrBytes::from_string(format!("{}{}", self.prefix, key.as_str()));
    }

    fn transactional_id(&self, id: &mut TransactionalId) {
        id.0 = StrBytes::from_string(format!("{}{}", self.prefix, id.0.as_str()));
    }

    fn strip_topic(&self, name: &mut TopicName) {
        if let Some(visible) = self.listed(&name.0) {
            name.0 = StrBytes::from_string(visible.to_string());
        }
    }

    fn strip_key(&self, key: &mut StrBytes) {
        if let Some(visible) = key.as_str().strip_prefix(&self.prefix) {
            *key = StrBytes::from_string(visible.to_string());
        }
    }

    /// Error texts name internal topics (`Topic 'lkc-…_x' already exists`).
    fn strip_message(&self, message: &mut Option<StrBytes>) {
        if let Some(text) = message.as_mut().filter(|text| text.contains(&self.prefix)) {
            *text = StrBytes::from_string(text.replace(&self.prefix, ""));
        }
    }

    /// Moves every name of a request into the namespace.
    pub(crate) fn inbound(&self, request: &mut RequestKind) {
        match request {
            RequestKind::Metadata(r) => {
                r.topics.iter_mut().flatten().filter_map(|t| t.name.as_mut()).for_each(|n| self.topic(n))
            }
            RequestKind::CreateTopics(r) => r.topics.iter_mut().for_each(|t| self.topic(&mut t.name)),
            RequestKind::DeleteTopics(r) => {
                r.topic_names.iter_mut().for_each(|n| self.topic(n));
                r.topics.iter_mut().filter_map(|t| t.name.as_mut()).for_each(|n| self.topic(n));
            }
            RequestKind::Produce(r) => {
                r.transactional_id.iter_mut().for_each(|id| self.transactional_id(id));
                r.topic_data.iter_mut().for_each(|t| self.topic(&mut t.name));
            }
            RequestKind::Fetch(r) => {
                r.topics.iter_mut().for_each(|t| self.topic(&mut t.topic));
                r.forgotten_topics_data.iter_mut().for_each(|t| self.topic(&mut t.topic));
            }
            RequestKind::ListOffsets(r) => r.topics.iter_mut().for_each(|t| self.topic(&mut t.name)),
            RequestKind::InitProducerId(r) => r.transactional_id.iter_mut().for_each(|id| self.transactional_id(id)),
            RequestKind::FindCoordinator(r) => {
                self.key(&mut r.key);
                r.coordinator_keys.iter_mut().for_each(|k| self.key(k));
            }
            RequestKind::JoinGroup(r) => self.group(&mut r.group_id),
            RequestKind::SyncGroup(r) => self.group(&mut r.group_id),
            RequestKind::Heartbeat(r) => self.group(&mut r.group_id),
            RequestKind::LeaveGroup(r) => self.group(&mut r.group_id),
            RequestKind::OffsetCommit(r) => {
                self.group(&mut r.group_id);
                r.topics.iter_mut().for_each(|t| self.topic(&mut t.name));
            }
            RequestKind::OffsetFetch(r) => {
                self.group(&mut r.group_id);
                r.topics.iter_mut().flatten().for_each(|t| self.topic(&mut t.name));
            }
            // ACLs are kept per logical cluster by the control plane, in the tenant's names.
            _ => {}
        }
    }

    /// Gives a response back in the tenant's names; listings drop other namespaces' entries.
    pub(crate) fn outbound(&self, response: &mut ResponseKind) {
        let ours = |name: &TopicName| self.listed(&name.0).is_some();
        match response {
            ResponseKind::Metadata(r) => {
                r.topics.retain(|t| t.name.as_ref().is_some_and(ours));
                r.topics.iter_mut().filter_map(|t| t.name.as_mut()).for_each(|n| self.strip_topic(n));
                if r.cluster_id.is_some() {
                    r.cluster_id = Some(StrBytes::from_string(self.cluster_id.clone()));
                }
            }
            ResponseKind::CreateTopics(r) => r.topics.iter_mut().for_each(|t| {
                self.strip_topic(&mut t.name);
                self.strip_message(&mut t.error_message);
            }),
            ResponseKind::DeleteTopics(r) => r.responses.iter_mut().for_each(|t| {
                t.name.iter_mut().for_each(|n| self.strip_topic(n));
                self.strip_message(&mut t.error_message);
            }),
            ResponseKind::Produce(r) => r.responses.iter_mut().for_each(|t| {
                self.strip_topic(&mut t.name);
                t.partition_responses.iter_mut().for_each(|p| self.strip_message(&mut p.error_message));
            }),
            ResponseKind::Fetch(r) => r.responses.iter_mut().for_each(|t| self.strip_topic(&mut t.topic)),
            ResponseKind::ListOffsets(r) => r.topics.iter_mut().for_each(|t| self.strip_topic(&mut t.name)),
            ResponseKind::FindCoordinator(r) => r.coordinators.iter_mut().for_each(|c| self.strip_key(&mut c.key)),
            ResponseKind::OffsetCommit(r) => r.topics.iter_mut().for_each(|t| self.strip_topic(&mut t.name)),
            ResponseKind::OffsetFetch(r) => {
                r.topics.retain(|t| ours(&t.name));
                r.topics.iter_mut().for_each(|t| self.strip_topic(&mut t.name));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
    use kafka_protocol::messages::{MetadataResponse, ProduceRequest};

    use super::*;
    use crate::control_plane::audit::AUDIT_TOPIC;
    use crate::security::sasl::{Customer, Role};

    fn tenant(cluster_id: &str, bugs: PlantedBugs) -> Tenant {
        let principal = Principal {
            api_key: "KEY".into(),
            role: Role::Client,
            customer: Some(Customer { name: "User:sa-1".into(), cluster_id: cluster_id.into(), super_user: true }),
        };
        Tenant::of(&principal, bugs).unwrap()
    }

    fn topic(name: &str) -> TopicName {
        TopicName(StrBytes::from_string(name.to_string()))
    }

    fn listing(tenant: &Tenant, names: &[&str]) -> Vec<String> {
        let topics = names.iter().map(|n| MetadataResponseTopic::default().with_name(Some(topic(n)))).collect();
        let mut response = ResponseKind::Metadata(MetadataResponse::default().with_topics(topics));
        tenant.outbound(&mut response);
        let ResponseKind::Metadata(response) = response else { unreachable!() };
        response.topics.into_iter().map(|t| t.name.unwrap().0.to_string()).collect()
    }

    #[test]
    fn names_collide_freely_and_listings_show_only_the_namespace() {
        let a = tenant("lkc-a", PlantedBugs::none());
        let mut request = RequestKind::Produce(ProduceRequest::default().with_topic_data(vec![
            kafka_protocol::messages::produce_request::TopicProduceData::default().with_name(topic("orders")),
        ]));
        a.inbound(&mut request);
        let RequestKind::Produce(request) = request else { unreachable!() };
        assert_eq!(request.topic_data[0].name.0.as_str(), "lkc-a_orders");
        let physical = ["lkc-a_orders", "lkc-b_orders", "lkc-b_payroll", "__consumer_offsets", AUDIT_TOPIC];
        assert_eq!(listing(&a, &physical), vec!["orders".to_string(), AUDIT_TOPIC.to_string()]);
        // A tenant naming another's internal name stays in its own namespace.
        assert_eq!(a.internal("lkc-b_payroll"), "lkc-a_lkc-b_payroll");
        assert_eq!(a.visible("lkc-b_payroll"), None);
    }

    #[test]
    fn the_planted_bug_lists_every_tenant() {
        let a = tenant("lkc-a", PlantedBugs::from_names(["metadata-lists-all-tenants"]).unwrap());
        assert!(listing(&a, &["lkc-a_orders", "lkc-b_payroll"]).contains(&"lkc-b_payroll".to_string()));
    }
}
