//! How the proxy combines several shards' rows into the answer one unsharded server would
//! give. Plain data: the scatter planner (`scatter`) fills it in, `execute::merge` runs it,
//! and planner tests print it.
//!
//! Columns are named by position. The planner may not know how many columns a `*` expands
//! to, so columns it added itself (hidden, never sent to the client) are counted from the
//! first hidden one: at run time the visible count is the row width minus `hidden`.

use std::fmt;

/// A column of a shard's result row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// The i-th column the client sees.
    Visible(usize),
    /// The i-th column the planner appended for the proxy only.
    Hidden(usize),
}

/// One ordering key. `weight`, when the column turns out to be text, holds the shard's
/// `WEIGHT_STRING()` of the same expression: comparing its bytes follows the collation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub col: Col,
    pub weight: Option<Col>,
    pub desc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    /// COUNT(...): partial counts are summed.
    Count,
    /// SUM(...): partial sums added exactly; all NULL stays NULL.
    Sum,
    Min,
    Max,
    /// AVG(...): the shard's AVG column is replaced by `sum / count` of two hidden columns,
    /// at the scale the AVG column's definition announces.
    Avg {
        sum: Col,
        count: Col,
    },
}

/// An aggregate output column and how its partial values combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agg {
    pub col: Col,
    pub kind: AggKind,
    /// For MIN/MAX of text: `WEIGHT_STRING(MIN(x))`, so the collation decides.
    pub weight: Option<Col>,
}

/// Rows with equal `keys` (adjacent, as every shard sorts by them) become one row whose
/// `aggs` columns are combined; other columns keep the first row's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub keys: Vec<SortKey>,
    pub aggs: Vec<Agg>,
}

/// HAVING, evaluated at the proxy on combined values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Cmp {
        op: CmpOp,
        left: Operand,
        right: Operand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Col(Col),
    /// A numeric literal as written.
    Number(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeSpec {
    /// The logical table, for messages.
    pub table: String,
    /// Trailing columns of each shard row that never reach the client.
    pub hidden: usize,
    /// Every shard sorts its rows by these; the proxy merges the streams in this order.
    /// Empty: rows are concatenated.
    pub order: Vec<SortKey>,
    pub group: Option<Grouping>,
    pub having: Option<Filter>,
    /// A sort of the combined rows (ORDER BY after GROUP BY / DISTINCT): buffered, capped.
    pub final_order: Vec<SortKey>,
    pub offset: u64,
    pub limit: Option<u64>,
    /// `SELECT COUNT(DISTINCT x)`: every shard returns one row per distinct weight of `x`
    /// (in hidden column 0, sorted); the proxy counts the distinct non-NULL weights across
    /// shards and answers one row.
    pub count_distinct: bool,
}

impl fmt::Display for Col {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Col::Visible(i) => write!(f, "c{i}"),
            Col::Hidden(i) => write!(f, "h{i}"),
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.col)?;
        if let Some(w) = self.weight {
            write!(f, "/w{w}")?;
        }
        if self.desc {
            write!(f, " desc")?;
        }
        Ok(())
    }
}

fn keys(f: &mut fmt::Formatter<'_>, name: &str, keys: &[SortKey]) -> fmt::Result {
    if keys.is_empty() {
        return Ok(());
    }
    write!(f, " {name}(")?;
    for (i, k) in keys.iter().enumerate() {
        write!(f, "{}{k}", if i > 0 { ", " } else { "" })?;
    }
    write!(f, ")")
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not {a}"),
            Filter::Cmp { op, left, right } => {
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::NotEq => "<>",
                    CmpOp::Lt => "<",
                    CmpOp::LtEq => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::GtEq => ">=",
                };
                write!(f, "{left} {op} {right}")
            }
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Col(c) => write!(f, "{c}"),
            Operand::Number(n) => write!(f, "{n}"),
        }
    }
}

/// One line for plan tests and EXPLAIN-style output.
impl fmt::Display for MergeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "merge hidden={}", self.hidden)?;
        keys(f, "order", &self.order)?;
        if let Some(g) = &self.group {
            keys(f, "group", &g.keys)?;
            write!(f, " aggs(")?;
            for (i, a) in g.aggs.iter().enumerate() {
                let kind = match a.kind {
                    AggKind::Count => "count".to_string(),
                    AggKind::Sum => "sum".to_string(),
                    AggKind::Min => "min".to_string(),
                    AggKind::Max => "max".to_string(),
                    AggKind::Avg { sum, count } => format!("avg[{sum}/{count}]"),
                };
                write!(f, "{}{kind} {}", if i > 0 { ", " } else { "" }, a.col)?;
                if let Some(w) = a.weight {
                    write!(f, "/w{w}")?;
                }
            }
            write!(f, ")")?;
        }
        if let Some(h) = &self.having {
            write!(f, " having({h})")?;
        }
        keys(f, "final", &self.final_order)?;
        if self.offset > 0 {
            write!(f, " offset={}", self.offset)?;
        }
        if let Some(l) = self.limit {
            write!(f, " limit={l}")?;
        }
        if self.count_distinct {
            write!(f, " count-distinct")?;
        }
        Ok(())
    }
}
