//! The words that the cheap scans made on every statement look for (is it about FOUND_ROWS?
//! does it read `@@last_gtid`? can it call a lock function?), found in one pass over the
//! statement and remembered for the thread's last two texts. A dozen scans, in planning and
//! in execution, each read the whole text again for their own words; a point select paid
//! about 2,000 instructions for them, more than its planning proper.
//!
//! Two texts, because execution asks about the statement and about its shard's rewritten
//! text in turn. A remembered text is compared in full before its words are used, so the
//! answer is always the text's own.

use std::cell::RefCell;

use super::mentions::{mentions_each, Words};

/// One of the words below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word(u8);

macro_rules! statement_words {
    ($($name:ident => $text:literal,)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(u8)]
        enum Index { $($name,)* Count }
        $(pub const $name: Word = Word(Index::$name as u8);)*
        const TEXTS: [&[u8]; Index::Count as usize] = [$($text,)*];
    };
}

// Lower-case ASCII, as `mentions` compares them.
statement_words! {
    OPEN_PAREN => b"(",
    COLON => b":",
    AT => b"@",
    AT_AT => b"@@",
    GTID => b"gtid",
    INTO => b"into",
    VALUE => b"value",
    IN_TRANSACTION => b"in_transaction",
    ROW_COUNT => b"row_count",
    CREATE_TEMPORARY => b"create temporary",
    TEMPORARY => b"temporary",
    LOCK_SUFFIX => b"_lock",
    GET_LOCK => b"get_lock",
    LAST_INSERT_ID => b"last_insert_id",
    SELECT => b"select",
    SQL_CALC_FOUND_ROWS => b"sql_calc_found_rows",
    FOUND_ROWS => b"found_rows",
    CONNECTION_ID => b"connection_id",
    PSEUDO_THREAD_ID => b"pseudo_thread_id",
    LASTVAL => b"lastval",
    WARNING_COUNT => b"warning_count",
    ERROR_COUNT => b"error_count",
}

static ALL: Words<{ TEXTS.len() }> = Words::new(TEXTS);

/// Which of the words a text contains, ignoring ASCII case (as `mentions` would say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mentioned(u64);

impl Mentioned {
    pub fn has(self, word: Word) -> bool {
        self.0 & (1 << word.0) != 0
    }

    /// The text may call the function `name`: it has the name and a `(` somewhere.
    pub fn may_call(self, name: Word) -> bool {
        self.has(OPEN_PAREN) && self.has(name)
    }
}

/// Texts longer than this are scanned each time instead of copied: a bulk INSERT's words are
/// rarely asked twice, and a thread keeps no megabytes for them.
const REMEMBERED_MAX: usize = 16 * 1024;

/// What is known of a text: whether it has a `(` and an `@` (one cheap pass, made when the
/// text is first seen), and its words once asked. The checks made during execution all need
/// one of the two bytes, and a prepared statement's execute brings a text never seen before:
/// for it, the bytes answer them without the pass over the words.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    paren: bool,
    at: bool,
    words: Option<Mentioned>,
}

impl Known {
    fn of(text: &[u8]) -> Known {
        // A plain fold over every byte, which the compiler turns into vector compares.
        let bytes = text.iter().fold(0u8, |acc, &b| {
            acc | u8::from(b == b'(') | (u8::from(b == b'@') << 1)
        });
        Known {
            paren: bytes & 1 != 0,
            at: bytes & 2 != 0,
            words: None,
        }
    }
}

/// What is known of the empty text, which the remembered entries start as.
const EMPTY_TEXT: Known = Known {
    paren: false,
    at: false,
    words: Some(Mentioned(0)),
};

thread_local! {
    /// The last two texts asked about and what is known of them, the latest first.
    static REMEMBERED: RefCell<[(Vec<u8>, Known); 2]> = const {
        RefCell::new([(Vec::new(), EMPTY_TEXT), (Vec::new(), EMPTY_TEXT)])
    };
}

/// What is known of `text`, remembered from an earlier question about it or found now.
fn known(text: &[u8]) -> Known {
    if text.len() > REMEMBERED_MAX {
        return Known::of(text);
    }
    with_remembered(|last| *slot_for(last, text, || Known::of(text)))
        .unwrap_or_else(|| Known::of(text))
}

/// Keeps `words` with `text`, if it is still remembered.
fn remember_words(text: &[u8], words: Mentioned) {
    with_remembered(|last| {
        if let Some(entry) = last.iter_mut().find(|(t, _)| t == text) {
            entry.1.words = Some(words);
        }
    });
}

/// `f` on the thread's remembered texts; None while they are borrowed (a check asked
/// from inside another) or gone (the thread ends).
fn with_remembered<R>(f: impl FnOnce(&mut [(Vec<u8>, Known); 2]) -> R) -> Option<R> {
    REMEMBERED
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut last| f(&mut last)))
        .ok()
        .flatten()
}

/// The entry for `text`, made the latest: the one that holds it, else the older one,
/// taken over for `text` with what `fresh` says of it.
fn slot_for<'a>(
    last: &'a mut [(Vec<u8>, Known); 2],
    text: &[u8],
    fresh: impl FnOnce() -> Known,
) -> &'a mut Known {
    if last[0].0 != text {
        last.swap(0, 1);
        if last[0].0 != text {
            last[0].0.clear();
            last[0].0.extend_from_slice(text);
            last[0].1 = fresh();
        }
    }
    &mut last[0].1
}

/// What the cheap scans find in a text, found once for a text whose copies with values
/// differ only in data (`remember_bound`), and whether it reads alike in every sql_mode
/// (no backslash, no double quote).
#[derive(Debug, Clone, Copy)]
pub struct TextFacts(Known, bool);

/// The bytes and words of `text`, found now.
pub fn facts_of(text: &str) -> TextFacts {
    let b = text.as_bytes();
    let mut known = Known::of(b);
    known.words = Some(Mentioned(mentions_each(b, &ALL)));
    TextFacts(known, !b.iter().any(|&c| c == b'\\' || c == b'"'))
}

/// `text` is a prepared statement's text with values where its template, of which `facts`
/// were found, has its `?`: what the checks look for is code, and a bound value is data (a
/// quoted string, a number, NULL), so the template's facts are the text's. Remembered so,
/// each EXECUTE skips the pass over its new text; what a value holds can then no longer send
/// the statement the slow way, as a word in the template's own strings still does.
///
/// Remembered texts are the thread's, shared by every session on it, and another session may
/// send the same bytes under another sql_mode: what is a value here must be a value there
/// too. Where a quoted string ends differs between modes only at a backslash (under
/// NO_BACKSLASH_ESCAPES, and under ANSI_QUOTES for a double-quoted one), so a text with a
/// backslash or a double quote is scanned as any other: a hostile round sent
/// `SELECT '\'', ', @x := 42 #'`, a value in one mode and a variable set in the other.
/// Only the template is looked at, once (`facts_of`): the values' literals never hold a
/// backslash (`frontend::stmt::literal` sends such text as hex), and a double quote inside
/// a single-quoted literal is data in every mode.
pub fn remember_bound(text: &str, facts: TextFacts) {
    let b = text.as_bytes();
    if b.len() > REMEMBERED_MAX || !facts.1 {
        return;
    }
    with_remembered(|last| *slot_for(last, b, || facts.0) = facts.0);
}

/// The words `text` mentions.
pub fn mentioned(text: &str) -> Mentioned {
    let b = text.as_bytes();
    if let Some(words) = known(b).words {
        return words;
    }
    let words = Mentioned(mentions_each(b, &ALL));
    remember_words(b, words);
    words
}

/// `text` may call the function `name` (`Mentioned::may_call`).
pub fn may_call(text: &str, name: Word) -> bool {
    known(text.as_bytes()).paren && mentioned(text).has(name)
}

/// `text` has an `@`.
pub fn has_at_sign(text: &str) -> bool {
    known(text.as_bytes()).at
}

/// `text` has a `(` or an `@`: what a call or a variable needs.
pub fn may_call_or_read_variable(text: &str) -> bool {
    let k = known(text.as_bytes());
    k.paren || k.at
}

#[cfg(test)]
mod tests {
    use super::super::mentions::mentions;
    use super::*;

    #[test]
    fn every_word_is_what_mentions_says_for_each_of_several_texts_in_turn() {
        let texts = [
            "SELECT c FROM sbtest1 WHERE id=5",
            "select FOUND_ROWS(), @x := 1, @@Last_Gtid",
            "",
            "CREATE TEMPORARY TABLE t (a INT) -- get_lock(",
            "SELECT c FROM sbtest1_3 WHERE id=5",
            "INSERT INTO t VALUES (LAST_INSERT_ID(5)) : row_count pseudo_thread_id",
        ];
        // Each text twice in a row, then all of them again: fresh scans and remembered ones.
        let order = texts.iter().flat_map(|t| [t, t]).chain(texts.iter());
        for text in order {
            let m = mentioned(text);
            for (k, w) in TEXTS.iter().enumerate() {
                let word = Word(k as u8);
                assert_eq!(m.has(word), mentions(text.as_bytes(), w), "{text:?} {w:?}");
            }
        }
    }

    #[test]
    fn a_long_text_is_scanned_not_remembered() {
        let long = format!("SELECT '{}' + FOUND_ROWS()", "x".repeat(REMEMBERED_MAX));
        assert!(mentioned(&long).may_call(FOUND_ROWS));
        assert!(!mentioned(&long).has(GTID));
        assert!(may_call(&long, FOUND_ROWS));
        assert!(REMEMBERED.with(|r| r.borrow().iter().all(|(t, _)| t.len() <= REMEMBERED_MAX)));
    }

    #[test]
    fn the_bytes_and_the_words_agree_whichever_is_asked_first() {
        for text in [
            "SELECT @a",
            "SELECT row_count()",
            "SELECT 1",
            "SELECT row_count()",
        ] {
            let (paren, at) = (text.contains('('), text.contains('@'));
            assert_eq!(may_call_or_read_variable(text), paren || at, "{text}");
            assert_eq!(
                may_call(text, ROW_COUNT),
                paren && text.contains("row_count")
            );
            assert_eq!(mentioned(text).has(AT), at, "{text}");
            assert_eq!(may_call_or_read_variable(text), paren || at, "{text}");
        }
    }

    #[test]
    fn a_bound_text_answers_with_its_templates_facts_and_another_text_with_its_own() {
        let facts = facts_of("SELECT c FROM sbtest1 WHERE id = ? INTO @x");
        let bound = "SELECT c FROM sbtest1 WHERE id = 'found_rows() @y' INTO @x";
        remember_bound(bound, facts);
        // The value's words and bytes are data; the template's INTO and `@` are code.
        assert!(!may_call(bound, FOUND_ROWS));
        assert!(mentioned(bound).has(INTO) && has_at_sign(bound));
        let plain = facts_of("SELECT c FROM sbtest1 WHERE id = ?");
        let bound = "SELECT c FROM sbtest1 WHERE id = '(@z)'";
        remember_bound(bound, plain);
        assert!(!may_call_or_read_variable(bound) && !mentioned(bound).has(INTO));
        // Remembered for that text only: a text asked next is read for itself.
        let other = "SELECT c FROM sbtest1 WHERE id = 5 INTO @v";
        assert!(mentioned(other).has(INTO) && has_at_sign(other));
        let long = format!("SELECT '{}' + FOUND_ROWS()", "x".repeat(REMEMBERED_MAX));
        remember_bound(&long, plain);
        assert!(may_call(&long, FOUND_ROWS));
        // Where a string ends may depend on the reader's sql_mode: such a text is read itself.
        // Judged by the template: the values' literals never hold a backslash.
        for (template, bound) in [
            ("SELECT '\\'', ?", "SELECT '\\'', ', @x := 42 #'"),
            ("SELECT \"a\", ?", "SELECT \"a\", ', GET_LOCK(1, 0) #'"),
        ] {
            remember_bound(bound, facts_of(template));
            assert!(may_call_or_read_variable(bound), "{bound}");
        }
    }

    #[test]
    fn a_call_needs_the_name_and_a_parenthesis() {
        assert!(mentioned("SELECT found_rows ( )").may_call(FOUND_ROWS));
        assert!(!mentioned("SELECT found_rows FROM t").may_call(FOUND_ROWS));
    }
}
