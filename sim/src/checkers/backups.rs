//! Backups (C21): after the control plane's zone is lost and it is restored from the backup
//! in another zone, nothing it held when the zone was lost may be missing (every resource is
//! still there or was deleted later by an audited change, and its audit log continues the old
//! one); and no backup holds a customer record (the run's record canary).

use broker::control_plane::state::Records;

/// Backup files that contain the canary: (file, what).
pub fn canaries_in_backups(files: &[(String, Vec<u8>)], canary: &[u8]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, bytes)| memchr::memmem::find(bytes, canary).is_some())
        .map(|(file, _)| format!("backup {file} holds customer record data (the run's canary)"))
        .collect()
}

/// What a restore lost, comparing the state at the loss with the state at the end.
pub fn restore_losses(at_loss: &Records, at_end: &Records) -> Vec<String> {
    let mut losses = Vec::new();
    let prefix = at_loss.audit.len();
    if at_end.audit.get(..prefix) != Some(&at_loss.audit[..]) {
        losses.push(format!(
            "the audit log after the restore does not continue the {prefix} events held before the loss"
        ));
    }
    let deleted_later = |id: &str| {
        at_end.audit[prefix.min(at_end.audit.len())..].iter().any(|e| e.subject == id && e.kind.ends_with(".deleted"))
    };
    let mut missing = |kind: &str, ids: Vec<&String>, present: &dyn Fn(&str) -> bool| {
        for id in ids {
            if !present(id) && !deleted_later(id) {
                losses.push(format!(
                    "{kind} {id} existed before the control plane's zone was lost and is missing after the restore"
                ));
            }
        }
    };
    missing("environment", at_loss.environments.keys().collect(), &|id| at_end.environments.contains_key(id));
    missing("cluster", at_loss.clusters.keys().collect(), &|id| at_end.clusters.contains_key(id));
    missing("user", at_loss.users.keys().collect(), &|id| at_end.users.contains_key(id));
    missing("service account", at_loss.service_accounts.keys().collect(), &|id| {
        at_end.service_accounts.contains_key(id)
    });
    missing("API key", at_loss.api_keys.keys().collect(), &|id| at_end.api_keys.contains_key(id));
    missing("network", at_loss.networks.keys().collect(), &|id| at_end.networks.contains_key(id));
    missing("peering", at_loss.peerings.keys().collect(), &|id| at_end.peerings.contains_key(id));
    missing("transit gateway attachment", at_loss.transit_gateway_attachments.keys().collect(), &|id| {
        at_end.transit_gateway_attachments.contains_key(id)
    });
    missing("PrivateLink access", at_loss.private_link_accesses.keys().collect(), &|id| {
        at_end.private_link_accesses.contains_key(id)
    });
    // A registry goes with its environment.
    missing("schema registry", at_loss.schema_registries.keys().collect(), &|id| {
        at_end.schema_registries.contains_key(id)
            || !at_end.environments.contains_key(&at_loss.schema_registries[id].environment_id)
    });
    for (cluster, bindings) in &at_loss.acls {
        for binding in bindings {
            let kept = at_end.acls.get(cluster).is_some_and(|b| b.contains(binding));
            let subject = broker::control_plane::audit::acl_subject(cluster, binding);
            if !kept && !deleted_later(&subject) {
                losses.push(format!("an ACL on {subject} existed before the loss and is missing after the restore"));
            }
        }
    }
    losses
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker::control_plane::identity::ServiceAccount;

    fn with_account(id: &str) -> Records {
        let mut records = Records::default();
        records.service_accounts.insert(
            id.into(),
            ServiceAccount { id: id.into(), display_name: id.into(), description: String::new(), created_at_ms: 0 },
        );
        records
    }

    #[test]
    fn a_restore_that_loses_an_account_or_the_audit_prefix_is_caught() {
        let before = with_account("sa-1");
        assert!(restore_losses(&before, &before).is_empty());
        let lost = Records::default();
        assert_eq!(restore_losses(&before, &lost).len(), 1);
        assert!(canaries_in_backups(&[("b".into(), b"xxCANARYxx".to_vec())], b"CANARY").len() == 1);
        assert!(canaries_in_backups(&[("b".into(), b"clean".to_vec())], b"CANARY").is_empty());
    }
}
