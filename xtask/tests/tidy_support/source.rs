//! The workspace's Rust sources as text: every file split into lines, each
//! line separated into its code (comments removed, string contents kept or
//! blanked) and its comment text. Enough lexing for textual rules; no parsing.

use std::fs;
use std::path::{Path, PathBuf};

/// One line of a source file.
#[derive(Debug, Default, Clone)]
pub struct Line {
    /// Code without comments; string and char literals kept as written.
    pub code: String,
    /// Code without comments, with the contents of literals replaced by spaces.
    pub bare: String,
    /// The text of the comments on this line (`//`, `///`, `//!`, `/* */`).
    pub comment: String,
}

/// A source file, named by its path relative to the workspace root.
#[derive(Debug)]
pub struct Source {
    /// Path relative to the workspace root, with `/` separators.
    pub rel: String,
    pub lines: Vec<Line>,
}

impl Source {
    /// Lines with their 1-based number.
    pub fn numbered(&self) -> impl Iterator<Item = (usize, &Line)> {
        self.lines.iter().enumerate().map(|(i, l)| (i + 1, l))
    }
}

/// The workspace root (xtask's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The member crates listed in the root `Cargo.toml` (`members = [...]`).
pub fn members() -> Vec<String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).expect("root Cargo.toml");
    let start = manifest.find("members").expect("workspace members");
    let open = start + manifest[start..].find('[').expect("members list");
    let close = open + manifest[open..].find(']').expect("members list end");
    manifest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Every `.rs` file under `dir` (relative to the root), sorted, lexed.
pub fn rust_files(dir: &str) -> Vec<Source> {
    let mut paths = Vec::new();
    walk(&root().join(dir), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            Source {
                rel: relative(&p),
                lines: lex(&text),
            }
        })
        .collect()
}

/// `src/` of every member crate (read once per test run).
pub fn all_src() -> &'static [Source] {
    static ALL: std::sync::OnceLock<Vec<Source>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        members()
            .iter()
            .flat_map(|m| rust_files(&format!("{m}/src")))
            .collect()
    })
}

/// `src/` and `tests/` of every member crate.
pub fn all_rust() -> Vec<Source> {
    members()
        .iter()
        .flat_map(|m| {
            let mut v = rust_files(&format!("{m}/src"));
            v.extend(rust_files(&format!("{m}/tests")));
            v
        })
        .collect()
}

/// Path relative to the workspace root, `/`-separated.
pub fn relative(p: &Path) -> String {
    let rel = p.strip_prefix(root()).unwrap_or(p);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every file under `dir`, recursively (nothing if it does not exist),
/// skipping build output (`target`) and hidden directories (`.git`, `.cache`).
pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "target" || name.starts_with('.') {
                continue;
            }
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Code,
    LineComment,
    BlockComment(usize),
    Str,
    RawStr(usize),
}

/// Splits Rust source into lines of code, code without literal contents, and
/// comments. Handles nested block comments, escapes, raw strings (`r#"…"#`),
/// byte strings, and char literals versus lifetimes.
pub fn lex(text: &str) -> Vec<Line> {
    let chars: Vec<char> = text.chars().collect();
    let mut lines = vec![Line::default()];
    let mut state = State::Code;
    let mut i = 0;
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            if state == State::LineComment {
                state = State::Code;
            }
            lines.push(Line::default());
            i += 1;
            continue;
        }
        let line = lines.last_mut().expect("at least one line");
        match state {
            State::Code => {
                if c == '/' && next == Some('/') {
                    state = State::LineComment;
                    i += 2;
                    continue;
                }
                if c == '/' && next == Some('*') {
                    state = State::BlockComment(1);
                    i += 2;
                    continue;
                }
                let prev_ident = i > 0 && is_ident(chars[i - 1]);
                if c == '"' {
                    state = State::Str;
                    push_code(line, c, c);
                } else if (c == 'r' || (c == 'b' && next == Some('r'))) && !prev_ident {
                    let start = if c == 'b' { i + 2 } else { i + 1 };
                    let hashes = chars[start..].iter().take_while(|&&h| h == '#').count();
                    if chars.get(start + hashes) == Some(&'"') {
                        for &ch in &chars[i..=start + hashes] {
                            push_code(line, ch, ch);
                        }
                        state = State::RawStr(hashes);
                        i = start + hashes + 1;
                        continue;
                    }
                    push_code(line, c, c);
                } else if c == '\'' {
                    // A char literal ('x', '\n', '\u{1F}') or a lifetime ('a).
                    let end = if next == Some('\\') {
                        chars[i + 2..]
                            .iter()
                            .position(|&q| q == '\'')
                            .map(|p| i + 2 + p)
                    } else if chars.get(i + 2) == Some(&'\'') {
                        Some(i + 2)
                    } else {
                        None
                    };
                    match end {
                        Some(end) => {
                            for (k, &ch) in chars[i..=end].iter().enumerate() {
                                let blank = if k == 0 || i + k == end { ch } else { ' ' };
                                push_code(line, ch, blank);
                            }
                            i = end + 1;
                            continue;
                        }
                        None => push_code(line, c, c),
                    }
                } else {
                    push_code(line, c, c);
                }
            }
            State::LineComment => line.comment.push(c),
            State::BlockComment(depth) => {
                if c == '*' && next == Some('/') {
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::BlockComment(depth - 1)
                    };
                    i += 2;
                    continue;
                }
                if c == '/' && next == Some('*') {
                    state = State::BlockComment(depth + 1);
                    i += 2;
                    continue;
                }
                line.comment.push(c);
            }
            State::Str => {
                if c == '\\' {
                    push_code(line, c, ' ');
                    if let Some(n) = next.filter(|&n| n != '\n') {
                        push_code(line, n, ' ');
                        i += 2;
                        continue;
                    }
                } else if c == '"' {
                    state = State::Code;
                    push_code(line, c, c);
                } else {
                    push_code(line, c, ' ');
                }
            }
            State::RawStr(hashes) => {
                let closes = c == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes;
                if closes {
                    for &ch in &chars[i..=i + hashes] {
                        push_code(line, ch, ch);
                    }
                    state = State::Code;
                    i += hashes + 1;
                    continue;
                }
                push_code(line, c, ' ');
            }
        }
        i += 1;
    }
    lines
}

fn push_code(line: &mut Line, code: char, bare: char) {
    line.code.push(code);
    line.bare.push(bare);
}

/// Whether `c` can be part of an identifier.
pub fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte offsets where `word` occurs in `text` as a whole token: not preceded
/// or followed by an identifier character.
pub fn token_hits(text: &str, word: &str) -> Vec<usize> {
    let mut hits = Vec::new();
    let mut from = 0;
    while let Some(p) = text[from..].find(word) {
        let at = from + p;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let starts = !word.starts_with(ident_char) || !before.is_some_and(ident_char);
        let ends = !word.ends_with(ident_char) || !after.is_some_and(ident_char);
        if starts && ends {
            hits.push(at);
        }
        from = at + word.len();
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_separates_code_comments_and_literals() {
        let l = lex("let a = \"x // y\"; // note\n/* a /* b */ c */ f('\"', 'a, r#\"q\"#);");
        assert_eq!(l[0].code, "let a = \"x // y\"; ");
        assert_eq!(l[0].bare, "let a = \"      \"; ");
        assert_eq!(l[0].comment, " note");
        assert_eq!(l[1].comment, " a  b  c ");
        assert_eq!(l[1].code, " f('\"', 'a, r#\"q\"#);");
        assert_eq!(l[1].bare, " f(' ', 'a, r#\" \"#);");
    }

    #[test]
    fn tokens_respect_identifier_boundaries() {
        assert_eq!(token_hits("fs.unmount() mount(x)", "mount("), vec![13]);
        assert_eq!(token_hits("a::mount(", "mount("), vec![3]);
    }
}
