//! The scatter planner's columns: select items, the column an ORDER BY / GROUP BY entry
//! names (added hidden when the select list lacks it), weight columns, and the hidden
//! columns an aggregate needs to combine.

use sqlparser::ast::{Expr, SelectItem};

use super::clauses::{normalized, tokens_in};
use super::{refuse, Item, Piece, Planner};
use crate::error::Result;
use crate::plan::column_sorts::ColumnSort;
use crate::plan::lexer::{ident_value, significant, Kind, Token};
use crate::plan::merge::{Agg, AggKind, Col};
use crate::plan::names::same_column_name;

impl Planner<'_> {
    pub(crate) fn item(&self, range: (usize, usize), item: &SelectItem) -> Result<Item> {
        let (expr, alias, wildcard) = match item {
            SelectItem::UnnamedExpr(e) => (Some(e.clone()), None, false),
            SelectItem::ExprWithAlias { expr, alias } => {
                (Some(expr.clone()), Some(alias.value.clone()), false)
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => (None, None, true),
            _ => return Err(refuse("this select item", &self.table)),
        };
        let mut r = range;
        if alias.is_some() {
            // Drop `[AS] alias` from the end of the item.
            let toks = tokens_in(&self.toks, range.0, range.1);
            let n = toks.len();
            let cut = if n >= 3 && toks[n - 2].is_word(self.sql, "AS") {
                n - 2
            } else {
                n - 1
            };
            if cut == 0 {
                return Err(refuse("a select item shardgate cannot split", &self.table));
            }
            r = (range.0, toks[cut - 1].end);
        }
        Ok(Item {
            range: r,
            norm: normalized(self.sql, r),
            alias,
            wildcard,
            expr,
        })
    }

    pub(crate) fn is_shard_key(&self, e: &Expr) -> bool {
        match e {
            Expr::Identifier(i) => i.value.eq_ignore_ascii_case(&self.shard_key),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [.., q, c] => {
                    c.value.eq_ignore_ascii_case(&self.shard_key)
                        && self
                            .key_qualifiers
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(&q.value))
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// The shard key of a table no outer join pads with NULLs: its groups are complete on
    /// one shard. An unqualified key names such a table when one is joined (USING / NATURAL
    /// joins resolve it to the preserved side; otherwise it is ambiguous anyway).
    pub(crate) fn is_local_key(&self, e: &Expr) -> bool {
        let padded = |n: &str| self.nullable.iter().any(|k| k.eq_ignore_ascii_case(n));
        self.is_shard_key(e)
            && match e {
                Expr::CompoundIdentifier(parts) => parts
                    .len()
                    .checked_sub(2)
                    .is_some_and(|i| !padded(&parts[i].value)),
                _ => self.nullable.is_empty() || self.key_qualifiers.iter().any(|k| !padded(k)),
            }
    }

    pub(crate) fn add_hidden(&mut self, pieces: Vec<Piece>) -> Col {
        self.hidden.push(pieces);
        Col::Hidden(self.hidden.len() - 1)
    }

    /// A select item this expression names: by position, alias or same text.
    pub(crate) fn find_item(&self, e: &Expr, range: (usize, usize)) -> Option<Col> {
        if let Some(k) = self.item_named(e) {
            return Some(Col::Visible(k));
        }
        let norm = normalized(self.sql, range);
        self.items
            .iter()
            .position(|it| !it.wildcard && it.norm == norm)
            .map(Col::Visible)
    }

    /// The item `e` names, if it is a name: an alias, or the text as written of an item
    /// without one, which the server lets ORDER BY / GROUP BY use (``ORDER BY `t.id + 1` ``;
    /// copied into a hidden item, where no item's name can be used, that was 1054).
    fn item_named(&self, e: &Expr) -> Option<usize> {
        let Expr::Identifier(i) = e else {
            return None;
        };
        // A double-quoted name is an identifier only under ANSI_QUOTES, which the parser
        // followed: otherwise it is a string, no `Identifier`.
        if !matches!(i.quote_style, None | Some('`') | Some('"')) {
            return None;
        }
        // The first item of that name in the select list, as the server takes it.
        self.items.iter().position(|it| match it.alias.as_deref() {
            Some(a) => same_column_name(a, &i.value),
            None => !it.wildcard && same_column_name(&self.sql[it.range.0..it.range.1], &i.value),
        })
    }

    /// What a shard's ORDER BY says to sort its groups by `cols`, the GROUP BY keys: their
    /// positions in the shard's select list. The GROUP BY text itself (`group`) would be
    /// read by ORDER BY's rules, select items first: `GROUP BY n ORDER BY n` with `n % 3 AS
    /// n` groups by the column and sorts by the item, and the merge would split groups.
    /// With `*` in the select list positions are not known, and the text is used unless a
    /// key is a column that a select item's name shadows.
    pub(crate) fn order_of_keys(&self, cols: &[Col], group: (usize, usize)) -> Result<Piece> {
        if self.items.iter().any(|i| i.wildcard) {
            if self.shadowed_group_column {
                return Err(refuse(
                    "GROUP BY a column that a select item's name shadows, next to *",
                    &self.table,
                ));
            }
            return Ok(Piece::Src(group.0, group.1));
        }
        let positions: Vec<String> = cols
            .iter()
            .map(|c| match c {
                Col::Visible(i) => i + 1,
                Col::Hidden(h) => self.items.len() + h + 1,
            })
            .map(|n| n.to_string())
            .collect();
        Ok(Piece::Text(positions.join(", ")))
    }

    /// The GROUP BY column HAVING name `e` stands for, where a select item has the name too
    /// (`GROUP BY k HAVING k > 15` filters on the column k, not on `k % 2 AS k`).
    pub(crate) fn grouped_column(&self, e: &Expr) -> Option<Col> {
        let Expr::Identifier(i) = e else {
            return None;
        };
        self.grouped_columns
            .iter()
            .find(|(n, _)| same_column_name(n, &i.value))
            .map(|(_, c)| *c)
    }

    /// The column holding GROUP BY entry `e`. GROUP BY looks for a column of that name
    /// before a select item's (ORDER BY the other way round): `SELECT n % 3 AS n ... GROUP BY
    /// n` groups by the column n, so an item's name that is also a column is the column.
    /// Whether it is one is asked of the table's columns; with other tables in FROM, whose
    /// columns the proxy does not read, such a name is refused.
    pub(crate) fn resolve_group_key(&mut self, e: &Expr, range: (usize, usize)) -> Result<Col> {
        if let Expr::CompoundIdentifier(parts) = e {
            // A qualified name is the column; HAVING takes its bare name as that column too.
            let col = self.resolve(e, range, true)?;
            if let Some(last) = parts.last() {
                self.grouped_columns.push((last.value.to_lowercase(), col));
            }
            return Ok(col);
        }
        let (Expr::Identifier(name), Some(k)) = (e, self.item_named(e)) else {
            return self.resolve(e, range, true);
        };
        let is_itself = matches!(&self.items[k].expr,
            Some(Expr::Identifier(c)) if same_column_name(&c.value, &name.value));
        if is_itself {
            return Ok(Col::Visible(k));
        }
        let Some(columns_of_table) = self.columns_of_table else {
            return Err(refuse(
                format!(
                    "GROUP BY {}, the name of a select item that a column of a joined table may \
                     also have (name the item by its position or expression)",
                    name.value
                ),
                &self.table,
            ));
        };
        if columns_of_table()?
            .iter()
            .any(|c| same_column_name(c, &name.value))
        {
            // The server groups by the column: the merge reads it from a hidden copy, named
            // otherwise (a second select item of the name would make it ambiguous, 1052).
            let alias = format!(" AS `shardgate_group_{}`", self.hidden.len());
            let col = self.add_hidden(vec![Piece::Src(range.0, range.1), Piece::Text(alias)]);
            self.grouped_columns.push((name.value.to_lowercase(), col));
            self.shadowed_group_column = true;
            return Ok(col);
        }
        Ok(Col::Visible(k))
    }

    /// The column holding `e` (an ORDER BY / GROUP BY entry), added hidden if needed.
    pub(crate) fn resolve(
        &mut self,
        e: &Expr,
        range: (usize, usize),
        positional: bool,
    ) -> Result<Col> {
        if positional {
            if let Expr::Value(v) = e {
                if let sqlparser::ast::Value::Number(n, _) = &v.value {
                    let k: usize = n
                        .parse()
                        .map_err(|_| refuse(format!("ORDER BY {n}"), &self.table))?;
                    if k == 0 || (k > self.items.len() && !self.items.iter().any(|i| i.wildcard)) {
                        return Err(refuse(
                            format!("position {n} in ORDER BY / GROUP BY"),
                            &self.table,
                        ));
                    }
                    if self.items[..(k - 1).min(self.items.len())]
                        .iter()
                        .any(|i| i.wildcard)
                    {
                        return Err(refuse(
                            "a position after * in ORDER BY / GROUP BY",
                            &self.table,
                        ));
                    }
                    return Ok(Col::Visible(k - 1));
                }
            }
        }
        if let Some(c) = self.find_item(e, range) {
            return Ok(c);
        }
        Ok(self.add_hidden(vec![Piece::Src(range.0, range.1)]))
    }

    /// A hidden `WEIGHT_STRING()` of the expression behind `col`, for the merge to compare
    /// should it be text; None for a column of the table known to sort by value.
    pub(crate) fn weight_of(&mut self, col: Col, range: (usize, usize)) -> Option<Col> {
        let src = match col {
            Col::Visible(i) if i < self.items.len() && !self.items[i].wildcard => {
                self.items[i].range
            }
            _ => range,
        };
        match self.sort_of_column_at(src) {
            ColumnSort::ByValue => None,
            ColumnSort::ByWeight => Some(self.add_hidden(weight_pieces(src))),
        }
    }

    /// How the text at `src` sorts when it names a column of the table (`col`, `` `col` ``,
    /// `t.col`): with one table in FROM, a name the select list does not define (the caller
    /// resolved those to their items) is that table's column, and a qualified one can name no
    /// other. `ByWeight` for anything else, and while the table's types are not learned.
    fn sort_of_column_at(&self, (s, e): (usize, usize)) -> ColumnSort {
        let Some(sorts) = &self.sorts else {
            return ColumnSort::ByWeight;
        };
        let text = &self.sql[s..e];
        let is_name = |t: &Token| matches!(t.kind, Kind::Word | Kind::QuotedIdent);
        let mut toks = significant(text);
        let (name, qualified) = match (toks.next(), toks.next(), toks.next(), toks.next()) {
            (Some(name), None, None, None) if is_name(&name) => (name, false),
            (Some(table), Some(dot), Some(name), None)
                if is_name(&table) && dot.text(text) == "." && is_name(&name) =>
            {
                (name, true)
            }
            _ => return ColumnSort::ByWeight,
        };
        let value = ident_value(&name, text);
        if name.kind == Kind::Word && NOT_COLUMNS.iter().any(|w| value.eq_ignore_ascii_case(w)) {
            return ColumnSort::ByWeight;
        }
        // A bare name that is also a select item's: the server would sort by the item, which
        // the caller resolved already; should it not have, nothing is assumed.
        let names_an_item = self.items.iter().any(|it| {
            it.alias
                .as_deref()
                .is_some_and(|a| same_column_name(a, &value))
        });
        if names_an_item && !qualified {
            return ColumnSort::ByWeight;
        }
        sorts.sort_of(&value)
    }

    /// How the aggregate in `col` combines, adding the hidden columns it needs.
    pub(crate) fn agg(
        &mut self,
        col: Col,
        kind: AggKind,
        distinct: bool,
        arg: Option<&Expr>,
    ) -> Result<Agg> {
        // DISTINCT changes nothing for MIN/MAX; over the shard key the shards' value sets are
        // disjoint, so partial COUNT/SUM(DISTINCT) add up (AVG's hidden SUM/COUNT keep the
        // DISTINCT, being copied from inside its parentheses).
        if distinct && !matches!(kind, AggKind::Min | AggKind::Max) {
            let on_key = arg.is_some_and(|a| self.is_shard_key(a));
            if !on_key {
                return Err(refuse(
                    "COUNT/SUM/AVG(DISTINCT ...) on a column other than the shard key",
                    &self.table,
                ));
            }
        }
        if matches!(kind, AggKind::Sum | AggKind::Avg { .. })
            && arg.is_some_and(super::aggregate::has_division)
        {
            // `/` keeps more digits inside the server than its DECIMAL column shows: each
            // shard would round its partial sum to the shown scale before the proxy adds.
            return Err(refuse(
                "SUM/AVG of an expression with a division (/)",
                &self.table,
            ));
        }
        let range = self.col_range(col);
        let mut agg = Agg {
            col,
            kind,
            weight: None,
        };
        match kind {
            AggKind::Min | AggKind::Max => {
                agg.weight = Some(self.add_hidden(weight_pieces(range)));
            }
            AggKind::Avg { .. } => {
                let inner = inner_args(self.sql, range)
                    .ok_or_else(|| refuse("an AVG() shardgate cannot split", &self.table))?;
                let sum = self.add_hidden(vec![
                    Piece::Text("SUM(".into()),
                    Piece::Src(inner.0, inner.1),
                    Piece::Text(")".into()),
                ]);
                let count = self.add_hidden(vec![
                    Piece::Text("COUNT(".into()),
                    Piece::Src(inner.0, inner.1),
                    Piece::Text(")".into()),
                ]);
                agg.kind = AggKind::Avg { sum, count };
            }
            _ => {}
        }
        Ok(agg)
    }

    pub(crate) fn col_range(&self, col: Col) -> (usize, usize) {
        match col {
            Col::Visible(i) => self.items[i].range,
            Col::Hidden(i) => match self.hidden[i].as_slice() {
                [Piece::Src(s, e)] => (*s, *e),
                _ => (0, 0),
            },
        }
    }
}

/// The text between a call's outer parentheses.
pub(crate) fn inner_args(sql: &str, (s, e): (usize, usize)) -> Option<(usize, usize)> {
    let text = &sql[s..e];
    let open = crate::plan::lexer::significant(text).find(|t| t.text(text) == "(")?;
    let close = text.rfind(')')?;
    (open.end <= close).then_some((s + open.end, s + close))
}

/// Unquoted words that are values or calls, never columns, wherever a column is allowed.
const NOT_COLUMNS: &[&str] = &[
    "NULL",
    "TRUE",
    "FALSE",
    "DEFAULT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "CURRENT_USER",
    "CURRENT_ROLE",
    "UTC_DATE",
    "UTC_TIME",
    "UTC_TIMESTAMP",
    "SYSDATE",
];

/// The collation weight of the expression at `src`, comparable across shards. PAD SPACE
/// collations treat trailing spaces as absent while WEIGHT_STRING keeps them, hence RTRIM;
/// NO PAD collations (MariaDB names them `..._nopad_...`) keep them significant, and the
/// shard's column definitions do not tell the collation (they carry the result charset's),
/// so the shard decides.
pub(crate) fn weight_pieces(src: (usize, usize)) -> Vec<Piece> {
    vec![
        Piece::Text("WEIGHT_STRING(IF(COLLATION(".into()),
        Piece::Src(src.0, src.1),
        Piece::Text(") LIKE '%nopad%', ".into()),
        Piece::Src(src.0, src.1),
        Piece::Text(", RTRIM(".into()),
        Piece::Src(src.0, src.1),
        Piece::Text(")))".into()),
    ]
}
