//! The broker's layering, checked: every `crate::` or `super::` import must point to a lower
//! layer (or a sibling file of the same folder at the same layer; a file's own submodules count
//! as the file). A new module must be given
//! a layer here; an upward import fails with the file and the path that broke the rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. State machines first (no I/O), then message types and transport, then the
/// async services around the state machines, the shared node state, the protocol handlers that
/// use it, and the runtime that runs them all.
const LAYERS: &[(&str, &[&str])] = &[
    ("where secrets come from", &["entropy"]),
    (
        "state machines: leaves",
        &[
            "planted_bugs",
            "clock",
            "security/secrets",
            "controller/raft",
            "encryption",
            "net/api",
            "log_store",
            "operators",
            "operators/totp",
            "detection",
        ],
    ),
    ("state machines: keys", &["kms", "kms/keys"]),
    ("state machines: credentials and ACLs", &["security/sasl", "security/acl"]),
    (
        "state machines: control plane",
        &[
            "control_plane",
            "control_plane/model",
            "control_plane/network",
            "control_plane/identity",
            "control_plane/audit",
            "control_plane/snapshot",
            "control_plane/state",
            "control_plane/api",
        ],
    ),
    ("state machines: data-plane access", &["control_plane/access", "control_plane/quotas"]),
    ("state machines: metadata", &["controller/metadata", "controller"]),
    ("state machines: storage", &["log"]),
    ("state machines: security log chain", &["log_store/chain"]),
    ("state machines: detection rules and incidents", &["detection/rules", "incidents", "incidents/calendar"]),
    ("state machines: replica and groups", &["replication/replica", "group"]),
    ("messages and transport", &["messages", "net", "security/tls", "security"]),
    ("client", &["client", "net/https_client"]),
    ("services: security log", &["log_store/shipper", "log_store/server"]),
    ("services: detection and the incident desk", &["detection/pipeline", "incidents/desk"]),
    ("services: key service", &["kms/client", "kms/server", "kms/keyring"]),
    ("services: control plane", &["control_plane/backup", "control_plane/server", "control_plane/link"]),
    ("services: network", &["network"]),
    ("services: operator access", &["operators/directory", "operators/bastion"]),
    (
        "services: controller quorum and replication",
        &["quorum", "replication/acks", "replication/fetcher", "replication/partition", "replication", "group/service"],
    ),
    ("shared node state", &["node"]),
    ("protocol handlers", &["protocol"]),
    ("runtime", &["runtime"]),
    ("entry points", &["dev", "bench", "fuzzing"]),
];

/// The layer of a module path such as `replication/acks` or `log/batch`: its longest listed prefix.
fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(rank, (_, prefixes))| prefixes.iter().map(move |prefix| (rank, *prefix)))
        .filter(|(_, prefix)| module == *prefix || module.starts_with(&format!("{prefix}/")))
        .max_by_key(|(_, prefix)| prefix.len())
        .map(|(rank, _)| rank)
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `log/batch.rs` -> ["log", "batch"]; `log/mod.rs` -> ["log"].
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The module an import path names, as far as it resolves to files under `src`.
fn resolve(src: &Path, mut segments: Vec<String>) -> String {
    let mut module = Vec::new();
    for segment in segments.drain(..) {
        let mut candidate = module.clone();
        candidate.push(segment);
        let as_file = src.join(candidate.join("/")).with_extension("rs");
        let as_folder = src.join(candidate.join("/")).join("mod.rs");
        if as_file.exists() || as_folder.exists() {
            module = candidate;
        } else {
            break;
        }
    }
    module.join("/")
}

/// Every module path a file imports through `crate::` or `super::`, outside its tests.
fn imports(src: &Path, file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    // Comments name modules without importing them.
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let here = module_of(file.strip_prefix(src).unwrap());
    let mut found = Vec::new();
    let path_pattern = |start: usize| -> Vec<String> {
        code[start..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap()
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    for (index, _) in code.match_indices("crate::") {
        if code[..index].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        found.push(resolve(src, path_pattern(index + "crate::".len())));
    }
    for (index, _) in code.match_indices("super::") {
        if code[..index].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // `super` is one module up: for `a/b.rs` (module a::b) and for `a/mod.rs` (module a) alike.
        let mut segments = here.clone();
        segments.pop();
        segments.extend(path_pattern(index + "super::".len()));
        found.push(resolve(src, segments));
    }
    found.retain(|module| !module.is_empty());
    found
}

#[test]
fn broker_modules_import_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut unassigned = Vec::new();
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_of(relative).join("/");
        // Unit tests in their own file (`state/tests.rs`) test their parent from outside the layering.
        if module == "lib" || module == "main" || module.ends_with("/tests") {
            continue;
        }
        let Some(rank) = layer_of(&module) else {
            unassigned.push(module);
            continue;
        };
        for target in imports(&src, file) {
            let Some(target_rank) = layer_of(&target) else {
                unassigned.push(target);
                continue;
            };
            *checked.entry(module.clone()).or_default() += 1;
            let sibling = Path::new(&target).parent() == Path::new(&module).parent();
            let folder_child = target.starts_with(&format!("{module}/"));
            // A file's own submodules (`state/networks.rs` of `state.rs`) are part of it: they
            // may import it and what it may import at its layer.
            let parent = Path::new(&module).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let part_of_parent = layer_of(&parent) == Some(rank)
                && (target == parent || Path::new(&target).parent() == Path::new(&parent).parent());
            if target_rank > rank
                || (target_rank == rank && !sibling && !folder_child && !part_of_parent && target != module)
            {
                violations.push(format!("{module} ({}) imports {target} ({})", LAYERS[rank].0, LAYERS[target_rank].0));
            }
        }
    }
    unassigned.sort();
    unassigned.dedup();
    assert!(unassigned.is_empty(), "modules without a layer (add them to LAYERS): {unassigned:?}");
    assert!(violations.is_empty(), "upward or sideways imports:\n{}", violations.join("\n"));
    assert!(checked.len() > 20, "the check saw too few importing modules to mean anything: {checked:?}");
}

#[test]
fn the_layer_check_catches_an_upward_import() {
    // The resolver and ranking on a known-bad pair: a state machine naming the node.
    assert!(layer_of("controller/raft") < layer_of("node"));
    assert!(layer_of("replication/replica") < layer_of("replication/fetcher"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert_eq!(resolve(&src, vec!["node".into(), "Node".into()]), "node");
    assert_eq!(resolve(&src, vec!["replication".into(), "acks".into(), "AppendError".into()]), "replication/acks");
}
