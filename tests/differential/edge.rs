//! Query shapes users write and proxies get wrong, each with one right answer (the rules of
//! gen.rs hold: LIMIT only under an order fixing every row, text that a collation folds is
//! compared folded):
//! ORDER BY aliases, expressions, positions and columns not selected, DESC over NULLs,
//! LIMIT 0 and large offsets, PAD SPACE and unicode_ci ties, DECIMAL and DOUBLE sums, AVG,
//! aggregates over no rows, MIN/MAX of dates and text, GROUP BY expressions and DESC,
//! HAVING on aliases and on aggregates not selected, DISTINCT over several columns,
//! IN-lists and BETWEEN on the key, UNION, subqueries, SELECT without FROM, the broadcast
//! table alone, and outer joins keeping broadcast rows.

use super::data::MAX_HOSPITAL;
use super::gen::{columns, where_clause, Col, From, Query, Table, CLINICAL, PATIENTS};
use super::gen::{HOSPITALS, SHARDED, TRIAL};
use super::rng::Rng;

fn single(t: &Table) -> From {
    From {
        sql: t.name.to_string(),
        cols: columns(t, false),
        unique: "id".into(),
        key: Some("hospital_id".into()),
    }
}

fn q(sql: String, ordered: bool, fold: Vec<bool>, tag: &'static str) -> Query {
    Query {
        sql,
        ordered,
        fold,
        tags: vec![tag],
    }
}

fn dir(r: &mut Rng) -> &'static str {
    const DIRS: [&str; 3] = ["", " ASC", " DESC"];
    DIRS[r.range(0, 2) as usize]
}

fn pick_where(r: &mut Rng, cols: &[Col], ok: impl Fn(&Col) -> bool) -> Col {
    let fit: Vec<&Col> = cols.iter().filter(|c| ok(c)).collect();
    (*r.pick(&fit)).clone()
}

/// An expression over a numeric column, for ORDER BY / GROUP BY.
fn num_expr(r: &mut Rng, c: &str) -> String {
    match r.range(0, 4) {
        0 => format!("{c} * 2"),
        1 => format!("-{c}"),
        2 => format!("{c} % 3"),
        3 => format!("COALESCE({c}, -1)"),
        _ => format!("{c} DIV 7"),
    }
}

/// A key list reaching several shards (hospital ids 0..=MAX_HOSPITAL, mod 4).
fn key_list(r: &mut Rng) -> String {
    let n = r.range(3, 8);
    (0..n)
        .map(|_| r.range(0, MAX_HOSPITAL + 2).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One edge-shape query, tagged with its construct.
pub fn edge(r: &mut Rng) -> Query {
    let t = *r.pick(&SHARDED);
    let f = single(t);
    let w = |r: &mut Rng, f: &From| where_clause(r, f, &mut Vec::new());
    match r.range(0, 24) {
        0 => {
            // ORDER BY an alias of an expression.
            let c = pick_where(r, &f.cols, |c| c.kind.numeric());
            let e = num_expr(r, &c.expr);
            let sql = format!(
                "SELECT {e} AS k, id FROM {}{} ORDER BY k{}, id{}",
                f.sql,
                w(r, &f),
                dir(r),
                dir(r)
            );
            q(
                with_limit(r, sql),
                true,
                vec![false, false],
                "ORDER BY alias",
            )
        }
        1 => {
            // ORDER BY a column not selected; DESC meets NULLs.
            let c = r.pick(&f.cols).clone();
            let sql = format!(
                "SELECT id FROM {}{} ORDER BY {} DESC, id{}",
                f.sql,
                w(r, &f),
                c.expr,
                dir(r)
            );
            q(
                with_limit(r, sql),
                true,
                vec![false],
                "ORDER BY not selected",
            )
        }
        2 => {
            // ORDER BY positions.
            let c = r.pick(&f.cols).clone();
            let sql = format!(
                "SELECT {}, id FROM {}{} ORDER BY 1{}, 2{}",
                c.expr,
                f.sql,
                w(r, &f),
                dir(r),
                dir(r)
            );
            q(
                with_limit(r, sql),
                true,
                vec![false, false],
                "ORDER BY position",
            )
        }
        3 => {
            // LIMIT 0, large offsets, the largest LIMIT.
            let lim = *r.pick(&[
                " LIMIT 0",
                " LIMIT 0, 0",
                " LIMIT 5 OFFSET 195",
                " LIMIT 480, 50",
                " LIMIT 100000",
                " LIMIT 3, 18446744073709551615",
                " LIMIT 18446744073709551615",
                " LIMIT 100000, 1",
            ]);
            let sql = format!(
                "SELECT id, hospital_id FROM {}{} ORDER BY hospital_id{}, id{}{lim}",
                f.sql,
                w(r, &f),
                dir(r),
                dir(r)
            );
            q(sql, true, vec![false, false], "LIMIT edge")
        }
        4 => {
            // PAD SPACE and unicode_ci ties, ordered then broken by id.
            let sql = format!(
                "SELECT nick, id FROM patients{} ORDER BY nick{}, id{}",
                w(r, &single(&PATIENTS)),
                dir(r),
                dir(r)
            );
            q(with_limit(r, sql), true, vec![false, false], "text ties")
        }
        5 => {
            // Grouped / distinct over PAD SPACE and unicode_ci: one row per class.
            let (sql, fold) = if r.chance(50) {
                (
                    format!(
                        "SELECT nick, COUNT(*), MIN(id) FROM patients{} GROUP BY nick ORDER BY nick{}",
                        w(r, &single(&PATIENTS)),
                        dir(r)
                    ),
                    vec![true, false, false],
                )
            } else {
                (
                    format!(
                        "SELECT DISTINCT nick FROM patients{} ORDER BY nick{}",
                        w(r, &single(&PATIENTS)),
                        dir(r)
                    ),
                    vec![true],
                )
            };
            q(with_limit(r, sql), true, fold, "text classes")
        }
        6 => {
            // Exact DECIMAL sums and averages with many digits, negative values.
            let c = *r.pick(&["amount", "value"]);
            let sql = format!(
                "SELECT SUM({c}), AVG({c}), MIN({c}), MAX({c}), COUNT({c}) FROM clinical_data{}",
                w(r, &single(&CLINICAL))
            );
            q(sql, true, vec![false; 5], "DECIMAL sum")
        }
        7 => {
            // AVG of integers and decimals per group.
            let c = *r.pick(&["patient_id", "value", "amount", "id"]);
            let sql = format!(
                "SELECT measure, AVG({c}), SUM({c}) FROM clinical_data{} GROUP BY measure ORDER BY measure{}",
                w(r, &single(&CLINICAL)),
                dir(r)
            );
            q(sql, true, vec![true, false, false], "AVG")
        }
        8 => {
            // Aggregates over no rows: one row of NULLs and 0.
            let sql = format!(
                "SELECT COUNT(*), COUNT(value), SUM(value), AVG(amount), MIN(recorded_at), MAX(note) \
                 FROM clinical_data WHERE {}",
                r.pick(&["id < 0", "hospital_id = 999", "value > 99999", "hospital_id IN (101, 102, 103)"])
            );
            q(sql, true, vec![false; 6], "aggregate of no rows")
        }
        9 => {
            // ... and grouped over no rows: no row at all.
            let sql = format!(
                "SELECT measure, SUM(value) FROM clinical_data WHERE id < 0 GROUP BY measure{}",
                if r.chance(50) {
                    " ORDER BY measure DESC"
                } else {
                    ""
                }
            );
            q(sql, true, vec![true, false], "aggregate of no rows")
        }
        10 => {
            // MIN / MAX of dates and text.
            let sql = format!(
                "SELECT MIN(birth_date), MAX(birth_date), MIN(created_at), MAX(name), MIN(nick), MAX(nick) \
                 FROM patients{}",
                w(r, &single(&PATIENTS))
            );
            q(
                sql,
                true,
                vec![false, false, false, true, true, true],
                "MIN/MAX date text",
            )
        }
        11 => {
            // GROUP BY an expression, ordered DESC.
            let (e, src) = *r.pick(&[
                ("YEAR(birth_date)", "patients"),
                ("hospital_id % 3", "patients"),
                ("patient_id DIV 50", "clinical_data"),
                ("LEFT(measure, 1)", "clinical_data"),
                ("DATE(enrolled_at)", "trial_enrollment"),
            ]);
            let fold = e.starts_with("LEFT");
            let sql = format!(
                "SELECT {e} AS k, COUNT(*), MAX(id) FROM {src} GROUP BY {e} ORDER BY k DESC"
            );
            q(
                with_limit(r, sql),
                true,
                vec![fold, false, false],
                "GROUP BY expression",
            )
        }
        12 => {
            // GROUP BY with ORDER BY DESC over two keys.
            let sql = format!(
                "SELECT hospital_id % 2 AS a, trial_code, COUNT(*) FROM trial_enrollment{} \
                 GROUP BY a, trial_code ORDER BY a DESC, trial_code DESC",
                w(r, &single(&TRIAL))
            );
            q(
                with_limit(r, sql),
                true,
                vec![false, true, false],
                "GROUP BY DESC",
            )
        }
        13 => {
            // HAVING on an alias.
            let sql = format!(
                "SELECT measure, COUNT(*) AS n, SUM(value) AS s FROM clinical_data{} GROUP BY measure \
                 HAVING {} ORDER BY measure",
                w(r, &single(&CLINICAL)),
                r.pick(&["n > 60", "s > 1000", "n >= 2 AND s < 5000", "n < 70 OR s > 100"])
            );
            q(sql, true, vec![true, false, false], "HAVING alias")
        }
        14 => {
            // HAVING on aggregates not selected.
            let sql = format!(
                "SELECT name FROM patients{} GROUP BY name HAVING {} ORDER BY name DESC",
                w(r, &single(&PATIENTS)),
                r.pick(&[
                    "COUNT(*) > 10",
                    "MAX(id) > 190",
                    "SUM(hospital_id) > 60",
                    "MIN(birth_date) IS NULL",
                    "AVG(id) < 90"
                ])
            );
            q(sql, true, vec![true], "HAVING not selected")
        }
        15 => {
            // COUNT(col) over NULLs, per group.
            let sql = format!(
                "SELECT hospital_id % 4 AS s, COUNT(note), COUNT(value), COUNT(*) FROM clinical_data{} \
                 GROUP BY s ORDER BY s",
                w(r, &single(&CLINICAL))
            );
            q(sql, true, vec![false; 4], "COUNT(col)")
        }
        16 => {
            // DISTINCT over several columns, ordered by all of them.
            let sql = format!(
                "SELECT DISTINCT measure, note, hospital_id % 2 FROM clinical_data{} \
                 ORDER BY measure{}, note{}, 3{}",
                w(r, &single(&CLINICAL)),
                dir(r),
                dir(r),
                dir(r)
            );
            q(
                with_limit(r, sql),
                true,
                vec![true, true, false],
                "DISTINCT several",
            )
        }
        17 => {
            // IN-list over several shards, with and without ORDER BY.
            let sql = format!(
                "SELECT id, hospital_id FROM {} WHERE hospital_id IN ({}) ORDER BY id{}",
                f.sql,
                key_list(r),
                dir(r)
            );
            q(with_limit(r, sql), true, vec![false, false], "key IN list")
        }
        18 => {
            // BETWEEN on the key.
            let a = r.range(-1, MAX_HOSPITAL);
            let sql = format!(
                "SELECT hospital_id, COUNT(*) FROM {} WHERE hospital_id BETWEEN {a} AND {} \
                 GROUP BY hospital_id ORDER BY hospital_id",
                f.sql,
                a + r.range(0, 5)
            );
            q(sql, true, vec![false, false], "key BETWEEN")
        }
        19 => {
            // UNION: on one shard it is exact; over several it must be refused.
            let k = r.range(0, MAX_HOSPITAL);
            let (a, b) = if r.chance(50) {
                (format!("hospital_id = {k}"), format!("hospital_id = {k}"))
            } else {
                (format!("hospital_id = {k}"), "id < 20".to_string())
            };
            let all = if r.chance(50) { " ALL" } else { "" };
            let sql = format!(
                "SELECT patient_id FROM trial_enrollment WHERE {a} UNION{all} \
                 SELECT patient_id FROM clinical_data WHERE {b} ORDER BY patient_id"
            );
            // UNION ALL keeps duplicates whose order is not fixed; compare as multisets.
            q(sql, false, vec![false], "UNION")
        }
        20 => {
            // Subqueries: on the broadcast table, or on one shard.
            let k = r.range(0, MAX_HOSPITAL);
            let sql = match r.range(0, 3) {
                0 => "SELECT id FROM patients WHERE hospital_id IN \
                      (SELECT id FROM hospitals WHERE city = 'paris') ORDER BY id"
                    .to_string(),
                1 => format!(
                    "SELECT id, (SELECT COUNT(*) FROM hospitals) AS n FROM patients WHERE hospital_id = {k} ORDER BY id"
                ),
                2 => format!(
                    "SELECT COUNT(*) FROM clinical_data WHERE hospital_id = {k} AND patient_id IN \
                     (SELECT id FROM patients WHERE hospital_id = {k})"
                ),
                _ => "SELECT COUNT(*) FROM clinical_data c WHERE patient_id IN (SELECT id FROM patients)"
                    .to_string(),
            };
            let width = if sql.starts_with("SELECT id, (") {
                2
            } else {
                1
            };
            q(sql, true, vec![false; width], "subquery")
        }
        21 => {
            let sql = r
                .pick(&[
                    "SELECT 1",
                    "SELECT 1 + 1 AS two, 'a', NULL",
                    "SELECT CONCAT('a', 'b') AS ab, 2.50 * 2",
                    "SELECT COALESCE(NULL, 3), 10 DIV 3, -7 % 3",
                ])
                .to_string();
            let width = match sql.as_str() {
                "SELECT 1" => 1,
                "SELECT 1 + 1 AS two, 'a', NULL" => 3,
                _ => 2,
            };
            q(sql, true, vec![false; width], "no FROM")
        }
        22 => {
            // The broadcast table alone, with aggregates and groups.
            let sql = format!(
                "SELECT city, COUNT(*), MIN(id), MAX(name) FROM hospitals{} GROUP BY city ORDER BY city DESC",
                where_clause(r, &single_broadcast(), &mut Vec::new())
            );
            q(sql, true, vec![true, false, false, true], "broadcast alone")
        }
        23 => match r.range(0, 2) {
            // Once wrong answers (tests/merge_regressions.rs): now merged at the proxy or
            // refused.
            0 => {
                let sql = format!(
                    "SELECT DISTINCT COUNT(*) FROM {} GROUP BY hospital_id ORDER BY 1",
                    f.sql
                );
                q(sql, true, vec![false], "DISTINCT over key groups")
            }
            1 => {
                let c = *r.pick(&["patient_id", "value", "id"]);
                let sql = format!(
                    "SELECT SUM({c} / 3), AVG({c} / 7) FROM clinical_data{}",
                    w(r, &single(&CLINICAL))
                );
                q(sql, true, vec![false, false], "SUM of a division")
            }
            _ => {
                let sql =
                    format!(
                    "SELECT t.hospital_id, COUNT(*) FROM patients p LEFT JOIN trial_enrollment t \
                     ON t.hospital_id = p.hospital_id AND t.patient_id = p.id{} \
                     GROUP BY t.hospital_id ORDER BY t.hospital_id",
                    if r.chance(50) { " WHERE p.name LIKE 'a%'" } else { "" }
                );
                q(sql, true, vec![false, false], "outer join NULL key groups")
            }
        },
        _ => {
            // An outer join keeping the broadcast table's rows: refused over several
            // shards, exact with a key condition.
            let key = if r.chance(50) {
                format!(" WHERE p.hospital_id IN ({})", key_list(r))
            } else {
                String::new()
            };
            let sql = format!(
                "SELECT h.id, p.id FROM hospitals h LEFT JOIN patients p ON p.hospital_id = h.id{key} \
                 ORDER BY h.id, p.id"
            );
            q(sql, true, vec![false, false], "broadcast LEFT JOIN sharded")
        }
    }
}

fn single_broadcast() -> From {
    From {
        sql: "hospitals".into(),
        cols: columns(&HOSPITALS, false),
        unique: "id".into(),
        key: None,
    }
}

/// Half the time, a LIMIT (the query's order fixes every row).
fn with_limit(r: &mut Rng, mut sql: String) -> String {
    if r.chance(50) {
        let n = r.range(0, 8);
        sql.push_str(&match r.range(0, 2) {
            0 => format!(" LIMIT {n}"),
            1 => format!(" LIMIT {}, {n}", r.range(0, 40)),
            _ => format!(" LIMIT {n} OFFSET {}", r.range(0, 40)),
        });
    }
    sql
}
