//! Hostile probes of materialized reads (`plan::materialize`, `execute::materialize`): each
//! finding is a regression test here, against the real cluster, comparing with one
//! unsharded oracle schema or asserting the refusal.

mod common;

#[path = "materialize_attack/case.rs"]
mod case;

use case::*;

/// A WHERE condition on the NULL-padded side of an outer join is no filter of that
/// table's rows: a row it rejects still keeps the other side's row from being padded.
/// Copied into the fetch, `t` rows whose `u` match was not fetched came out padded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outer_join_condition_on_padded_side_is_not_pushed_down() {
    let mut c = Case::new("ma_outer_padded", T_U).await;
    c.same("SELECT t.id FROM t LEFT JOIN u ON t.id = u.id WHERE IFNULL(u.s, 'zz') = 'zz' ORDER BY t.id")
        .await;
    c.same(
        "SELECT t.id FROM u RIGHT JOIN t ON t.id = u.id WHERE COALESCE(u.x, 0) < 3 ORDER BY t.id",
    )
    .await;
    c.same(
        "SELECT t.id FROM t LEFT JOIN (u JOIN t AS t2 ON t2.id = u.id) ON t.id = u.id \
         WHERE IFNULL(t2.s, 'zz') = 'zz' ORDER BY t.id",
    )
    .await;
    c.same("SELECT a.id FROM t AS a LEFT JOIN u AS b ON b.id = a.id WHERE NOT (b.x <=> 1) ORDER BY a.id")
        .await;
    // The preserved side still filters its own rows.
    c.same("SELECT t.id, u.id FROM t LEFT JOIN u ON t.id = u.id WHERE t.x > 1 ORDER BY t.id")
        .await;
    c.done().await;
}

/// `a` and `A` are two aliases to MariaDB: a condition on `A` must not filter `a`'s rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_differing_only_in_case_are_different_tables() {
    let mut c = Case::new("ma_alias_case", T_U).await;
    c.same("SELECT a.id FROM t AS a JOIN u AS A ON a.id = A.id WHERE A.x = 5 ORDER BY a.id")
        .await;
    c.same(
        "SELECT a.id, A.id FROM t AS a JOIN t AS A ON a.id = A.id + 1 WHERE A.x = 1 ORDER BY a.id",
    )
    .await;
    c.done().await;
}

/// Binary rows carry YEAR as a number: the year 0000 printed as `0` read back as 2000.
/// ZEROFILL integers print padded, as the text protocol does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn year_zero_and_zerofill_round_trip() {
    let mut c = Case::new(
        "ma_year_zero",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, y YEAR NULL, \
             z INT(5) UNSIGNED ZEROFILL NULL, f FLOAT NULL)",
            "INSERT INTO t (id, k, y, z, f) VALUES (1, 0, 0, 7, 0.5), (2, 1, 1901, 0, 1.5), \
             (3, 2, 2155, 123456, NULL), (4, 3, NULL, NULL, 2.5)",
        ],
    )
    .await;
    c.same("SELECT id, y, z, ROW_NUMBER() OVER (ORDER BY y, id) FROM t ORDER BY id")
        .await;
    c.same("SELECT COUNT(DISTINCT y), MIN(y), COUNT(*) FROM t")
        .await;
    // A streaming merge of binary rows (FLOAT's digits) prints them the same way.
    c.same("SELECT id, y, z, f FROM t ORDER BY id").await;
    c.same("SELECT id, y, z, f FROM t ORDER BY y").await;
    c.done().await;
}

/// The client's own temporary table named like shardgate's copy of `t`: the read is
/// refused with 1235 naming it, and the client's table (which the cleanup's DROP used to
/// take) is still there with its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_temporary_table_named_like_a_copy_survives() {
    let mut c = Case::new("ma_client_temp", T_U).await;
    c.via
        .query_drop("CREATE TEMPORARY TABLE shardgate_m0_t (a INT)")
        .await
        .unwrap();
    c.via
        .query_drop("INSERT INTO shardgate_m0_t VALUES (42)")
        .await
        .unwrap();
    let msg = expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT x), COUNT(*) FROM t")
            .await,
        1235,
    );
    assert!(msg.contains("shardgate_m0_t"), "{msg}");
    let mine: Vec<i64> = c.via.query("SELECT a FROM shardgate_m0_t").await.unwrap();
    assert_eq!(mine, vec![42]);
    c.via
        .query_drop("DROP TEMPORARY TABLE shardgate_m0_t")
        .await
        .unwrap();
    c.same("SELECT COUNT(DISTINCT x), COUNT(*) FROM t").await;
    c.done().await;
}

/// A table of the statement spelled like a copy would be hidden by it in the final
/// statement (its rows replaced by the copy's): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_named_like_a_copy_is_refused() {
    let mut c = Case::new("ma_named_copy", T_U).await;
    c.via
        .query_drop("CREATE TABLE shardgate_m0_t (id INT, k INT, x INT, s VARCHAR(20))")
        .await
        .unwrap();
    c.via
        .query_drop("INSERT INTO shardgate_m0_t VALUES (1, 1, 1, 'a')")
        .await
        .unwrap();
    let msg = expect_code(
        c.via
            .query_drop(
                "SELECT COUNT(DISTINCT x), COUNT(*), (SELECT COUNT(*) FROM shardgate_m0_t) FROM t",
            )
            .await,
        1235,
    );
    assert!(msg.contains("shardgate_m0_t"), "{msg}");
    c.done().await;
}

/// MariaDB allows no temporary table in a READ ONLY transaction: the read is refused with
/// 1235, and the transaction (which the failed cleanup used to end, 1213) goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_transaction_is_refused_and_kept() {
    let mut c = Case::new("ma_ro_txn", T_U).await;
    c.via
        .query_drop("START TRANSACTION READ ONLY")
        .await
        .unwrap();
    let before: Vec<i64> = c
        .via
        .query("SELECT COUNT(*) FROM t WHERE k = 0")
        .await
        .unwrap();
    let msg = expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT x), COUNT(*) FROM t")
            .await,
        1235,
    );
    assert!(msg.contains("READ ONLY"), "{msg}");
    let after: Vec<i64> = c
        .via
        .query("SELECT COUNT(*) FROM t WHERE k = 0")
        .await
        .unwrap();
    assert_eq!(before, after);
    c.via.query_drop("COMMIT").await.unwrap();
    c.same("SELECT COUNT(DISTINCT x), COUNT(*) FROM t").await;
    c.done().await;
}

/// A transaction's own uncommitted rows are read (fetches run on its connections), and a
/// read over the cap fails with 1235 naming the cap and the table without ending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_sees_its_writes_and_survives_the_cap() {
    let mut c = Case::tuned("ma_txn_cap", T_U, |cfg| {
        cfg.limits.materialize_max_rows = 11
    })
    .await;
    c.both("START TRANSACTION").await;
    c.both("INSERT INTO t (id, k, x, s) VALUES (30, 0, 77, 'n'), (31, 1, 78, 'm')")
        .await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*), GROUP_CONCAT(id ORDER BY id) FROM t")
        .await;
    c.both("INSERT INTO t (id, k, x, s) VALUES (32, 0, 1, 'o'), (33, 1, 2, 'p')")
        .await;
    let msg = expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT x), COUNT(*) FROM t")
            .await,
        1235,
    );
    assert!(
        msg.contains("materialize_max_rows = 11") && msg.contains("'t'"),
        "{msg}"
    );
    c.both("COMMIT").await;
    c.same("SELECT COUNT(*), SUM(id) FROM t").await;
    let on_g0: Vec<i64> = c
        .sharded
        .on(0)
        .await
        .query("SELECT id FROM t_0 WHERE id >= 30 UNION ALL SELECT id FROM t_1 WHERE id >= 30 ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(on_g0, vec![30, 31, 32, 33]);
    c.done().await;
}

/// Rows are copied as bytes, not through the client's character set: under SET NAMES
/// latin1 two emoji were fetched as '?' and compared (and counted) as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_copies_exactly_whatever_the_client_charset() {
    let mut c = Case::new(
        "ma_charset",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, \
             s VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, \
             l1 VARCHAR(10) CHARACTER SET latin1, e ENUM('a', 'é', 'ü') CHARACTER SET utf8mb4)",
            "INSERT INTO t (id, k, s, l1, e) VALUES (1, 0, '\u{1F600}', 'é', 'é'), \
             (2, 1, '\u{1F601}', 'ü', 'ü'), (3, 2, 'é', 'é', 'a'), (4, 3, NULL, NULL, NULL), \
             (5, 0, 'b', 'b', 'a')",
        ],
    )
    .await;
    let queries = [
        "SELECT COUNT(DISTINCT s), COUNT(*) FROM t WHERE s > 'c'",
        "SELECT COUNT(DISTINCT s), COUNT(DISTINCT l1), COUNT(DISTINCT e), COUNT(*) FROM t",
        "SELECT id, HEX(s), HEX(l1), HEX(e), ROW_NUMBER() OVER (ORDER BY s, id) FROM t ORDER BY id",
    ];
    for names in ["latin1", "utf8mb4"] {
        c.both(&format!("SET NAMES {names}")).await;
        for q in queries {
            c.same(q).await;
        }
    }
    // No conversion of results at all: the client gets the columns' own bytes.
    c.both("SET character_set_results = NULL").await;
    c.same("SELECT id, s, l1, e, ROW_NUMBER() OVER (ORDER BY l1, id) FROM t ORDER BY id")
        .await;
    c.done().await;
}

/// INVISIBLE columns are copied (SELECT * left them out), and stay invisible: an
/// unqualified name in a subquery must still find the inner table's column, not the
/// outer query's column of that name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_columns_are_copied_and_stay_invisible() {
    let mut c = Case::new(
        "ma_invisible",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, inv INT INVISIBLE, \
             g INT AS (k * 10) VIRTUAL)",
            "CREATE TABLE u (id INT PRIMARY KEY, k INT NOT NULL, inv INT)",
            "INSERT INTO t (id, k, inv) VALUES (1, 0, 10), (2, 1, 20), (3, 2, 30), (4, 3, NULL)",
            "INSERT INTO u (id, k, inv) VALUES (1, 0, 100), (2, 1, 2), (3, 2, 3), (4, 3, 4)",
        ],
    )
    .await;
    c.same("SELECT * FROM t ORDER BY ROW_NUMBER() OVER (ORDER BY id)")
        .await;
    c.same("SELECT id, inv, g, COUNT(*) OVER () FROM t ORDER BY id")
        .await;
    c.same(
        "SELECT u.id FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.id = u.id + 1 AND inv > 15) \
         ORDER BY 1",
    )
    .await;
    c.done().await;
}

/// information_schema prints a 4-byte character of an ENUM label as '?': such a column
/// cannot be declared again, and is refused rather than copied into the wrong label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enum_label_beyond_the_bmp_is_refused() {
    let mut c = Case::new(
        "ma_enum_emoji",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, \
             e ENUM('a', '\u{1F600}') CHARACTER SET utf8mb4)",
            "INSERT INTO t (id, k, e) VALUES (1, 0, '\u{1F600}'), (2, 1, 'a'), (3, 2, 'a')",
        ],
    )
    .await;
    c.via.query_drop("SET sql_mode = ''").await.unwrap();
    let msg = expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT e), COUNT(*) FROM t")
            .await,
        1235,
    );
    assert!(msg.contains("'e'") && msg.contains("'t'"), "{msg}");
    c.done().await;
}

/// A value the copy cannot hold as the shard did (here shard 2's column was widened
/// before shard 0's) is truncated with only a warning when sql_mode is not strict: the
/// read is refused instead of answered from the truncated copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_that_warns_is_refused() {
    let mut c = Case::new(
        "ma_copy_warns",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, s VARCHAR(5))",
            "INSERT INTO t (id, k, s) VALUES (1, 0, 'a'), (2, 1, 'b'), (3, 2, 'c'), (4, 3, 'd')",
        ],
    )
    .await;
    c.sharded
        .exec(
            1,
            &[
                "ALTER TABLE t_2 MODIFY s VARCHAR(20)",
                "UPDATE t_2 SET s = 'abcdefghij'",
            ],
        )
        .await;
    c.via.query_drop("SET sql_mode = ''").await.unwrap();
    let msg = expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT s), GROUP_CONCAT(s ORDER BY id) FROM t")
            .await,
        1235,
    );
    assert!(msg.contains("'t'") && msg.contains("1265"), "{msg}");
    // The session goes on, its copies gone.
    let n: Vec<i64> = c.via.query("SELECT COUNT(*) FROM t").await.unwrap();
    assert_eq!(n, vec![4]);
    c.done().await;
}

/// The copies live on the session's own connection and never reach another client:
/// not after an answer, a KILL QUERY, nor a client gone mid-statement (one pooled
/// connection per server, so the next client gets the same one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_never_reach_another_client() {
    let mut c = Case::tuned("ma_no_leak", T_U, |cfg| cfg.backend.pool_max = 2).await;
    let sql = "SELECT SLEEP(1), COUNT(DISTINCT x), COUNT(*) FROM t";
    // Killed while the final statement sleeps: long enough that the kill always lands in
    // it (MariaDB may take two seconds to wake a killed thread when kills run in parallel,
    // and a SLEEP(1) that ends first answers its rows).
    let killed_sql = "SELECT SLEEP(30), COUNT(DISTINCT x), COUNT(*) FROM t";
    let victim = c.proxy.connect(Some("m")).await;
    let id = victim.id();
    let running = tokio::spawn(async move {
        let mut v = victim;
        let r = v.query_drop(killed_sql).await;
        (v, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    c.via.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let killed_at = std::time::Instant::now();
    let (mut victim, r) = running.await.unwrap();
    let msg = expect_code(r, 1317);
    assert_eq!(
        msg, "Query execution was interrupted",
        "abandoned, not killed"
    );
    assert!(
        killed_at.elapsed() < std::time::Duration::from_secs(4),
        "the kill took {:?}: it waited for a pooled connection",
        killed_at.elapsed()
    );
    expect_code(
        victim.query_drop("SELECT * FROM shardgate_m0_t").await,
        1146,
    );
    drop(victim);
    // Gone mid-statement.
    let mut leaving = c.proxy.connect(Some("m")).await;
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        leaving.query_drop(sql),
    )
    .await;
    drop(leaving);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for _ in 0..3 {
        let mut other = c.proxy.connect(Some("m")).await;
        expect_code(other.query_drop("SELECT * FROM shardgate_m0_t").await, 1146);
        let n: Vec<(i64, i64)> = other
            .query("SELECT COUNT(DISTINCT x), COUNT(*) FROM t")
            .await
            .unwrap();
        assert_eq!(n, vec![(4, 8)]);
    }
    c.done().await;
}

/// DEFAULT(col) reads the column's declared default: the copy declared none, so
/// `x = DEFAULT(x)` matched nothing and DEFAULT(s) of a NOT NULL column failed (1364).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_defaults_are_copied() {
    let mut c = Case::new(
        "ma_defaults",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, x INT DEFAULT 5, \
             s VARCHAR(10) NOT NULL DEFAULT 'a''b', d DECIMAL(5,2) DEFAULT (1 + 1), \
             g INT AS (k + 1) VIRTUAL)",
            "INSERT INTO t (id, k, x, s) VALUES (1, 0, 5, 'a''b'), (2, 1, 5, 'q'), \
             (3, 2, 1, 'a''b'), (4, 3, NULL, 'z')",
        ],
    )
    .await;
    c.same("SELECT COUNT(DISTINCT s), COUNT(*) FROM t WHERE x = DEFAULT(x)")
        .await;
    c.same(
        "SELECT id, DEFAULT(s), DEFAULT(x), DEFAULT(d), g, ROW_NUMBER() OVER (ORDER BY id) \
         FROM t ORDER BY id",
    )
    .await;
    c.done().await;
}

/// `(t JOIN p ON ...)` is one FROM item holding two tables: a bare column of `p` in WHERE
/// was copied into `t`'s fetch, which failed with 1054.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_column_of_a_nested_join_partner_is_not_pushed_down() {
    let mut c = Case::new("ma_nested_bare", T_U).await;
    c.both("CREATE TABLE p (pid INT PRIMARY KEY, pz INT)").await;
    c.both("INSERT INTO p VALUES (1, 1), (2, 2), (3, NULL)")
        .await;
    c.same("SELECT COUNT(DISTINCT t.x), COUNT(*) FROM (t JOIN p ON p.pid = t.id) WHERE pz = 1")
        .await;
    c.same(
        "SELECT COUNT(DISTINCT t.x), COUNT(*) FROM (t JOIN (SELECT 1 AS yy) d ON 1 = 1) \
         WHERE yy = 1",
    )
    .await;
    c.done().await;
}

/// A shard whose physical columns are in another order (an ALTER ... AFTER applied
/// differently): the copy reads each column by name, so its values land in their columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_with_columns_in_another_order_copies_by_name() {
    let mut c = Case::new("ma_col_order", T_U).await;
    c.sharded
        .exec(1, &["ALTER TABLE t_2 MODIFY s VARCHAR(20) NULL AFTER id"])
        .await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(DISTINCT s), GROUP_CONCAT(s, x ORDER BY id) FROM t")
        .await;
    c.done().await;
}

/// MariaDB binds XOR below AND: `k = 1 AND s = 'b' XOR k = 2` is `(k = 1 AND s = 'b') XOR
/// k = 2`. Read as `k = 1 AND (...)`, its `k = 1` pruned the shards of a routed read and
/// was copied into a materialized fetch: rows with k = 2 went missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xor_binds_below_and() {
    let mut c = Case::new("ma_xor", T_U).await;
    c.same("SELECT id FROM t WHERE k = 1 AND s = 'b' XOR k = 2 ORDER BY id")
        .await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*) FROM t WHERE x = 1 AND s = 'a' XOR x = 2")
        .await;
    c.same("SELECT COUNT(*) FROM t WHERE k = 0 XOR k = 3 AND x IS NULL")
        .await;
    // Writes are routed by the same reading: the k = 2 rows must change too.
    c.both("UPDATE t SET x = 100 WHERE k = 1 AND s = 'b' XOR k = 2")
        .await;
    c.same("SELECT id, x FROM t ORDER BY id").await;
    c.both("DELETE FROM t WHERE k = 0 AND s = 'a' XOR k = 3")
        .await;
    c.same("SELECT id FROM t ORDER BY id").await;
    c.done().await;
}

/// The copy is made in the default sql_mode: under EMPTY_STRING_IS_NULL the copied ''
/// became NULL (COUNT(s) 1, not 3), under TRADITIONAL the shards' zero dates were refused
/// (1292) though the statement itself reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_ignores_the_session_sql_mode() {
    let mut c = Case::new(
        "ma_sql_mode",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, s VARCHAR(10) DEFAULT '', \
           d DATE, dt DATETIME, b VARBINARY(10))",
        ],
    )
    .await;
    c.both("SET sql_mode = ''").await;
    c.both(
        "INSERT INTO t (id, k, s, d, dt, b) VALUES \
         (1, 0, '', '0000-00-00', '2020-00-10 00:00:00', ''), \
         (2, 1, 'a', '2020-01-01', NULL, 0x00), (3, 2, '', NULL, '0000-00-00 00:00:00', NULL)",
    )
    .await;
    for mode in [
        "EMPTY_STRING_IS_NULL",
        "TRADITIONAL",
        "NO_ZERO_IN_DATE,STRICT_ALL_TABLES",
        "ANSI",
    ] {
        c.both(&format!("SET sql_mode = '{mode}'")).await;
        c.same(
            "SELECT COUNT(s), COUNT(DISTINCT s), COUNT(d), GROUP_CONCAT(d ORDER BY id), \
             GROUP_CONCAT(dt ORDER BY id), MIN(DEFAULT(s)), COUNT(b), COUNT(DISTINCT b) FROM t",
        )
        .await;
        // The session's own mode is back for what follows.
        c.same("SELECT @@SESSION.sql_mode").await;
    }
    c.done().await;
}

/// Session state reaches the statement run over the copies (it runs on the session's own
/// connection): GROUP_CONCAT's cap and its warning, division precision, time zone,
/// ANSI_QUOTES and PAD_CHAR_TO_FULL_LENGTH, FOUND_ROWS, user variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_applies_over_the_copies() {
    let mut c = Case::new("ma_session_state", T_U).await;
    c.both("SET SESSION group_concat_max_len = 6").await;
    c.same("SELECT GROUP_CONCAT(s ORDER BY id), COUNT(DISTINCT x) FROM t")
        .await;
    c.same("SHOW WARNINGS").await;
    c.both("SET SESSION group_concat_max_len = 1024, div_precision_increment = 9, time_zone = '+05:00'")
        .await;
    c.same("SELECT SUM(x) / COUNT(DISTINCT k), AVG(x), COUNT(DISTINCT x) + 0 * UNIX_TIMESTAMP('2020-01-01 00:00:00') FROM t")
        .await;
    c.same("SELECT UNIX_TIMESTAMP('2020-01-01 00:00:00'), COUNT(DISTINCT x) FROM t")
        .await;
    c.both("SET SESSION sql_mode = 'ANSI_QUOTES,PAD_CHAR_TO_FULL_LENGTH'")
        .await;
    c.same("SELECT COUNT(DISTINCT \"x\"), COUNT(*), GROUP_CONCAT(CAST(s AS CHAR(3)) ORDER BY id) FROM t WHERE \"s\" > 'a'")
        .await;
    c.both("SET SESSION sql_mode = DEFAULT").await;
    c.same("SELECT SQL_CALC_FOUND_ROWS DISTINCT x FROM t ORDER BY x LIMIT 2")
        .await;
    c.same("SELECT FOUND_ROWS()").await;
    c.both("SET @lim = 2").await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*) FROM t WHERE x > @lim")
        .await;
    c.done().await;
}

/// Binary protocol (parameters in the statement run over the copies) and the column
/// definitions the client sees: logical table, original table and schema names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_reads_and_column_names_over_the_copies() {
    let mut c = Case::new("ma_prepared", T_U).await;
    let sql = "SELECT COUNT(DISTINCT x), COUNT(*) FROM t WHERE x > ? AND s <> ?";
    let got: Vec<(i64, i64)> = c.via.exec(sql, (1, "b")).await.unwrap();
    let want: Vec<(i64, i64)> = c.direct.exec(sql, (1, "b")).await.unwrap();
    assert_eq!(got, want);
    let sql = "SELECT id FROM t WHERE x IN (SELECT x FROM u WHERE id > ?) ORDER BY id LIMIT ?";
    let got: Vec<i64> = c.via.exec(sql, (1, 3)).await.unwrap();
    let want: Vec<i64> = c.direct.exec(sql, (1, 3)).await.unwrap();
    assert_eq!(got, want);
    let result = c
        .via
        .query_iter("SELECT tt.x, COUNT(DISTINCT s) AS n FROM t AS tt GROUP BY tt.x")
        .await
        .unwrap();
    let cols = result.columns().unwrap();
    assert_eq!(
        (
            cols[0].table_str().to_string(),
            cols[0].org_table_str().to_string(),
            cols[0].schema_str().to_string()
        ),
        ("tt".to_string(), "t".to_string(), "m".to_string())
    );
    drop(result);
    c.done().await;
}

/// In xa mode a transaction writes on both groups; the read over the copies sees every
/// uncommitted row of it (autocommit=0 too), and the commit still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_transaction_reads_its_writes_on_every_group() {
    let mut c = Case::tuned("ma_xa_reads", T_U, |cfg| {
        cfg.transactions.mode = shardgate::config::server::TxnMode::Xa;
        cfg.transactions.proxy_id = "ma_xa_reads".into();
        cfg.transactions.abandon_after = std::time::Duration::from_secs(600);
    })
    .await;
    c.both("SET autocommit = 0").await;
    c.both("INSERT INTO t (id, k, x, s) VALUES (30, 0, 77, 'n'), (31, 3, 78, 'm')")
        .await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*), GROUP_CONCAT(id ORDER BY id) FROM t")
        .await;
    c.both("DELETE FROM u WHERE k IN (1, 2)").await;
    c.same("SELECT x FROM t UNION SELECT x FROM u ORDER BY 1")
        .await;
    c.both("COMMIT").await;
    c.both("SET autocommit = 1").await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*), GROUP_CONCAT(id ORDER BY id) FROM t")
        .await;
    let on_g1: Vec<i64> = c
        .sharded
        .on(1)
        .await
        .query("SELECT id FROM t_3 WHERE id = 31")
        .await
        .unwrap();
    assert_eq!(on_g1, vec![31]);
    c.done().await;
}

/// Index hints on a sharded table name indexes its copy does not have (1176); a hint never
/// changes a SELECT's answer, so it is left out of the statement run over the copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_hints_on_a_copied_table_are_left_out() {
    let mut c = Case::new("ma_index_hints", T_U).await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*) FROM t FORCE INDEX (PRIMARY) WHERE id > 0")
        .await;
    c.same(
        "SELECT COUNT(DISTINCT a.x), COUNT(*) FROM t AS a USE INDEX FOR JOIN (PRIMARY) \
         IGNORE KEY FOR ORDER BY (PRIMARY) JOIN u b USE INDEX () ON b.id = a.id + 1",
    )
    .await;
    c.done().await;
}

/// Values of every kind come back from the copies as the shards hold them (the copy reads
/// text and binary strings as bytes, the rest in binary rows): ordering by each column over
/// the copies must match one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_of_every_type_round_trip() {
    let mut c = Case::new(
        "ma_types",
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, d DECIMAL(30,10), f FLOAT, \
           db DOUBLE, b BIT(10), vb VARBINARY(20), bl BLOB, j JSON, dt DATETIME(6), tm TIME(3), \
           e ENUM('z','a','m'), st SET('z','a','m'), ch CHAR(5), ts TIMESTAMP(3) NULL, \
           g POINT NULL, i6 INET6 NULL, u16 VARCHAR(10) CHARACTER SET utf16 NULL)",
        ],
    )
    .await;
    c.both(
        "INSERT INTO t (id, k, d, f, db, b, vb, bl, j, dt, tm, e, st, ch, ts, g, i6, u16) VALUES \
         (1, 0, 12345678901234567890.0123456789, 0.1, 1e300, b'1010101010', 0x00FF0A27225C, \
          0x000102FEFF, '{\"a\": [1, 2.50]}', '2020-02-29 23:59:59.999999', '-838:59:59.999', \
          'm', 'm,z', 'ab', '2021-01-01 00:00:00.123', POINT(1, 2), '::1', 'a\u{1F600}'), \
         (2, 1, -0.0000000001, -3.40282e38, -2.2250738585072014e-308, b'0000000001', '', '', \
          'null', '0000-00-00 00:00:00', '00:00:00.001', 'a', '', '', NULL, POINT(0, 0), \
          '::ffff:10.0.0.1', ''), \
         (3, 2, NULL, 1.17549e-38, 0.30000000000000004, b'1111111111', 0x20, 0x2020, '[]', \
          '1000-01-01 00:00:00.000001', '838:59:59', 'z', 'z,a,m', 'x ', \
          '2038-01-19 03:14:07.999', NULL, NULL, NULL), \
         (4, 3, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
          NULL, NULL, NULL)",
    )
    .await;
    for col in [
        "d",
        "f",
        "db",
        "HEX(b)",
        "HEX(vb)",
        "HEX(bl)",
        "j",
        "dt",
        "tm",
        "e",
        "st",
        "ch",
        "ts",
        "ST_AsText(g)",
        "i6",
        "HEX(u16)",
    ] {
        c.same(&format!(
            "SELECT {col}, ROW_NUMBER() OVER (ORDER BY {col}, id) FROM t ORDER BY id"
        ))
        .await;
    }
    c.same(
        "SELECT COUNT(DISTINCT e), GROUP_CONCAT(e ORDER BY e), GROUP_CONCAT(st ORDER BY st) FROM t",
    )
    .await;
    c.same("SELECT COUNT(DISTINCT f), SUM(f), SUM(db), COUNT(DISTINCT db) FROM t")
        .await;
    c.done().await;
}

/// A user variable a statement gave a value on one group's connection only (`:=`, SELECT
/// ... INTO) is NULL on the default group's master, where the statement over the copies
/// runs: it answered 0 rows silently; now refused as other reads of it on another group are.
/// Assigned on the default group itself, it is read there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_variable_assigned_on_another_group_is_refused() {
    let mut c = Case::new("ma_user_var", T_U).await;
    // Shard 2 is on g1: @v lives on the session's g1 connection only.
    c.via
        .query_drop("SELECT @v := x FROM t WHERE k = 2 AND id = 7")
        .await
        .unwrap();
    let msg = expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT x), COUNT(*) FROM t WHERE x >= @v")
            .await,
        1235,
    );
    assert!(msg.contains("@v") && msg.contains("'g1'"), "{msg}");
    expect_code(
        c.via
            .query_drop("SELECT COUNT(DISTINCT x), COUNT(*) FROM t WHERE x >= (SELECT @v)")
            .await,
        1235,
    );
    // Shard 0 is on g0, the default group: there the statement sees @w.
    c.both("SELECT x INTO @w FROM t WHERE k = 0 AND id = 1")
        .await;
    c.same("SELECT COUNT(DISTINCT x), COUNT(*) FROM t WHERE x >= @w")
        .await;
    c.done().await;
}
