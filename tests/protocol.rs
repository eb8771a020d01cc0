//! The MySQL protocol as real clients see it through shardgate: login, session commands,
//! logical names in SHOW, status flags, warnings, and what bad input gets.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_passwords_with_both_plugins() {
    let (schema, proxy) = setup("login").await;
    let wrong = OptsBuilder::from_opts(proxy.opts(None)).pass(Some("nope"));
    let msg = expect_code(Conn::new(wrong).await, 1045);
    assert!(msg.contains("'app'"), "{msg}");
    let unknown = OptsBuilder::from_opts(proxy.opts(None)).user(Some("mallory"));
    expect_code(Conn::new(unknown).await, 1045);
    // caching_sha2_password user: the client is switched to the plugin; the first login goes
    // through full authentication (RSA key exchange), the next ones take the fast path.
    let sha2 = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("sha2user"))
        .pass(Some("sha2-pass"));
    for _ in 0..2 {
        let mut c = Conn::new(sha2.clone()).await.expect("sha2 login");
        let one: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
        assert_eq!(one, 1);
        c.disconnect().await.unwrap();
    }
    let bad_sha2 = OptsBuilder::from_opts(proxy.opts(None))
        .user(Some("sha2user"))
        .pass(Some("wrong"));
    expect_code(Conn::new(bad_sha2).await, 1045);
    // Unknown database at login.
    expect_code(Conn::new(proxy.opts(Some("nosuchdb"))).await, 1049);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_statements_use_logical_names() {
    let (schema, proxy) = setup("show").await;
    let mut c = proxy.connect(None).await;
    let dbs: Vec<String> = c.query("SHOW DATABASES").await.unwrap();
    assert_eq!(dbs, vec!["clinical".to_string()]);
    let none: Option<Option<String>> = c.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(none, Some(None));
    expect_code(
        c.query_drop("SELECT * FROM patients WHERE hospital_id = 1")
            .await,
        1046,
    );
    c.query_drop("USE clinical").await.unwrap();
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("clinical"));
    let tables: Vec<String> = c.query("SHOW TABLES").await.unwrap();
    assert_eq!(
        tables,
        vec![
            "clinical_data",
            "hospitals",
            "medication_logs",
            "patients",
            "trial_enrollment"
        ]
    );
    let full: Vec<(String, String)> = c.query("SHOW FULL TABLES LIKE 'pat%'").await.unwrap();
    assert_eq!(
        full,
        vec![("patients".to_string(), "BASE TABLE".to_string())]
    );
    let cols: Vec<(String, String, String, String, Option<String>, String)> =
        c.query("DESCRIBE patients").await.unwrap();
    assert_eq!(cols.len(), 5);
    assert_eq!(cols[1].0, "hospital_id");
    let create: (String, String) = c
        .query_first("SHOW CREATE TABLE patients")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(create.0, "patients");
    assert!(
        create.1.starts_with("CREATE TABLE `patients`"),
        "{}",
        create.1
    );
    assert!(!create.1.contains("patients_0"), "{}", create.1);
    let cols: Vec<mysql_async::Row> = c
        .query("SHOW COLUMNS FROM clinical.clinical_data")
        .await
        .unwrap();
    assert_eq!(cols.len(), 8);
    expect_code(c.query_drop("USE nosuchdb").await, 1049);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_variables_reach_the_backend_connections() {
    let (schema, proxy) = setup("session_vars").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    c.query_drop("SET @marker = 42").await.unwrap();
    let direct_mode: String = c.query_first("SELECT @@sql_mode").await.unwrap().unwrap();
    assert_eq!(direct_mode, "ANSI_QUOTES");
    // Shard 3 lives on g1, which this session has not used yet: its connection must get
    // the same state when it is opened.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 3, 'x')")
        .await
        .unwrap();
    let rows: Vec<(String, Option<i64>)> = c
        .query("SELECT @@sql_mode, @marker FROM patients WHERE hospital_id = 3")
        .await
        .unwrap();
    assert_eq!(rows, vec![("ANSI_QUOTES".to_string(), Some(42))]);
    expect_code(c.query_drop("SET GLOBAL max_connections = 10").await, 1235);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statements_only_when_negotiated() {
    let (schema, proxy) = setup("multi_stmt").await;
    // mysql_async always negotiates multi-statements.
    let mut c = proxy.connect(Some("clinical")).await;
    let mut result = c.query_iter("SELECT 1; SELECT 2, 3").await.unwrap();
    let first: Vec<i64> = result.collect().await.unwrap();
    let second: Vec<(i64, i64)> = result.collect().await.unwrap();
    assert_eq!(first, vec![1]);
    assert_eq!(second, vec![(2, 3)]);
    drop(result);
    // An error stops the batch: the third statement must not run.
    let r = c
        .query_iter("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a'); SELECT id INTO @v FROM patients ORDER BY id LIMIT 1; INSERT INTO patients (id, hospital_id, name) VALUES (2, 1, 'b')")
        .await;
    if let Ok(mut r) = r {
        while !r.is_empty() {
            if r.collect::<mysql_async::Row>().await.is_err() {
                break;
            }
        }
    }
    drop(c);
    let mut d = schema.on(0).await;
    let ids: Vec<i64> = d.query("SELECT id FROM patients_1").await.unwrap();
    assert_eq!(ids, vec![1]);
    schema.drop().await;
}

fn mariadb_cli(port: u16, args: &[&str]) -> std::process::Output {
    std::process::Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uapp",
            "-papp-pass",
            "--batch",
        ])
        .args(args)
        .output()
        .expect("run the mariadb client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_cli_connects_and_lists() {
    let (schema, proxy) = setup("cli").await;
    let out = mariadb_cli(
        proxy.port,
        &[
            "-e",
            "select @@version_comment limit 1; show databases; use clinical; show tables",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("patients"), "{stdout}");
    assert!(!stdout.contains("patients_0"), "{stdout}");
    assert!(stdout.contains("clinical"), "{stdout}");
    // Errors reach the CLI with their code.
    let out = mariadb_cli(
        proxy.port,
        &[
            "clinical",
            "-e",
            "select id into @v from patients order by id limit 1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ERROR 1235"), "{stderr}");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_flags_follow_the_backend_transaction_state() {
    let (schema, proxy) = setup("status_flags").await;
    let mut c = proxy.connect(Some("clinical")).await;
    const IN_TRANS: u16 = 0x0001;
    const AUTOCOMMIT: u16 = 0x0002;
    let status = |c: &Conn| {
        c.last_ok_packet()
            .map(|p| p.status_flags().bits())
            .unwrap_or(0)
    };
    c.query_drop("SELECT 1").await.unwrap();
    assert_eq!(status(&c) & (IN_TRANS | AUTOCOMMIT), AUTOCOMMIT);
    c.query_drop("BEGIN").await.unwrap();
    assert_ne!(status(&c) & IN_TRANS, 0, "BEGIN reports in-transaction");
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    assert_ne!(status(&c) & IN_TRANS, 0);
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(status(&c) & IN_TRANS, 0);
    let n: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    assert!(n.is_empty(), "rolled back");
    c.query_drop("SET autocommit = 0").await.unwrap();
    assert_eq!(status(&c) & AUTOCOMMIT, 0, "autocommit off is reported");
    schema.drop().await;
}
