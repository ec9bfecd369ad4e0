//! Audit events (C18): one CloudEvents-style record per control-plane mutation and per
//! authentication or authorization decision of interest. Events are numbered in the order the
//! control plane decided them; brokers copy them, in that order, into the audit topic.

use serde::{Deserialize, Serialize};

use crate::security::acl::AclBinding;

/// The audit topic: readable by ordinary consumers, never written, altered or deleted by one.
pub const AUDIT_TOPIC: &str = "confluent-audit-log-events";

/// The subject of an ACL's events: the whole binding, so two principals' bindings on one
/// resource are told apart.
pub fn acl_subject(cluster_id: &str, binding: &AclBinding) -> String {
    format!(
        "{cluster_id}/acl/{:?}:{}/{:?}/{}/{:?}/{:?}",
        binding.resource_type,
        binding.resource_name,
        binding.pattern_type,
        binding.principal,
        binding.operation,
        binding.permission
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    Success,
    /// Authentication failed (a wrong password, key or assertion).
    Failure,
    /// Authenticated, but not allowed.
    Denied,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub specversion: String,
    /// Unique across the service: the source and its sequence number.
    pub id: String,
    /// `crn://faultline/control-plane` or `crn://faultline/broker=<id>`.
    pub source: String,
    /// The resource acted on (an id, or the path of a refused request).
    pub subject: String,
    /// For example `io.faultline.iam.api-key.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339, from the deciding machine's clock.
    pub time: String,
    /// Who asked (`User:u-…`, `User:sa-…`, or what they claimed to be).
    pub principal: String,
    pub result: AuditResult,
    /// Position in the source's own sequence (gapless from 1).
    pub sequence: u64,
}

pub const CONTROL_PLANE_SOURCE: &str = "crn://faultline/control-plane";

/// A decision a broker made (a refused SASL key, a denied request), reported to the control
/// plane, which gives it its place in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub subject: String,
    /// Without the `io.faultline.` prefix, e.g. `kafka.authorization.denied`.
    pub kind: String,
    pub principal: String,
    pub result: AuditResult,
    pub time_ms: u64,
    /// The client's address (for the security log's detection; not an audit field).
    #[serde(default)]
    pub network: String,
}

/// A broker process's batch of decisions: `batch` numbers batches from 1 within `source`, so
/// a batch retried after a lost answer is recorded once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBatch {
    /// `crn://faultline/broker=<id>/process=<incarnation>`.
    pub source: String,
    pub batch: u64,
    pub decisions: Vec<Decision>,
}

/// RFC 3339 with milliseconds for a Unix time in milliseconds.
pub fn rfc3339(unix_ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms)).to_string()
}
