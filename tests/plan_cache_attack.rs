//! The plan cache (`plan::cache`) attacked as a hostile client would: one text repeated
//! across every change of session state that could make the same bytes mean another
//! statement, over both protocols, from several sessions at once. Each answer is checked
//! against the rows the test put in the physical tables.

mod common;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use common::*;

async fn text(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    text_rows(conn, sql).await
}

/// Prepared, executed and closed, so the next call prepares again under the session's state
/// of then (a statement prepared under another sql_mode is refused).
async fn prepared(conn: &mut Conn, sql: &str, params: mysql_async::Params) -> Vec<Vec<String>> {
    let stmt = conn.prep(sql).await.unwrap();
    let rows = conn.exec(&stmt, params).await.unwrap();
    conn.close(stmt).await.unwrap();
    cells(rows)
}

async fn insert_patients(conn: &mut Conn, rows: &[(i64, i64, &str)]) {
    for (id, hospital, name) in rows {
        conn.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, {hospital}, '{name}')"
        ))
        .await
        .unwrap();
    }
}

fn ids(rows: &[i64]) -> Vec<Vec<String>> {
    rows.iter().map(|i| vec![i.to_string()]).collect()
}

/// After `USE information_schema` an unqualified name is a system table: the plan kept for
/// the logical database's `patients` must not answer for `information_schema.patients`,
/// which does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_kept_for_a_sharded_table_is_not_answered_after_use_information_schema() {
    let schema = TestSchema::create("pca_system_schema").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(&mut c, &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid")]).await;
    let sql = "SELECT id FROM patients ORDER BY id LIMIT 2";
    for _ in 0..2 {
        c.query_drop("USE clinical").await.unwrap();
        assert_eq!(text(&mut c, sql).await, ids(&[1, 2]));
        assert_eq!(prepared(&mut c, sql, ().into()).await, ids(&[1, 2]));
        c.query_drop("USE information_schema").await.unwrap();
        expect_code(c.query_drop(sql).await, 1109);
        expect_code(c.prep(sql).await.map(|_| ()), 1109);
    }
    schema.drop().await;
}

/// Under NO_BACKSLASH_ESCAPES `'a\'` ends at the second quote, so the ORDER BY and LIMIT
/// that are string content in the default mode are the statement's own, and the merge must
/// apply them: a plan kept from one mode would merge the shards' rows by the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backslash_escapes_between_repeats_decides_which_order_by_the_merge_applies() {
    let schema = TestSchema::create("pca_nbe").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(
        &mut c,
        &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid"), (4, 3, "dan")],
    )
    .await;
    let sql = "SELECT id FROM patients WHERE name <> 'a\\' ORDER BY id DESC LIMIT 1 /* ' \
               ORDER BY id LIMIT 2 -- */";
    for _ in 0..2 {
        c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
        assert_eq!(text(&mut c, sql).await, ids(&[1, 2]));
        assert_eq!(prepared(&mut c, sql, ().into()).await, ids(&[1, 2]));
        c.query_drop("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
            .await
            .unwrap();
        assert_eq!(text(&mut c, sql).await, ids(&[4]));
        assert_eq!(prepared(&mut c, sql, ().into()).await, ids(&[4]));
    }
    schema.drop().await;
}

/// One prepared text, executed with values that address one shard, two shards and one
/// shard again: each execution's rows are those of its own values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_prepared_text_bound_to_key_values_of_one_and_several_shards_reads_each_ones_rows() {
    let schema = TestSchema::create("pca_bound").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    insert_patients(
        &mut c,
        &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid"), (4, 5, "dan")],
    )
    .await;
    let sql = "SELECT id FROM patients WHERE hospital_id IN (?, ?) ORDER BY id DESC";
    for _ in 0..2 {
        assert_eq!(prepared(&mut c, sql, (1, 1).into()).await, ids(&[2]));
        assert_eq!(prepared(&mut c, sql, (0, 2).into()).await, ids(&[3, 1]));
        assert_eq!(prepared(&mut c, sql, (1, 5).into()).await, ids(&[4, 2]));
        assert_eq!(prepared(&mut c, sql, (2, 5).into()).await, ids(&[4, 3]));
    }
    schema.drop().await;
}

/// Many sessions repeat the same texts at once, each in its own logical database and
/// sql_mode: every answer is its own database's, read as its own mode says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_repeating_one_text_at_once_in_other_databases_and_modes_read_their_own_rows() {
    let a = TestSchema::create("pca_many_a").await;
    let b = TestSchema::create("pca_many_b").await;
    a.create_clinical_tables().await;
    b.create_clinical_tables().await;
    let proxy = Proxy::start(&[
        ("a.toml", a.clinical_rules("many_a")),
        ("b.toml", b.clinical_rules("many_b")),
    ])
    .await;
    let mut c = proxy.connect(Some("many_a")).await;
    insert_patients(&mut c, &[(1, 0, "ann"), (2, 1, "bea"), (3, 2, "cid")]).await;
    c.query_drop("USE many_b").await.unwrap();
    insert_patients(&mut c, &[(7, 3, "zoe"), (8, 2, "yan"), (9, 1, "xia")]).await;
    // A string in the default mode (every row), a column under ANSI_QUOTES.
    let sql = r#"SELECT id FROM patients ORDER BY "name", id LIMIT 2"#;
    let mut tasks = Vec::new();
    for n in 0..6 {
        let opts = proxy.opts(Some(if n % 2 == 0 { "many_a" } else { "many_b" }));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.unwrap();
            let ansi = n % 3 == 0;
            if ansi {
                c.query_drop("SET sql_mode = 'ANSI_QUOTES'").await.unwrap();
            }
            let want = match (n % 2 == 0, ansi) {
                (true, false) => ids(&[1, 2]),
                (true, true) => ids(&[1, 2]),
                (false, false) => ids(&[7, 8]),
                (false, true) => ids(&[9, 8]),
            };
            for i in 0..40 {
                let got = if i % 2 == 0 {
                    text(&mut c, sql).await
                } else {
                    prepared(&mut c, sql, ().into()).await
                };
                assert_eq!(got, want, "session {n}, round {i}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.drop().await;
    b.drop().await;
}
