//! MySQL forms sqlparser 0.64 misreads, patched in its token list before parsing.
//!
//! sqlparser does not know UPDATE's and DELETE's modifiers, and it does not fail on them: it
//! reads `UPDATE IGNORE hospitals SET ...` as table `IGNORE` under the alias `hospitals`, and
//! `DELETE QUICK FROM t` as a multi-table DELETE of a table `QUICK`. Routed from such a tree,
//! a write to a broadcast or sharded table went to the default group under its logical name.
//! So the modifiers of the statement's own keyword are dropped from the tokens sqlparser sees
//! (they do not change where a statement runs; the servers get the original text, modifiers
//! included). Likewise MariaDB's `INSERT INTO t PARTITION (p) ...` (sqlparser expects Hive's
//! PARTITION after the column list), and the comma-separated table list of a multi-table
//! `UPDATE t1, t2 SET ...`, whose commas are read as `JOIN` (MySQL's comma join is an inner
//! join without a condition; WHERE still links the tables).
//!
//! Every patch drops or replaces tokens in place, so each remaining token keeps its source
//! span and renames still land on the original text.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Word};

/// Words that may precede the statement's own keyword (`EXPLAIN FORMAT=JSON UPDATE ...`).
const PREFIX: &[&str] = &[
    "EXPLAIN",
    "ANALYZE",
    "DESCRIBE",
    "DESC",
    "EXTENDED",
    "PARTITIONS",
    "FORMAT",
    "JSON",
    "TRADITIONAL",
];

const UPDATE_MODIFIERS: &[&str] = &["LOW_PRIORITY", "IGNORE"];
const DELETE_MODIFIERS: &[&str] = &["LOW_PRIORITY", "QUICK", "IGNORE"];
const INSERT_MODIFIERS: &[&str] = &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"];

fn is_bare(t: &TokenWithSpan, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn is_trivia(t: &TokenWithSpan) -> bool {
    matches!(t.token, Token::Whitespace(_))
}

/// Index of the next significant token at or after `i`.
fn next(tokens: &[TokenWithSpan], mut i: usize) -> Option<usize> {
    while i < tokens.len() && is_trivia(&tokens[i]) {
        i += 1;
    }
    (i < tokens.len()).then_some(i)
}

/// Applies the patches described in the module documentation.
pub(crate) fn patch(tokens: &mut Vec<TokenWithSpan>) {
    let Some(kw) = statement_keyword(tokens) else {
        return;
    };
    let modifiers = if is_bare(&tokens[kw], "UPDATE") {
        UPDATE_MODIFIERS
    } else if is_bare(&tokens[kw], "DELETE") {
        DELETE_MODIFIERS
    } else if is_bare(&tokens[kw], "INSERT") || is_bare(&tokens[kw], "REPLACE") {
        INSERT_MODIFIERS
    } else {
        return;
    };
    // The modifiers, in any order (MariaDB accepts them so). sqlparser reads INSERT's and
    // REPLACE's itself (and records IGNORE): those stay.
    let keep = modifiers == INSERT_MODIFIERS;
    let mut i = kw + 1;
    let mut drop = Vec::new();
    while let Some(j) = next(tokens, i) {
        if !modifiers.iter().any(|m| is_bare(&tokens[j], m)) {
            break;
        }
        if !keep {
            drop.push(j);
        }
        i = j + 1;
    }
    if is_bare(&tokens[kw], "UPDATE") {
        comma_joins(tokens, i);
    } else if is_bare(&tokens[kw], "DELETE") {
        drop.extend(target_stars(tokens, i));
    } else if keep {
        drop.extend(insert_partition(tokens, i));
    }
    for j in drop.into_iter().rev() {
        tokens.remove(j);
    }
}

/// The index of the statement's own keyword, after any EXPLAIN-like prefix.
fn statement_keyword(tokens: &[TokenWithSpan]) -> Option<usize> {
    let mut i = next(tokens, 0)?;
    while PREFIX.iter().any(|p| is_bare(&tokens[i], p)) || tokens[i].token == Token::Eq {
        i = next(tokens, i + 1)?;
    }
    Some(i)
}

/// `UPDATE t1, t2 SET`: the top-level commas before SET become JOIN.
fn comma_joins(tokens: &mut [TokenWithSpan], from: usize) {
    let mut depth = 0usize;
    let mut commas = Vec::new();
    for (j, t) in tokens.iter().enumerate().skip(from) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => commas.push(j),
            Token::SemiColon => return,
            _ if depth == 0 && is_bare(t, "SET") => {
                for c in commas {
                    tokens[c].token = Token::Word(Word {
                        value: "JOIN".to_string(),
                        quote_style: None,
                        keyword: Keyword::JOIN,
                    });
                }
                return;
            }
            _ => {}
        }
    }
}

/// `DELETE t.* FROM ...` / `DELETE FROM t.* USING ...`: the `.*` of each target (MySQL
/// accepts it, sqlparser does not), at the top level before WHERE.
fn target_stars(tokens: &[TokenWithSpan], from: usize) -> Vec<usize> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (j, t) in tokens.iter().enumerate().skip(from) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::SemiColon => break,
            _ if depth == 0 && is_bare(t, "WHERE") => break,
            Token::Mul if depth == 0 => {
                let star_after_dot = j > 0 && tokens[j - 1].token == Token::Period;
                if star_after_dot {
                    out.extend([j - 1, j]);
                }
            }
            _ => {}
        }
    }
    out
}

/// `INSERT [INTO] [db.]t PARTITION (p, ...)`: the tokens of the PARTITION clause.
fn insert_partition(tokens: &[TokenWithSpan], from: usize) -> Vec<usize> {
    let mut i = from;
    let step = |i: usize| next(tokens, i);
    let Some(mut j) = step(i) else {
        return Vec::new();
    };
    if is_bare(&tokens[j], "INTO") {
        i = j + 1;
        j = match step(i) {
            Some(j) => j,
            None => return Vec::new(),
        };
    }
    // The table name: a word, optionally `word . word`.
    if !matches!(tokens[j].token, Token::Word(_)) {
        return Vec::new();
    }
    let mut k = match step(j + 1) {
        Some(k) => k,
        None => return Vec::new(),
    };
    if tokens[k].token == Token::Period {
        let Some(t) = step(k + 1) else {
            return Vec::new();
        };
        k = match step(t + 1) {
            Some(k) => k,
            None => return Vec::new(),
        };
    }
    if !is_bare(&tokens[k], "PARTITION") {
        return Vec::new();
    }
    let Some(open) = step(k + 1).filter(|&o| tokens[o].token == Token::LParen) else {
        return Vec::new();
    };
    for (close, t) in tokens.iter().enumerate().skip(open + 1) {
        match t.token {
            Token::RParen => return (k..=close).collect(),
            Token::LParen | Token::SemiColon => return Vec::new(),
            _ => {}
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn patched(sql: &str) -> String {
        let mut tokens = Tokenizer::new(&MySqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        patch(&mut tokens);
        tokens.iter().map(|t| t.token.to_string()).collect()
    }

    #[test]
    fn drops_modifiers_of_the_statement_keyword_only() {
        assert_eq!(
            patched("UPDATE LOW_PRIORITY IGNORE t SET a = 1"),
            "UPDATE   t SET a = 1"
        );
        assert_eq!(
            patched("DELETE QUICK IGNORE LOW_PRIORITY FROM t"),
            "DELETE    FROM t"
        );
        assert_eq!(
            patched("EXPLAIN FORMAT=JSON DELETE QUICK FROM t"),
            "EXPLAIN FORMAT=JSON DELETE  FROM t"
        );
        assert_eq!(
            patched("INSERT IGNORE INTO t SET a = 1 ON DUPLICATE KEY UPDATE IGNORE"),
            "INSERT IGNORE INTO t SET a = 1 ON DUPLICATE KEY UPDATE IGNORE"
        );
        assert_eq!(
            patched("UPDATE `ignore` SET a = 1"),
            "UPDATE `ignore` SET a = 1"
        );
    }

    #[test]
    fn delete_target_stars_are_dropped() {
        assert_eq!(
            patched("DELETE QUICK a.*, b.* FROM a JOIN b WHERE a.x IN (SELECT c.* FROM c)"),
            "DELETE  a, b FROM a JOIN b WHERE a.x IN (SELECT c.* FROM c)"
        );
        assert_eq!(
            patched("DELETE FROM t1.* USING t1"),
            "DELETE FROM t1 USING t1"
        );
    }

    #[test]
    fn comma_tables_of_update_become_joins() {
        assert_eq!(
            patched("UPDATE a, b x SET a.c = f(1, 2), b.d = 2 WHERE a.k IN (1, 2)"),
            "UPDATE aJOIN b x SET a.c = f(1, 2), b.d = 2 WHERE a.k IN (1, 2)"
        );
    }

    #[test]
    fn insert_partition_clause_is_dropped() {
        assert_eq!(
            patched("INSERT IGNORE INTO db.t PARTITION (p0, p1) (a) VALUES (1)"),
            "INSERT IGNORE INTO db.t  (a) VALUES (1)"
        );
        assert_eq!(
            patched("REPLACE t PARTITION (p0) SET a = 1"),
            "REPLACE t  SET a = 1"
        );
    }
}
