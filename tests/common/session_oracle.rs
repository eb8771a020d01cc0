//! The harness of the tests/attack_session_values*.rs files: each sequence of statements
//! runs through shardgate and on one MariaDB connection (the oracle, with `cd_ref` on g0
//! standing for `clinical_data`), and every answer is compared. A difference is a value the
//! proxy answers where one server would answer another (or a needless 1235).
//!
//! Prefixes: `P:` prepared (binary protocol), `X:` the proxy must refuse it with 1235 (ends
//! the sequence), `R:` the oracle's answer or a 1235 refusal (which ends the sequence), `V:`
//! compare the rows whose first cell names a connection value (identity, last_insert_id,
//! in_transaction) instead of the first row, `C:` compare the result's column names, types
//! and UNSIGNED flag too.
//!
//! Setup: `clinical_data` shard 2 (group g1) and the oracle's `cd_ref` (g0) both start their
//! AUTO_INCREMENT at 500, so an INSERT for hospital 2 generates the same id on both sides
//! while the proxy's id comes from g1's connection, not the default group's.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::{Proxy, TestSchema};

pub async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["CREATE TABLE cd_ref (id BIGINT PRIMARY KEY AUTO_INCREMENT, hospital_id INT NOT NULL, \
               patient_id BIGINT NOT NULL, measure VARCHAR(64) NOT NULL) AUTO_INCREMENT = 500"],
        )
        .await;
    schema
        .exec(1, &["ALTER TABLE clinical_data_2 AUTO_INCREMENT = 500"])
        .await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

pub fn cell(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        v => format!("{v:?}"),
    }
}

pub fn row_text(r: &Row) -> String {
    (0..r.len())
        .map(|i| cell(r.as_ref(i).unwrap()))
        .collect::<Vec<_>>()
        .join("|")
}

/// Names of the SHOW VARIABLES rows that hold a connection's own value.
pub const CONNECTION_VALUES: &[&str] = &["identity", "last_insert_id", "in_transaction"];

/// A statement's answer as text: `ok <first row>` (`ok` for none), the connection-value
/// rows (`values`), the columns (`columns`), or `ERR code`.
pub async fn answer(
    c: &mut Conn,
    sql: &str,
    prepared: bool,
    values: bool,
    columns: bool,
) -> String {
    let result: Result<(Vec<Row>, String), mysql_async::Error> = async {
        if prepared {
            let mut r = c.exec_iter(sql, ()).await?;
            let cols = describe(r.columns_ref());
            let rows = r.collect::<Row>().await?;
            Ok((rows, cols))
        } else {
            let mut r = c.query_iter(sql).await?;
            let cols = describe(r.columns_ref());
            let rows = r.collect::<Row>().await?;
            Ok((rows, cols))
        }
    }
    .await;
    match result {
        Ok((rows, cols)) => {
            let body = if values {
                rows.iter()
                    .filter(|r| {
                        r.len() >= 2
                            && CONNECTION_VALUES
                                .iter()
                                .any(|n| cell(r.as_ref(0).unwrap()).eq_ignore_ascii_case(n))
                    })
                    .map(row_text)
                    .collect::<Vec<_>>()
                    .join(";")
            } else {
                rows.first().map(row_text).unwrap_or_default()
            };
            let body = if body.is_empty() {
                "ok".to_string()
            } else {
                format!("ok {body}")
            };
            if columns {
                format!("{body} [{cols}]")
            } else {
                body
            }
        }
        Err(mysql_async::Error::Server(e)) => format!("ERR {}", e.code),
        Err(e) => panic!("{sql}: {e}"),
    }
}

pub fn describe(cols: &[mysql_async::Column]) -> String {
    cols.iter()
        .map(|c| {
            let unsigned = c
                .flags()
                .contains(mysql_async::consts::ColumnFlags::UNSIGNED_FLAG);
            format!(
                "{} {:?}{}",
                c.name_str(),
                c.column_type(),
                if unsigned { " unsigned" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `steps` on a new proxy session and a new oracle connection; the mismatches.
pub async fn differences(schema: &TestSchema, proxy: &Proxy, steps: &[&str]) -> Vec<String> {
    let mut p = proxy.connect(Some("clinical")).await;
    let mut d = schema.on(0).await;
    let mut out = Vec::new();
    for step in steps {
        if let Some(sql) = step.strip_prefix("X:") {
            let via = answer(&mut p, sql, false, false, false).await;
            if via != "ERR 1235" {
                out.push(format!(
                    "{step:?}: shardgate {via}, expected a refusal (1235)"
                ));
            }
            break;
        }
        let (mut prepared, mut values, mut columns, mut may_refuse) = (false, false, false, false);
        let mut sql: &str = step;
        loop {
            if let Some(s) = sql.strip_prefix("P:") {
                prepared = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("V:") {
                values = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("C:") {
                columns = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("R:") {
                may_refuse = true;
                sql = s;
            } else {
                break;
            }
        }
        let via = answer(&mut p, sql, prepared, values, columns).await;
        if may_refuse && via == "ERR 1235" {
            break;
        }
        let oracle = answer(
            &mut d,
            &sql.replace("clinical_data", "cd_ref"),
            prepared,
            values,
            columns,
        )
        .await;
        if via != oracle {
            out.push(format!("{step:?}: shardgate {via}, one server {oracle}"));
        }
    }
    p.disconnect().await.unwrap();
    d.disconnect().await.unwrap();
    out
}

pub async fn check(schema: &TestSchema, proxy: &Proxy, sequences: &[&[&str]]) {
    let mut all = Vec::new();
    for steps in sequences {
        let diff = differences(schema, proxy, steps).await;
        if !diff.is_empty() {
            all.push(format!("after {:?}:\n    {}", steps, diff.join("\n    ")));
        }
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
}

pub const INSERT_G1: &str =
    "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')";
