//! Index hints on a copied table (`t FORCE INDEX (PRIMARY)`): the copy has no indexes, so
//! the server would refuse the hint (1176 "Key doesn't exist"), although a hint never
//! changes what a SELECT answers. They are cut from the statement run over the copies.

use super::super::lexer::{ident_value, significant, Kind, Token};

/// `sql` without the index hints that follow a reference to one of `temps`.
pub(super) fn without_index_hints(sql: &str, temps: &[&str]) -> String {
    let toks: Vec<Token> = significant(sql).collect();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let is_temp = matches!(toks[i].kind, Kind::Word | Kind::QuotedIdent)
            && temps.iter().any(|t| ident_value(&toks[i], sql) == *t);
        if !is_temp {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        // [AS] alias
        if toks.get(j).is_some_and(|t| t.is_word(sql, "AS")) {
            j += 2;
        } else if toks
            .get(j)
            .is_some_and(|t| alias_like(t, sql) && hint_at(&toks, j, sql).is_none())
        {
            j += 1;
        }
        while let Some(end) = hint_at(&toks, j, sql) {
            cuts.push((toks[j].start, toks[end].end));
            j = end + 1;
            // index_hint [, index_hint] ...
            if toks.get(j).is_some_and(|t| t.kind == Kind::Punct(b','))
                && hint_at(&toks, j + 1, sql).is_some()
            {
                cuts.push((toks[j].start, toks[j].end));
                j += 1;
            }
        }
        i = j.max(i + 1);
    }
    if cuts.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let mut pos = 0;
    for (s, e) in cuts {
        out.push_str(&sql[pos..s]);
        out.push(' ');
        pos = e;
    }
    out.push_str(&sql[pos..]);
    out
}

fn alias_like(t: &Token, sql: &str) -> bool {
    t.kind == Kind::QuotedIdent || t.kind == Kind::Word && !is_clause_word(t.text(sql))
}

fn is_clause_word(w: &str) -> bool {
    [
        "WHERE",
        "ON",
        "USING",
        "JOIN",
        "INNER",
        "LEFT",
        "RIGHT",
        "CROSS",
        "STRAIGHT_JOIN",
        "NATURAL",
        "GROUP",
        "ORDER",
        "HAVING",
        "LIMIT",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "WINDOW",
        "FOR",
        "LOCK",
        "INTO",
        "PARTITION",
        "USE",
        "FORCE",
        "IGNORE",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(w))
}

/// The index of the `)` closing an index hint starting at `j`:
/// `{USE|FORCE|IGNORE} {INDEX|KEY} [FOR {JOIN|ORDER BY|GROUP BY}] ( [names] )`.
fn hint_at(toks: &[Token], j: usize, sql: &str) -> Option<usize> {
    let first = toks.get(j)?;
    if !["USE", "FORCE", "IGNORE"]
        .iter()
        .any(|w| first.is_word(sql, w))
    {
        return None;
    }
    let second = toks.get(j + 1)?;
    if !second.is_word(sql, "INDEX") && !second.is_word(sql, "KEY") {
        return None;
    }
    let mut k = j + 2;
    if toks.get(k)?.is_word(sql, "FOR") {
        k += 1;
        if toks.get(k)?.is_word(sql, "JOIN") {
            k += 1;
        } else if (toks.get(k)?.is_word(sql, "ORDER") || toks.get(k)?.is_word(sql, "GROUP"))
            && toks.get(k + 1)?.is_word(sql, "BY")
        {
            k += 2;
        } else {
            return None;
        }
    }
    if toks.get(k)?.kind != Kind::Punct(b'(') {
        return None;
    }
    (k + 1..toks.len()).find(|&m| toks[m].kind == Kind::Punct(b')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_hints_after_copies_only() {
        let temps = ["shardgate_m0_t"];
        for (sql, want) in [
            (
                "SELECT * FROM `shardgate_m0_t` FORCE INDEX (PRIMARY) WHERE x = 1",
                "SELECT * FROM `shardgate_m0_t`   WHERE x = 1",
            ),
            (
                "SELECT * FROM `shardgate_m0_t` AS a USE KEY FOR ORDER BY (i, j), IGNORE INDEX () JOIN u USE INDEX (k) ON 1",
                "SELECT * FROM `shardgate_m0_t` AS a      JOIN u USE INDEX (k) ON 1",
            ),
            (
                "SELECT * FROM `shardgate_m0_t` b IGNORE INDEX FOR JOIN (i), u",
                "SELECT * FROM `shardgate_m0_t` b  , u",
            ),
            (
                "SELECT 'shardgate_m0_t USE INDEX (a)' FROM `shardgate_m0_t` WHERE `use` = 1",
                "SELECT 'shardgate_m0_t USE INDEX (a)' FROM `shardgate_m0_t` WHERE `use` = 1",
            ),
        ] {
            assert_eq!(without_index_hints(sql, &temps), want, "{sql}");
        }
    }
}
