//! The layout keeps dependencies one way (ARCHITECTURE.md): each module of `src/` may use
//! only the modules before it in [`LAYERS`], and only `db` talks to MySQL, only `web` to
//! HTTP clients. This reads the sources, so a violation fails here with its file and line.

use std::path::{Path, PathBuf};

/// Lowest first.
const LAYERS: [&str; 7] = [
    "config", "snapshot", "analysis", "collect", "db", "web", "cli",
];

/// Crates that touch the world, and the one module each may be used in.
const WORLD: [(&str, &str); 4] = [
    ("mysql_async", "db"),
    ("hyper", "web"),
    ("hyper_util", "web"),
    ("tokio_rustls", "web"),
];

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

/// The identifiers that follow `prefix` in `line` (`crate::a`, `crate::{a, b::c}`).
fn used_after(line: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        let group = if let Some(inner) = rest.strip_prefix('{') {
            inner.split('}').next().unwrap_or("")
        } else {
            rest
        };
        for part in group.split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            if !rest.starts_with('{') {
                break;
            }
        }
    }
    out
}

#[test]
fn modules_depend_only_on_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen_modules = std::collections::BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
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
        seen_modules.insert(module.clone());
        let Some(level) = LAYERS.iter().position(|l| *l == module) else {
            wrong.push(format!(
                "src/{}: module `{module}` is not in LAYERS; add it where it belongs",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for used in used_after(code, "crate::") {
                match LAYERS.iter().position(|l| *l == used) {
                    Some(other) if other > level => wrong.push(format!(
                        "src/{}:{}: `{module}` uses `crate::{used}`, which is above it",
                        rel.display(),
                        n + 1
                    )),
                    _ => {}
                }
            }
            for (krate, home) in WORLD {
                if module != home && !used_after(code, &format!("{krate}::")).is_empty() {
                    // `use mysql_async::...` or a path: only `home` may talk to that world.
                    let starts = code.trim_start();
                    if starts.starts_with("use ") || code.contains(&format!(" {krate}::")) {
                        wrong.push(format!(
                            "src/{}:{}: `{module}` uses `{krate}`; only `{home}` may",
                            rel.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(
        seen_modules.into_iter().collect::<Vec<_>>().len(),
        LAYERS.len(),
        "every layer is a directory of src/"
    );
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_a_violation() {
    assert_eq!(
        used_after("use crate::{db, snapshot::Source};", "crate::"),
        ["db", "snapshot"]
    );
    assert_eq!(
        used_after("let x = crate::web::bind(a);", "crate::"),
        ["web"]
    );
    assert!(used_after("// nothing here", "crate::").is_empty());
}
