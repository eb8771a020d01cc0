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
