//! The crate's layering, checked on its own sources: which file names which.
//!
//! Every `use` and every path that starts at `crate`, `super`, `self` or a child module
//! is an edge from its file to the file of the deepest module it names. The rules (see
//! the crate docs, "Architecture"):
//!
//! * no circles between files;
//! * the core (`bus/`) names nothing above or beside it: not the handles (`endpoint/`),
//!   not a backend (`mesh/`), not the wire or the transport, and of the seam only the
//!   traits it calls (`backend/link.rs`);
//! * the seam's traits (`backend/link.rs`) name nothing of the core;
//! * the mesh is built on the public seam like any backend: it names the seam
//!   (`backend/link.rs`, `backend/handles.rs`), the wire, the transport and the leaf
//!   modules (`schema`, `config`, `error`, `sync`, `codec`), and nothing of the core or
//!   the handles;
//! * only `transport/` names the Unix socket module.
//!
//! Inline `mod tests` blocks are left out: a unit test may build whatever it tests with
//! (the mesh's tests drive a real core).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                tokens.push(Token::Ident("r".into()));
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            tokens.push(Token::Other);
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Other);
        } else if c == '\'' {
            // A char literal ('x', '\n') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            tokens.push(Token::Other);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && next == Some(':') {
            tokens.push(Token::PathSep);
            i += 2;
        } else {
            tokens.push(match c {
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                ';' => Token::Semi,
                '*' => Token::Star,
                _ => Token::Other,
            });
            i += 1;
        }
    }
    tokens
}

/// The crate's files by module path (`[]` is `lib.rs`).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut segments: Vec<String> = relative
                .iter()
                .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            found.insert(segments, relative.to_path_buf());
        }
    }
    found
}

/// Expands a `use` tree starting at `tokens[*at]` into full paths (relative to where it
/// stands), advancing `at` past it.
fn use_tree(tokens: &[Token], at: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match tokens.get(*at) {
            Some(Token::Ident(name)) => {
                if name != "as" {
                    path.push(name.clone());
                } else {
                    // `as alias`: the alias is not a module segment.
                    *at += 1;
                }
                *at += 1;
            }
            Some(Token::PathSep) => *at += 1,
            Some(Token::Star) => {
                *at += 1;
                out.push(path);
                return;
            }
            Some(Token::Open) => {
                *at += 1;
                loop {
                    match tokens.get(*at) {
                        Some(Token::Close) => {
                            *at += 1;
                            return;
                        }
                        Some(Token::Comma) => *at += 1,
                        None => return,
                        _ => use_tree(tokens, at, path.clone(), out),
                    }
                }
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// Every module path one file names, each as absolute segments (leading `crate`
/// removed), with the item names that follow the module still attached.
fn named_paths(
    tokens: &[Token],
    module: &[String],
    children: &BTreeSet<String>,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // Inline modules (`mod tests { ... }`): (module path, brace depth at their opening).
    let mut scopes: Vec<(Vec<String>, usize)> = vec![(module.to_vec(), 0)];
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if scopes.len() > 1 && scopes.last().is_some_and(|(_, at)| *at == depth) {
                    scopes.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Open)) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    let mut inner = scopes.last().unwrap().0.clone();
                    inner.push(name.clone());
                    scopes.push((inner, depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            _ => {}
        }
        let here = scopes.last().unwrap().0.clone();
        let top_level = scopes.len() == 1;
        let in_tests = scopes
            .iter()
            .skip(1)
            .any(|(path, _)| path.last().map(String::as_str) == Some("tests"));
        let mut raw: Vec<Vec<String>> = Vec::new();
        if tokens[i] == Token::Ident("use".into()) {
            let mut at = i + 1;
            use_tree(tokens, &mut at, Vec::new(), &mut raw);
            i = at;
        } else if let Token::Ident(first) = &tokens[i] {
            let starts_path = i == 0 || tokens[i - 1] != Token::PathSep;
            if starts_path && tokens.get(i + 1) == Some(&Token::PathSep) {
                let mut path = vec![first.clone()];
                let mut at = i + 1;
                while tokens.get(at) == Some(&Token::PathSep) {
                    match tokens.get(at + 1) {
                        Some(Token::Ident(name)) => {
                            path.push(name.clone());
                            at += 2;
                        }
                        _ => break,
                    }
                }
                raw.push(path);
                i = at;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
        if in_tests {
            continue;
        }
        for path in raw {
            let Some(first) = path.first() else { continue };
            let absolute = match first.as_str() {
                "crate" => path[1..].to_vec(),
                "self" => [here.clone(), path[1..].to_vec()].concat(),
                "super" => {
                    let mut base = here.clone();
                    let mut rest = &path[..];
                    while rest.first().map(String::as_str) == Some("super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    [base, rest.to_vec()].concat()
                }
                // A child module of the file's own module, named without `self::`.
                name if top_level && children.contains(name) => [here.clone(), path].concat(),
                _ => continue,
            };
            out.push(absolute);
        }
    }
    out
}

/// file -> the files it names.
fn graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|other| other.len() == module.len() + 1 && other.starts_with(module))
            .map(|other| other.last().unwrap().clone())
            .collect();
        let source = std::fs::read_to_string(src.join(file)).unwrap();
        let mut named = BTreeSet::new();
        for path in named_paths(&tokenize(&source), module, &children) {
            // The deepest module the path names.
            let target = (0..=path.len())
                .rev()
                .find_map(|len| modules.get(&path[..len]))
                .unwrap();
            if target != file {
                named.insert(target.clone());
            }
        }
        edges.insert(file.clone(), named);
    }
    edges
}

fn cycle(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        file: &PathBuf,
        edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        done: &mut BTreeSet<PathBuf>,
        path: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(start) = path.iter().position(|seen| seen == file) {
            let mut found = path[start..].to_vec();
            found.push(file.clone());
            return Some(found);
        }
        if !done.insert(file.clone()) {
            return None;
        }
        path.push(file.clone());
        for next in &edges[file] {
            if let Some(found) = visit(next, edges, done, path) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|file| visit(file, edges, &mut done, &mut Vec::new()))
}

fn under(file: &Path, dir: &str) -> bool {
    file.starts_with(dir)
}

#[test]
fn no_file_names_a_file_that_names_it_back() {
    let edges = graph();
    assert!(edges.len() > 20, "the sources were not found: {edges:?}");
    if let Some(cycle) = cycle(&edges) {
        panic!("import circle: {cycle:?}");
    }
}

#[test]
fn the_core_names_nothing_above_it() {
    let allowed_in_seam = Path::new("backend/link.rs");
    for (file, named) in graph() {
        if !under(&file, "bus") {
            continue;
        }
        for target in named {
            let above = ["endpoint", "mesh", "wire", "transport"]
                .iter()
                .any(|dir| under(&target, dir))
                || (under(&target, "backend") && target != allowed_in_seam)
                || target == Path::new("lib.rs");
            assert!(!above, "{} names {}", file.display(), target.display());
        }
    }
}

#[test]
fn the_seam_traits_know_nothing_of_the_core_and_the_mesh_only_the_seam() {
    for (file, named) in graph() {
        for target in named {
            if file == Path::new("backend/link.rs") {
                assert!(
                    !under(&target, "bus"),
                    "the seam's traits name {}",
                    target.display()
                );
            }
            if under(&file, "mesh") {
                let allowed = ["mesh", "wire", "transport", "schema"]
                    .iter()
                    .any(|dir| under(&target, dir))
                    || [
                        "backend/link.rs",
                        "backend/handles.rs",
                        "config.rs",
                        "error.rs",
                        "sync.rs",
                        "codec.rs",
                    ]
                    .iter()
                    .any(|leaf| target == Path::new(leaf));
                assert!(
                    allowed,
                    "the mesh names {} ({})",
                    target.display(),
                    file.display()
                );
            }
        }
    }
}

#[test]
fn only_the_transport_names_unix_sockets() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (_, file) in modules(&src) {
        if under(&file, "transport") {
            continue;
        }
        let source = std::fs::read_to_string(src.join(&file)).unwrap();
        let tokens = tokenize(&source);
        let names_unix = tokens.iter().any(|token| {
            matches!(token, Token::Ident(name) if name == "unix" || name == "UnixStream" || name == "UnixListener")
        });
        assert!(!names_unix, "{} names Unix sockets", file.display());
    }
}
