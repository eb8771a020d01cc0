//! Reporting shapes (issue 12): DISTINCT aggregates beside others, expressions over
//! aggregates, GROUP_CONCAT, UNION across tables, subqueries and joins across shards, window
//! functions, ENUM order, and nestings of them. Same promise as `gen`: one right answer per
//! query (orders end on a unique column or list every output column, no text value a
//! collation may pick from an equal class unless marked `fold`).

use super::gen::{columns, where_clause, Col, From, Kind, Query, CLINICAL, PATIENTS, TRIAL};
use super::rng::Rng;

fn single(t: &super::gen::Table) -> From {
    From {
        sql: t.name.to_string(),
        cols: columns(t, false),
        unique: "id".into(),
        key: Some("hospital_id".into()),
    }
}

fn numeric(f: &From) -> Vec<Col> {
    f.cols
        .iter()
        .filter(|c| matches!(c.kind, Kind::Id | Kind::Key | Kind::Int | Kind::Dec))
        .cloned()
        .collect()
}

fn query(sql: String, ordered: bool, fold: Vec<bool>, tag: &'static str) -> Query {
    Query {
        sql,
        ordered,
        fold,
        tags: vec![tag],
    }
}

/// `COUNT(DISTINCT x)`, `SUM(DISTINCT n)`, `AVG(DISTINCT n)`, `COUNT(DISTINCT a, b)`
/// beside other aggregates, grouped or not.
fn distinct_aggregates(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    let t = if r.chance(50) { &CLINICAL } else { &TRIAL };
    let f = single(t);
    let nums = numeric(&f);
    let n = r.pick(&nums).expr.clone();
    let m = r.pick(&nums).expr.clone();
    let text = if t.name == "clinical_data" {
        "measure"
    } else {
        "trial_code"
    };
    let aggs = [
        format!("COUNT(DISTINCT {text})"),
        format!("SUM(DISTINCT {n})"),
        format!("AVG(DISTINCT {n})"),
        format!("COUNT(DISTINCT {n}, {m})"),
        "COUNT(*)".to_string(),
        format!("SUM({m})"),
        format!("MAX({n})"),
    ];
    let a = r.pick(&aggs).clone();
    let b = r.pick(&aggs).clone();
    let w = where_clause(r, &f, tags);
    if r.chance(50) {
        tags.push("DISTINCT aggregate");
        query(
            format!("SELECT {a}, {b} FROM {}{w}", t.name),
            true,
            vec![false, false],
            "DISTINCT aggregate",
        )
    } else {
        tags.push("DISTINCT aggregate grouped");
        let mut sql = format!(
            "SELECT hospital_id, {a}, {b} FROM {}{w} GROUP BY hospital_id",
            t.name
        );
        if r.chance(40) {
            sql.push_str(&format!(" HAVING {a} > {}", r.range(0, 3)));
        }
        sql.push_str(" ORDER BY hospital_id");
        if r.chance(50) {
            sql.push_str(&format!(" LIMIT {}", r.range(1, 6)));
        }
        query(sql, true, vec![false; 3], "DISTINCT aggregate grouped")
    }
}

/// Expressions over aggregates in the select list, HAVING and ORDER BY.
fn aggregate_expressions(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    tags.push("expression over aggregates");
    let f = single(&CLINICAL);
    let exprs = [
        "SUM(value) / COUNT(*)",
        "MAX(value) - MIN(value)",
        "ROUND(AVG(value), 2)",
        "SUM(CASE WHEN value > 100 THEN 1 ELSE 0 END)",
        "COUNT(*) + 0",
        "SUM(amount) / NULLIF(COUNT(amount) - COUNT(*), 0)",
        "COALESCE(MAX(amount), -1) * 2",
    ];
    let e = r.pick(&exprs).to_string();
    let w = where_clause(r, &f, tags);
    let mut sql =
        format!("SELECT patient_id, {e} AS x, COUNT(*) FROM clinical_data{w} GROUP BY patient_id");
    if r.chance(40) {
        sql.push_str(&format!(" HAVING {e} > {}", r.range(0, 50)));
    }
    let ordered = if r.chance(60) {
        sql.push_str(" ORDER BY x DESC, patient_id");
        if r.chance(50) {
            sql.push_str(&format!(" LIMIT {}", r.range(1, 8)));
        }
        true
    } else {
        false
    };
    query(sql, ordered, vec![false; 3], "expression over aggregates")
}

/// GROUP_CONCAT with DISTINCT, ORDER BY and SEPARATOR.
fn group_concat(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    tags.push("GROUP_CONCAT");
    let f = single(&TRIAL);
    let inner = match r.range(0, 2) {
        0 => "GROUP_CONCAT(patient_id ORDER BY id)".to_string(),
        1 => "GROUP_CONCAT(DISTINCT patient_id ORDER BY patient_id DESC SEPARATOR ';')".into(),
        _ => "GROUP_CONCAT(id, ':', patient_id ORDER BY id SEPARATOR '|')".into(),
    };
    let w = where_clause(r, &f, tags);
    query(
        format!(
            "SELECT hospital_id, {inner} FROM trial_enrollment{w} GROUP BY hospital_id \
             ORDER BY hospital_id"
        ),
        true,
        vec![false, false],
        "GROUP_CONCAT",
    )
}

/// UNION [ALL] of branches over different sharded tables, ordered over the union.
fn union(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    let all = r.chance(50);
    tags.push(if all {
        "UNION ALL across shards"
    } else {
        "UNION across shards"
    });
    let a = single(&PATIENTS);
    let b = single(&CLINICAL);
    let wa = where_clause(r, &a, tags);
    let wb = where_clause(r, &b, tags);
    let mut sql = format!(
        "SELECT hospital_id, id FROM patients{wa} UNION{} SELECT hospital_id, patient_id FROM clinical_data{wb} ORDER BY 1, 2",
        if all { " ALL" } else { "" }
    );
    if r.chance(50) {
        sql.push_str(&format!(" LIMIT {}", r.range(0, 15)));
    }
    query(sql, true, vec![false, false], "UNION across shards")
}

/// Subqueries over other shards: scalar, IN, EXISTS (correlated on the key), derived.
fn subquery(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    let f = single(&CLINICAL);
    let w = where_clause(r, &f, tags);
    let w_and = if w.is_empty() {
        " WHERE".to_string()
    } else {
        format!("{w} AND")
    };
    match r.range(0, 3) {
        0 => {
            tags.push("scalar subquery across shards");
            query(
                format!(
                    "SELECT id, value FROM clinical_data WHERE value = (SELECT MAX(value) FROM \
                     clinical_data{w}) ORDER BY id"
                ),
                true,
                vec![false, false],
                "scalar subquery across shards",
            )
        }
        1 => {
            tags.push("IN subquery across shards");
            query(
                format!(
                    "SELECT id, patient_id FROM clinical_data{w_and} patient_id IN (SELECT id FROM \
                     patients WHERE birth_date < '1990-01-01') ORDER BY id"
                ),
                true,
                vec![false, false],
                "IN subquery across shards",
            )
        }
        2 => {
            tags.push("EXISTS correlated");
            query(
                format!(
                    "SELECT c.id FROM clinical_data c WHERE EXISTS (SELECT 1 FROM patients p \
                     WHERE p.hospital_id = c.hospital_id AND p.id = c.patient_id AND p.score > {}) \
                     ORDER BY c.id",
                    r.range(0, 80)
                ),
                true,
                vec![false],
                "EXISTS correlated",
            )
        }
        _ => {
            tags.push("derived table");
            query(
                format!(
                    "SELECT COUNT(*), SUM(n) FROM (SELECT DISTINCT patient_id AS n FROM \
                     clinical_data{w}) d"
                ),
                true,
                vec![false, false],
                "derived table",
            )
        }
    }
}

/// Joins across shards that are not on the shard key.
fn join_off_key(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    tags.push("join not on the key");
    let left = r.chance(30);
    let mut sql = format!(
        "SELECT c.id, t.id, c.measure FROM clinical_data c {}JOIN trial_enrollment t ON \
         t.patient_id = c.patient_id WHERE c.hospital_id IN ({}, {}) ORDER BY c.id, t.id",
        if left { "LEFT " } else { "" },
        r.range(1, 12),
        r.range(1, 12)
    );
    if r.chance(40) {
        sql.push_str(&format!(" LIMIT {}", r.range(1, 20)));
    }
    query(sql, true, vec![false, false, false], "join not on the key")
}

/// Window functions, partitioned by the shard key or not.
fn window(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    tags.push("window function");
    let f = single(&PATIENTS);
    let w = where_clause(r, &f, tags);
    let over = if r.chance(50) {
        "PARTITION BY hospital_id ORDER BY id"
    } else {
        "ORDER BY birth_date, id"
    };
    let func = match r.range(0, 2) {
        0 => format!("ROW_NUMBER() OVER ({over})"),
        1 => format!("RANK() OVER ({over})"),
        _ => format!("SUM(hospital_id) OVER ({over})"),
    };
    query(
        format!("SELECT id, {func} FROM patients{w} ORDER BY id"),
        true,
        vec![false, false],
        "window function",
    )
}

/// ENUM order: grouping, ordering and MIN/MAX follow the definition's order.
fn enum_order(r: &mut Rng, tags: &mut Vec<&'static str>) -> Query {
    tags.push("ENUM order");
    let f = single(&TRIAL);
    let w = where_clause(r, &f, tags);
    let sql = match r.range(0, 2) {
        0 => format!(
            "SELECT phase, COUNT(*) FROM trial_enrollment{w} GROUP BY phase ORDER BY phase{}",
            if r.chance(50) { " DESC" } else { "" }
        ),
        1 => format!("SELECT MIN(phase), MAX(phase) FROM trial_enrollment{w}"),
        _ => format!("SELECT id, phase FROM trial_enrollment{w} ORDER BY phase, id LIMIT 10"),
    };
    query(sql, true, vec![false, false], "ENUM order")
}

/// One reporting query, nested shapes included (a union of aggregates, an aggregate over
/// a join off the key).
pub fn query_of(r: &mut Rng) -> Query {
    let mut tags = Vec::new();
    let mut q = match r.range(0, 9) {
        0 => distinct_aggregates(r, &mut tags),
        1 => aggregate_expressions(r, &mut tags),
        2 => group_concat(r, &mut tags),
        3 => union(r, &mut tags),
        4 => subquery(r, &mut tags),
        5 => join_off_key(r, &mut tags),
        6 => window(r, &mut tags),
        7 => enum_order(r, &mut tags),
        8 => {
            tags.push("nested");
            query(
                format!(
                    "SELECT hospital_id, COUNT(DISTINCT patient_id), SUM(v) / COUNT(*) FROM \
                     (SELECT c.hospital_id, c.patient_id, c.value AS v FROM clinical_data c \
                     JOIN trial_enrollment t ON t.patient_id = c.patient_id WHERE t.id > {}) j \
                     GROUP BY hospital_id ORDER BY hospital_id",
                    r.range(0, 100)
                ),
                true,
                vec![false; 3],
                "nested",
            )
        }
        _ => {
            tags.push("nested");
            query(
                "SELECT k, n FROM (SELECT hospital_id AS k, COUNT(*) AS n FROM patients GROUP \
                 BY hospital_id UNION ALL SELECT hospital_id, COUNT(DISTINCT measure) FROM \
                 clinical_data GROUP BY hospital_id) u ORDER BY k, n"
                    .to_string(),
                true,
                vec![false, false],
                "nested",
            )
        }
    };
    tags.sort_unstable();
    tags.dedup();
    q.tags = tags;
    q
}
