//! Modules import one way. In the console no module reaches, directly or round about, a
//! module that reaches it (`keys` and `update` used to import each other). In the server the
//! parts (its top-level modules; a folder is one part) form no cycle, and none reaches back into
//! `server` itself, which only assembles them (`queue` and `pep` used to import each other).
//!
//! An edge `a -> b` is any path in `a`'s source that resolves to module `b` (`use super::b`,
//! `super::super::b::f`, `crate::console::b`, a child's `use super::{f}` reaching its parent) and
//! every `mod b;` a module declares. Test modules (`#[cfg(test)] mod tests`) are left out: they
//! live inside the module they test. `cargo test --test module_imports -- --nocapture` prints
//! the graphs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;
type Graph = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path, // ::
    Open, // {
    Close,
    Comma,
    Semi,
    Other(char),
}

/// Identifiers and punctuation, with comments, strings and char literals skipped.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if ch == 'r' && matches!(c.get(i + 1), Some('"') | Some('#')) {
            // raw string r"…", r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(Tok::Ident("r".into()));
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{1F}') or a lifetime ('a).
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(match ch {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                ';' => Tok::Semi,
                c => Tok::Other(c),
            });
            i += 1;
        }
    }
    out
}

/// Every path written in the tokens, `use` trees expanded (`a::{b, c::d}` is `a::b`, `a::c::d`).
fn paths(toks: &[Tok]) -> Vec<Vec<String>> {
    fn tree(toks: &[Tok], mut i: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
        let Some(Tok::Ident(seg)) = toks.get(i) else {
            return i + 1;
        };
        let mut path = prefix.to_vec();
        if seg != "self" {
            path.push(seg.clone());
        }
        i += 1;
        if toks.get(i) != Some(&Tok::Path) {
            out.push(path);
            return i;
        }
        i += 1;
        match toks.get(i) {
            Some(Tok::Ident(_)) => tree(toks, i, &path, out),
            Some(Tok::Open) => {
                i += 1;
                while i < toks.len() {
                    match &toks[i] {
                        Tok::Close => return i + 1,
                        Tok::Ident(_) => i = tree(toks, i, &path, out),
                        _ => i += 1,
                    }
                }
                i
            }
            _ => {
                out.push(path);
                i
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts = matches!(toks[i], Tok::Ident(_))
            && (i == 0 || toks[i - 1] != Tok::Path)
            && toks.get(i + 1) == Some(&Tok::Path);
        if starts {
            i = tree(toks, i, &[], &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// `mod x;` declarations.
fn declared(toks: &[Tok]) -> Vec<String> {
    toks.windows(3)
        .filter_map(|w| match w {
            [Tok::Ident(m), Tok::Ident(name), Tok::Semi] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The module a path names (the longest known prefix), from inside module `at`.
fn resolve(at: &Module, path: &[String], known: &BTreeSet<Module>) -> Option<Module> {
    let mut abs: Module = match path.first()?.as_str() {
        "crate" => path[1..].to_vec(),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let mut m = at[..at.len().checked_sub(ups)?].to_vec();
            m.extend(path[ups..].iter().cloned());
            m
        }
        first => {
            // A bare path only reaches another of our modules if it starts with a child's name.
            let mut child = at.clone();
            child.push(first.to_string());
            if !known.contains(&child) {
                return None;
            }
            let mut m = at.clone();
            m.extend(path.iter().cloned());
            m
        }
    };
    while !abs.is_empty() {
        if known.contains(&abs) {
            return Some(abs);
        }
        abs.pop();
    }
    None
}

/// The import graph of a module tree given as (module path, source) pairs.
fn graph(files: &[(Module, String)]) -> Graph {
    let known: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g = Graph::new();
    for (m, src) in files {
        // The test module at the end of a file lives inside it: its `super::*` is the file.
        let src = match src.find("#[cfg(test)]\nmod tests") {
            Some(cut) => &src[..cut],
            None => src.as_str(),
        };
        let toks = lex(src);
        let name = m.join("::");
        let edges = g.entry(name.clone()).or_default();
        for child in declared(&toks) {
            edges.insert(format!("{name}::{child}"));
        }
        for p in paths(&toks) {
            if let Some(to) = resolve(m, &p, &known) {
                if &to != m {
                    edges.insert(to.join("::"));
                }
            }
        }
    }
    g
}

/// Every cycle's modules (strongly connected components with more than one module).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for to in g.get(&n).into_iter().flatten() {
                if seen.insert(to.clone()) {
                    todo.push(to.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        g.keys().map(|n| (n, reach(n.as_str()))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (n, r) in &reachable {
        if !r.contains(*n) {
            continue;
        }
        let component: Vec<String> = r
            .iter()
            .filter(|m| reachable.get(m).is_some_and(|back| back.contains(*n)))
            .cloned()
            .collect();
        found.insert(component);
    }
    found.into_iter().collect()
}

/// The sources under `src/<name>`, as (module path, source) pairs.
fn sources(name: &str) -> Vec<(Module, String)> {
    fn walk(dir: &Path, module: &Module, out: &mut Vec<(Module, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read a source folder")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name")
                .to_string();
            if path.is_dir() {
                let mut m = module.clone();
                m.push(stem);
                walk(&path, &m, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut m = module.clone();
                if stem != "mod" {
                    m.push(stem);
                }
                let src = std::fs::read_to_string(&path).expect("read source");
                out.push((m, src));
            }
        }
    }
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(name);
    walk(&root, &vec![name.to_string()], &mut out);
    out
}

#[test]
fn console_modules_import_one_way() {
    let files = sources("console");
    assert!(files.len() > 10, "found the console's sources");
    let g = graph(&files);
    for (from, to) in &g {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("{from} -> {}", to.join(", "));
    }
    let found = cycles(&g);
    println!("cycles: {found:?}");
    assert!(found.is_empty(), "import cycles in src/console: {found:?}");
}

/// The graph between the server's parts: `server::queue::machine -> server::store::chain` is
/// `queue -> store`. Edges out of `server` itself (mod.rs assembles the parts) are left out;
/// edges into it are returned apart, as `back`.
fn parts(g: &Graph) -> (Graph, Vec<String>) {
    let part = |m: &str| m.split("::").take(2).collect::<Vec<_>>().join("::");
    let mut parts = Graph::new();
    let mut back = Vec::new();
    for (from, to) in g {
        let from_part = part(from);
        if from_part == "server" {
            continue;
        }
        let edges = parts.entry(from_part.clone()).or_default();
        for t in to {
            match part(t) {
                root if root == "server" => back.push(format!("{from} -> server")),
                to_part if to_part != from_part => {
                    edges.insert(to_part);
                }
                _ => {}
            }
        }
    }
    (parts, back)
}

#[test]
fn server_parts_import_one_way() {
    let files = sources("server");
    assert!(files.len() > 30, "found the server's sources");
    let (g, back) = parts(&graph(&files));
    for (from, to) in &g {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("{from} -> {}", to.join(", "));
    }
    let found = cycles(&g);
    println!("cycles: {found:?}");
    assert!(
        found.is_empty(),
        "import cycles between src/server's parts: {found:?}"
    );
    assert!(
        back.is_empty(),
        "parts importing from server/mod.rs: {back:?}"
    );
}

#[test]
fn the_server_check_sees_cycles_between_parts_and_reaching_back() {
    // queue <-> pep, as it was, through files inside a folder part.
    let files = [
        module("server", "mod queue;\nmod pep;\npub use queue::Queue;\n"),
        module("server::queue", "mod decide;\n"),
        module(
            "server::queue::decide",
            "use crate::server::pep::kill_reason;\n",
        ),
        module("server::pep", "use super::queue::enqueue;\n"),
    ];
    let (g, back) = parts(&graph(&files));
    assert_eq!(
        cycles(&g),
        vec![vec!["server::pep".to_string(), "server::queue".to_string()]]
    );
    assert!(back.is_empty());
    // A part taking a re-export from mod.rs instead of from the part that defines it.
    let files = [
        module("server", "mod app;\nmod http;\npub use app::App;\n"),
        module("server::app", "pub struct App;\n"),
        module("server::http", "use super::App;\n"),
    ];
    let (g, back) = parts(&graph(&files));
    assert!(cycles(&g).is_empty());
    assert_eq!(back, vec!["server::http -> server".to_string()]);
}

fn module(path: &str, src: &str) -> (Module, String) {
    (
        path.split("::").map(String::from).collect(),
        src.to_string(),
    )
}

#[test]
fn the_check_sees_cycles_through_use_trees_parents_and_long_paths() {
    // keys <-> update, as it was: one side through a use tree, the other through a full path.
    let g = graph(&[
        module("console", "mod keys;\nmod update;\n"),
        module("console::keys", "use super::update::{say, Effect};\n"),
        module("console::update", "fn f() { super::keys::on_key(s, k) }\n"),
    ]);
    assert_eq!(
        cycles(&g),
        vec![vec![
            "console::keys".to_string(),
            "console::update".to_string()
        ]]
    );
    // A child using its parent's helpers, which declares it.
    let g = graph(&[
        module("console", "mod views;\n"),
        module("console::views", "mod detail;\npub fn clip() {}\n"),
        module("console::views::detail", "use super::{clip, json};\n"),
    ]);
    assert_eq!(cycles(&g).len(), 1);
    // crate:: paths, and what comments, strings and test modules say does not count.
    let g = graph(&[
        module("console", "mod a;\nmod b;\n"),
        module("console::a", "use crate::console::b::X;\n"),
        module(
            "console::b",
            "// super::a::f\nconst S: &str = \"super::a::f\";\n#[cfg(test)]\nmod tests {\n    use super::super::a::*;\n}\n",
        ),
    ]);
    assert!(cycles(&g).is_empty(), "{g:?}");
    let g = graph(&[
        module("console", "mod a;\nmod b;\n"),
        module("console::a", "use crate::console::b::X;\n"),
        module(
            "console::b",
            "fn f() -> char { let c = '}'; crate::console::a::g() }\n",
        ),
    ]);
    assert_eq!(cycles(&g).len(), 1);
}
