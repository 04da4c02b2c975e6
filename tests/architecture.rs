//! The house rules of `ARCHITECTURE.md`, checked from the source text: the modules' imports form
//! no cycle (contracts → shared machinery → domain core), and the pure state machines (the
//! domain core and each contract's `domain`), with everything they reach, use no runtime,
//! clock, randomness, file, network or I/O module of the box.
//!
//! A module is one file. An import is any `crate::…` or `super::…` path outside comments and
//! unit tests (in `use` lines and in code), resolved to the deepest file it names. A module's
//! own submodules are part of it: a `mod.rs` that uses what its children define adds no edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates a pure state machine may not use: the async runtime, the web stack, the database,
/// randomness.
const IO_CRATES: [&str; 8] = [
    "tokio",
    "axum",
    "hyper",
    "socketioxide",
    "redb",
    "rand",
    "getrandom",
    "rppal",
];
/// Parts of std it may not use: files, the network, the environment, threads, processes.
const IO_STD: [&str; 5] = ["fs", "net", "env", "thread", "process"];
/// Clocks it may not read: time is an argument.
const CLOCKS: [&str; 2] = ["SystemTime", "Instant"];
/// The box's own modules that do I/O.
const IO_MODULES: [&str; 9] = [
    "engine",
    "wire",
    "store",
    "hardware",
    "server",
    "connections",
    "tls",
    "systemd",
    "auth",
];

/// What in `code` a pure state machine may not use, if anything.
fn io_named_in(code: &str) -> Option<String> {
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| !w.is_empty())
        .collect();
    for word in &words {
        let mut parts = word.split("::").filter(|p| !p.is_empty());
        let first = parts.next().unwrap_or_default();
        if IO_CRATES.contains(&first) && word.contains("::") {
            return Some(word.to_string());
        }
        if CLOCKS
            .iter()
            .any(|clock| word.split("::").any(|p| p == *clock))
        {
            return Some(word.to_string());
        }
        if first == "std" && parts.next().is_some_and(|m| IO_STD.contains(&m)) {
            return Some(word.to_string());
        }
    }
    // `use std::{fs, net}`: the names inside a group after `std::`.
    let mut from = 0;
    while let Some(at) = code[from..].find("std::{") {
        let open = from + at + "std::{".len();
        let close = code[open..].find('}').map_or(code.len(), |c| open + c);
        for name in code[open..close].split(',') {
            let name = name.trim().split("::").next().unwrap_or_default().trim();
            if IO_STD.contains(&name) {
                return Some(format!("std::{name}"));
            }
        }
        from = close;
    }
    None
}

/// Module path (`gm::domain::scans`) → its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                parts = vec![];
            }
            // Test modules in files of their own are test code, like `#[cfg(test)]` blocks.
            if parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// The code of a file without its comments (line comments, doc comments) and without its
/// unit tests (a `#[cfg(test)]` module, at the end of the file by this project's habit).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path a file's code names, absolute (`crate::` resolved, `super::` resolved
/// against the file's own module).
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            if at > 0 && (is_ident(bytes[at - 1]) || bytes[at - 1] == b':') {
                continue;
            }
            // Read `a::b::c` (and `super::super::…`) after the start.
            let mut end = at;
            while end < bytes.len() && (is_ident(bytes[end]) || bytes[end] == b':') {
                end += 1;
            }
            let mut segments: Vec<&str> = code[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            let mut base: Vec<&str> = if segments.first() == Some(&"crate") {
                segments.remove(0);
                Vec::new()
            } else {
                let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    base.pop();
                }
                base
            };
            // `use crate::{gm, predictions}`: each name in the group.
            if end < bytes.len() && bytes[end] == b'{' {
                let close = code[end..].find('}').map_or(code.len(), |c| end + c);
                for name in code[end + 1..close].split(',') {
                    let name = name.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() && name != "self" {
                        let mut path = base.clone();
                        path.extend(segments.iter().copied());
                        path.push(name);
                        paths.push(path.join("::"));
                    }
                }
            }
            base.extend(segments);
            paths.push(base.join("::"));
        }
    }
    paths
}

/// The deepest module a path names (`gm::domain::GmState` → `gm::domain`).
fn module_of(path: &str, modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        let candidate = parts.join("::");
        if modules.contains_key(&candidate) {
            return Some(candidate);
        }
        parts.pop();
    }
    None
}

fn is_within(module: &str, ancestor: &str) -> bool {
    ancestor.is_empty() || module == ancestor || module.starts_with(&format!("{ancestor}::"))
}

fn import_graph() -> (
    BTreeMap<String, BTreeSet<String>>,
    BTreeMap<String, PathBuf>,
) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &modules {
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        for named in named_paths(module, &code) {
            let Some(target) = module_of(&named, &modules) else {
                continue;
            };
            // Its own submodules are part of a module.
            if !is_within(&target, module) {
                edges.insert(target);
            }
        }
    }
    (graph, modules)
}

/// A cycle through `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn module_imports_form_no_cycle() {
    let (graph, _) = import_graph();
    assert!(
        graph.len() > 40,
        "the source tree was read ({} modules)",
        graph.len()
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module imports run in a circle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_state_machines_import_no_io() {
    let (graph, modules) = import_graph();
    let pure: Vec<&String> = modules
        .keys()
        .filter(|m| m.starts_with("domain") || m.split("::").nth(1) == Some("domain"))
        .collect();
    assert!(pure.len() >= 5, "found the domains: {pure:?}");
    for module in pure {
        // Everything it reaches, through any number of imports, is held to the same rule.
        let mut reached = BTreeSet::from([module.clone()]);
        let mut todo = vec![module.clone()];
        while let Some(next) = todo.pop() {
            for used in &graph[&next] {
                if reached.insert(used.clone()) {
                    todo.push(used.clone());
                }
            }
        }
        for used in &reached {
            let top = used.split("::").next().unwrap_or_default();
            assert!(
                !IO_MODULES.contains(&top),
                "{module} reaches {used}: a state machine does no I/O"
            );
            let code = code_of(&std::fs::read_to_string(&modules[used]).unwrap());
            if let Some(io) = io_named_in(&code) {
                panic!("{module} (through {used}) uses {io}: a state machine does no I/O");
            }
        }
    }
}

/// The box's shared machinery: it serves every contract and names none.
const SHARED: [&str; 9] = [
    "engine",
    "hub",
    "store",
    "wire",
    "hardware",
    "connections",
    "tls",
    "systemd",
    "auth",
];

/// Where shared code may name a contract, and why.
const MAY_NAME_CONTRACTS: [&str; 1] = [
    // Version 1 records predate contract tags: converting them needs both contracts' events.
    "store::v1",
];

#[test]
fn shared_machinery_names_no_contract() {
    let (graph, modules) = import_graph();
    // A contract is a folder that `contracts.rs` plugs in, with routes of its own.
    let contracts: Vec<&String> = graph["contracts"]
        .iter()
        .filter(|m| modules.contains_key(&format!("{m}::routes")))
        .collect();
    assert!(contracts.len() >= 2, "found the contracts: {contracts:?}");
    for (module, used) in &graph {
        let top = module.split("::").next().unwrap_or_default();
        if !SHARED.contains(&top) || MAY_NAME_CONTRACTS.contains(&module.as_str()) {
            continue;
        }
        for contract in &contracts {
            assert!(
                !used.iter().any(|u| is_within(u, contract)),
                "{module} uses the {contract} contract: shared machinery knows no contract \
                 (ARCHITECTURE.md, \"How a contract plugs in\")"
            );
        }
    }
}

#[test]
fn io_is_recognised_however_it_is_written() {
    assert_eq!(
        io_named_in("use std::{collections::BTreeMap, fs};").as_deref(),
        Some("std::fs")
    );
    assert!(io_named_in("let now = std::time::SystemTime::now();").is_some());
    assert!(io_named_in("use tokio::time::Instant;").is_some());
    assert!(io_named_in("let x: u8 = rand::random();").is_some());
    assert!(io_named_in("std::env::var(\"X\")").is_some());
    assert_eq!(
        io_named_in("use std::collections::{BTreeMap, HashMap};"),
        None
    );
    assert_eq!(io_named_in("use serde::{Deserialize, Serialize};"), None);
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    let cycle = find_cycle(&graph).expect("a → b → c → a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    let modules: BTreeMap<String, PathBuf> = ["gm", "gm::domain", "wire"]
        .into_iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    let named = named_paths(
        "gm::domain::scans",
        "use super::{GmState};\nuse crate::{wire, gm::routes};\nlet x = crate::wire::run;",
    );
    let targets: BTreeSet<String> = named
        .iter()
        .filter_map(|p| module_of(p, &modules))
        .collect();
    assert_eq!(
        targets,
        ["gm", "gm::domain", "wire"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

/// The modules that read the wall clock, and the absolute time each reads it for. Everything
/// else that waits or measures (timeouts, rate limits, heartbeats, grace periods, the reset
/// button) runs on the monotonic clock, so a wall clock set back to 1970 after a power cut, or
/// jumping forward when staff set it, changes none of it.
const WALL_CLOCK_READERS: [(&str, &str); 12] = [
    (
        "clock",
        "the wall clock itself, and the token clock's anchor at start (it runs on Instant)",
    ),
    (
        "engine",
        "the time stamped on each command, which the log keeps",
    ),
    (
        "wire::clock",
        "the box's time, compared with staff's device to confirm or set it",
    ),
    ("wire::time", "the timestamps the contracts put on the wire"),
    (
        "wire::channels",
        "the envelope's timestamp; the stream epoch's fallback seed",
    ),
    ("gm::routes", "serverTime in GET /api/state"),
    ("gm::socketio", "serverTime in the heartbeat's answer"),
    ("gm::tv", "a video's time left, from its wall-clock start"),
    (
        "predictions::routes",
        "closesAt from closesInSecs; serverTime; a notice's time",
    ),
    (
        "predictions::deadlines",
        "closesAt, an absolute time set by staff",
    ),
    (
        "sports::routes",
        "an announcement's expiry, an absolute time",
    ),
    (
        "sports::stream",
        "an announcement's expiry; the pong's timestamp",
    ),
];

#[test]
fn only_the_listed_modules_read_the_wall_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut readers = BTreeSet::new();
    for (module, path) in modules(&src) {
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        if ["SystemTime::now", "wall_clock_ms(", "iso_now("]
            .iter()
            .any(|read| code.contains(read))
        {
            readers.insert(module);
        }
    }
    let listed: BTreeSet<String> = WALL_CLOCK_READERS
        .iter()
        .map(|(module, _)| module.to_string())
        .collect();
    let unlisted: Vec<&String> = readers.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "{unlisted:?} read the wall clock: durations belong on the monotonic clock \
         (std::time::Instant, tokio::time); an absolute time a contract carries is listed in \
         WALL_CLOCK_READERS with what it is for"
    );
    let stale: Vec<&String> = listed.difference(&readers).collect();
    assert!(
        stale.is_empty(),
        "{stale:?} no longer read the wall clock: drop them from the list"
    );
}
