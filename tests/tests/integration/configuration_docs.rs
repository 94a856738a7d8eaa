//! `docs/configuration.md` lists every environment variable Gatehouse reads, and only
//! those. The code side is every `"GATEHOUSE_…"` string literal in the shipped crates'
//! sources (test modules excluded); the doc side is every table row whose first cell is a
//! `GATEHOUSE_…` name. A variable added without a row, or a row left behind by a removed
//! variable, fails with the exact fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates that ship in the `gatehouse` binary.
const SHIPPED_SOURCES: &[&str] = &[
    "config-model/src",
    "control-plane/src",
    "data-plane/src",
    "gatehouse/src",
    "migrations/src",
    "tls/src",
];

/// Build scripts of those crates: the variables they read are read by `cargo build`.
const BUILD_SCRIPTS: &[&str] = &["control-plane/build.rs", "proto/build.rs"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `"GATEHOUSE_…"` literal of `source` before its test module, with its line number.
fn literals(source: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            break;
        }
        let mut rest = line;
        while let Some(at) = rest.find("\"GATEHOUSE_") {
            let name: String = rest[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + 1 + name.len()..];
            // Only a whole literal is a name; `"GATEHOUSE_X must be …"` is a message about one.
            if rest.starts_with('"') && !name.ends_with('_') {
                found.push((name, n + 1));
            }
        }
    }
    found
}

/// Name → first place the code reads it.
fn read_by_code(root: &Path) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    for dir in SHIPPED_SOURCES {
        rust_files(&root.join(dir), &mut files);
    }
    files.extend(BUILD_SCRIPTS.iter().map(|script| root.join(script)).filter(|path| path.exists()));
    files.sort();
    let mut names = BTreeMap::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("a source file");
        for (name, line) in literals(&source) {
            let place = format!("{}:{line}", file.strip_prefix(root).unwrap_or(&file).display());
            names.entry(name).or_insert(place);
        }
    }
    names
}

/// The names of the doc's table rows.
fn documented(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|line| line.strip_prefix("| `GATEHOUSE_"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| format!("GATEHOUSE_{name}"))
        .collect()
}

#[test]
fn every_environment_variable_the_code_reads_is_documented_and_every_documented_one_is_read() {
    let root = workspace();
    let code = read_by_code(&root);
    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).expect("docs/configuration.md");
    let doc = documented(&doc);
    assert!(code.len() > 40 && doc.len() > 40, "the scan found the variables: {code:?} / {doc:?}");

    let missing: Vec<String> = code
        .iter()
        .filter(|(name, _)| !doc.contains(*name))
        .map(|(name, place)| format!("  | `{name}` | <default> | <what it does> |   (read at {place})"))
        .collect();
    let stale: Vec<&String> = doc.iter().filter(|name| !code.contains_key(*name)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/configuration.md and the code disagree.\n\
         Add these rows to the table of the role that reads them (control plane, edge, dev mode, \
         telemetry or CLI):\n{}\n\
         Remove these rows, which no code reads any more (or read them again): {stale:?}",
        missing.join("\n"),
    );
}

#[test]
fn the_scan_takes_whole_literals_outside_test_modules() {
    let source = r#"
const A: &str = "GATEHOUSE_A";
let b = env.get("GATEHOUSE_B_2").or(env.get("GATEHOUSE_C"));
bail!("GATEHOUSE_D must be set");
let prefix = "GATEHOUSE_SECRET_";
#[cfg(test)]
mod tests { const T: &str = "GATEHOUSE_TEST_ONLY"; }
"#;
    let names: Vec<String> = literals(source).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["GATEHOUSE_A", "GATEHOUSE_B_2", "GATEHOUSE_C"]);
    let doc = "| `GATEHOUSE_A` | x | y |\nsee `GATEHOUSE_B_2` in prose\n| `RUST_LOG` | info | z |\n";
    assert_eq!(documented(doc), BTreeSet::from(["GATEHOUSE_A".to_owned()]));
}
