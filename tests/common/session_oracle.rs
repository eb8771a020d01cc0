//! The harness of the tests/attack_session_values*.rs files: each sequence of statements
//! runs through shardgate and on one MariaDB connection (the oracle, with `cd_ref` on g0
//! standing for `clinical_data`), and every answer is compared. A difference is a value the
//! proxy answers where one server would answer another (or a needless 1235).
//!
//! Prefixes: `P:` prepared (binary protocol), `X:` the proxy must refuse it with 1235 (ends
//! the sequence), `R:` the oracle's answer or a 1235 refusal (which ends the sequence), `V:`
//! compare the rows whose first cell names a connection value (identity, last_insert_id,
//! in_transaction) instead of the first row, `C:` compare the result's column names, types
//! and UNSIGNED flag too, `O:` compare the OK packet (affected rows and last insert id, what
//! mysql_insert_id() returns), `N:` the proxy must not refuse it with 1235 (the answers are
//! still compared).
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
               patient_id BIGINT NOT NULL, measure VARCHAR(64) NOT NULL, note TEXT) AUTO_INCREMENT = 500"],
        )
        .await;
    schema
        .exec(1, &["ALTER TABLE clinical_data_2 AUTO_INCREMENT = 500"])
        .await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

/// Empties the oracle's table and the four shards and starts their ids where told: the
/// oracle at `oracle`, shard s at `shards[s]`.
pub async fn restart_ids(schema: &TestSchema, oracle: u64, shards: [u64; 4]) {
    schema
        .exec(
            0,
            &[
                "TRUNCATE TABLE cd_ref",
                &format!("ALTER TABLE cd_ref AUTO_INCREMENT = {oracle}"),
                "TRUNCATE TABLE clinical_data_0",
                &format!("ALTER TABLE clinical_data_0 AUTO_INCREMENT = {}", shards[0]),
                "TRUNCATE TABLE clinical_data_1",
                &format!("ALTER TABLE clinical_data_1 AUTO_INCREMENT = {}", shards[1]),
            ],
        )
        .await;
    schema
        .exec(
            1,
            &[
                "TRUNCATE TABLE clinical_data_2",
                &format!("ALTER TABLE clinical_data_2 AUTO_INCREMENT = {}", shards[2]),
                "TRUNCATE TABLE clinical_data_3",
                &format!("ALTER TABLE clinical_data_3 AUTO_INCREMENT = {}", shards[3]),
            ],
        )
        .await;
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

#[derive(Clone, Copy, Default)]
pub struct How {
    pub prepared: bool,
    pub values: bool,
    pub columns: bool,
    pub ok_packet: bool,
}

/// A statement's answer as text: `ok <first row>` (`ok` for none), the connection-value
/// rows (`values`), the columns (`columns`), the OK packet (`ok_packet`), or `ERR code`.
pub async fn answer(c: &mut Conn, sql: &str, how: How) -> String {
    if how.ok_packet {
        let r = if how.prepared {
            c.exec_drop(sql, ()).await
        } else {
            c.query_drop(sql).await
        };
        return match r {
            Ok(()) => format!(
                "ok affected={} insert_id={:?}",
                c.affected_rows(),
                c.last_insert_id()
            ),
            Err(mysql_async::Error::Server(e)) => format!("ERR {}", e.code),
            Err(e) => panic!("{sql}: {e}"),
        };
    }
    let result: Result<(Vec<Row>, String), mysql_async::Error> = async {
        if how.prepared {
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
            let body = if how.values {
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
            if how.columns {
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

/// Runs `steps` on the proxy session `p` and the oracle connection `d`; the mismatches.
pub async fn run_steps(p: &mut Conn, d: &mut Conn, steps: &[&str]) -> Vec<String> {
    run_steps_with(p, d, steps, |sql| sql.replace("clinical_data", "cd_ref")).await
}

/// `run_steps` with the oracle's spelling of each statement given by `oracle_sql`.
pub async fn run_steps_with(
    p: &mut Conn,
    d: &mut Conn,
    steps: &[&str],
    oracle_sql: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for step in steps {
        if let Some(sql) = step.strip_prefix("X:") {
            let via = answer(p, sql, How::default()).await;
            if via != "ERR 1235" {
                out.push(format!(
                    "{step:?}: shardgate {via}, expected a refusal (1235)"
                ));
            }
            break;
        }
        let mut how = How::default();
        let (mut may_refuse, mut must_run) = (false, false);
        let mut sql: &str = step;
        loop {
            if let Some(s) = sql.strip_prefix("P:") {
                how.prepared = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("V:") {
                how.values = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("C:") {
                how.columns = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("O:") {
                how.ok_packet = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("R:") {
                may_refuse = true;
                sql = s;
            } else if let Some(s) = sql.strip_prefix("N:") {
                must_run = true;
                sql = s;
            } else {
                break;
            }
        }
        let via = answer(p, sql, how).await;
        if may_refuse && via == "ERR 1235" {
            break;
        }
        if must_run && via == "ERR 1235" {
            out.push(format!("{step:?}: shardgate refused it (1235)"));
            continue;
        }
        let oracle = answer(d, &oracle_sql(sql), how).await;
        if via != oracle {
            out.push(format!("{step:?}: shardgate {via}, one server {oracle}"));
        }
    }
    out
}

pub async fn differences(schema: &TestSchema, proxy: &Proxy, steps: &[&str]) -> Vec<String> {
    let mut p = proxy.connect(Some("clinical")).await;
    let mut d = schema.on(0).await;
    let out = run_steps(&mut p, &mut d, steps).await;
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

/// Like `check`, with the ids restarted before each sequence (see `restart_ids`).
pub async fn check_ids(schema: &TestSchema, proxy: &Proxy, sequences: &[(u64, [u64; 4], &[&str])]) {
    let mut all = Vec::new();
    for (oracle, shards, steps) in sequences {
        restart_ids(schema, *oracle, *shards).await;
        let diff = differences(schema, proxy, steps).await;
        if !diff.is_empty() {
            all.push(format!(
                "ids {oracle} / {shards:?}, after {:?}:\n    {}",
                steps,
                diff.join("\n    ")
            ));
        }
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
}

pub const INSERT_G1: &str =
    "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')";
