//! An EXECUTE's values bound to a backend prepared statement instead of inlined as literals.
//!
//! EXECUTE plans the statement's text with the values in (the planner routes by them), then
//! each shard query is matched token by token against that text: where the planner only
//! renamed identifiers, the literal tokens of the values are found at the same places and
//! become `?` again, and the shard query runs as a backend prepared statement with the
//! client's values bound. The server then reads each value exactly as it would from the
//! client directly: string bytes in the client's charset, blobs of any size (no hex doubling
//! them past max_allowed_packet), FLOAT and DOUBLE results in full precision.
//!
//! A shard query the planner changed otherwise (a multi-row INSERT split by key, a merged
//! read's added columns and limits) does not match and runs with the literals, as does a
//! value the driver cannot send with the type the client gave it (a DATE, a DECIMAL).
//!
//! On the proxy's own wire connections nothing goes through the driver: there the client's
//! parameter block itself is sent (`forwarded_form`), so every value, a DATE or a DECIMAL
//! too, arrives with the type and bytes the client gave it.

use std::cell::OnceCell;
use std::ops::Range;
use std::sync::Arc;

use mysql_async::Value;

use crate::plan::lexer::{Kind, Lexer, Token};
use crate::plan::Syntax;

use super::execute_packet::Param;

pub struct BoundValues {
    rendered: String,
    /// Lexed only when a shard query differs from `rendered` (the common single-target
    /// statement sends `rendered` itself, and lexing it is a fifth of EXECUTE's own cost).
    tokens: OnceCell<Vec<Token>>,
    /// Byte ranges of each value's literal in `rendered`.
    spans: Vec<Range<usize>>,
    /// The execute's values, turned into the driver's only by `prepared_form` (a wire read
    /// sends the client's block instead, `forwarded_form`).
    params: Vec<Param>,
    /// The client's parameter block, to send as it came (`forwarded_form`).
    forwardable: Option<Vec<u8>>,
    /// `rendered` with the values back as `?`, after the statement prefix, when a fixed
    /// route knew it already (`FixedRoute::forwarded_sql`).
    forwarded_sql: Option<Arc<str>>,
    /// How the texts lex (sql_mode: `'\'` ends a string under NO_BACKSLASH_ESCAPES).
    syntax: Syntax,
}

/// A shard query as a backend prepared statement: its text with `?` and the values.
pub struct PreparedForm {
    pub sql: String,
    pub params: Vec<Value>,
}

/// What the driver sends for `p`, when that is what the client sent: the driver types every
/// string as VAR_STRING, every integer as BIGINT and every date as DATETIME, so a DATE (its
/// time part would show) and a DECIMAL (it would compute as a string) are not bound.
fn bindable(p: &Param) -> Option<Value> {
    Some(match p {
        Param::Null => Value::NULL,
        Param::Int(v) => Value::Int(*v),
        Param::UInt(v) => Value::UInt(*v),
        Param::Float(v) => Value::Float(*v),
        Param::Double(v) => Value::Double(*v),
        Param::DateTime { date: true, .. } | Param::Decimal(_) => return None,
        Param::DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
            ..
        } => Value::Date(*year, *month, *day, *hour, *minute, *second, *micros),
        Param::Time {
            negative,
            days,
            hour,
            minute,
            second,
            micros,
        } => Value::Time(*negative, *days, *hour, *minute, *second, *micros),
        // A BLOB-typed value is a binary string; sent as VAR_STRING it would be text in
        // the client's charset, so it is bound as `BINARY ?` (see `prepared_form`).
        Param::Bytes(b) | Param::Binary(b) => Value::Bytes(b.clone()),
    })
}

impl BoundValues {
    pub fn new(
        rendered: String,
        spans: Vec<Range<usize>>,
        params: Vec<Param>,
        forwardable: Option<Vec<u8>>,
    ) -> BoundValues {
        BoundValues {
            forwardable,
            forwarded_sql: None,
            params,
            rendered,
            tokens: OnceCell::new(),
            spans,
            syntax: Syntax::default(),
        }
    }

    /// The session's syntax, which the statement was prepared under, for matching texts.
    pub fn with_syntax(mut self, syntax: Syntax) -> BoundValues {
        self.syntax = syntax;
        self
    }

    fn significant<'s>(&self, sql: &'s str) -> impl Iterator<Item = Token> + 's {
        Lexer::with_syntax(sql, self.syntax).filter(|t| !t.is_trivia())
    }

    /// The text `forwarded_form` gives for the rendered text itself, statement prefix
    /// included (a fixed route's, `FixedRoute::forwarded_sql`).
    pub fn with_forwarded_sql(mut self, sql: Arc<str>) -> BoundValues {
        self.forwarded_sql = Some(sql);
        self
    }

    /// The forwarded text and block for `target` when it is the rendered text and the
    /// text was given (`with_forwarded_sql`).
    pub fn forwarded_as_planned(&self, target: &str) -> Option<(Arc<str>, Vec<u8>)> {
        let sql = self.forwarded_sql.as_ref()?;
        let block = self.forwardable.as_ref()?;
        (target == self.rendered).then(|| (sql.clone(), block.clone()))
    }

    /// How many values the execute bound.
    pub fn count(&self) -> usize {
        self.spans.len()
    }

    pub fn rendered(&self) -> &str {
        &self.rendered
    }

    pub fn into_rendered(self) -> String {
        self.rendered
    }

    fn span_of(&self, at: usize) -> Option<usize> {
        let i = self.spans.partition_point(|s| s.end <= at);
        self.spans.get(i).filter(|s| s.contains(&at)).map(|_| i)
    }

    /// `target` (a shard query planned from the rendered text) with the values back as `?`,
    /// or None when it does not match token for token outside renamed identifiers.
    pub fn prepared_form(&self, target: &str) -> Option<PreparedForm> {
        let (sql, order) = self.with_placeholders(target, true)?;
        let params = order
            .into_iter()
            .map(|p| bindable(self.params.get(p)?))
            .collect::<Option<Vec<Value>>>()?;
        Some(PreparedForm { sql, params })
    }

    /// `target` with the values back as `?` for the client's own parameter block
    /// (`Parsed::forwardable`): each value with the type the client gave it, as the server
    /// would read it from the client directly, so no value needs to be left as a literal
    /// and a BLOB needs no cast. None unless the block was kept and every value is a
    /// placeholder of `target`, in the client's order.
    pub fn forwarded_form(&self, target: &str) -> Option<(String, Vec<u8>)> {
        let block = self.forwardable.as_ref()?;
        let (sql, order) = self.with_placeholders(target, false)?;
        let in_order =
            order.len() == self.spans.len() && order.iter().enumerate().all(|(i, p)| i == *p);
        in_order.then(|| (sql, block.clone()))
    }

    /// `target` with `?` where a value's literal is, and which value each `?` stands for;
    /// with `binary_cast`, a BLOB-typed value's `?` is `BINARY ?` (see `bindable`).
    fn with_placeholders(&self, target: &str, binary_cast: bool) -> Option<(String, Vec<usize>)> {
        if target == self.rendered {
            return self.rendered_with_placeholders(binary_cast);
        }
        let tokens = self
            .tokens
            .get_or_init(|| self.significant(&self.rendered).collect());
        let theirs: Vec<Token> = self.significant(target).collect();
        let mut sql = String::with_capacity(target.len());
        let mut order = Vec::with_capacity(self.spans.len());
        let mut from = 0;
        let (mut i, mut j) = (0, 0);
        loop {
            if let Some(alias) = self.added_alias(tokens, i, target, &theirs, j) {
                sql.push_str(&target[from..theirs[j].start]);
                sql.push_str(alias.trim_start());
                from = theirs[j + 1].end;
                j += 2;
                continue;
            }
            if i >= tokens.len() {
                break;
            }
            let ours = tokens[i];
            let theirs_now = *theirs.get(j)?;
            let Some(p) = self.span_of(ours.start) else {
                let same = ours.text(&self.rendered) == theirs_now.text(target);
                let renamed = matches!(ours.kind, Kind::Word | Kind::QuotedIdent)
                    && matches!(theirs_now.kind, Kind::Word | Kind::QuotedIdent);
                if !same && !renamed {
                    return None;
                }
                i += 1;
                j += 1;
                continue;
            };
            let first = j;
            while i < tokens.len() && self.span_of(tokens[i].start) == Some(p) {
                if tokens[i].text(&self.rendered) != theirs.get(j)?.text(target) {
                    return None;
                }
                i += 1;
                j += 1;
            }
            sql.push_str(&target[from..theirs[first].start]);
            self.push_placeholder(&mut sql, p, binary_cast);
            from = theirs[j - 1].end;
            order.push(p);
        }
        if j != theirs.len() {
            return None;
        }
        sql.push_str(&target[from..]);
        Some((sql, order))
    }

    /// The alias for the select item ending before `ours[i]`, with the values in it back as
    /// `?`, when `theirs[j..j + 2]` is `AS <name>` the planner added after that item
    /// (`plan::collect::item_names`): its name then does not change with the values, nor does
    /// the backend statement's text.
    fn added_alias(
        &self,
        ours: &[Token],
        i: usize,
        target: &str,
        theirs: &[Token],
        j: usize,
    ) -> Option<String> {
        let (as_word, name) = (theirs.get(j)?, theirs.get(j + 1)?);
        if i == 0
            || !as_word.is_word(target, "AS")
            || name.kind != Kind::QuotedIdent
            || ours.get(i).is_some_and(|t| t.is_word(&self.rendered, "AS"))
        {
            return None;
        }
        let end = ours[i - 1].end;
        let start = ours[item_start(&self.rendered, ours, i - 1)].start;
        let text = &self.rendered[start..end];
        let written = &target[as_word.start..name.end];
        if crate::plan::item_alias(text).trim_start() != written {
            return None;
        }
        let mut with_placeholders = String::with_capacity(text.len());
        let mut at = start;
        for span in &self.spans {
            if span.end <= start || span.start >= end {
                continue;
            }
            // A literal rendered with a space before it (` -5`, so that it never glues to
            // what precedes it) may begin the item at its second byte.
            let lead = &self.rendered[span.start..span.start.max(start)];
            if !lead.bytes().all(|b| b == b' ') || span.end > end {
                return None;
            }
            with_placeholders.push_str(&self.rendered[at..span.start.max(start)]);
            with_placeholders.push('?');
            at = span.end;
        }
        with_placeholders.push_str(&self.rendered[at..end]);
        Some(crate::plan::item_alias(with_placeholders.trim_start()))
    }

    /// The shard query is the rendered text itself: each value's literal becomes `?`
    /// where it stands, without matching tokens.
    fn rendered_with_placeholders(&self, binary_cast: bool) -> Option<(String, Vec<usize>)> {
        let mut sql = String::with_capacity(self.rendered.len());
        let mut from = 0;
        for (p, span) in self.spans.iter().enumerate() {
            sql.push_str(self.rendered.get(from..span.start)?);
            self.push_placeholder(&mut sql, p, binary_cast);
            from = span.end;
        }
        sql.push_str(self.rendered.get(from..)?);
        Some((sql, (0..self.spans.len()).collect()))
    }

    fn push_placeholder(&self, sql: &mut String, p: usize, binary_cast: bool) {
        if binary_cast && matches!(self.params.get(p), Some(Param::Binary(_))) {
            sql.push_str("BINARY ");
        }
        sql.push('?');
    }
}

/// Index of the first token of the select item whose last token is `toks[last]`: back to
/// the comma, `SELECT`, `RETURNING` or enclosing parenthesis before it, past the modifiers
/// after a `SELECT` (`ALL` inside an item, as in `x >= ALL (...)`, is no modifier).
fn item_start(sql: &str, toks: &[Token], last: usize) -> usize {
    let mut depth = 0usize;
    let mut k = last + 1;
    while k > 0 {
        let t = toks[k - 1];
        match t.kind {
            Kind::Punct(b')') => depth += 1,
            Kind::Punct(b'(') if depth == 0 => break,
            Kind::Punct(b'(') => depth -= 1,
            Kind::Punct(b',') if depth == 0 => break,
            Kind::Word
                if depth == 0 && (t.is_word(sql, "SELECT") || t.is_word(sql, "RETURNING")) =>
            {
                while k <= last
                    && crate::plan::SELECT_MODIFIERS
                        .iter()
                        .any(|m| toks[k].is_word(sql, m))
                {
                    k += 1;
                }
                break;
            }
            _ => {}
        }
        k -= 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::stmt::template::Template;

    fn bound(sql: &str, literals: &[&str], params: &[Param]) -> BoundValues {
        let (rendered, spans) = Template::new(sql, Default::default()).render_spans(literals);
        BoundValues::new(rendered, spans, params.to_vec(), None)
    }

    #[test]
    fn renamed_tables_keep_their_placeholders() {
        let b = bound(
            "SELECT a FROM t WHERE id = ? AND s = ?",
            &[" -5", "'it''s'"],
            &[Param::Int(-5), Param::Bytes(b"it's".to_vec())],
        );
        let blob = bound(
            "SELECT a FROM t WHERE id = ? AND s = ?",
            &[" -5", "'it''s'"],
            &[Param::Int(-5), Param::Binary(b"it's".to_vec())],
        );
        assert_eq!(
            b.rendered(),
            "SELECT a FROM t WHERE id =  -5 AND s = 'it''s'"
        );
        let f = b
            .prepared_form("SELECT a FROM `t_3` WHERE id =  -5 AND s = 'it''s'")
            .unwrap();
        assert_eq!(f.sql, "SELECT a FROM `t_3` WHERE id =  ? AND s = ?");
        assert_eq!(
            f.params,
            vec![Value::Int(-5), Value::Bytes(b"it's".to_vec())]
        );
        // Blobs are bound as binary strings.
        let f = blob
            .prepared_form("SELECT a FROM t_3 WHERE id =  -5 AND s = 'it''s'")
            .unwrap();
        assert_eq!(f.sql, "SELECT a FROM t_3 WHERE id =  ? AND s = BINARY ?");
    }

    #[test]
    fn a_shard_query_that_is_the_rendered_text_binds_every_value() {
        let literals = [" -5", "'it''s'", "X'00ff'"];
        let params = [
            Param::Int(-5),
            Param::Bytes(b"it's".to_vec()),
            Param::Binary(vec![0, 255]),
        ];
        let b = bound(
            "SELECT a FROM t WHERE id=-? AND s=? OR b=?",
            &literals,
            &params,
        );
        let f = b.prepared_form(b.rendered()).unwrap();
        assert_eq!(f.sql, "SELECT a FROM t WHERE id=-? AND s=? OR b=BINARY ?");
        assert_eq!(
            f.params,
            vec![
                Value::Int(-5),
                Value::Bytes(b"it's".to_vec()),
                Value::Bytes(vec![0, 255])
            ]
        );
        // The same as matching token by token would give, but for the space before -5.
        let renamed = b
            .prepared_form("SELECT a FROM t_0 WHERE id=- -5 AND s='it''s' OR b=X'00ff'")
            .unwrap();
        assert_eq!(
            renamed.sql,
            "SELECT a FROM t_0 WHERE id=- ? AND s=? OR b=BINARY ?"
        );
        assert_eq!(renamed.params, f.params);
        // A value the driver cannot send faithfully: the literals stay.
        let dec = bound("SELECT ? + 1", &["1.5"], &[Param::Decimal(b"1.5".to_vec())]);
        assert!(dec.prepared_form(dec.rendered()).is_none());
    }

    #[test]
    fn the_clients_block_goes_with_every_value_a_placeholder_in_its_order() {
        let block = vec![
            0, 1, 0, 0, 0, 0, 1, 246, 0, 252, 0, 3, b'1', b'.', b'5', 1, 0,
        ];
        let params = [Param::Decimal(b"1.5".to_vec()), Param::Binary(vec![0])];
        let (rendered, spans) =
            Template::new("SELECT a FROM t WHERE d = ? AND b = ?", Default::default())
                .render_spans(&["1.5", "X'00'"]);
        let b = BoundValues::new(rendered, spans, params.to_vec(), Some(block.clone()));
        // A DECIMAL the driver would not bind, a BLOB without a cast: as the client sent them.
        assert!(b.prepared_form(b.rendered()).is_none());
        let (sql, body) = b.forwarded_form(b.rendered()).unwrap();
        assert_eq!(sql, "SELECT a FROM t WHERE d = ? AND b = ?");
        assert_eq!(body, block);
        let (sql, _) = b
            .forwarded_form("SELECT a FROM `t_2` WHERE d = 1.5 AND b = X'00'")
            .unwrap();
        assert_eq!(sql, "SELECT a FROM `t_2` WHERE d = ? AND b = ?");
        // A shard query that lost a value, or was changed otherwise, does not take the block.
        assert!(b
            .forwarded_form("SELECT a FROM t_2 WHERE d = 1.5")
            .is_none());
        assert!(b
            .forwarded_form("SELECT a FROM t_2 WHERE d = 1.5 AND b = X'01'")
            .is_none());
        // Without the block (long data), nothing is forwarded.
        let (rendered, spans) = Template::new("SELECT ?", Default::default()).render_spans(&["1"]);
        let none = BoundValues::new(rendered, spans, vec![Param::Int(1)], None);
        assert!(none.forwarded_form(none.rendered()).is_none());
    }

    #[test]
    fn changed_queries_and_unbindable_values_do_not_match() {
        let b = bound(
            "INSERT INTO t VALUES (?), (?)",
            &["1", "2"],
            &[Param::Int(1), Param::Int(2)],
        );
        assert!(b.prepared_form("INSERT INTO t_1 VALUES (1)").is_none());
        assert!(b.prepared_form("INSERT INTO t_1 VALUES (1), (3)").is_none());
        let limit = bound("SELECT a FROM t LIMIT ?", &["5"], &[Param::Int(5)]);
        assert!(limit
            .prepared_form("SELECT a FROM t_0 LIMIT 0, 5")
            .is_none());
        let dec = bound(
            "SELECT ? + 1",
            &[" 1.5"],
            &[Param::Decimal(b"1.5".to_vec())],
        );
        assert!(dec.prepared_form("SELECT  1.5 + 1").is_none());
    }

    #[test]
    fn an_added_item_alias_keeps_the_placeholders_of_its_item() {
        let b = bound(
            "SELECT t.id + ?, v FROM t WHERE id = ?",
            &["5", "2"],
            &[Param::Int(5), Param::Int(2)],
        );
        let f = b
            .prepared_form("SELECT x_0.id + 5 AS `t.id + 5`, v FROM x_0 WHERE id = 2")
            .unwrap();
        assert_eq!(
            f.sql,
            "SELECT x_0.id + ? AS `t.id + ?`, v FROM x_0 WHERE id = ?"
        );
        assert_eq!(f.params, vec![Value::Int(5), Value::Int(2)]);
        // An alias the client wrote is matched as any other token; one that is not the
        // item's text is not taken for an added one.
        let own = bound("SELECT t.id + ? AS `n` FROM t", &["5"], &[Param::Int(5)]);
        let f = own
            .prepared_form("SELECT x_0.id + 5 AS `n` FROM x_0")
            .unwrap();
        assert_eq!(f.sql, "SELECT x_0.id + ? AS `n` FROM x_0");
        let b = bound("SELECT (t.id + ?) FROM t", &["5"], &[Param::Int(5)]);
        assert!(b
            .prepared_form("SELECT (x_0.id + 5) AS `other` FROM x_0")
            .is_none());
        let f = b
            .prepared_form("SELECT (x_0.id + 5) AS `(t.id + 5)` FROM x_0")
            .unwrap();
        assert_eq!(f.sql, "SELECT (x_0.id + ?) AS `(t.id + ?)` FROM x_0");
    }
}
