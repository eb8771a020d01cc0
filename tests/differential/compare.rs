//! Running one query on one side and comparing two answers: column names always, rows as a
//! list when the ORDER BY fixes the order and as a multiset otherwise, values as the
//! server printed them (text protocol bytes, so DECIMAL scale and AVG digits count), except
//! `fold` columns, compared the way the collation compares.

use mysql_async::Conn;

use super::common::{printed_answer, PrintedAnswer};
use super::gen::Query;

pub type Cell = Option<Vec<u8>>;
pub type Answer = PrintedAnswer;

pub async fn run(conn: &mut Conn, sql: &str) -> Result<Answer, mysql_async::Error> {
    printed_answer(conn, sql).await
}

/// How utf8mb4_general_ci and utf8mb4_unicode_ci compare the characters of the data set:
/// case and accents off, trailing spaces ignored (PAD SPACE), 'ß' as 'ss' (only the
/// unicode_ci column holds it).
fn fold_text(b: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_end_matches(' ').replace('ß', "ss");
    let mut out = String::with_capacity(s.len());
    for ch in s.chars().flat_map(char::to_lowercase) {
        out.push(match ch {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            c => c,
        });
    }
    out.into_bytes()
}

fn normalize(q: &Query, rows: &[Vec<Cell>]) -> Vec<Vec<Cell>> {
    let mut out: Vec<Vec<Cell>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, cell)| match cell {
                    Some(b) if q.fold.get(i).copied().unwrap_or(false) => Some(fold_text(b)),
                    other => other.clone(),
                })
                .collect()
        })
        .collect();
    if !q.ordered {
        out.sort();
    }
    out
}

/// `None` when the answers agree, else what differs.
pub fn differ(q: &Query, got: &Answer, want: &Answer) -> Option<String> {
    if got.names != want.names {
        return Some(format!(
            "column names differ: shardgate {:?}, oracle {:?}",
            got.names, want.names
        ));
    }
    let (g, w) = (normalize(q, &got.rows), normalize(q, &want.rows));
    if g == w {
        return None;
    }
    let how = if g.len() != w.len() {
        format!("{} rows, oracle {}", g.len(), w.len())
    } else {
        let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(0);
        format!(
            "first difference at row {i}{}",
            if q.ordered { "" } else { " (sorted)" }
        )
    };
    Some(how)
}

pub fn show(a: &Answer) -> String {
    let mut out = format!("  columns: {:?}\n", a.names);
    for (i, row) in a.rows.iter().enumerate() {
        if i == 30 {
            out.push_str(&format!("  ... {} rows in all\n", a.rows.len()));
            break;
        }
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                None => "NULL".to_string(),
                Some(b) => format!("'{}'", String::from_utf8_lossy(b)),
            })
            .collect();
        out.push_str(&format!("  ({})\n", cells.join(", ")));
    }
    out
}
