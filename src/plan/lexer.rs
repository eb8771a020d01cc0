//! A small MySQL lexer over the original bytes: just enough to split statements, read leading
//! keywords, recognise statements sqlparser cannot parse, and scan `INSERT ... VALUES` quickly.
//!
//! Why our own and not sqlparser's tokenizer: it works on byte offsets (no line/column
//! conversion), allocates nothing, never fails (an unterminated quote simply runs to the end),
//! and it knows MariaDB's executable comments (`/*! ... */`, `/*M! ... */`), whose content the
//! server runs although sqlparser drops `/*M!` entirely.
//!
//! It reads a text as the backend will (see `syntax`): strings and identifiers by the
//! session's sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), and an executable comment as code
//! only when the server version runs it, with MariaDB's own rules: the version is exactly 5
//! or 6 digits (fewer digits are code), `M` is upper-case, and `/*!` (not `/*M!`) with a MySQL
//! 5.7+ version (50700..=99999) never runs on MariaDB. A comment that does not run is one
//! `Comment` token, which may hold one nested `/* ... */`.

use super::syntax::Syntax;

/// What a token is. Words include keywords and identifiers starting with a digit (`1abc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Unquoted identifier or keyword.
    Word,
    /// `` `name` `` (backquotes doubled inside), or `"name"` under ANSI_QUOTES.
    QuotedIdent,
    /// `'text'`, or `"text"` unless ANSI_QUOTES.
    Str,
    /// `123`, `1.5`, `.5`, `1e3`.
    Number,
    /// `@name`, `@@name`, `@'name'`.
    Variable,
    /// Any other single byte: `(`, `,`, `;`, `=`, ...
    Punct(u8),
    /// Whitespace.
    Space,
    /// `-- ...`, `# ...`, `/* ... */` (not executable).
    Comment,
    /// The opening of an executable comment that runs, `/*!40101` or `/*M!100100`: its content
    /// follows as ordinary tokens, then [`Kind::ExecEnd`]. Inside one, another is a nested
    /// executable comment, which the server does not close as written.
    ExecStart,
    /// The `*/` closing an executable comment.
    ExecEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    #[inline]
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }

    /// True for a word equal to `kw` (ASCII case-insensitive).
    #[inline]
    pub fn is_word(&self, src: &str, kw: &str) -> bool {
        self.kind == Kind::Word && self.text(src).eq_ignore_ascii_case(kw)
    }

    /// True for `name` (ASCII case-insensitive) as a bare word or a quoted identifier: the
    /// server reads `` `FOUND_ROWS`() `` as the function too.
    pub fn is_name(&self, src: &str, name: &str) -> bool {
        match self.kind {
            Kind::Word => self.text(src).eq_ignore_ascii_case(name),
            Kind::QuotedIdent => ident_value(self, src).eq_ignore_ascii_case(name),
            _ => false,
        }
    }

    /// Whitespace, comments and the brackets of executable comments: what a statement reader
    /// skips between meaningful tokens.
    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            Kind::Space | Kind::Comment | Kind::ExecStart | Kind::ExecEnd
        )
    }
}

pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    in_exec: bool,
    syntax: Syntax,
}

impl<'a> Lexer<'a> {
    /// A lexer reading by the syntax in force on this thread (`Syntax::scope`).
    pub fn new(src: &'a str) -> Self {
        Self::with_syntax(src, Syntax::current())
    }

    pub fn with_syntax(src: &'a str, syntax: Syntax) -> Self {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
            in_exec: false,
            syntax,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    /// One pass over the rest of the slice: every statement's every word and space goes
    /// through here, and a byte-by-byte `peek` was a fifth of a point select's lexing.
    fn bump_while(&mut self, f: impl Fn(u8) -> bool) {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        self.pos += rest.iter().position(|&b| !f(b)).unwrap_or(rest.len());
    }

    /// Skips a quoted run closed by `q`; a doubled `q` is one character, and a backslash escapes
    /// the next byte when `backslash` (MySQL strings, not identifiers).
    fn quoted(&mut self, q: u8, backslash: bool) {
        self.pos += 1;
        loop {
            // Straight to the next byte that matters: a long string is scanned, not stepped.
            let rest = self.src.get(self.pos..).unwrap_or_default();
            let Some(at) = rest
                .iter()
                .position(|&b| b == q || (backslash && b == b'\\'))
            else {
                self.pos = self.src.len();
                return;
            };
            self.pos += at + 1;
            if rest[at] != q {
                // A backslash: the next byte is escaped.
                if self.peek(0).is_some() {
                    self.pos += 1;
                }
            } else if self.peek(0) == Some(q) {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    fn block_comment(&mut self) -> Kind {
        // `/*!` and `/*M!` are executable; `/*+` optimizer hints and the rest are comments.
        let marker = if self.peek(2) == Some(b'!') {
            Some((3, false))
        } else if self.peek(2) == Some(b'M') && self.peek(3) == Some(b'!') {
            Some((4, true))
        } else {
            None
        };
        let Some((marker, maria)) = marker else {
            self.pos += 2;
            self.skip_comment_body(0);
            return Kind::Comment;
        };
        let digits = (0..6)
            .take_while(|&i| self.peek(marker + i).is_some_and(|b| b.is_ascii_digit()))
            .count();
        if digits < 5 {
            // Not a version: the digits, if any, are code.
            self.pos += marker;
            self.in_exec = true;
            return Kind::ExecStart;
        }
        let version_text = &self.src[self.pos + marker..self.pos + marker + digits];
        let version = version_text
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if runs(version, maria, self.syntax.version) {
            self.pos += marker + digits;
            self.in_exec = true;
            return Kind::ExecStart;
        }
        self.pos += marker + digits;
        self.skip_comment_body(1);
        Kind::Comment
    }

    /// Skips to the end of a comment whose opening was consumed, through `nesting` levels of
    /// inner `/* ... */` (MariaDB allows one in a comment that does not run, none elsewhere).
    fn skip_comment_body(&mut self, nesting: u32) {
        while self.pos < self.src.len() {
            let b = self.src[self.pos];
            self.pos += 1;
            if nesting > 0 && b == b'/' && self.peek(0) == Some(b'*') {
                self.pos += 1;
                self.skip_comment_body(nesting - 1);
            } else if b == b'*' && self.peek(0) == Some(b'/') {
                self.pos += 1;
                return;
            }
        }
    }

    fn number_or_word(&mut self) -> Kind {
        let start = self.pos;
        self.bump_while(|b| b.is_ascii_digit());
        let int_end = self.pos;
        let mut numeric = int_end > start;
        if self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            self.bump_while(|b| b.is_ascii_digit());
            numeric = true;
        }
        if numeric && matches!(self.peek(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
            if self.peek(1 + sign).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1 + sign;
                self.bump_while(|b| b.is_ascii_digit());
            }
        }
        // `1abc` and `0x1F` continue as identifiers (`.5x` does not: a word cannot start
        // with a dot).
        if self.src[start] != b'.' && self.peek(0).is_some_and(is_ident_byte) {
            self.pos = start;
            self.bump_while(is_ident_byte);
            return Kind::Word;
        }
        Kind::Number
    }
}

/// Whether MariaDB runs an executable comment of `version` (5 or 6 digits): up to its own
/// version, except MySQL 5.7+ versions in `/*!` (not `/*M!`), which MariaDB never runs.
fn runs(version: u32, maria: bool, server: u32) -> bool {
    version <= server && (maria || !(50700..=99999).contains(&version))
}

/// Bytes that may appear in an unquoted identifier; every byte of a multi-byte UTF-8 character
/// counts (MySQL allows non-ASCII identifiers).
#[inline]
pub(crate) fn is_ident_byte(b: u8) -> bool {
    IDENT_BYTES[usize::from(b)]
}

/// `is_ident_byte` by table: one load per byte of every word.
static IDENT_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        b += 1;
    }
    table
};

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let b = self.peek(0)?;
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => {
                self.bump_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c'));
                Kind::Space
            }
            b'"' if self.syntax.mode.ansi_quotes => {
                self.quoted(b, false);
                Kind::QuotedIdent
            }
            b'\'' | b'"' => {
                self.quoted(b, !self.syntax.mode.no_backslash_escapes);
                Kind::Str
            }
            b'`' => {
                self.quoted(b'`', false);
                Kind::QuotedIdent
            }
            b'#' => {
                self.bump_while(|b| b != b'\n');
                Kind::Comment
            }
            // `--` starts a comment only when followed by whitespace/control or the end.
            b'-' if self.peek(1) == Some(b'-') && self.peek(2).is_none_or(|c| c <= b' ') => {
                self.bump_while(|b| b != b'\n');
                Kind::Comment
            }
            b'/' if self.peek(1) == Some(b'*') => self.block_comment(),
            b'*' if self.in_exec && self.peek(1) == Some(b'/') => {
                self.pos += 2;
                self.in_exec = false;
                Kind::ExecEnd
            }
            b'@' => {
                self.pos += 1;
                if self.peek(0) == Some(b'@') {
                    self.pos += 1;
                }
                match self.peek(0) {
                    Some(q @ (b'\'' | b'"')) => {
                        self.quoted(q, !self.syntax.mode.no_backslash_escapes)
                    }
                    Some(b'`') => self.quoted(b'`', false),
                    _ => self.bump_while(|b| is_ident_byte(b) || b == b'.'),
                }
                Kind::Variable
            }
            b'0'..=b'9' => self.number_or_word(),
            b'.' if self.peek(1).is_some_and(|b| b.is_ascii_digit())
                && !self.src[..start]
                    .last()
                    .is_some_and(|&p| is_ident_byte(p) || p == b'`') =>
            {
                self.number_or_word()
            }
            _ if is_ident_byte(b) => {
                self.bump_while(is_ident_byte);
                Kind::Word
            }
            _ => {
                self.pos += 1;
                Kind::Punct(b)
            }
        };
        if self.pos == start {
            // Never stall: every token consumes at least one byte.
            self.pos = start + 1;
            while !self.src.is_empty()
                && self.pos < self.src.len()
                && self.src[self.pos] & 0xC0 == 0x80
            {
                self.pos += 1;
            }
        }
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }
}

/// The meaningful tokens of `src` (no whitespace, comments or executable-comment brackets).
pub(crate) fn significant(src: &str) -> impl Iterator<Item = Token> + '_ {
    Lexer::new(src).filter(|t| !t.is_trivia())
}

/// True if a top-level `;` is followed by anything but whitespace and comments: a text that
/// holds several statements (the frontend splits them; text planned without parsing must
/// not smuggle a second, unplanned statement to a backend).
pub(crate) fn has_second_statement(src: &str) -> bool {
    let mut after_semicolon = false;
    let mut in_exec = false;
    for t in Lexer::new(src) {
        match t.kind {
            Kind::Space | Kind::Comment => {}
            Kind::ExecStart => in_exec = true,
            Kind::ExecEnd => in_exec = false,
            Kind::Punct(b';') if !in_exec => after_semicolon = true,
            _ if after_semicolon => return true,
            _ => {}
        }
    }
    false
}

/// The unquoted value of an identifier token: quotes (`` ` ``, or `"` under ANSI_QUOTES)
/// removed, doubled quotes halved. Borrowed unless it contains a doubled quote.
pub(crate) fn ident_value<'a>(tok: &Token, src: &'a str) -> std::borrow::Cow<'a, str> {
    let text = tok.text(src);
    match tok.kind {
        Kind::QuotedIdent => {
            let q = if text.starts_with('"') { "\"" } else { "`" };
            let inner = text.strip_prefix(q).unwrap_or(text);
            let inner = inner.strip_suffix(q).unwrap_or(inner);
            let doubled = if q == "`" { "``" } else { "\"\"" };
            if inner.contains(doubled) {
                std::borrow::Cow::Owned(inner.replace(doubled, q))
            } else {
                std::borrow::Cow::Borrowed(inner)
            }
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// The session variable a `@@` token (or, as the server also reads it, `@@session` / `@@local`
/// then `.` then a name, with spaces or comments between) at `toks[i]` names: its name
/// lower-case, without scope or backquotes (`` @@SESSION . `Identity` `` -> `identity`), and
/// how many tokens it took. `toks` without trivia; `None` for other tokens and for
/// `@@global.` ones.
pub(crate) fn session_variable_at(toks: &[Token], i: usize, src: &str) -> Option<(String, usize)> {
    let t = toks.get(i).filter(|t| t.kind == Kind::Variable)?;
    let text = t.text(src).strip_prefix("@@")?;
    let unquoted = |name: &str| match name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`").to_ascii_lowercase(),
        None => name.to_ascii_lowercase(),
    };
    let scope = |s: &str| s.eq_ignore_ascii_case("session") || s.eq_ignore_ascii_case("local");
    let name_at = |k: usize| {
        toks.get(k)
            .filter(|n| matches!(n.kind, Kind::Word | Kind::QuotedIdent))
            .map(|n| ident_value(n, src).to_ascii_lowercase())
    };
    if let Some((head, name)) = text.split_once('.') {
        if !scope(head) {
            return None;
        }
        // `@@session.` then `` `identity` ``: the lexer ends the variable at the quote.
        return match name {
            "" => name_at(i + 1).map(|n| (n, 2)),
            _ => Some((unquoted(name), 1)),
        };
    }
    let dot = toks.get(i + 1).is_some_and(|d| d.kind == Kind::Punct(b'.'));
    match name_at(i + 2) {
        Some(n) if scope(text) && dot => Some((n, 3)),
        _ => Some((unquoted(text), 1)),
    }
}

/// A user variable token's name as the server keys it: `@v`, `` @`V` ``, `@'v'` and `@"v"`
/// are all `@v` (user variable names ignore case).
pub(crate) fn user_variable_name(text: &str) -> String {
    let name = text.strip_prefix('@').unwrap_or(text);
    let inner = ['`', '\'', '"'].iter().find_map(|&q| {
        name.strip_prefix(q)
            .and_then(|n| n.strip_suffix(q))
            .map(|n| n.replace(&format!("{q}{q}"), &q.to_string()))
    });
    format!("@{}", inner.as_deref().unwrap_or(name).to_lowercase())
}

#[cfg(test)]
mod tests {
    /// Where a quoted run opened at 0 ends, stepping byte by byte.
    fn quoted_end_stepwise(src: &[u8], q: u8, backslash: bool) -> usize {
        let mut pos = 1;
        while let Some(&b) = src.get(pos) {
            pos += 1;
            if backslash && b == b'\\' {
                if pos < src.len() {
                    pos += 1;
                }
            } else if b == q {
                if src.get(pos) == Some(&q) {
                    pos += 1;
                } else {
                    return pos;
                }
            }
        }
        pos
    }

    #[test]
    fn quoted_runs_end_where_stepping_ends_them() {
        let alphabet = b"'\"`\\a ";
        let mut seed = 7u64;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 1 + (seed >> 59) as usize;
            let mut src = Vec::with_capacity(len);
            let mut s = seed;
            for _ in 0..len {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                src.push(alphabet[(s >> 60) as usize % alphabet.len()]);
            }
            for q in [b'\'', b'"', b'`'] {
                for backslash in [false, true] {
                    src[0] = q;
                    let mut lexer = super::Lexer::with_syntax(
                        std::str::from_utf8(&src).unwrap(),
                        Default::default(),
                    );
                    lexer.quoted(q, backslash);
                    assert_eq!(
                        lexer.pos,
                        quoted_end_stepwise(&src, q, backslash),
                        "{:?} {backslash}",
                        String::from_utf8_lossy(&src)
                    );
                }
            }
        }
    }

    #[test]
    fn ident_bytes_are_letters_digits_underscore_dollar_and_non_ascii() {
        for b in 0..=255u8 {
            let by_rule = b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
            assert_eq!(super::is_ident_byte(b), by_rule, "{b}");
        }
    }

    use super::*;

    use crate::plan::syntax::SqlMode;

    #[test]
    fn session_variables_in_every_spelling_the_server_reads() {
        let at = |sql: &str| {
            let toks: Vec<Token> = significant(sql).collect();
            session_variable_at(&toks, 1, sql)
        };
        for (sql, used) in [
            ("SELECT @@identity", 1),
            ("SELECT @@Session.IDENTITY", 1),
            ("SELECT @@local.`identity`", 2),
            ("SELECT @@`identity`", 1),
            ("SELECT @@session . identity", 3),
            ("SELECT @@SESSION/**/.`identity`", 3),
        ] {
            assert_eq!(at(sql), Some(("identity".to_string(), used)), "{sql}");
        }
        assert_eq!(at("SELECT @@global.identity"), None);
        assert_eq!(at("SELECT @v"), None);
        assert_eq!(at("SELECT 1"), None);
        assert_eq!(user_variable_name("@`V`"), "@v");
        assert_eq!(user_variable_name("@'v'"), "@v");
        assert_eq!(user_variable_name("@\"a\"\"b\""), "@a\"b");
        assert_eq!(user_variable_name("@Vv"), "@vv");
    }

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        Lexer::new(src).map(|t| (t.kind, t.text(src))).collect()
    }

    #[test]
    fn quotes_escapes_and_comments() {
        let src = r#"SELECT 'a\'b''c', "x", `we``ird` -- c
# h
/* b */ 1.5e3 .5 1abc @@x.y @'u' a--b"#;
        let got: Vec<_> = kinds(src)
            .into_iter()
            .filter(|(k, _)| *k != Kind::Space)
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Word, "SELECT"),
                (Kind::Str, r"'a\'b''c'"),
                (Kind::Punct(b','), ","),
                (Kind::Str, "\"x\""),
                (Kind::Punct(b','), ","),
                (Kind::QuotedIdent, "`we``ird`"),
                (Kind::Comment, "-- c"),
                (Kind::Comment, "# h"),
                (Kind::Comment, "/* b */"),
                (Kind::Number, "1.5e3"),
                (Kind::Number, ".5"),
                (Kind::Word, "1abc"),
                (Kind::Variable, "@@x.y"),
                (Kind::Variable, "@'u'"),
                (Kind::Word, "a"),
                (Kind::Punct(b'-'), "-"),
                (Kind::Punct(b'-'), "-"),
                (Kind::Word, "b"),
            ]
        );
    }

    #[test]
    fn executable_comments_are_code() {
        let src = "/*!40101 SET x=1 */ /*M!100100 y */ /*+ hint */";
        let got: Vec<_> = significant(src).map(|t| (t.kind, t.text(src))).collect();
        assert_eq!(
            got,
            vec![
                (Kind::Word, "SET"),
                (Kind::Word, "x"),
                (Kind::Punct(b'='), "="),
                (Kind::Number, "1"),
                (Kind::Word, "y"),
            ]
        );
    }

    fn texts(src: &str, version: u32, mode: &str) -> Vec<(Kind, String)> {
        let syntax = Syntax {
            version,
            mode: SqlMode::parse(mode),
        };
        Lexer::with_syntax(src, syntax)
            .filter(|t| t.kind != Kind::Space)
            .map(|t| (t.kind, t.text(src).to_string()))
            .collect()
    }

    /// Each rule checked against MariaDB 10.11.19 by hand: which of these run.
    #[test]
    fn executable_comments_run_by_mariadb_rules() {
        let runs = |src: &str| {
            texts(src, 101119, "")
                .iter()
                .any(|(k, _)| *k == Kind::ExecStart)
        };
        assert!(runs("/*!50699 +1 */"));
        assert!(!runs("/*!50700 +1 */"), "MySQL 5.7+ versions never run");
        assert!(!runs("/*!99999 +1 */"));
        assert!(runs("/*!100000 +1 */"));
        assert!(runs("/*M!50700 +1 */"), "/*M! runs MySQL 5.7 versions");
        assert!(runs("/*!101119 +1 */"));
        assert!(!runs("/*!101120 +1 */"));
        assert!(!runs("/*M!999999 +1 */"));
        assert!(runs("/*M! +1 */"));
        assert!(!runs("/*m! +1 */"), "lower-case m is a plain comment");
        assert!(!runs("/*+ hint */"));
        // Fewer than five digits are no version: they are code.
        assert_eq!(
            texts("/*!1 x*/", 101119, ""),
            vec![
                (Kind::ExecStart, "/*!".to_string()),
                (Kind::Number, "1".to_string()),
                (Kind::Word, "x".to_string()),
                (Kind::ExecEnd, "*/".to_string()),
            ]
        );
        // Six digits at most: the seventh is code.
        assert_eq!(texts("/*!1000007*/", 101119, "")[1].1, "7");
        // A comment that does not run holds one nested comment.
        assert_eq!(
            texts("/*!999999 +1 /* c */ +1 */ 2", 101119, ""),
            vec![
                (Kind::Comment, "/*!999999 +1 /* c */ +1 */".to_string()),
                (Kind::Number, "2".to_string()),
            ]
        );
        // Inside a running one, another running one is nested (the normaliser refuses it).
        let nested = texts("/*!+1 /*!+1*/ */", 101119, "");
        assert_eq!(nested[0].0, Kind::ExecStart);
        assert_eq!(nested[3].0, Kind::ExecStart);
    }

    #[test]
    fn sql_mode_changes_strings_and_identifiers() {
        let src = r#"'a\' "b" x"#;
        assert_eq!(
            texts(src, 101100, "")[0],
            (Kind::Str, r#"'a\' "b" x"#.to_string())
        );
        let nbe = texts(src, 101100, "NO_BACKSLASH_ESCAPES");
        assert_eq!(nbe[0], (Kind::Str, r"'a\'".to_string()));
        assert_eq!(nbe[1], (Kind::Str, "\"b\"".to_string()));
        let ansi = texts(r#"SELECT "a""b" FROM "t""#, 101100, "ANSI_QUOTES");
        assert_eq!(ansi[1].0, Kind::QuotedIdent);
        let src = r#"SELECT "a""b" FROM "t""#;
        let syntax = Syntax {
            version: 101100,
            mode: SqlMode::parse("ANSI"),
        };
        let toks: Vec<Token> = Lexer::with_syntax(src, syntax)
            .filter(|t| !t.is_trivia())
            .collect();
        assert_eq!(ident_value(&toks[1], src), "a\"b");
        assert_eq!(ident_value(&toks[3], src), "t");
    }

    #[test]
    fn unterminated_runs_to_the_end() {
        for src in [
            "'abc", "`abc", "/* abc", "\"a\\", "/*!1 x", "@`", "@'", ".7v%",
        ] {
            let toks: Vec<_> = Lexer::new(src).collect();
            assert_eq!(toks.last().map(|t| t.end), Some(src.len()), "{src}");
        }
    }

    #[test]
    fn second_statements() {
        assert!(!has_second_statement("SET a = 1;  -- done"));
        assert!(!has_second_statement("SET a = ';x'"));
        assert!(has_second_statement("SET a = 1; SELECT 1"));
        assert!(has_second_statement("BEGIN;;COMMIT"));
    }

    #[test]
    fn qualified_names_keep_dots_apart() {
        let src = "a.b.5x t1.`c`";
        let got: Vec<_> = significant(src).map(|t| t.text(src)).collect();
        assert_eq!(got, vec!["a", ".", "b", ".", "5x", "t1", ".", "`c`"]);
    }
}
