//! The code layout docs/architecture.md describes, checked: `shared/app`'s top-level
//! modules depend on each other without cycles, every 409 code is written only where
//! `ConflictCode` defines it, and no production source file under `shared/` outgrows
//! 900 lines (tests live beside it, in `<module>/tests.rs` or `tests/`).

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::error::ConflictCode;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 900;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A source file without its unit tests and comments: the code that ships.
fn production(path: &Path) -> Option<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let code = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    Some(
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[test]
fn no_production_source_file_under_shared_is_over_900_lines() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("shared")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found {} files", files.len());
    let long: Vec<_> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text
                .find("#[cfg(test)]\nmod tests {")
                .map_or(&text[..], |at| &text[..at]);
            let lines = code.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

/// The top-level module of `shared/app/src` a file belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

#[test]
fn the_modules_of_shared_app_depend_on_each_other_without_cycles() {
    let src = root().join("shared/app/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| m != "lib")
        .collect();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let Some(code) = production(file) else {
            continue;
        };
        let mut add = |to: &str| {
            if to != from && modules.contains(to) {
                uses.entry(from.clone()).or_default().insert(to.to_string());
            }
        };
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::X, b::{Y, Z}}`: the first segment of each path.
                let group = &group[..group.find("};").unwrap_or(group.len())];
                for path in group.split(',') {
                    let path = path.trim().trim_start_matches('{');
                    if let Some(end) = path.find("::") {
                        add(&path[..end]);
                    }
                }
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(rest.len());
                add(&rest[..end]);
            }
        }
    }
    assert!(uses.len() > 5, "{uses:?}");
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit(
        m: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in uses.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, uses, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        let cycle = visit(m, &uses, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "a module cycle: {cycle:?}");
    }
}

#[test]
fn every_409_code_is_written_only_where_conflict_code_defines_it() {
    let mut files = Vec::new();
    for dir in ["shared/app/src", "shared/api/src", "shared/aws/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        if file.ends_with("shared/app/src/error.rs") {
            continue;
        }
        let Some(code) = production(file) else {
            continue;
        };
        for c in ConflictCode::ALL {
            let literal = format!("\"{}\"", c.as_str());
            for line in code.lines().filter(|l| l.contains(&literal)) {
                // The OpenAPI attributes describe a response by its code.
                if !line.contains("description =") {
                    found.push(format!("{}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "409 codes written as strings: {found:#?}");
}

#[test]
fn shared_app_renders_through_its_port_and_never_names_the_pdf_crate() {
    let manifest = std::fs::read_to_string(root().join("shared/app/Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("billrun-documents"),
        "shared/app depends on billrun-documents"
    );
    let mut files = Vec::new();
    rust_files(&root().join("shared/app/src"), &mut files);
    for file in &files {
        let code = std::fs::read_to_string(file).unwrap();
        assert!(
            !code.contains("billrun_documents"),
            "{} names billrun_documents",
            file.display()
        );
    }
}

#[test]
fn each_function_chooses_its_adapters_and_no_library_chooses_them_by_feature() {
    let lib = std::fs::read_to_string(root().join("shared/aws/src/lib.rs")).unwrap();
    let start = lib.find("pub fn app(").expect("billrun_aws::app");
    let body = &lib[start..];
    let body = &body[..body.find("\n}\n").expect("the end of app")];
    assert!(
        !body.contains("cfg("),
        "billrun_aws::app picks an adapter by feature:\n{body}"
    );
    let mut functions = 0;
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let main = dir.join("src/main.rs");
        if !main.exists() {
            continue;
        }
        functions += 1;
        let name = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("pub fn adapters("),
            "{name} does not choose its adapters in lib.rs"
        );
        let main = std::fs::read_to_string(main).unwrap();
        assert!(
            main.contains(&format!("Runtime::from_env({name}::adapters)")),
            "{name}'s main does not build its runtime with its adapters"
        );
    }
    assert_eq!(functions, 8, "the eight Lambda functions");
}
