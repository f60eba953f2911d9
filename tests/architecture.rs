//! The shape docs/architecture.md promises, checked on the sources: verbs import no verbs,
//! nothing below the verbs imports them, the core modules form no import cycle, the
//! vocabulary imports nothing, the sandbox crate imports no trustkeep crate, no function
//! outside the sandbox and the sample generator is longer than about 100 lines, and every
//! path the architecture document names exists.
//!
//! `error.rs` is the one hub left out of the cycle check: the crate's `Error` wraps each
//! domain's error, and the domains return it.
//!
//! Imports are read from the text: `crate::<module>` and, inside `commands/`,
//! `super::<verb>`, outside comments and outside `#[cfg(test)] mod tests`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, relative to the repository.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its comment lines and its unit-test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module a file of `src/` belongs to: its top-level module, and for `commands/` the
/// verb (`commands/backup`).
fn module_of(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [top, verb, ..] if top == "commands" => format!("commands/{verb}"),
        [top, ..] => top.clone(),
        [] => unreachable!(),
    }
}

/// The names that follow `prefix` in `code` (`crate::` → `archive`, `store`, ...).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// Module → the crate modules it imports (for `commands/`, verbs as `commands/<verb>`).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let verbs: BTreeSet<String> = rust_files(&src.join("commands"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|v| v != "mod")
        .collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        let code = code(&file);
        let mut deps = BTreeSet::new();
        for m in names_after(&code, "crate::") {
            if m == "commands" {
                for v in names_after(&code, "crate::commands::") {
                    deps.insert(if verbs.contains(&v) {
                        format!("commands/{v}")
                    } else {
                        "commands".into()
                    });
                }
                deps.insert("commands".into());
            } else {
                deps.insert(m);
            }
        }
        if module.starts_with("commands/") {
            for v in names_after(&code, "super::") {
                if verbs.contains(&v) {
                    deps.insert(format!("commands/{v}"));
                }
            }
        }
        deps.remove(&module);
        g.entry(module).or_default().extend(deps);
    }
    g
}

#[test]
fn no_verb_imports_another_verb() {
    // The demo tells the whole story with the verbs: it is the one that may use them.
    let g = import_graph();
    let mut bad = Vec::new();
    for (m, deps) in g.iter().filter(|(m, _)| m.starts_with("commands/")) {
        if m == "commands/demo" || m == "commands/mod" {
            continue;
        }
        for d in deps.iter().filter(|d| d.starts_with("commands/")) {
            bad.push(format!("{m} imports {d}"));
        }
    }
    assert!(bad.is_empty(), "verbs importing verbs: {bad:?}");
    // The rule is checked on something: the verbs are there and import the core.
    assert!(g["commands/restore"].contains("restore"));
    assert!(g["commands/backup"].contains("catalogue"));
}

#[test]
fn nothing_below_the_verbs_imports_them() {
    let g = import_graph();
    let bad: Vec<String> = g
        .iter()
        .filter(|(m, _)| {
            !m.starts_with("commands") && !["cli", "lib", "main"].contains(&m.as_str())
        })
        .filter(|(_, deps)| deps.iter().any(|d| d.starts_with("commands")))
        .map(|(m, _)| m.clone())
        .collect();
    assert!(bad.is_empty(), "core modules importing commands: {bad:?}");
    assert!(
        g["cli"].contains("commands"),
        "the graph sees the CLI's imports"
    );
}

#[test]
fn the_core_has_no_import_cycle() {
    let g = import_graph();
    // `error` is the one hub: the crate's Error wraps each domain's error type (archive,
    // cluster, store) and the domains return it, so it is left out of the graph.
    let core: BTreeSet<&String> = g
        .keys()
        .filter(|m| {
            !m.starts_with("commands") && !["cli", "lib", "main", "error"].contains(&m.as_str())
        })
        .collect();
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for d in g.get(&m).into_iter().flatten() {
                if d == to {
                    return true;
                }
                if core.contains(d) && seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        false
    };
    let mut cycles = Vec::new();
    for m in &core {
        for d in g[*m].iter().filter(|d| core.contains(d)) {
            if reaches(d, m) {
                cycles.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(cycles.is_empty(), "edges on an import cycle: {cycles:?}");
    assert!(core.len() > 15, "the core modules were found: {core:?}");
}

#[test]
fn the_vocabulary_is_a_leaf() {
    let code = code(&root().join("src/gloo.rs"));
    let used = names_after(&code, "crate::");
    assert!(used.is_empty(), "src/gloo.rs imports {used:?}");
    assert!(
        code.contains("RELAY_SERVER"),
        "src/gloo.rs holds the vocabulary"
    );
}

#[test]
fn the_sandbox_crate_depends_on_no_trustkeep_crate() {
    let dir = root().join("crates/trustkeep-sandbox");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table");
    assert!(
        !deps
            .lines()
            .any(|l| l.trim_start().starts_with("trustkeep")),
        "the sandbox depends on a trustkeep crate:\n{deps}"
    );
    for f in rust_files(&dir.join("src")) {
        let c = code(&f);
        assert!(!c.contains("trustkeep::"), "{} uses trustkeep", f.display());
    }
}

/// `(length, file, function)` of every function in `dir`: from its `fn` line to the closing
/// brace at the same indentation.
fn function_lengths(dir: &Path) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            let after_vis = t
                .strip_prefix("pub(crate) ")
                .or_else(|| t.strip_prefix("pub(super) "))
                .or_else(|| t.strip_prefix("pub "))
                .unwrap_or(t);
            let after_async = after_vis.strip_prefix("async ").unwrap_or(after_vis);
            let Some(rest) = after_async.strip_prefix("fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = format!("{indent}}}");
            if let Some(end) = lines[i + 1..].iter().position(|x| *x == close) {
                out.push((end + 2, file.display().to_string(), name));
            }
        }
    }
    out
}

#[test]
fn no_function_outside_the_sandbox_and_the_sample_is_over_100_lines() {
    let src = root().join("src");
    let test_fn = |f: &str, name: &str| {
        // Unit tests are tables of cases; they are not what the rule is about.
        let text = std::fs::read_to_string(f).unwrap();
        let tests_at = text.find("#[cfg(test)]").unwrap_or(usize::MAX);
        text.find(&format!("fn {name}("))
            .is_some_and(|i| i > tests_at)
    };
    let long: Vec<_> = function_lengths(&src)
        .into_iter()
        .filter(|(n, f, name)| *n > 100 && !f.ends_with("src/sample.rs") && !test_fn(f, name))
        .collect();
    assert!(long.is_empty(), "functions over 100 lines: {long:?}");
    assert!(
        function_lengths(&src).len() > 500,
        "the functions were found"
    );
}

#[test]
fn every_path_the_architecture_document_names_exists() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut named = Vec::new();
    for span in doc.split('`').skip(1).step_by(2) {
        let prefixes = [
            "src/",
            "crates/",
            "tests/",
            "docs/",
            "packaging/",
            "fixtures/",
            "benches/",
            "examples/",
            "fuzz/",
        ];
        if prefixes.iter().any(|p| span.starts_with(p)) && !span.contains(' ') {
            named.push(span.trim_end_matches(['.', ',', ':']).to_string());
        }
    }
    let missing: Vec<&String> = named
        .iter()
        .filter(|p| !root().join(p.split('<').next().unwrap()).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names paths that do not exist: {missing:?}"
    );
    assert!(
        named.len() > 30,
        "the document names the modules: {named:?}"
    );
}
