//! Reads over several shards are planned once per text and kept (`plan::cache`). A kept plan
//! must never answer for what it was not made for: another logical database, another
//! sql_mode, columns a DDL changed, or rules a reload replaced. Each test repeats one text
//! across such a change and checks the rows against the physical tables.

mod common;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};
use shardgate::config::server::UserConfig;

use common::*;

async fn texts(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    text_rows(conn, sql).await
}

async fn insert_patients(conn: &mut Conn, names: &[(i64, i64, &str)]) {
    for (id, hospital, name) in names {
        conn.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, {hospital}, '{name}')"
        ))
        .await
        .unwrap();
    }
}

const SCATTER: &str = "SELECT id, name FROM patients ORDER BY name DESC, id LIMIT 3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_text_in_two_logical_databases_reads_each_ones_rows() {
    let a = TestSchema::create("plan_cache_db_a").await;
    let b = TestSchema::create("plan_cache_db_b").await;
    a.create_clinical_tables().await;
    b.create_clinical_tables().await;
    let proxy = Proxy::start(&[
        ("a.toml", a.clinical_rules("cache_a")),
        ("b.toml", b.clinical_rules("cache_b")),
    ])
    .await;
    let mut c = proxy.connect(Some("cache_a")).await;
    insert_patients(
        &mut c,
        &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid"), (4, 3, "dan")],
    )
    .await;
    c.query_drop("USE cache_b").await.unwrap();
    insert_patients(&mut c, &[(1, 0, "zoe"), (2, 3, "yan"), (3, 2, "xia")]).await;

    for _ in 0..3 {
        c.query_drop("USE cache_a").await.unwrap();
        assert_eq!(
            texts(&mut c, SCATTER).await,
            [["4", "dan"], ["3", "cid"], ["2", "bea"]]
        );
        c.query_drop("USE cache_b").await.unwrap();
        assert_eq!(
            texts(&mut c, SCATTER).await,
            [["1", "zoe"], ["2", "yan"], ["3", "xia"]]
        );
    }
    // Another session, other order of databases: the same kept plans, each its own.
    let mut d = proxy.connect(Some("cache_b")).await;
    assert_eq!(texts(&mut d, SCATTER).await[0], ["1", "zoe"]);
    a.drop().await;
    b.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_text_under_two_sql_modes_reads_as_each_mode_says() {
    let schema = TestSchema::create("plan_cache_mode").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(&mut c, &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid")]).await;
    // A string literal in the default mode, a column under ANSI_QUOTES.
    let sql = r#"SELECT id, name FROM patients ORDER BY "name" DESC, id LIMIT 2"#;
    for _ in 0..2 {
        c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
        assert_eq!(texts(&mut c, sql).await, [["1", "ann"], ["2", "bea"]]);
        c.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
        assert_eq!(texts(&mut c, sql).await, [["3", "cid"], ["2", "bea"]]);
    }
    // A table under ANSI_QUOTES, a syntax error otherwise: the plan kept under ANSI_QUOTES
    // must not run the text in the default mode.
    let quoted = r#"SELECT id FROM "patients" ORDER BY id LIMIT 2"#;
    c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
    expect_code(c.query_drop(quoted).await, 1064);
    c.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
    assert_eq!(texts(&mut c, quoted).await, [["1"], ["2"]]);
    c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
    expect_code(c.query_drop(quoted).await, 1064);
    c.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
    assert_eq!(texts(&mut c, quoted).await, [["1"], ["2"]]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_added_through_the_proxy_shows_in_the_next_read_of_the_same_text() {
    let schema = TestSchema::create("plan_cache_ddl").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(&mut c, &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid")]).await;
    let sql = "SELECT * FROM patients ORDER BY id DESC LIMIT 2";
    let before = texts(&mut c, sql).await;
    assert_eq!(before.len(), 2);
    let width = before[0].len();
    assert_eq!(texts(&mut c, sql).await, before);
    c.query_drop("ALTER TABLE patients ADD COLUMN ward INT NOT NULL DEFAULT 7")
        .await
        .unwrap();
    let after = texts(&mut c, sql).await;
    assert_eq!(after[0].len(), width + 1, "{after:?}");
    assert_eq!(after[0][0], "3");
    assert_eq!(after[0][width], "7");
    assert_eq!(after[1][0], "2");
    schema.drop().await;
}

fn ops() -> UserConfig {
    admin_user("ops", "ops-pass")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_renumbers_groups_is_not_answered_by_plans_of_the_old_rules() {
    let schema = TestSchema::create("plan_cache_reload").await;
    schema.create_clinical_tables().await;
    let rules = schema.clinical_rules("clinical");
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules.clone())], |c| {
        c.users.push(ops());
    })
    .await;
    let mut other = schema.on(1).await;
    other
        .query_drop("CREATE DATABASE IF NOT EXISTS sgt_plan_cache_other")
        .await
        .unwrap();
    other
        .query_drop(
            "CREATE TABLE IF NOT EXISTS sgt_plan_cache_other.patients_0 \
             (id BIGINT PRIMARY KEY, hospital_id INT, name VARCHAR(100))",
        )
        .await
        .unwrap();
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(
        &mut c,
        &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid"), (4, 3, "dan")],
    )
    .await;
    let sql = "SELECT id, name FROM patients ORDER BY id";
    let want = [["1", "ann"], ["2", "bea"], ["3", "cid"], ["4", "dan"]];
    assert_eq!(texts(&mut c, sql).await, want);
    assert_eq!(texts(&mut c, sql).await, want);

    // Group `a0` sorts first: g0 and g1 get new numbers. A plan kept from the old rules
    // would send shard 0's query to a0, whose decoy `patients_0` is empty.
    let renumbered = rules.replace(
        "[groups.g0]",
        &format!(
            "[groups.a0]\nmaster = \"127.0.0.1:{}\"\nschema = \"sgt_plan_cache_other\"\n\n\
             [groups.g0]",
            master_port(1)
        ),
    )
        + "\n[[tables]]\nname = \"audit\"\nshard_key = \"id\"\nshards = 1\nplacement = [\"a0\"]\n";
    std::fs::write(proxy.rules_dir().join("clinical.toml"), renumbered).unwrap();
    let opts = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut admin = Conn::new(opts).await.unwrap();
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();

    assert_eq!(texts(&mut c, sql).await, want);
    let mut fresh = proxy.connect(Some("clinical")).await;
    assert_eq!(texts(&mut fresh, sql).await, want);
    other
        .query_drop("DROP DATABASE sgt_plan_cache_other")
        .await
        .unwrap();
    schema.drop().await;
}

async fn metric(proxy: &Proxy, name: &str) -> u64 {
    let page = admin::http(proxy.admin_port(), "GET", "/metrics")
        .await
        .body;
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .parse::<f64>()
        .unwrap() as u64
}

/// Operators see whether texts repeat: a scatter planned once and answered twice from the
/// kept plan; a point read is never kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_misses_and_entries_show_in_metrics() {
    let schema = TestSchema::create("plan_cache_metrics").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |_| {},
    )
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(&mut c, &[(1, 0, "ann"), (2, 1, "bea")]).await;
    for _ in 0..3 {
        assert_eq!(texts(&mut c, SCATTER).await.len(), 2);
    }
    let one: Vec<Row> = c
        .query("SELECT name FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(metric(&proxy, "shardgate_plan_cache_misses_total").await, 1);
    assert_eq!(metric(&proxy, "shardgate_plan_cache_hits_total").await, 2);
    assert_eq!(metric(&proxy, "shardgate_plan_cache_entries").await, 1);
    schema.drop().await;
}
