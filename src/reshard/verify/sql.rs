//! The SQL the verifier sends: quoted names and primary-key ranges.
//!
//! A range `(a, b) > (x, y)` is spelled `a > x OR (a = x AND b > y)`: MariaDB (10.11) does not
//! use an index for a row-constructor comparison and would scan the primary key from its start
//! for every chunk, which makes a chunked walk quadratic. The expanded form is a range scan.

use mysql_async::Value;

/// `name` as a backtick-quoted identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `schema`.`table` ``.
pub(crate) fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// The quoted primary-key columns joined by commas, for SELECT lists and ORDER BY.
pub(crate) fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A condition with its `?` parameters, ANDed with others into one WHERE clause.
#[derive(Debug, Default)]
pub(crate) struct Where {
    parts: Vec<String>,
    pub params: Vec<Value>,
}

impl Where {
    /// Rows whose primary key is above `bound` (nothing when there is no bound).
    pub fn after(mut self, pk: &[String], bound: Option<&[Value]>) -> Self {
        if let Some(bound) = bound {
            let sql = compare(pk, bound, ">", &mut self.params);
            self.parts.push(sql);
        }
        self
    }

    /// Rows whose primary key is at most `bound` (nothing when there is no bound).
    pub fn up_to(mut self, pk: &[String], bound: Option<&[Value]>) -> Self {
        if let Some(bound) = bound {
            let sql = compare(pk, bound, "<=", &mut self.params);
            self.parts.push(sql);
        }
        self
    }

    /// A condition without parameters.
    pub fn and(mut self, condition: Option<&str>) -> Self {
        if let Some(c) = condition {
            self.parts.push(format!("({c})"));
        }
        self
    }

    /// ` WHERE ...`, or nothing.
    pub fn sql(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.parts.join(" AND "))
        }
    }
}

/// `op` is `>` or `<=`: lexicographic comparison of the key columns with `bound`.
fn compare(pk: &[String], bound: &[Value], op: &str, params: &mut Vec<Value>) -> String {
    debug_assert_eq!(pk.len(), bound.len());
    let last = pk.len() - 1;
    let strict = if op == ">" { ">" } else { "<" };
    let mut sql = String::new();
    for (i, (col, value)) in pk.iter().zip(bound).enumerate() {
        let col = ident(col);
        if i == last {
            sql.push_str(&format!("{col} {op} ?"));
            params.push(value.clone());
        } else {
            sql.push_str(&format!("({col} {strict} ? OR ({col} = ? AND "));
            params.push(value.clone());
            params.push(value.clone());
        }
    }
    sql.push_str(&")".repeat(2 * last));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_column_ranges_are_plain_comparisons() {
        let pk = vec!["id".to_string()];
        let w = Where::default()
            .after(&pk, Some(&[Value::Int(5)]))
            .up_to(&pk, Some(&[Value::Int(9)]));
        assert_eq!(w.sql(), " WHERE `id` > ? AND `id` <= ?");
        assert_eq!(w.params, vec![Value::Int(5), Value::Int(9)]);
    }

    #[test]
    fn composite_ranges_expand_so_an_index_serves_them() {
        let pk = vec!["a".to_string(), "b`c".to_string(), "d".to_string()];
        let bound = [Value::Int(1), Value::Int(2), Value::Int(3)];
        let w = Where::default().after(&pk, Some(&bound)).and(Some("x = 1"));
        assert_eq!(
            w.sql(),
            " WHERE (`a` > ? OR (`a` = ? AND (`b``c` > ? OR (`b``c` = ? AND `d` > ?)))) \
             AND (x = 1)"
        );
        assert_eq!(w.params.len(), 5);
        let w = Where::default().up_to(&pk, Some(&bound));
        assert_eq!(
            w.sql(),
            " WHERE (`a` < ? OR (`a` = ? AND (`b``c` < ? OR (`b``c` = ? AND `d` <= ?))))"
        );
    }

    #[test]
    fn no_bounds_no_where() {
        let pk = vec!["id".to_string()];
        assert_eq!(Where::default().after(&pk, None).up_to(&pk, None).sql(), "");
    }
}
