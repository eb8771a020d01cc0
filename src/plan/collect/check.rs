//! After the walk: qualifiers resolved now that the tables are known, `DATABASE()` replaced,
//! and the token stream checked so that no sharded or broadcast table name is left where the
//! walk did not understand it.

use std::sync::Arc;

use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

use super::Collector;
use crate::config::model::Database;
use crate::error::{Error, Result};
use crate::plan::names::{table_rule, write_ident, write_string_literal};
use crate::plan::rewrite::EditKind;

impl Collector<'_, '_> {
    /// Completes the edits: qualifiers, `DATABASE()`, and the check that no sharded or
    /// broadcast table name is left in a position the walk did not understand.
    pub fn finish(&mut self, tokens: &[TokenWithSpan]) -> Result<()> {
        self.resolve_qualifiers()?;
        if self.window_on_each_shard
            && matches!(
                self.blocker,
                Some("GROUP BY" | "HAVING" | "DISTINCT" | "an aggregate function")
            )
        {
            // The shards would compute the window over their partial groups.
            self.blocker = Some("a window function");
        }
        let dbs: Vec<&Arc<Database>> = match self.db {
            Some(db) => vec![db],
            None => self.ctx.rules.databases().values().collect(),
        };
        let names_rule_table = |name: &str| dbs.iter().any(|db| table_rule(db, name).is_some());
        for (i, t) in tokens.iter().enumerate() {
            match &t.token {
                Token::Word(w) => {
                    if names_rule_table(&w.value) && !self.handled.contains(&t.span.start) {
                        return Err(Error::unsupported(format!(
                            "the table name '{}' in a position shardgate cannot rewrite (line \
                             {}, column {})",
                            w.value, t.span.start.line, t.span.start.column
                        )));
                    }
                    if w.quote_style.is_none() {
                        if let Some(k) = self.db_fns.iter().position(|(l, _)| *l == t.span.start) {
                            let (_, alias) = self.db_fns.swap_remove(k);
                            self.database_fn(tokens, i, alias)?;
                        }
                    }
                }
                Token::Whitespace(Whitespace::MultiLineComment(c))
                    if c.starts_with("M!") || c.starts_with("m!") =>
                {
                    let lower = c.to_ascii_lowercase();
                    let named = dbs
                        .iter()
                        .any(|db| db.tables.keys().any(|n| lower.contains(n)));
                    if named {
                        return Err(Error::unsupported(
                            "a sharded or broadcast table name inside a /*M! */ comment"
                                .to_string(),
                        ));
                    }
                }
                _ => {}
            }
        }
        if !self.db_fns.is_empty() {
            return Err(Error::unsupported(
                "a DATABASE() call shardgate cannot locate in the statement text".to_string(),
            ));
        }
        self.alias_renamed_items(tokens)?;
        self.edits.finish()
    }

    /// Replaces `DATABASE()` (name at token `i`) by the logical database name, keeping the
    /// column name the client sees.
    fn database_fn(&mut self, tokens: &[TokenWithSpan], i: usize, alias: bool) -> Result<()> {
        let mut rest = tokens[i + 1..]
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)));
        let (Some(open), Some(close)) = (rest.next(), rest.next()) else {
            return Err(Error::unsupported(
                "an unreadable DATABASE() call".to_string(),
            ));
        };
        let start = self.offsets.byte(tokens[i].span.start);
        let end = self.offsets.byte(close.span.end);
        let (Token::LParen, Token::RParen, Some(start), Some(end)) =
            (&open.token, &close.token, start, end)
        else {
            return Err(Error::unsupported(
                "an unreadable DATABASE() call".to_string(),
            ));
        };
        let original = self.sql.get(start..end).unwrap_or_default();
        let Token::Word(w) = &tokens[i].token else {
            return Err(Error::unsupported(
                "an unreadable DATABASE() call".to_string(),
            ));
        };
        if !original.starts_with(w.value.as_str()) {
            return Err(Error::unsupported(
                "an unreadable DATABASE() call".to_string(),
            ));
        }
        let mut text = String::new();
        match (self.ctx.system_schema, self.ctx.current_db) {
            (Some(schema), _) => write_string_literal(&mut text, schema),
            (None, Some(db)) => write_string_literal(&mut text, &db.name),
            (None, None) => text.push_str("NULL"),
        }
        if alias {
            text.push_str(" AS ");
            write_ident(&mut text, original, true);
        }
        self.edits.push(start, end, EditKind::Text(text));
        Ok(())
    }
}
