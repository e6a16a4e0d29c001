//! The layout keeps dependencies one way (ARCHITECTURE.md), checked on the sources parsed as
//! Rust (`syn`): every `use` however grouped or split over lines, and every path in code.
//!
//! - each top module of `src/` may use only the modules before it in [`LAYERS`];
//! - inside a module, the files form no circle (a parent re-exporting its children is an
//!   alias, followed to the child, not a dependency of its own);
//! - only `db` talks to MySQL and only `web` to the network ([`WORLD`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Lowest first.
const LAYERS: [&str; 8] = [
    "build_info",
    "config",
    "snapshot",
    "analysis",
    "collect",
    "db",
    "web",
    "cli",
];

/// Paths that touch the world, and the one module each may be used in.
const WORLD: [(&[&str], &str); 5] = [
    (&["mysql_async"], "db"),
    (&["hyper"], "web"),
    (&["hyper_util"], "web"),
    (&["tokio_rustls"], "web"),
    (&["tokio", "net"], "web"),
];

/// A module path inside the crate, e.g. `["web", "http"]`.
type ModPath = Vec<String>;

/// One file of `src/`: its module path and its syntax tree.
struct SourceFile {
    rel: PathBuf,
    module: ModPath,
    ast: syn::File,
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

fn load(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).unwrap().to_path_buf();
            let mut module: ModPath = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
            SourceFile { rel, module, ast }
        })
        .collect()
}

/// A path the code names, made absolute where it starts with `crate`, `super` or `self`.
#[derive(Clone, Debug)]
struct Named {
    path: Vec<String>,
    /// A `pub use` (a re-export): an alias when it points into the module's own children.
    reexport: bool,
}

/// Collects every path a file names: `use` trees flattened, and paths in code.
struct Collector {
    /// The module the visitor is in (the file's, plus inline `mod x { }`).
    here: ModPath,
    found: Vec<Named>,
}

impl Collector {
    fn absolute(&self, segments: &[String]) -> Vec<String> {
        let mut base: Vec<String> = Vec::new();
        let mut rest = segments;
        match segments.first().map(String::as_str) {
            Some("crate") => {
                base.push("crate".into());
                rest = &segments[1..];
            }
            Some("self") | Some("super") => {
                base.push("crate".into());
                base.extend(self.here.iter().cloned());
                while let Some(first) = rest.first() {
                    match first.as_str() {
                        "self" => rest = &rest[1..],
                        "super" => {
                            base.pop();
                            rest = &rest[1..];
                        }
                        _ => break,
                    }
                }
            }
            _ => {}
        }
        base.extend(rest.iter().cloned());
        base
    }

    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.push_use(prefix, Some(n.ident.to_string()), public),
            syn::UseTree::Rename(r) => self.push_use(prefix, Some(r.ident.to_string()), public),
            syn::UseTree::Glob(_) => self.push_use(prefix, None, public),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, prefix, public);
                }
            }
        }
    }

    fn push_use(&mut self, prefix: &[String], last: Option<String>, public: bool) {
        let mut segments = prefix.to_vec();
        segments.extend(last.filter(|l| l != "self"));
        let path = self.absolute(&segments);
        self.found.push(Named {
            path,
            reexport: public,
        });
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let public = matches!(u.vis, syn::Visibility::Public(_));
        let mut prefix = Vec::new();
        if u.leading_colon.is_some() {
            prefix.push(String::new());
        }
        self.use_tree(&u.tree, &mut prefix, public);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.here.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.here.pop();
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 || p.leading_colon.is_some() {
            let path = self.absolute(&segments);
            self.found.push(Named {
                path,
                reexport: false,
            });
        }
        syn::visit::visit_path(self, p);
    }
}

/// Every file with what it names.
struct Crate {
    files: Vec<(SourceFile, Vec<Named>)>,
    modules: BTreeSet<ModPath>,
}

impl Crate {
    fn read() -> Crate {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let files: Vec<(SourceFile, Vec<Named>)> = load(&src)
            .into_iter()
            .map(|f| {
                let mut c = Collector {
                    here: f.module.clone(),
                    found: Vec::new(),
                };
                c.visit_file(&f.ast);
                (f, c.found)
            })
            .collect();
        let modules = files.iter().map(|(f, _)| f.module.clone()).collect();
        Crate { files, modules }
    }

    /// The file module `path` (absolute, `crate` first) lands in, following re-exports
    /// (`pub use child::Item` in a parent) to the file that defines the item.
    fn file_of(&self, path: &[String], depth: usize) -> Option<ModPath> {
        let inner = path.strip_prefix(&["crate".to_string()])?;
        let module = (0..=inner.len())
            .rev()
            .map(|n| inner[..n].to_vec())
            .find(|m| self.modules.contains(m))?;
        // An item of that module re-exported from a child: the child is the dependency.
        if depth < 8 && inner.len() > module.len() {
            let item = &inner[module.len()];
            if let Some(target) = self.reexport(&module, item) {
                return self.file_of(&target, depth + 1).or(Some(module));
            }
        }
        Some(module)
    }

    /// Where `module`'s `pub use` of `item` points, if it re-exports one of its children.
    fn reexport(&self, module: &ModPath, item: &str) -> Option<Vec<String>> {
        let (_, named) = self.files.iter().find(|(f, _)| &f.module == module)?;
        named
            .iter()
            .filter(|n| n.reexport && n.path.last().map(String::as_str) == Some(item))
            .map(|n| n.path.clone())
            .find(|p| is_child(module, p))
    }

    /// File-to-file dependencies (re-exports of a module's own children left out).
    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut out: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (f, named) in &self.files {
            for n in named {
                if n.reexport && is_child(&f.module, &n.path) {
                    continue;
                }
                if let Some(to) = self.file_of(&n.path, 0) {
                    if to != f.module && !to.is_empty() {
                        out.entry(f.module.clone()).or_default().insert(to);
                    }
                }
            }
        }
        out
    }
}

/// Whether `path` (absolute) points inside a child of `module`.
fn is_child(module: &ModPath, path: &[String]) -> bool {
    path.len() > module.len() + 1 && path[0] == "crate" && path[1..=module.len()] == module[..]
}

fn name(m: &ModPath) -> String {
    format!("crate::{}", m.join("::"))
}

#[test]
fn modules_depend_only_on_modules_below_them() {
    let krate = Crate::read();
    let mut wrong = Vec::new();
    let top: BTreeSet<&str> = krate
        .modules
        .iter()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    for m in &top {
        if !LAYERS.contains(m) {
            wrong.push(format!(
                "module `{m}` is not in LAYERS; add it where it belongs"
            ));
        }
    }
    assert_eq!(
        top.len(),
        LAYERS.len(),
        "every layer is a module of src/: {top:?}"
    );
    let level = |m: &ModPath| m.first().and_then(|t| LAYERS.iter().position(|l| l == t));
    for (from, tos) in krate.edges() {
        for to in tos {
            if let (Some(a), Some(b)) = (level(&from), level(&to)) {
                if b > a {
                    wrong.push(format!(
                        "{} uses {}, which is above it",
                        name(&from),
                        name(&to)
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn no_module_has_a_circle_of_files() {
    let edges = Crate::read().edges();
    let circles = circles(&edges);
    let text: Vec<String> = circles
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" -> "))
        .collect();
    assert!(text.is_empty(), "import circles:\n{}", text.join("\n"));
}

/// The strongly connected components of more than one file (Tarjan's algorithm).
fn circles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn only_db_talks_to_mysql_and_only_web_to_the_network() {
    let krate = Crate::read();
    let mut wrong = Vec::new();
    for (f, named) in &krate.files {
        let module = f.module.first().map_or("", String::as_str);
        for n in named {
            for (prefix, home) in WORLD {
                let hit = n.path.len() >= prefix.len()
                    && n.path.iter().zip(prefix.iter()).all(|(a, b)| a == b);
                if hit && module != home {
                    wrong.push(format!(
                        "src/{}: uses `{}`; only `{home}` may",
                        f.rel.display(),
                        n.path.join("::")
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The checker itself sees what it must: grouped and multi-line `use`, `super::`, paths in
/// code, a circle, and the world's crates.
#[test]
fn the_checker_sees_violations() {
    let ast: syn::File = syn::parse_str(
        "use crate::{db,\n snapshot::{Source, Outcome}};\n\
         use super::http::{self, X};\n\
         fn f() { let _ = crate::web::bind(1); let _ = tokio::net::TcpListener::bind(2); }\n\
         mod tests { use super::*; }",
    )
    .unwrap();
    let mut c = Collector {
        here: vec!["web".into(), "status_page".into()],
        found: Vec::new(),
    };
    c.visit_file(&ast);
    let paths: Vec<String> = c.found.iter().map(|n| n.path.join("::")).collect();
    for want in [
        "crate::db",
        "crate::snapshot::Source",
        "crate::snapshot::Outcome",
        "crate::web::http",
        "crate::web::http::X",
        "crate::web::bind",
        "tokio::net::TcpListener::bind",
        "crate::web::status_page",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    let m = |s: &str| -> ModPath { s.split("::").map(String::from).collect() };
    let edges: BTreeMap<ModPath, BTreeSet<ModPath>> = [
        (m("web::exporter"), [m("web::http")].into()),
        (m("web::http"), [m("web::status_page")].into()),
        (m("web::status_page"), [m("web::exporter")].into()),
        (m("web::listen"), [m("web::http")].into()),
    ]
    .into();
    assert_eq!(
        circles(&edges),
        [vec![
            m("web::exporter"),
            m("web::http"),
            m("web::status_page")
        ]]
    );
}
