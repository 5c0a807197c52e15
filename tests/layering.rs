//! The module graph shows the architecture: inside each crate of the workspace, no top-level
//! module imports one that imports it back (Cargo already forbids loops between crates). The
//! one exception is a grammar's own recursion: OData's `$expand` options hold expressions and
//! expressions hold `$expand`-like options (`options` ↔ `expr`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Loops that are a grammar's recursion, not a layering mistake.
const GRAMMAR_RECURSION: &[(&str, &str, &str)] = &[("portcullis-odata", "options", "expr")];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lower-case identifiers following each `prefix` in `text`.
fn names_after<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Which top-level modules each top-level module of the crate at `src` refers to.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(src) {
        let relative = file.strip_prefix(src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).unwrap());
        let mut used: Vec<&str> = names_after(&text, "crate::");
        // In a top-level file, `super::` is the crate root.
        if relative.components().count() == 1 {
            used.extend(names_after(&text, "super::"));
        }
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(used.into_iter().filter(|m| *m != top).map(String::from));
    }
    graph
}

fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(module) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut crates = vec![("portcullis".to_string(), root.join("src"))];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        crates.push((name, path.join("src")));
    }
    let mut loops = Vec::new();
    for (name, src) in &crates {
        let graph = module_graph(src);
        assert!(graph.len() > 3, "{name}: no modules found under {src:?}");
        for (module, uses) in &graph {
            for used in uses {
                let allowed = GRAMMAR_RECURSION.iter().any(|&(c, a, b)| {
                    c == name && ((a, b) == (module, used) || (b, a) == (module, used))
                });
                if graph.contains_key(used) && !allowed && reaches(&graph, used, module) {
                    loops.push(format!("{name}: {module} → {used} → … → {module}"));
                }
            }
        }
    }
    assert!(
        loops.is_empty(),
        "module import loops:\n{}",
        loops.join("\n")
    );
}
