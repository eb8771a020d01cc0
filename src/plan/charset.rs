//! The client's character set (character_set_client): the bytes of its queries and string
//! parameters are in it. The planner works on UTF-8 text, so a query is decoded for planning
//! and each shard query encoded back before it is sent: the server then receives the
//! client's own bytes (plus the spliced names) and reads them as it would directly, while a
//! string shard key hashes by its characters, as the same value sent by a utf8mb4 client
//! does.
//!
//! UTF-8 charsets pass through untouched; latin1 (MariaDB's latin1 is cp1252) is decoded and
//! encoded by its table. Any other charset works for ASCII text only: non-ASCII text under it
//! is refused (multi-byte charsets such as sjis can hide a `\` or a quote inside a
//! character, so the lexer cannot read them as bytes).

use std::borrow::Cow;

use super::lexer::{significant, Kind, Token};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Utf8,
    Latin1,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCharset {
    /// Lower-case, `[a-z0-9_]` only (it is written into SQL as an introducer).
    name: String,
    family: Family,
}

impl Default for ClientCharset {
    /// Backend connections open as utf8mb4.
    fn default() -> Self {
        ClientCharset::named("utf8mb4")
    }
}

/// cp1252 at 0x80..=0x9F; MariaDB maps the five bytes cp1252 leaves undefined to U+0081 and
/// friends, as ISO-8859-1 does.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn latin1_char(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

fn latin1_byte(c: char) -> Option<u8> {
    match c as u32 {
        n @ (0..=0x7F | 0xA0..=0xFF) => Some(n as u8),
        _ => CP1252_HIGH
            .iter()
            .position(|&h| h == c)
            .map(|i| 0x80 + i as u8),
    }
}

impl ClientCharset {
    /// The charset called `name` (as SET NAMES or a collation names it).
    pub fn named(name: &str) -> ClientCharset {
        let name = name.to_ascii_lowercase();
        let family = match name.as_str() {
            "utf8" | "utf8mb3" | "utf8mb4" | "ascii" => Family::Utf8,
            "latin1" => Family::Latin1,
            _ => Family::Other,
        };
        let name = if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            name
        } else {
            "binary".to_string()
        };
        ClientCharset { name, family }
    }

    /// The charset of a collation id (the handshake's).
    pub fn of_collation(id: u16) -> ClientCharset {
        let c = mysql_common::collations::Collation::resolve(
            mysql_common::collations::CollationId::from(id),
        );
        ClientCharset::named(c.charset())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when text in this charset is UTF-8 (so a Rust `str` holds it as it is).
    pub fn is_utf8(&self) -> bool {
        self.family == Family::Utf8
    }

    /// A query's bytes as text for planning.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, str>> {
        if bytes.is_ascii() {
            return Ok(Cow::Borrowed(
                std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)?,
            ));
        }
        match self.family {
            Family::Utf8 => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| Error::InvalidUtf8),
            Family::Latin1 => Ok(Cow::Owned(bytes.iter().map(|&b| latin1_char(b)).collect())),
            Family::Other => Err(self.not_ascii()),
        }
    }

    /// A text (one `decode` gave, with names spliced in) as the bytes to send.
    pub fn encode<'a>(&self, text: &'a str) -> Result<Cow<'a, [u8]>> {
        if text.is_ascii() || self.family == Family::Utf8 {
            return Ok(Cow::Borrowed(text.as_bytes()));
        }
        match self.family {
            Family::Latin1 => text
                .chars()
                .map(|c| {
                    latin1_byte(c).ok_or_else(|| {
                        Error::unsupported(format!(
                            "the character '{c}' in a statement of a latin1 connection (it \
                             has no latin1 byte)"
                        ))
                    })
                })
                .collect::<Result<Vec<u8>>>()
                .map(Cow::Owned),
            _ => Err(self.not_ascii()),
        }
    }

    /// The bytes of a string parameter as text, when this charset can be decoded.
    pub fn decode_value(&self, bytes: &[u8]) -> Option<String> {
        match self.family {
            Family::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_string),
            Family::Latin1 => Some(bytes.iter().map(|&b| latin1_char(b)).collect()),
            Family::Other => bytes
                .is_ascii()
                .then(|| String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    fn not_ascii(&self) -> Error {
        Error::unsupported(format!(
            "non-ASCII text under character set {} (shardgate reads utf8, utf8mb4, latin1 \
             and ASCII text; use SET NAMES utf8mb4)",
            self.name
        ))
    }

    /// Follows a SET statement that ran: `SET NAMES x`, `SET CHARACTER SET x`,
    /// `SET CHARSET x` and `SET character_set_client = x` change the client's charset.
    pub fn after_set(&mut self, sql: &str) {
        let toks: Vec<Token> = significant(sql)
            .filter(|t| t.kind != Kind::Punct(b';'))
            .collect();
        let mut depth = 0i32;
        let mut start = 1;
        for i in 1..=toks.len() {
            let at_end = i == toks.len();
            if !at_end {
                match toks[i].kind {
                    Kind::Punct(b'(') => depth += 1,
                    Kind::Punct(b')') => depth -= 1,
                    _ => {}
                }
            }
            if at_end || (toks[i].kind == Kind::Punct(b',') && depth == 0) {
                if let Some(name) = assigned_charset(&toks[start..i], sql) {
                    *self = ClientCharset::named(&name);
                }
                start = i + 1;
            }
        }
    }
}

/// The charset one assignment of a SET gives the client, if it gives one.
fn assigned_charset(a: &[Token], sql: &str) -> Option<String> {
    let scoped = a
        .first()
        .is_some_and(|t| t.is_word(sql, "SESSION") || t.is_word(sql, "LOCAL"));
    let a = if scoped { &a[1..] } else { a };
    let value_at = if a.first()?.is_word(sql, "NAMES") || a.first()?.is_word(sql, "CHARSET") {
        1
    } else if a.first()?.is_word(sql, "CHARACTER") && a.get(1)?.is_word(sql, "SET") {
        2
    } else {
        let name = a.first()?.text(sql).to_ascii_lowercase();
        let name = name
            .strip_prefix("@@session.")
            .or_else(|| name.strip_prefix("@@local."))
            .or_else(|| name.strip_prefix("@@"))
            .unwrap_or(&name);
        if name != "character_set_client" {
            return None;
        }
        let mut j = 1;
        if a.get(j)?.kind == Kind::Punct(b':') {
            j += 1;
        }
        if a.get(j)?.kind != Kind::Punct(b'=') {
            return None;
        }
        j + 1
    };
    let v = a.get(value_at)?;
    let text = v.text(sql);
    let name = match v.kind {
        Kind::Word if v.is_word(sql, "DEFAULT") => "utf8mb4".to_string(),
        Kind::Word | Kind::QuotedIdent => text.trim_matches('`').to_string(),
        Kind::Str => text[1..text.len().saturating_sub(1).max(1)].to_string(),
        // An expression: no charset the proxy can read, so non-ASCII text is refused.
        _ => "unknown".to_string(),
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(sql: &str) -> String {
        let mut c = ClientCharset::default();
        c.after_set(sql);
        c.name().to_string()
    }

    #[test]
    fn set_statements_change_the_charset() {
        assert_eq!(after("SET NAMES latin1"), "latin1");
        assert_eq!(after("set names 'LATIN1' COLLATE latin1_bin"), "latin1");
        assert_eq!(after("SET CHARACTER SET cp1251"), "cp1251");
        assert_eq!(
            after("SET @@session.character_set_client = latin1"),
            "latin1"
        );
        assert_eq!(
            after("SET @a = 1, character_set_client := 'latin1'"),
            "latin1"
        );
        assert_eq!(after("SET character_set_results = latin1"), "utf8mb4");
        assert_eq!(after("SET NAMES DEFAULT"), "utf8mb4");
        assert_eq!(after("SET sql_mode = 'ANSI'"), "utf8mb4");
    }

    #[test]
    fn latin1_round_trips_every_byte() {
        let latin1 = ClientCharset::named("latin1");
        let all: Vec<u8> = (0..=255u8).collect();
        let text = latin1.decode(&all).unwrap();
        assert!(text.contains('€') && text.contains('é'));
        assert_eq!(latin1.encode(&text).unwrap().as_ref(), all.as_slice());
        assert!(latin1.encode("✓").is_err());
        // Bytes that happen to be valid UTF-8 are still latin1 characters.
        assert_eq!(latin1.decode(b"\xC3\xA9").unwrap(), "Ã©");
    }

    #[test]
    fn other_charsets_take_ascii_only() {
        let sjis = ClientCharset::named("sjis");
        assert_eq!(sjis.decode(b"SELECT 1").unwrap(), "SELECT 1");
        assert_eq!(sjis.decode(b"SELECT '\x95\\'").unwrap_err().code(), 1235);
        let utf8 = ClientCharset::default();
        assert_eq!(utf8.decode(b"\xE9").unwrap_err().code(), 1300);
        assert_eq!(ClientCharset::of_collation(8).name(), "latin1");
        assert_eq!(ClientCharset::of_collation(45).name(), "utf8mb4");
    }
}
