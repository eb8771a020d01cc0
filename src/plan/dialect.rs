//! sqlparser's MySQL dialect, read by the session's sql_mode.
//!
//! `MySqlDialect` has no settings: it always takes `\` as an escape in strings, `"x"` as a
//! string, and `||` as concatenation (which in MariaDB's default mode is OR). This wrapper
//! answers those three by the `SqlMode` it carries and hands every other question to
//! `MySqlDialect`, and it reports `MySqlDialect`'s type, so the parser's MySQL-only branches
//! (`dialect_of!(self is MySqlDialect)`) still apply.

use std::any::TypeId;

use sqlparser::ast::{BinaryOperator, Expr, Statement};
use sqlparser::dialect::{BindPlaceholderStyle, Dialect, MySqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::syntax::SqlMode;

#[derive(Debug, Default)]
pub(crate) struct MariaDbDialect {
    pub mode: SqlMode,
}

const MYSQL: MySqlDialect = MySqlDialect {};

/// Methods `MySqlDialect` overrides that take no argument, answered as it does.
macro_rules! as_mysql {
    ($($name:ident -> $ret:ty),* $(,)?) => {
        $(fn $name(&self) -> $ret { MYSQL.$name() })*
    };
}

impl Dialect for MariaDbDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<MySqlDialect>()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        (self.mode.ansi_quotes && ch == '"') || MYSQL.is_delimited_identifier_start(ch)
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        !self.mode.no_backslash_escapes
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        if self.pipes_are_or(parser) {
            return Some(Ok(self.prec_value(Precedence::Or)));
        }
        if matches!(&parser.peek_token_ref().token, Token::Word(w) if w.keyword == Keyword::XOR) {
            // MariaDB binds XOR between AND and OR (`a AND b XOR c` is `(a AND b) XOR c`);
            // sqlparser binds it above comparisons, which split `a AND (b XOR c)` and let a
            // shard key condition (`a`) prune shards the statement needs.
            let and = self.prec_value(Precedence::And);
            let or = self.prec_value(Precedence::Or);
            return Some(Ok(or + (and - or) / 2));
        }
        MYSQL.get_next_precedence(parser)
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        if self.pipes_are_or(parser) {
            parser.advance_token();
            let right = match parser.parse_subexpr(self.prec_value(Precedence::Or)) {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            return Some(Ok(Expr::BinaryOp {
                left: Box::new(expr.clone()),
                op: BinaryOperator::Or,
                right: Box::new(right),
            }));
        }
        MYSQL.parse_infix(parser, expr, precedence)
    }

    fn supports_string_literal_table_alias(&self, explicit: bool) -> bool {
        MYSQL.supports_string_literal_table_alias(explicit)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        MYSQL.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        MYSQL.is_identifier_part(ch)
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        MYSQL.identifier_quote_style(identifier)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        MYSQL.parse_statement(parser)
    }

    fn is_table_factor_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool {
        MYSQL.is_table_factor_alias(explicit, kw, parser)
    }

    as_mysql!(
        ordered_bind_placeholder_style -> Option<BindPlaceholderStyle>,
        supports_string_literal_concatenation -> bool,
        ignores_wildcard_escapes -> bool,
        supports_numeric_prefix -> bool,
        supports_literal_prefix_in_qualified_name -> bool,
        supports_bitwise_shift_operators -> bool,
        supports_singular_value_keyword -> bool,
        supports_multiline_comment_hints -> bool,
        require_interval_qualifier -> bool,
        supports_limit_comma -> bool,
        supports_create_table_select -> bool,
        supports_insert_set -> bool,
        supports_user_host_grantee -> bool,
        supports_table_hints -> bool,
        requires_single_line_comment_whitespace -> bool,
        supports_hash_comment -> bool,
        supports_match_against -> bool,
        supports_select_modifiers -> bool,
        supports_set_names -> bool,
        supports_comma_separated_set_assignments -> bool,
        supports_alter_column_position -> bool,
        supports_update_order_by -> bool,
        supports_data_type_signed_suffix -> bool,
        supports_data_type_zerofill_suffix -> bool,
        supports_cross_join_constraint -> bool,
        supports_double_ampersand_operator -> bool,
        supports_binary_kw_as_cast -> bool,
        supports_table_partitions -> bool,
        supports_comment_optimizer_hint -> bool,
        supports_constraint_keyword_without_name -> bool,
        supports_key_column_option -> bool,
        supports_group_by_with_modifier -> bool,
        supports_left_associative_joins_without_parens -> bool,
    );
}

impl MariaDbDialect {
    /// The next token is `||` and it means OR (no PIPES_AS_CONCAT).
    fn pipes_are_or(&self, parser: &Parser) -> bool {
        !self.mode.pipes_as_concat && parser.peek_token_ref().token == Token::StringConcat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str, d: &dyn Dialect) -> String {
        match Parser::parse_sql(d, sql) {
            Ok(s) => format!("{s:?}"),
            Err(e) => format!("error: {e}"),
        }
    }

    /// In the default mode the wrapper reads everything but `||` as MySqlDialect does.
    #[test]
    fn reads_like_mysql_in_the_default_mode() {
        let wrapped = MariaDbDialect::default();
        for sql in [
            "SELECT a DIV 2, b MOD 3, c && d, \"s\", 'x\\'y' FROM t WHERE e <=> f LIMIT 1, 2",
            "SELECT * FROM t1 STRAIGHT_JOIN t2 USE INDEX (i) WHERE MATCH (a) AGAINST ('x')",
            "INSERT INTO t SET a = 1 ON DUPLICATE KEY UPDATE a = VALUES(a)",
            "LOCK TABLES t READ",
            "SELECT /*+ NO_ICP(t) */ a FROM t",
            "CREATE TABLE t (a INT UNSIGNED ZEROFILL, KEY (a)) ENGINE=InnoDB",
            "UPDATE t SET a = 1 ORDER BY b LIMIT 3",
            "SELECT CAST(a AS SIGNED), BINARY b, `q``q` FROM t PARTITION (p0)",
        ] {
            assert_eq!(
                parsed(sql, &wrapped),
                parsed(sql, &MySqlDialect {}),
                "{sql}"
            );
        }
    }

    #[test]
    fn pipes_are_or_unless_pipes_as_concat() {
        let sql = "SELECT 1 FROM t WHERE k = 7 || k = 8";
        let or = parsed("SELECT 1 FROM t WHERE k = 7 OR k = 8", &MySqlDialect {});
        assert_eq!(parsed(sql, &MariaDbDialect::default()), or);
        let concat = MariaDbDialect {
            mode: SqlMode::parse("PIPES_AS_CONCAT"),
        };
        assert!(parsed(sql, &concat).contains("StringConcat"));
    }

    /// XOR binds below AND and above OR, as in MariaDB.
    #[test]
    fn xor_binds_between_and_and_or() {
        let d = MariaDbDialect::default();
        for (sql, same_as) in [
            ("a = 1 AND b = 2 XOR c = 3", "(a = 1 AND b = 2) XOR c = 3"),
            ("a = 1 XOR b = 2 AND c = 3", "a = 1 XOR (b = 2 AND c = 3)"),
            ("a = 1 OR b = 2 XOR c = 3", "a = 1 OR (b = 2 XOR c = 3)"),
            ("a = 1 XOR b = 2 OR c = 3", "(a = 1 XOR b = 2) OR c = 3"),
            ("a = 1 XOR b = 2 XOR c = 3", "(a = 1 XOR b = 2) XOR c = 3"),
        ] {
            let top = |s: &str| {
                let Ok(mut st) = Parser::parse_sql(&d, &format!("SELECT 1 FROM t WHERE {s}"))
                else {
                    return String::new();
                };
                let Statement::Query(q) = st.remove(0) else {
                    return String::new();
                };
                let sqlparser::ast::SetExpr::Select(sel) = *q.body else {
                    return String::new();
                };
                unnest(sel.selection.expect("where")).to_string()
            };
            assert_eq!(top(sql), top(same_as), "{sql}");
        }
    }

    /// The expression with every parenthesis made explicit by the tree (Nested removed,
    /// then printed fully parenthesized).
    fn unnest(e: Expr) -> Expr {
        match e {
            Expr::Nested(inner) => unnest(*inner),
            Expr::BinaryOp { left, op, right } => Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(unnest(*left)),
                op,
                right: Box::new(unnest(*right)),
            })),
            other => other,
        }
    }

    #[test]
    fn quotes_and_backslashes_by_mode() {
        let ansi = MariaDbDialect {
            mode: SqlMode::parse("ANSI_QUOTES"),
        };
        let s = parsed("SELECT \"a\" FROM \"t\"", &ansi);
        assert!(!s.contains("DoubleQuotedString"), "{s}");
        assert!(s.contains("quote_style: Some('\"')"), "{s}");
        let nbe = MariaDbDialect {
            mode: SqlMode::parse("NO_BACKSLASH_ESCAPES"),
        };
        let s = parsed(r"SELECT 'a\' FROM t", &nbe);
        assert!(s.contains(r#"SingleQuotedString("a\\")"#), "{s}");
    }
}
