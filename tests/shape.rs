//! The shape of the code, kept: no module of the CLI imports one that imports it back, no
//! source file over 800 lines, no function over 120 lines outside tests, and
//! `usecase/mod.rs` only declares (docs/ARCHITECTURE.md, "Layers").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Source files of the product: not tests, not fuzz targets, not the build output.
fn product_sources() -> Vec<PathBuf> {
    ["src", "crates", "functions"]
        .iter()
        .flat_map(|d| rust_files(&root().join(d)))
        .filter(|p| {
            let s = p.to_string_lossy();
            !s.contains("/tests/") && !s.ends_with("/tests.rs") && !s.contains("/target/")
        })
        .collect()
}

/// A line with string and char literals blanked, so that braces inside them do not count.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '\'') => {
                // A char literal ('{', '\n'), or a lifetime ('a): skip the literal only.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, c) => out.push(c),
        }
    }
    out
}

/// (name, first line, length in lines) of every function outside `#[cfg(test)]` modules.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<String> = text.lines().map(code_of).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start();
        if l.starts_with("#[cfg(test)]") {
            break;
        }
        let is_fn = l.split_whitespace().take_while(|w| *w != "fn").all(|w| {
            [
                "pub",
                "pub(crate)",
                "pub(super)",
                "async",
                "const",
                "unsafe",
            ]
            .contains(&w)
        }) && l.split_whitespace().any(|w| w == "fn");
        if !is_fn {
            i += 1;
            continue;
        }
        let name = l
            .split("fn ")
            .nth(1)
            .unwrap_or_default()
            .split(['(', '<'])
            .next()
            .unwrap_or_default()
            .to_string();
        let (mut depth, mut opened, mut j) = (0i64, false, i);
        while j < lines.len() {
            for c in lines[j].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && lines[j].trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        out.push((name, i + 1, j - i + 1));
        i = j + 1;
    }
    out
}

#[test]
fn no_source_file_is_over_800_lines_and_no_function_over_120() {
    let mut problems = Vec::new();
    for p in product_sources() {
        let text = std::fs::read_to_string(&p).unwrap();
        let rel = p.strip_prefix(root()).unwrap().display().to_string();
        let lines = text.lines().count();
        if lines > 800 {
            problems.push(format!("{rel}: {lines} lines"));
        }
        for (name, at, len) in functions(&text) {
            if len > 120 {
                problems.push(format!("{rel}:{at}: fn {name} is {len} lines"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_function_measure_counts_braces_not_strings() {
    let text = "fn a() {\n    let s = \"{{{\";\n    let c = '{';\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 1, 4), ("b".to_string(), 5, 3)]
    );
}

#[test]
fn the_cli_modules_import_no_circle() {
    // Top-level modules of src/ (a directory module counts as one) and the `crate::` modules
    // each one names.
    let src = root().join("src");
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in rust_files(&src) {
        let rel = p.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let entry = deps.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != module && !name.is_empty() {
                entry.insert(name);
            }
        }
        for (i, _) in text.match_indices("use crate::{") {
            let list = &text[i + 12..];
            let list = &list[..list.find('}').unwrap_or(0)];
            for item in list.split(',') {
                let name = item
                    .trim()
                    .split("::")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if name != module && !name.is_empty() {
                    entry.insert(name);
                }
            }
        }
    }
    let modules: BTreeSet<String> = deps.keys().cloned().collect();
    // A module reaches itself through its imports: that is a circle.
    for start in &modules {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = deps[start]
            .iter()
            .filter(|d| modules.contains(*d))
            .collect();
        while let Some(m) = todo.pop() {
            assert_ne!(
                m, start,
                "src/{start} imports a module that imports it back"
            );
            if seen.insert(m.clone()) {
                todo.extend(deps[m].iter().filter(|d| modules.contains(*d)));
            }
        }
    }
    assert!(modules.contains("simulation") && modules.contains("scenario"));
}

#[test]
fn the_use_case_module_only_declares() {
    let text = std::fs::read_to_string(root().join("crates/core/src/usecase/mod.rs")).unwrap();
    let logic: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !(l.is_empty()
                || l.starts_with("//")
                || l.starts_with("pub mod ")
                || l.starts_with("mod ")
                || l.starts_with("pub use ")
                || l.starts_with("use "))
        })
        .collect();
    assert!(logic.is_empty(), "{logic:#?}");
}
