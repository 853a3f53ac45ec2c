//! fnmatch(3)-compatible glob matching (flags 0), as kmod uses for `modules.alias`.
//!
//! Supported syntax:
//! * `*` matches any sequence of characters, including `/` and the empty string;
//! * `?` matches exactly one character;
//! * `[...]` matches one character from a set: single characters, ranges `a-z`,
//!   POSIX classes such as `[:digit:]`; `!` or `^` right after `[` negates the set;
//!   a `]` right after `[` (or after the negation) is a member; a `-` first or last is literal;
//! * `\x` matches `x` literally (inside and outside brackets);
//! * a `[` without a closing `]` matches a literal `[`.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Matches exactly this character.
    Literal(char),
    /// `?`: any one character.
    AnyOne,
    /// `*`: any sequence.
    Star,
    /// `[...]`: one character from (or, if negated, not from) the set.
    Set { negated: bool, items: Vec<SetItem> },
}

/// One member of a bracket expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SetItem {
    /// A single character.
    Char(char),
    /// An inclusive range.
    Range(char, char),
    /// A POSIX character class.
    Class(CharClass),
}

/// POSIX character classes usable as `[:name:]` inside brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl CharClass {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "alnum" => Self::Alnum,
            "alpha" => Self::Alpha,
            "blank" => Self::Blank,
            "cntrl" => Self::Cntrl,
            "digit" => Self::Digit,
            "graph" => Self::Graph,
            "lower" => Self::Lower,
            "print" => Self::Print,
            "punct" => Self::Punct,
            "space" => Self::Space,
            "upper" => Self::Upper,
            "xdigit" => Self::Xdigit,
            _ => return None,
        })
    }

    fn contains(self, c: char) -> bool {
        match self {
            Self::Alnum => c.is_ascii_alphanumeric(),
            Self::Alpha => c.is_ascii_alphabetic(),
            Self::Blank => c == ' ' || c == '\t',
            Self::Cntrl => c.is_ascii_control(),
            Self::Digit => c.is_ascii_digit(),
            Self::Graph => c.is_ascii_graphic(),
            Self::Lower => c.is_ascii_lowercase(),
            Self::Print => c.is_ascii_graphic() || c == ' ',
            Self::Punct => c.is_ascii_punctuation(),
            Self::Space => c.is_ascii_whitespace() || c == '\x0b',
            Self::Upper => c.is_ascii_uppercase(),
            Self::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}

impl SetItem {
    fn contains(&self, c: char) -> bool {
        match *self {
            Self::Char(x) => x == c,
            Self::Range(lo, hi) => lo <= c && c <= hi,
            Self::Class(class) => class.contains(c),
        }
    }
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Literal(x) => *x == c,
            Self::AnyOne => true,
            Self::Star => true,
            Self::Set { negated, items } => items.iter().any(|i| i.contains(c)) != *negated,
        }
    }
}

/// A glob pattern compiled once, to be matched against many strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The literal characters before the first wildcard: a cheap pre-filter.
    prefix: String,
}

impl Glob {
    /// Compiles `pattern`. Every string is a valid pattern (see the module docs).
    pub fn new(pattern: &str) -> Self {
        let tokens = compile(pattern);
        let prefix = tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect();
        Self { tokens, prefix }
    }

    /// Whether the whole of `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        if !text.starts_with(&self.prefix) {
            return false;
        }
        let text: Vec<char> = text.chars().collect();
        match_tokens(&self.tokens, &text)
    }

    /// Whether the pattern has no wildcard at all (it matches only itself).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }
}

/// fnmatch(3) with flags 0: whether the whole of `text` matches `pattern`.
///
/// See the module documentation for the syntax. Examples:
/// `glob_match("pci:v00001AF4d*", "pci:v00001AF4d00001000sv...")` is true;
/// `glob_match("scsi:t-0x0[0-7]*", "scsi:t-0x05")` is true.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

fn compile(pattern: &str) -> Vec<Token> {
    let p: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                // Consecutive stars are equivalent to one.
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
                i += 1;
            }
            '?' => {
                tokens.push(Token::AnyOne);
                i += 1;
            }
            '\\' => {
                // A trailing backslash matches itself.
                let c = p.get(i + 1).copied().unwrap_or('\\');
                tokens.push(Token::Literal(c));
                i += 2;
            }
            '[' => match parse_set(&p, i + 1) {
                Some((token, next)) => {
                    tokens.push(token);
                    i = next;
                }
                None => {
                    tokens.push(Token::Literal('['));
                    i += 1;
                }
            },
            c => {
                tokens.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    tokens
}

/// Parses a bracket expression whose body starts at `p[start]` (just after `[`).
/// Returns the token and the index after the closing `]`, or `None` if unterminated.
fn parse_set(p: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = matches!(p.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some((Token::Set { negated, items }, i + 1));
        }
        first = false;
        // POSIX class `[:name:]`.
        if c == '[' && p.get(i + 1) == Some(&':') {
            if let Some((class, next)) = parse_class(p, i + 2) {
                items.push(SetItem::Class(class));
                i = next;
                continue;
            }
        }
        let (lo, after_lo) = set_char(p, i)?;
        // A range needs `-` followed by something other than the closing `]`.
        if p.get(after_lo) == Some(&'-') && p.get(after_lo + 1).is_some_and(|&n| n != ']') {
            let (hi, after_hi) = set_char(p, after_lo + 1)?;
            items.push(SetItem::Range(lo, hi));
            i = after_hi;
        } else {
            items.push(SetItem::Char(lo));
            i = after_lo;
        }
    }
}

/// Reads one (possibly backslash-escaped) character of a bracket expression.
fn set_char(p: &[char], i: usize) -> Option<(char, usize)> {
    match *p.get(i)? {
        '\\' => Some((*p.get(i + 1)?, i + 2)),
        c => Some((c, i + 1)),
    }
}

/// Parses `name:]` starting at `p[start]`; returns the class and the index after `]`.
fn parse_class(p: &[char], start: usize) -> Option<(CharClass, usize)> {
    let mut end = start;
    while end + 1 < p.len() && !(p[end] == ':' && p[end + 1] == ']') {
        end += 1;
    }
    if end + 1 >= p.len() {
        return None;
    }
    let name: String = p[start..end].iter().collect();
    CharClass::from_name(&name).map(|class| (class, end + 2))
}

/// Classic wildcard matching with one backtrack point: correct because every
/// token other than `*` consumes exactly one character.
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while si < text.len() {
        match tokens.get(ti) {
            Some(Token::Star) => {
                backtrack = Some((ti + 1, si));
                ti += 1;
            }
            Some(tok) if tok.matches(text[si]) => {
                ti += 1;
                si += 1;
            }
            _ => match backtrack {
                Some((star_next, star_si)) => {
                    ti = star_next;
                    si = star_si + 1;
                    backtrack = Some((star_next, star_si + 1));
                }
                None => return false,
            },
        }
    }
    tokens[ti.min(tokens.len())..]
        .iter()
        .all(|t| *t == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn literals_and_question_mark() {
        assert!(glob_match("abc", "abc"));
        assert!(!glob_match("abc", "abcd"));
        assert!(!glob_match("abc", "ab"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("???", "x/y"), "? matches / without FNM_PATHNAME");
    }

    #[test]
    fn star() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything/at:all"));
        assert!(glob_match("a*", "a"));
        assert!(glob_match("*c", "abc"));
        assert!(!glob_match("*c", "abd"));
        assert!(glob_match("a*b*c", "a--b--b--c"));
        assert!(!glob_match("a*b*c", "a--b--b--"));
        assert!(glob_match("**x**", "yyxyy"));
        assert!(glob_match("*aab", "aaaab"), "needs backtracking");
        assert!(glob_match("a*a*a*a*b", "aaaaaaaaab"));
        assert!(!glob_match("a*a*a*a*b", "aaaaaaaaaa"));
    }

    #[test]
    fn real_kernel_aliases() {
        let virtio_pci = "pci:v00001AF4d*sv*sd*bc*sc*i*";
        assert!(glob_match(
            virtio_pci,
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        assert!(!glob_match(
            virtio_pci,
            "pci:v00008086d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        let sd = "scsi:t-0x00*";
        assert!(glob_match(sd, "scsi:t-0x00"));
        assert!(!glob_match(sd, "scsi:t-0x05"));
        assert!(glob_match("acpi*:VMBUS:*", "acpi:VMBUS:00:"));
        assert!(glob_match("crypto-crc32c", "crypto-crc32c"));
        assert!(!glob_match("crypto-crc32c", "crypto-crc32"));
    }

    #[test]
    fn bracket_sets_and_ranges() {
        assert!(glob_match("[abc]", "b"));
        assert!(!glob_match("[abc]", "d"));
        assert!(glob_match("x[0-9]y", "x5y"));
        assert!(!glob_match("x[0-9]y", "xay"));
        assert!(glob_match("[a-cx-z]", "y"));
        assert!(!glob_match("[a-cx-z]", "m"));
        assert!(glob_match("usb:v*d[0-1]*", "usb:v0001d1234"));
        assert!(!glob_match("[z-a]", "m"), "reversed range matches nothing");
        assert!(!glob_match("[abc]", ""), "a set consumes one character");
        assert!(!glob_match("[abc]", "ab"));
    }

    #[test]
    fn bracket_negation() {
        assert!(glob_match("[!abc]", "d"));
        assert!(!glob_match("[!abc]", "a"));
        assert!(glob_match("[^0-9]", "x"));
        assert!(!glob_match("[^0-9]", "7"));
        assert!(!glob_match("[!a]", ""));
    }

    #[test]
    fn bracket_edge_cases() {
        assert!(glob_match("[]]", "]"), "] first is a member");
        assert!(glob_match("[!]]", "a"));
        assert!(!glob_match("[!]]", "]"));
        assert!(glob_match("[]a]", "a"));
        assert!(glob_match("[a-]", "-"), "trailing - is literal");
        assert!(glob_match("[-a]", "-"), "leading - is literal");
        assert!(!glob_match("[a-]", "b"));
        assert!(glob_match("[", "["), "unterminated [ is literal");
        assert!(glob_match("a[b", "a[b"));
        assert!(!glob_match("a[b", "ab"));
        assert!(glob_match("[\\]]", "]"), "escaped ] inside a set");
        assert!(glob_match("[a\\-z]", "-"));
        assert!(!glob_match("[a\\-z]", "m"), "escaped - is not a range");
    }

    #[test]
    fn character_classes() {
        assert!(glob_match("[[:digit:]]x", "7x"));
        assert!(!glob_match("[[:digit:]]x", "ax"));
        assert!(glob_match("[[:xdigit:][:space:]]", "F"));
        assert!(glob_match("[[:xdigit:][:space:]]", " "));
        assert!(!glob_match("[[:xdigit:][:space:]]", "g"));
        assert!(glob_match("[![:upper:]]", "a"));
        assert!(!glob_match("[![:upper:]]", "A"));
        assert!(glob_match("[[:alpha:]_]*", "_foo"));
    }

    #[test]
    fn backslash_escapes() {
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "axb"));
        assert!(glob_match("\\?", "?"));
        assert!(!glob_match("\\?", "x"));
        assert!(
            glob_match("a\\", "a\\"),
            "trailing backslash matches itself"
        );
    }

    #[test]
    fn prefix_filter_does_not_change_results() {
        assert!(glob_match("pci:*", "pci:"));
        assert!(!glob_match("pci:*", "pc"));
        assert!(!glob_match("usb:*", "pci:v1"));
    }
}
