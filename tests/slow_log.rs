//! The slow query log (issue 14 point 3) against real MariaDB: `[log] slow_query_ms`,
//! `slow_query_log`, `log_literals`. Every line must parse as one JSON object naming the
//! session, user, database, route kind, every shard part with its group, role, server, time
//! and rows, the total time, rows sent and the error code; literals are masked unless asked.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use serde_json::Value;
use shardgate::config::server::{AuthPlugin, LogConfig, UserConfig};

async fn setup(test: &str, log: LogConfig) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[&format!(
                    "INSERT INTO patients_{shard} VALUES ({id}, {shard}, 'p{shard}', NULL, NULL)",
                    id = 100 + shard
                )],
            )
            .await;
    }
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.log = log;
            c.users.push(UserConfig {
                name: "ops".into(),
                password: "ops-pass".into(),
                auth_plugin: AuthPlugin::MysqlNativePassword,
                admin: true,
                limits: Default::default(),
            });
        },
    )
    .await;
    (schema, proxy)
}

fn log_config(path: &Path, slow_query_ms: u64, log_literals: bool) -> LogConfig {
    LogConfig {
        slow_query_log: Some(path.to_path_buf()),
        slow_query_ms,
        log_literals,
    }
}

/// The lines of the log once it has at least `n` (the writer thread flushes on its own).
async fn lines(path: &Path, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() >= n {
            return lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "fewer than {n} lines in {}: {:?}",
        path.display(),
        std::fs::read_to_string(path)
    );
}

/// The lines of the log once it has at least `n` and a line for each of `starts` (the writer
/// thread may still be writing a statement's line when the client has its answer).
async fn lines_with(path: &Path, n: usize, starts: &[&str]) -> Vec<Value> {
    for _ in 0..100 {
        let all = lines(path, n).await;
        let has = |start: &&str| {
            all.iter()
                .any(|l| l["sql"].as_str().is_some_and(|s| s.starts_with(start)))
        };
        if starts.iter().all(has) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lines(path, n).await
}

fn line_for<'a>(lines: &'a [Value], sql_start: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["sql"].as_str().is_some_and(|s| s.starts_with(sql_start)))
        .unwrap_or_else(|| panic!("no line for {sql_start}: {lines:#?}"))
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("slow.jsonl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_zero_logs_every_statement_as_json_with_masked_literals_and_shard_parts() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (schema, proxy) = setup("slow_log_all", log_config(&path, 0, false)).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let id: Option<u32> = c.query_first("SELECT CONNECTION_ID()").await.unwrap();
    c.query_drop("SELECT name FROM patients WHERE hospital_id = 2 AND name <> 'Sm''ith'")
        .await
        .unwrap();
    c.query_drop("SELECT id FROM patients ORDER BY id LIMIT 3")
        .await
        .unwrap();
    c.query_drop(
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 4, 'secret-a'), (2, 7, 'secret-b')",
    )
    .await
    .unwrap();
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (101, 1, 'dup')")
            .await,
        1062,
    );
    // The binary protocol: the statement with its values in, masked alike.
    let _: Vec<String> = c
        .exec(
            "SELECT name FROM patients WHERE hospital_id = ? AND name = ?",
            (3, "p3-secret"),
        )
        .await
        .unwrap();
    let all = lines_with(
        &path,
        6,
        &[
            "SELECT name FROM patients",
            "SELECT id FROM patients ORDER BY",
            "INSERT INTO patients",
            "SELECT name FROM patients WHERE hospital_id = ? AND name = ?",
        ],
    )
    .await;
    let prepared = all
        .iter()
        .find(|l| l["sql"] == "SELECT name FROM patients WHERE hospital_id = ? AND name = ?")
        .unwrap_or_else(|| panic!("no line for the prepared statement: {all:#?}"));
    assert_eq!(prepared["shards"][0]["shard"], 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("secret"), "literals leaked: {text}");
    assert!(!text.contains("Sm''ith"), "literals leaked: {text}");

    let point = line_for(&all, "SELECT name FROM patients");
    assert_eq!(
        point["sql"],
        "SELECT name FROM patients WHERE hospital_id = ? AND name <> ?"
    );
    assert_eq!(point["session"], Value::from(id.unwrap()));
    assert_eq!(point["user"], USER);
    assert_eq!(point["database"], "clinical");
    assert_eq!(point["route"], "single");
    assert_eq!(point["rows_sent"], 1);
    assert_eq!(point["error"], Value::Null);
    assert!(point["total_ms"].as_f64().unwrap() > 0.0);
    assert!(point["time"].as_str().unwrap().ends_with('Z'));
    let shards = point["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1, "{point}");
    assert_eq!(shards[0]["group"], "g1");
    assert_eq!(shards[0]["role"], "master");
    assert_eq!(shards[0]["shard"], 2);
    assert_eq!(shards[0]["rows"], 1);
    assert_eq!(
        shards[0]["server"],
        format!("127.0.0.1:{}", master_port(1)).as_str()
    );
    assert!(shards[0]["ms"].as_f64().unwrap() > 0.0);

    let merged = line_for(&all, "SELECT id FROM patients ORDER BY");
    assert_eq!(merged["sql"], "SELECT id FROM patients ORDER BY id LIMIT ?");
    assert_eq!(merged["route"], "merged");
    assert_eq!(merged["rows_sent"], 3);
    let parts = merged["shards"].as_array().unwrap();
    let shard_numbers: Vec<i64> = parts.iter().map(|p| p["shard"].as_i64().unwrap()).collect();
    assert_eq!(shard_numbers, [0, 1, 2, 3], "{merged}");

    let insert = line_for(
        &all,
        "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?), (?",
    );
    assert_eq!(
        insert["sql"],
        "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?), (?, ?, ?)"
    );
    assert_eq!(insert["route"], "several");
    let parts = insert["shards"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p["rows"] == 1), "{insert}");

    let dup = all
        .iter()
        .find(|l| l["error"] == 1062)
        .unwrap_or_else(|| panic!("no line with error 1062: {all:#?}"));
    assert_eq!(dup["route"], "single");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_literals_keeps_the_statement_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (schema, proxy) = setup("slow_log_literals", log_config(&path, 0, true)).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let sql = "SELECT name FROM patients WHERE hospital_id = 3 AND name = 'p3'";
    let name: Option<String> = c.query_first(sql).await.unwrap();
    assert_eq!(name.as_deref(), Some("p3"));
    let all = lines_with(&path, 1, &["SELECT name"]).await;
    assert_eq!(line_for(&all, "SELECT name")["sql"], sql);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_statements_slower_than_the_threshold_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (schema, proxy) = setup("slow_log_threshold", log_config(&path, 400, false)).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("SELECT name FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    c.query_drop("SELECT SLEEP(0.6)").await.unwrap();
    c.query_drop("SELECT 2").await.unwrap();
    let all = lines(&path, 1).await;
    // Give a wrongly logged fast statement time to show up.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let all_now = lines(&path, 1).await;
    assert_eq!(all_now.len(), 1, "{all_now:#?}");
    assert_eq!(all[0]["sql"], "SELECT SLEEP(?)");
    assert!(all[0]["total_ms"].as_f64().unwrap() >= 400.0, "{}", all[0]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_reopens_the_log_so_logrotate_can_move_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (schema, proxy) = setup("slow_log_reopen", log_config(&path, 0, false)).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let opts = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut ops = Conn::new(opts).await.unwrap();
    c.query_drop("SELECT 1").await.unwrap();
    // The drivers' own statement at connect, twice, and SELECT 1.
    let before = lines(&path, 3).await;
    assert!(before.iter().any(|l| l["sql"] == "SELECT ?"), "{before:#?}");
    let rotated = dir.path().join("slow.jsonl.1");
    std::fs::rename(&path, &rotated).unwrap();
    ops.query_drop("SHARDGATE RELOAD").await.unwrap();
    c.query_drop("SELECT 'after rotation', 2").await.unwrap();
    let fresh = lines(&path, 2).await;
    assert!(
        fresh.iter().any(|l| l["sql"] == "SHARDGATE RELOAD"),
        "{fresh:#?}"
    );
    assert!(
        fresh.iter().any(|l| l["sql"] == "SELECT ?, ?"),
        "the new file lacks the statement after the reload: {fresh:#?}"
    );
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(
        !old.contains("SELECT ?, ?") && !old.contains("RELOAD"),
        "{old}"
    );
    schema.drop().await;
}

#[test]
fn a_slow_log_that_cannot_be_written_fails_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), "").unwrap();
    let config = dir.path().join("shardgate.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:9\"\nrules = \"rules.toml\"\n\n[[users]]\nname = \"app\"\n\
         password = \"x\"\n\n[backend]\nuser = \"app\"\npassword = \"x\"\n\n[log]\n\
         slow_query_ms = 0\nslow_query_log = \"no-such-dir/slow.jsonl\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started anyway: {stderr}");
    assert!(stderr.contains("log.slow_query_log"), "{stderr}");
    assert!(stderr.contains("no-such-dir"), "{stderr}");
    assert!(stderr.contains("shardgate.toml"), "{stderr}");
}

/// Regression: hex and bit numbers (`0x...`, `0b...`, words to the lexer) and comments
/// reached the log as written with `log_literals = false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hex_bit_numbers_and_comments_are_masked_like_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (schema, proxy) = setup("slow_log_hex", log_config(&path, 0, false)).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop(
        "SELECT name FROM patients WHERE hospital_id = 2 AND name <> 0x736563726574 \
         /* ssn 123-45-6789 */ AND id <> 0b101101110 -- pin 4711\n AND name <> X'736563726574'",
    )
    .await
    .unwrap();
    c.query_drop("SELECT 1 # secret-remark").await.unwrap();
    let all = lines_with(&path, 2, &["SELECT name FROM patients"]).await;
    let point = line_for(&all, "SELECT name FROM patients");
    assert_eq!(
        point["sql"],
        "SELECT name FROM patients WHERE hospital_id = ? AND name <> ? \
         /* ? */ AND id <> ? /* ? */\n AND name <> X?"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for leaked in ["736563726574", "101101110", "123-45", "pin 4711", "secret"] {
        assert!(!text.contains(leaked), "{leaked} leaked: {text}");
    }
    drop(c);
    schema.drop().await;
}

/// Regression: with `log_literals = true` a statement carrying a password went to the log
/// as sent; such statements are masked whatever the setting (MariaDB's logs rewrite them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_reach_the_log_even_with_log_literals() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (schema, proxy) = setup("slow_log_passwords", log_config(&path, 0, true)).await;
    let mut c = proxy.connect(Some("clinical")).await;
    for sql in [
        "SET PASSWORD FOR 'nobody'@'%' = PASSWORD('hunter2-a')",
        "CREATE USER 'nobody'@'%' IDENTIFIED BY 'hunter2-b'",
        "ALTER USER 'nobody'@'db-7.internal' IDENTIFIED VIA mysql_native_password USING PASSWORD('hunter2-c')",
    ] {
        // Whatever the answer (refused, or no privilege): the line must not hold the password.
        let _ = c.query_drop(sql).await;
    }
    c.query_drop("SELECT name FROM patients WHERE hospital_id = 3 AND name = 'kept'")
        .await
        .unwrap();
    let all = lines_with(&path, 4, &["SELECT name", "SET PASSWORD"]).await;
    assert_eq!(
        line_for(&all, "SELECT name")["sql"],
        "SELECT name FROM patients WHERE hospital_id = 3 AND name = 'kept'"
    );
    line_for(&all, "SET PASSWORD FOR ?@? = PASSWORD(?)");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"), "a password leaked: {text}");
    assert!(
        !text.contains("db-7.internal"),
        "an account's host leaked: {text}"
    );
    drop(c);
    schema.drop().await;
}
