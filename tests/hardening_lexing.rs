//! Statements read as MariaDB reads them: executable comments (`/*! */`, `/*M! */`) are code
//! where the server runs them, and the session's sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES,
//! PIPES_AS_CONCAT) decides strings, identifiers and `||`. Every test checks the rows a client
//! gets and where rows physically landed.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

/// Rows of `patients` per hospital, straight from the physical shard tables.
async fn physical_hospitals(schema: &TestSchema) -> Vec<(u32, i64, i64)> {
    let mut out = Vec::new();
    for shard in 0..4u32 {
        let group = if shard < 2 { 0 } else { 1 };
        let mut c = schema.on(group).await;
        let rows: Vec<(i64, i64)> = c
            .query(format!(
                "SELECT id, hospital_id FROM patients_{shard} ORDER BY id"
            ))
            .await
            .unwrap();
        out.extend(rows.into_iter().map(|(id, h)| (shard, id, h)));
        c.disconnect().await.unwrap();
    }
    out
}

/// Ten patients in hospital 7 (shard 3) and twenty in hospital 8 (shard 0).
async fn seed(c: &mut Conn) {
    for i in 0..30 {
        let h = if i < 10 { 7 } else { 8 };
        c.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES ({i}, {h}, 'p{i}')"
        ))
        .await
        .unwrap();
    }
}

async fn count(c: &mut Conn, sql: &str) -> i64 {
    c.query_first::<i64, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executable_comments_are_planned_as_the_server_runs_them() {
    let (schema, proxy) = setup("lex_exec_comments").await;
    let mut c = proxy.connect(Some("clinical")).await;
    seed(&mut c).await;

    // Issue 9.2: the OR inside /*M! */ runs on MariaDB, so both hospitals' shards are read.
    let both = "SELECT COUNT(*) FROM patients WHERE hospital_id=7 /*M! OR hospital_id=8 */";
    assert_eq!(count(&mut c, both).await, 30);
    let versioned =
        "SELECT COUNT(*) FROM patients WHERE hospital_id=7 /*M!100100 OR hospital_id=8 */";
    assert_eq!(count(&mut c, versioned).await, 30);
    // Comments the server skips: a future version, MySQL 5.7+ versions in /*!, lower-case m.
    for skipped in [
        "SELECT COUNT(*) FROM patients WHERE hospital_id=7 /*M!999999 OR hospital_id=8 */",
        "SELECT COUNT(*) FROM patients WHERE hospital_id=7 /*!50700 OR hospital_id=8 */",
        "SELECT COUNT(*) FROM patients WHERE hospital_id=7 /*m! OR hospital_id=8 */",
        "SELECT /*+ NO_ICP(patients) */ COUNT(*) FROM patients WHERE hospital_id=7",
    ] {
        assert_eq!(count(&mut c, skipped).await, 10, "{skipped}");
    }
    // The binary protocol reads the same text.
    let n: i64 = c
        .exec_first(
            "SELECT COUNT(*) FROM patients WHERE hospital_id=? /*M! OR hospital_id=? */",
            (7, 8),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 30);
    let n: i64 = c
        .exec_first(
            "SELECT COUNT(*) FROM patients WHERE hospital_id=? /*M!999999 OR hospital_id=? */",
            (7,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        n, 10,
        "a placeholder in a skipped comment is no placeholder"
    );

    // A second row inside /*M! */ lands in its own shard.
    c.query_drop(
        "INSERT INTO patients (id, hospital_id, name) VALUES (100, 7, 'a') /*M! ,(101, 8, 'b') */",
    )
    .await
    .unwrap();
    let rows = physical_hospitals(&schema).await;
    assert!(rows.contains(&(3, 100, 7)), "{rows:?}");
    assert!(rows.contains(&(0, 101, 8)), "{rows:?}");
    // A key an executable comment changes is no literal: refused, nothing stored.
    expect_code(
        c.query_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (940000009, 7 /*M!+1*/, 'x')",
        )
        .await,
        1235,
    );
    expect_code(
        c.exec_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (940000010, ? /*M!+1*/, 'x')",
            (7,),
        )
        .await,
        1235,
    );
    assert!(physical_hospitals(&schema)
        .await
        .iter()
        .all(|r| r.1 < 940000000));
    // Nested executable comments are not closed as written: refused.
    expect_code(
        c.query_drop("SELECT 1 FROM patients WHERE hospital_id = 7 /*!+0 /*!+1*/ */")
            .await,
        1235,
    );
    // Every shard table still holds exactly what the client inserted.
    let rows = physical_hospitals(&schema).await;
    assert_eq!(rows.len(), 32);
    assert!(rows.iter().all(|&(shard, _, h)| shard == (h as u32) % 4));
    schema.drop().await;
}

/// A mysqldump file's statements, as a restore sends them through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysqldump_style_statements_work_through_the_proxy() {
    let (schema, proxy) = setup("lex_mysqldump").await;
    let mut c = proxy.connect(Some("clinical")).await;
    for sql in [
        "/*M!999999\\- enable the sandbox mode */",
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
        "/*!40101 SET NAMES utf8mb4 */",
        "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */",
        "/*!40103 SET TIME_ZONE='+00:00' */",
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */",
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
        "/*!80000 SET @@SESSION.SQL_LOG_BIN= 0*/",
        "INSERT INTO `patients` (`id`, `hospital_id`, `name`) VALUES (1,7,'a'),(2,8,'b\\'s')",
        "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */",
        "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */",
    ] {
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let tz: String = c
        .query_first("SELECT @@SESSION.time_zone")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tz, "+00:00");
    let rows = physical_hospitals(&schema).await;
    assert_eq!(rows, vec![(0, 2, 8), (3, 1, 7)]);
    let name: String = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 8")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name, "b's");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backslash_escapes_moves_string_ends_for_the_planner_too() {
    let (schema, proxy) = setup("lex_nbe").await;
    let mut c = proxy.connect(Some("clinical")).await;
    seed(&mut c).await;
    let sql = r"SELECT COUNT(*) FROM patients WHERE hospital_id = 7 AND name <> '\' OR hospital_id = 8 OR '\'";
    // Default mode: `'\' OR ... OR '` is one string and the last `\'` opens another: the
    // server refuses the text.
    expect_code(c.query_drop(sql).await, 1064);
    // Issue 9.5: with NO_BACKSLASH_ESCAPES it is an OR over both hospitals.
    c.query_drop("SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        .await
        .unwrap();
    assert_eq!(count(&mut c, sql).await, 30);
    // The insert fast path splits rows by the same reading, and the value keeps its `\`.
    c.query_drop(
        r"INSERT INTO patients (id, hospital_id, name) VALUES (200, 7, '\'), (201, 8, 'x')",
    )
    .await
    .unwrap();
    let rows = physical_hospitals(&schema).await;
    assert!(
        rows.contains(&(3, 200, 7)) && rows.contains(&(0, 201, 8)),
        "{rows:?}"
    );
    let name: String = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 7 AND id = 200")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name, "\\");
    // A batch after the SET is split by the new mode: `'\'` ends at its second quote.
    let mut r = c
        .query_iter(r"SELECT COUNT(*) FROM patients WHERE name = '\'; SELECT 2")
        .await
        .unwrap();
    let first: Vec<i64> = r.collect().await.unwrap();
    let second: Vec<i64> = r.collect().await.unwrap();
    drop(r);
    assert_eq!((first, second), (vec![1], vec![2]));
    // Prepared under NO_BACKSLASH_ESCAPES: placeholders found by that mode.
    let stmt = c
        .prep(r"SELECT COUNT(*) FROM patients WHERE hospital_id = ? AND name <> '\' OR hospital_id = ?")
        .await
        .unwrap();
    let n: i64 = c.exec_first(&stmt, (7, 8)).await.unwrap().unwrap();
    assert_eq!(
        n, 31,
        "ten of hospital 7 (not the `\\` one), 21 of hospital 8"
    );
    // The mode changed since PREPARE: the text would read differently now, so refused.
    c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
    expect_code(c.exec_first::<i64, _, _>(&stmt, (7, 8)).await, 1235);
    expect_code(c.query_drop(sql).await, 1064);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ansi_quotes_and_pipes_as_concat_change_names_and_operators() {
    let (schema, proxy) = setup("lex_ansi").await;
    let mut c = proxy.connect(Some("clinical")).await;
    seed(&mut c).await;
    let pipes = "SELECT COUNT(*) FROM patients WHERE hospital_id = 7 || hospital_id = 8";
    // Default mode: `||` is OR.
    assert_eq!(count(&mut c, pipes).await, 30);

    c.query_drop("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
        .await
        .unwrap();
    assert_eq!(
        count(
            &mut c,
            r#"SELECT COUNT(*) FROM "patients" WHERE "hospital_id" = 7"#
        )
        .await,
        10
    );
    c.query_drop(r#"INSERT INTO "patients" ("id", "hospital_id", "name") VALUES (300, 8, 'q')"#)
        .await
        .unwrap();
    assert!(physical_hospitals(&schema).await.contains(&(0, 300, 8)));
    // "7" is a column now, not the key's value: no row has a column named 7, so an error.
    expect_code(
        c.query_drop(r#"SELECT id FROM patients WHERE hospital_id = "7""#)
            .await,
        1054,
    );

    // PIPES_AS_CONCAT (ANSI implies it): `7 || hospital_id` is a string, not an OR. The
    // oracle: the same statement on every physical shard table, summed.
    c.query_drop("SET @@sql_mode = 'ANSI'").await.unwrap();
    let through_proxy = count(&mut c, pipes).await;
    let mut direct_sum = 0;
    for shard in 0..4 {
        let mut d = schema.on(if shard < 2 { 0 } else { 1 }).await;
        d.query_drop("SET sql_mode = 'ANSI'").await.unwrap();
        direct_sum += count(
            &mut d,
            &pipes.replace("patients", &format!("patients_{shard}")),
        )
        .await;
        d.disconnect().await.unwrap();
    }
    assert_eq!(through_proxy, direct_sum);
    assert_ne!(through_proxy, 31, "|| must not be read as OR under ANSI");
    c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
    assert_eq!(count(&mut c, pipes).await, 31);
    schema.drop().await;
}
