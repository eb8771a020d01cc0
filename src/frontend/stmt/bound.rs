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

use std::cell::OnceCell;
use std::ops::Range;

use mysql_async::Value;

use crate::plan::lexer::{significant, Kind, Token};

use super::execute_packet::Param;

pub struct BoundValues {
    rendered: String,
    /// Lexed only when a shard query differs from `rendered` (the common single-target
    /// statement sends `rendered` itself, and lexing it is a fifth of EXECUTE's own cost).
    tokens: OnceCell<Vec<Token>>,
    /// Byte ranges of each value's literal in `rendered`.
    spans: Vec<Range<usize>>,
    /// The values to bind, None where one cannot be bound faithfully.
    values: Vec<Option<Value>>,
    /// Which values are BLOB-typed.
    binary: Vec<bool>,
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
    pub fn new(rendered: String, spans: Vec<Range<usize>>, params: &[Param]) -> BoundValues {
        BoundValues {
            values: params.iter().map(bindable).collect(),
            binary: params
                .iter()
                .map(|p| matches!(p, Param::Binary(_)))
                .collect(),
            rendered,
            tokens: OnceCell::new(),
            spans,
        }
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
        if target == self.rendered {
            return self.prepared_as_rendered();
        }
        let tokens = self
            .tokens
            .get_or_init(|| significant(&self.rendered).collect());
        let theirs: Vec<Token> = significant(target).collect();
        if theirs.len() != tokens.len() {
            return None;
        }
        let mut sql = String::with_capacity(target.len());
        let mut params = Vec::with_capacity(self.spans.len());
        let mut from = 0;
        let mut i = 0;
        while i < tokens.len() {
            let ours = tokens[i];
            let Some(p) = self.span_of(ours.start) else {
                let same = ours.text(&self.rendered) == theirs[i].text(target);
                let renamed = matches!(ours.kind, Kind::Word | Kind::QuotedIdent)
                    && matches!(theirs[i].kind, Kind::Word | Kind::QuotedIdent);
                if !same && !renamed {
                    return None;
                }
                i += 1;
                continue;
            };
            let first = i;
            while i < tokens.len() && self.span_of(tokens[i].start) == Some(p) {
                if tokens[i].text(&self.rendered) != theirs[i].text(target) {
                    return None;
                }
                i += 1;
            }
            sql.push_str(&target[from..theirs[first].start]);
            if self.binary.get(p).copied().unwrap_or(false) {
                sql.push_str("BINARY ");
            }
            sql.push('?');
            from = theirs[i - 1].end;
            params.push(self.values.get(p)?.clone()?);
        }
        sql.push_str(&target[from..]);
        Some(PreparedForm { sql, params })
    }

    /// The shard query is the rendered text itself: each value's literal becomes `?`
    /// where it stands, without matching tokens.
    fn prepared_as_rendered(&self) -> Option<PreparedForm> {
        let mut sql = String::with_capacity(self.rendered.len());
        let mut params = Vec::with_capacity(self.spans.len());
        let mut from = 0;
        for (p, span) in self.spans.iter().enumerate() {
            sql.push_str(self.rendered.get(from..span.start)?);
            if self.binary.get(p).copied().unwrap_or(false) {
                sql.push_str("BINARY ");
            }
            sql.push('?');
            from = span.end;
            params.push(self.values.get(p)?.clone()?);
        }
        sql.push_str(self.rendered.get(from..)?);
        Some(PreparedForm { sql, params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::stmt::template::Template;

    fn bound(sql: &str, literals: &[&str], params: &[Param]) -> BoundValues {
        let (rendered, spans) = Template::new(sql, Default::default()).render_spans(literals);
        BoundValues::new(rendered, spans, params)
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
}
