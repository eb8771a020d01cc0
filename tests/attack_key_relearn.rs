//! Hostile round on 48c7295: after DDL through the proxy (text or prepared), the type and
//! collation of every `hash`/`ring` key column are learned again before the client hears
//! the statement ended (`backend::key_columns::learn_after_ddl`). Each attack runs the same
//! statements through shardgate over the sharded layout and on one unsharded MariaDB schema
//! (the oracle), and the answers must be the same (as sets of rows), or the proxy refuses
//! with 1235. Passing tests are attacks that held; `#[ignore = "finding: ..."]` tests fail
//! now and say whether they also fail at 48c7295^. "Now" is the tree with 76eeabe on top
//! (an unquoted number on a key not yet learned reads every shard), which several of the
//! held attacks also rely on when the learning has not finished.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use tokio::net::TcpListener;

/// Hash and ring tables on a text-or-not key named `code`, a DATE key and a DECIMAL key,
/// and eight tables for the concurrent sessions.
fn rules() -> String {
    let mut r = String::new();
    let table = |name: &str, key: &str, alg: &str| {
        format!(
            "\n[[tables]]\nname = \"{name}\"\nshard_key = \"{key}\"\nalgorithm = \"{alg}\"\n\
             shards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]\n"
        )
    };
    r.push_str(&table("hs", "code", "hash"));
    r.push_str(&table("rs", "code", "ring"));
    r.push_str(&table("hd", "d", "hash"));
    r.push_str(&table("hdec", "k", "hash"));
    for i in 0..8 {
        r.push_str(&table(&format!("c{i}"), "code", "hash"));
    }
    r
}

type Rows = Vec<Vec<Option<String>>>;

fn value_text(v: Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

fn sorted(rows: Vec<Row>) -> Rows {
    let mut out: Rows = rows
        .into_iter()
        .map(|r| r.unwrap().into_iter().map(value_text).collect())
        .collect();
    out.sort();
    out
}

/// Every result set of a (possibly multi-statement) text query, each sorted.
async fn all_sets(conn: &mut Conn, sql: &str) -> Result<Vec<Rows>, mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let mut sets = Vec::new();
    while !result.is_empty() {
        let rows: Vec<Row> = result.collect().await?;
        sets.push(sorted(rows));
    }
    Ok(sets)
}

fn refused(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == 1235)
}

/// A sharded schema behind a proxy, and an unsharded oracle schema.
struct Case {
    sharded: TestSchema,
    oracle: TestSchema,
    proxy: Proxy,
    via: Conn,
    direct: Conn,
}

impl Case {
    async fn new(test: &str) -> Case {
        Case::with(test, &[]).await
    }

    /// `before`: statements run on each group's master (the sharded schema) before the proxy
    /// starts, so that it learns those tables at startup.
    async fn with(test: &str, before: &[(usize, &str)]) -> Case {
        let sharded = TestSchema::create(test).await;
        let oracle = TestSchema::create(&format!("{test}_o")).await;
        for (g, sql) in before {
            sharded.exec(*g, &[sql]).await;
        }
        let text = format!("{}{}", sharded.clinical_rules("clinical"), rules());
        let proxy = Proxy::start(&[("clinical.toml", text)]).await;
        let via = proxy.connect(Some("clinical")).await;
        let direct = oracle.on(0).await;
        Case {
            sharded,
            oracle,
            proxy,
            via,
            direct,
        }
    }

    /// Runs `sql` on both sides; both must succeed.
    /// `hs` with a text key made directly on the backends (each shard on its group) and in
    /// the oracle, never through the proxy.
    async fn text_hs_on_the_backends(&mut self) {
        const COLUMNS: &str = "(id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
                               DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin";
        for s in 0..4 {
            self.sharded
                .exec(s / 2, &[&format!("CREATE TABLE hs_{s} {COLUMNS}")])
                .await;
        }
        self.direct
            .query_drop(format!("CREATE TABLE hs {COLUMNS}"))
            .await
            .unwrap();
    }

    async fn both(&mut self, sql: &str) {
        self.via
            .query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("via shardgate: {sql}: {e}"));
        self.direct
            .query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"));
    }

    async fn all(&mut self, sqls: &[&str]) {
        for s in sqls {
            self.both(s).await;
        }
    }

    /// The same rows (as a set) on both sides, or a 1235 refusal from the proxy.
    async fn same(&mut self, sql: &str) {
        let want = all_sets(&mut self.direct, sql)
            .await
            .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"));
        match all_sets(&mut self.via, sql).await {
            Ok(got) => assert_eq!(got, want, "{sql}\nshardgate (left) vs oracle (right)"),
            Err(e) if refused(&e) => {}
            Err(e) => panic!("{sql}: shardgate failed: {e}"),
        }
    }

    /// `same` for each, reporting every mismatch at once.
    async fn same_each(&mut self, sqls: &[String]) {
        let mut wrong = Vec::new();
        for sql in sqls {
            let want = all_sets(&mut self.direct, sql)
                .await
                .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"));
            match all_sets(&mut self.via, sql).await {
                Ok(got) if got == want => {}
                Ok(got) => wrong.push(format!("{sql}: shardgate {got:?}, oracle {want:?}")),
                Err(e) if refused(&e) => {}
                Err(e) => wrong.push(format!("{sql}: shardgate failed: {e}")),
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// A prepared statement (binary protocol) on both sides.
    async fn same_exec(&mut self, sql: &str, params: Params) {
        let want: Vec<Row> = self
            .direct
            .exec(sql, params.clone())
            .await
            .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"));
        let r: Result<Vec<Row>, _> = self.via.exec(sql, params.clone()).await;
        match r {
            Ok(got) => assert_eq!(
                sorted(got),
                sorted(want),
                "{sql} {params:?}\nshardgate (left) vs oracle (right)"
            ),
            Err(e) if refused(&e) => {}
            Err(e) => panic!("{sql}: shardgate failed: {e}"),
        }
    }

    async fn done(self) {
        drop(self.via);
        drop(self.direct);
        drop(self.proxy);
        self.sharded.drop().await;
        self.oracle.drop().await;
    }
}

/// Keys that MariaDB equates with the number 42 when the column is text (each spelling on
/// the shard of its own text), and a few that it does not.
const TEXT_ROWS: &str = "(1, '42'), (2, '042'), (3, ' 42'), (4, '42abc'), (5, '+42'), \
     (6, '42.0x'), (7, '0042'), (8, '7'), (9, '42 '), (10, '4.2e1')";

/// Rows a table whose key is not known to be text (not learned, or learned as an integer)
/// accepts: no quoted whole number but canonical ones.
const UNAMBIGUOUS_ROWS: &str = "(1, '42'), (2, '42abc'), (3, '42.0x'), (4, '7'), \
     (5, '42e0z'), (6, 'abc'), (7, '42-1'), (8, '42 x')";

fn number_lookups(t: &str) -> Vec<String> {
    [
        "code = 42",
        "42 = code",
        "code = 42 OR code = 7",
        "code IN (42)",
        "code IN (42, 7)",
        "code = '42'",
        "code = '042'",
        "code = ' 42'",
        "code = '42abc'",
        "code = '42 '",
        "code = 42.0",
        "code = -42",
        "code <=> 42",
        "code BETWEEN 42 AND 42",
    ]
    .iter()
    .map(|c| format!("SELECT id FROM {t} WHERE {c}"))
    .collect()
}

async fn prepared_number_lookups(c: &mut Case, t: &str) {
    let sql = format!("SELECT id FROM {t} WHERE code = ?");
    for p in [
        Value::Int(42),
        Value::UInt(42),
        Value::Double(42.0),
        Value::Bytes(b"42".to_vec()),
        Value::Bytes(b"042".to_vec()),
        Value::Bytes(b"42 ".to_vec()),
    ] {
        c.same_exec(&sql, Params::Positional(vec![p])).await;
    }
    let sql = format!("SELECT id FROM {t} WHERE code IN (?, ?)");
    c.same_exec(
        &sql,
        Params::Positional(vec![Value::Int(42), Value::Int(7)]),
    )
    .await;
}

/// A text key table created through the proxy after it started, then lookups by numbers
/// and quoted numbers at once, on `hash` and on `ring`, text and prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_through_the_proxy_then_numbers_on_hash_and_ring() {
    let mut c = Case::new("akr_create").await;
    for t in ["hs", "rs"] {
        c.all(&[
            &format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
                 DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_bin"
            ),
            &format!("INSERT INTO {t} (id, code) VALUES {TEXT_ROWS}"),
        ])
        .await;
        c.same_each(&number_lookups(t)).await;
        prepared_number_lookups(&mut c, t).await;
    }
    c.done().await;
}

/// The same, with the CREATE and the INSERT sent as prepared statements (binary protocol).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_by_a_prepared_statement_then_numbers() {
    let mut c = Case::new("akr_prep_create").await;
    for t in ["hs", "rs"] {
        let create = format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
             DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin"
        );
        c.via.exec_drop(&create, ()).await.unwrap();
        c.direct.exec_drop(&create, ()).await.unwrap();
        let insert = format!("INSERT INTO {t} (id, code) VALUES (?, ?)");
        for (id, code) in [(1, "42"), (2, "042"), (3, " 42"), (4, "42abc"), (5, "7")] {
            c.via.exec_drop(&insert, (id, code)).await.unwrap();
            c.direct.exec_drop(&insert, (id, code)).await.unwrap();
        }
        prepared_number_lookups(&mut c, t).await;
        c.same_each(&number_lookups(t)).await;
    }
    c.done().await;
}

/// Learned at startup as an INT key (the table exists before the proxy starts), with a
/// lookup by 42 planned and kept; then DROP and CREATE with a VARCHAR key through the proxy,
/// and back to INT, with text and prepared lookups (the prepared one kept by the client
/// across the DDL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_create_with_another_key_type() {
    let int_table = |t: &str| format!("CREATE TABLE {t} (id INT PRIMARY KEY, code INT NOT NULL)");
    let mut before_sql = int_shards_at_startup("hs");
    before_sql.extend(int_shards_at_startup("rs"));
    let before_ref: Vec<(usize, &str)> = before_sql.iter().map(|(g, s)| (*g, s.as_str())).collect();
    let mut c = Case::with("akr_drop_create", &before_ref).await;
    for t in ["hs", "rs"] {
        c.direct.query_drop(int_table(t)).await.unwrap();
        c.both(&format!(
            "INSERT INTO {t} (id, code) VALUES (1, 42), (2, 7)"
        ))
        .await;
        c.same(&format!("SELECT id FROM {t} WHERE code = 42")).await;
        prepared_number_lookups(&mut c, t).await;
        c.all(&[
            &format!("DROP TABLE {t}"),
            &format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
                 DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin"
            ),
            &format!("INSERT INTO {t} (id, code) VALUES {TEXT_ROWS}"),
        ])
        .await;
        c.same_each(&number_lookups(t)).await;
        prepared_number_lookups(&mut c, t).await;
        // Back to an integer key, through CREATE OR REPLACE this time.
        c.all(&[
            &format!("CREATE OR REPLACE TABLE {t} (id INT PRIMARY KEY, code INT NOT NULL)"),
            &format!("INSERT INTO {t} (id, code) VALUES (1, 42), (2, 7), (3, 43)"),
        ])
        .await;
        c.same_each(&number_lookups(t)).await;
        prepared_number_lookups(&mut c, t).await;
    }
    c.done().await;
}

/// The key column's collation changed by `ALTER TABLE ... CONVERT TO` (which does not name
/// the key column, so the proxy lets it through): NO PAD binary (lookups route) to a case-
/// insensitive PAD SPACE collation (they must scatter), to PAD SPACE binary, to `binary`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_collation_changed_by_convert_to() {
    let mut c = Case::new("akr_convert").await;
    let rows = "(1, 'ABC'), (2, 'abc'), (3, 'x'), (4, 'x '), (5, 'Abc '), (6, '42'), (7, '042')";
    let lookups: Vec<String> = [
        "code = 'abc'",
        "code = 'ABC'",
        "code = 'x'",
        "code = 'x '",
        "code = 'abc '",
        "code IN ('abc', 'x')",
        "code = 42",
    ]
    .iter()
    .map(|w| format!("SELECT id FROM hs WHERE {w}"))
    .collect();
    c.all(&[
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
        &format!("INSERT INTO hs (id, code) VALUES {rows}"),
    ])
    .await;
    c.same_each(&lookups).await;
    for convert in [
        "ALTER TABLE hs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        "ALTER TABLE hs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        "ALTER TABLE hs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
        "ALTER TABLE hs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        "ALTER TABLE hs CONVERT TO CHARACTER SET binary",
    ] {
        c.both(convert).await;
        c.same_each(&lookups).await;
        for v in ["abc", "x", "ABC"] {
            c.same_exec(
                "SELECT id FROM hs WHERE code = ?",
                Params::Positional(vec![Value::Bytes(v.as_bytes().to_vec())]),
            )
            .await;
        }
    }
    c.done().await;
}

/// CHAR keys (stored padded) and a case-insensitive key created through the proxy: text
/// lookups must read every shard that may hold an equal key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn char_and_case_insensitive_keys_created_through_the_proxy() {
    let mut c = Case::new("akr_char").await;
    for (t, ty) in [
        ("hs", "CHAR(10) COLLATE utf8mb4_nopad_bin"),
        ("rs", "VARCHAR(10) COLLATE utf8mb4_general_ci"),
    ] {
        c.all(&[
            &format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, code {ty} NOT NULL) DEFAULT CHARSET utf8mb4"
            ),
            &format!(
                "INSERT INTO {t} (id, code) VALUES (1, 'x'), (2, 'x '), (3, 'X'), (4, '42'), (5, '042')"
            ),
        ])
        .await;
        let lookups: Vec<String> = ["code = 'x'", "code = 'x '", "code = 'X'", "code = 42"]
            .iter()
            .map(|w| format!("SELECT id FROM {t} WHERE {w}"))
            .collect();
        c.same_each(&lookups).await;
    }
    c.done().await;
}

/// An explicit COLLATE on the looked-up value: on a NO PAD binary key (whose text lookups
/// route by the text as written once the column is learned), `code = 'abc' COLLATE
/// utf8mb4_general_ci` compares case-insensitively with PAD SPACE, so 'ABC' and 'abc ',
/// placed on the shards of their own spellings, match too. Held: read on every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looser_collate_on_the_value_of_a_learned_binary_key() {
    let mut c = Case::new("akr_collate").await;
    c.all(&[
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
        "INSERT INTO hs (id, code) VALUES (1, 'ABC'), (2, 'abc'), (3, 'abc '), (4, 'x'), \
         (5, 'X'), (6, 'x '), (7, 'aBc'), (8, 'ABC  ')",
    ])
    .await;
    c.same_each(
        &[
            "code = 'abc' COLLATE utf8mb4_general_ci",
            "code = 'x' COLLATE utf8mb4_general_ci",
            "code = 'x' COLLATE utf8mb4_bin",
            "code = _utf8mb4'abc' COLLATE utf8mb4_unicode_ci",
            "code COLLATE utf8mb4_general_ci = 'abc'",
        ]
        .iter()
        .map(|w| format!("SELECT id FROM hs WHERE {w}"))
        .collect::<Vec<_>>(),
    )
    .await;
    c.done().await;
}

/// A DATE key created through the proxy: the server compares '2024-1-1' and 20240101 with
/// the stored DATE 2024-01-01, which was placed by the text it was inserted as. Learned now
/// as "not text", the key's lookups route like an integer's: a quoted date to the shards of
/// its text and of its leading number, an unquoted number to the number's shard; neither
/// is where '2024-01-01' was placed. Before 48c7295 such a table, created after startup,
/// stayed unlearned and its lookups read every shard (a DATE key learned at startup missed
/// the same rows there too). Now a key column neither text nor an integer is learned as
/// `KeyColumnType::Other`, and every lookup by its value reads all shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_key_created_through_the_proxy() {
    let mut c = Case::new("akr_date").await;
    c.all(&[
        "CREATE TABLE hd (id INT PRIMARY KEY, d DATE NOT NULL)",
        "INSERT INTO hd (id, d) VALUES (1, '2024-01-01'), (2, '2024-01-02'), (3, '2024-01-03'), \
         (4, '2023-12-31'), (5, '2024-02-29')",
    ])
    .await;
    let lookups: Vec<String> = [
        "d = '2024-01-01'",
        "d = '2024-1-1'",
        "d = '2024-01-01 00:00:00'",
        "d = 20240101",
        "d = '20240101'",
        "d = DATE'2024-01-01'",
        "d IN ('2024-1-2', '2024-1-3')",
        "d = 20240229",
        "d = '2024/02/29'",
    ]
    .iter()
    .map(|w| format!("SELECT id FROM hd WHERE {w}"))
    .collect();
    c.same_each(&lookups).await;
    c.done().await;
}

/// A DECIMAL key created through the proxy (learned as not text, like an integer: quoted
/// non-integers are refused on insert), looked up by spellings of the same numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_key_created_through_the_proxy() {
    let mut c = Case::new("akr_decimal").await;
    c.all(&[
        "CREATE TABLE hdec (id INT PRIMARY KEY, k DECIMAL(10,2) NOT NULL)",
        "INSERT INTO hdec (id, k) VALUES (1, 42), (2, 7), (3, 0), (4, -42)",
    ])
    .await;
    let lookups: Vec<String> = [
        "k = 42",
        "k = '42'",
        "k = '042'",
        "k = '42.00'",
        "k = 42.00",
        "k = '42.0x'",
        "k = 4.2e1",
        "k = '+42'",
        "k = '-42'",
        "k = '-0'",
        "k = 0.00",
        "k IN (7, '7.0')",
    ]
    .iter()
    .map(|w| format!("SELECT id FROM hdec WHERE {w}"))
    .collect();
    c.same_each(&lookups).await;
    c.done().await;
}

/// DDL with autocommit off: refused over two groups (single_group transactions), and the
/// lookups after it still match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_with_autocommit_off_and_in_a_transaction() {
    let mut c = Case::new("akr_txn").await;
    let create = |t: &str| {
        format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
             DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin"
        )
    };
    c.all(&["SET autocommit = 0"]).await;
    // A fan-out write in a transaction over two groups is refused (single_group mode).
    let r = c.via.query_drop(create("hs")).await;
    expect_code(r, 1235);
    c.all(&[
        "ROLLBACK",
        "SET autocommit = 1",
        &create("hs"),
        &format!("INSERT INTO hs (id, code) VALUES {TEXT_ROWS}"),
        "SET autocommit = 0",
        // One shard's write, then DROP in the transaction (the server commits around it).
        "INSERT INTO hs (id, code) VALUES (20, '42xyz')",
    ])
    .await;
    c.same_each(&number_lookups("hs")).await;
    let r = c.via.query_drop("DROP TABLE hs").await;
    if r.is_ok() {
        c.direct.query_drop("DROP TABLE hs").await.unwrap();
    } else {
        expect_code(r, 1235);
        c.all(&["ROLLBACK"]).await;
    }
    c.all(&["SET autocommit = 1"]).await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

/// Failing DDL answers at once with the server's error, and leaves what was learned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_ddl_is_answered_and_changes_nothing() {
    let mut c = Case::new("akr_fail").await;
    c.all(&[
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
        &format!("INSERT INTO hs (id, code) VALUES {TEXT_ROWS}"),
    ])
    .await;
    for bad in [
        "CREATE TABLE hs (id INT PRIMARY KEY, code INT NOT NULL)",
        "ALTER TABLE hs ADD COLUMN id INT",
        "DROP TABLE hs_missing_table_xyz",
        "CREATE TABLE rs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL, code INT)",
        "ALTER TABLE hs CONVERT TO CHARACTER SET no_such_charset",
        "TRUNCATE TABLE rs",
    ] {
        let started = Instant::now();
        let via = c.via.query_drop(bad).await;
        let direct = c.direct.query_drop(bad).await;
        assert!(via.is_err(), "{bad}: shardgate accepted it");
        assert!(direct.is_err(), "{bad}: the oracle accepted it");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{bad}: took {:?}",
            started.elapsed()
        );
        c.same_each(&number_lookups("hs")).await;
    }
    c.done().await;
}

/// DDL and lookups in one multi-statement batch: the learning happens between statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_in_a_multi_statement_batch() {
    let mut c = Case::new("akr_batch").await;
    let batch = format!(
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin; \
         INSERT INTO hs (id, code) VALUES {TEXT_ROWS}; \
         SELECT id FROM hs WHERE code = 42; \
         SELECT id FROM hs WHERE code IN (42, 7); \
         DROP TABLE hs; \
         CREATE TABLE hs (id INT PRIMARY KEY, code INT NOT NULL); \
         INSERT INTO hs (id, code) VALUES (1, 42), (2, 7); \
         SELECT id FROM hs WHERE code = 42; \
         DROP TABLE hs; \
         CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_general_ci; \
         INSERT INTO hs (id, code) VALUES {TEXT_ROWS}, (11, 'ABC'), (12, 'abc '); \
         SELECT id FROM hs WHERE code = 42; \
         SELECT id FROM hs WHERE code = 'abc'"
    );
    c.same(&batch).await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

/// TRUNCATE (a DDL word) leaves the key column as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_then_lookups() {
    let mut c = Case::new("akr_truncate").await;
    c.all(&[
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
        &format!("INSERT INTO hs (id, code) VALUES {TEXT_ROWS}"),
        "TRUNCATE TABLE hs",
        &format!("INSERT INTO hs (id, code) VALUES {TEXT_ROWS}"),
    ])
    .await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

/// A temporary table named like a sharded table is refused (it would hide one shard);
/// one named otherwise works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_tables() {
    let mut c = Case::new("akr_temp").await;
    let r = c
        .via
        .query_drop("CREATE TEMPORARY TABLE hs (id INT, code VARCHAR(10))")
        .await;
    expect_code(r, 1235);
    c.all(&[
        "CREATE TEMPORARY TABLE tmpx (id INT PRIMARY KEY, code VARCHAR(10))",
        "INSERT INTO tmpx VALUES (1, '42'), (2, '042')",
    ])
    .await;
    c.same("SELECT id FROM tmpx WHERE code = 42").await;
    c.all(&[
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
        &format!("INSERT INTO hs (id, code) VALUES {TEXT_ROWS}"),
        "DROP TEMPORARY TABLE tmpx",
    ])
    .await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

/// Eight sessions at once, each creating its own table (text or integer key), filling it,
/// dropping and creating it again with the other type, and looking it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_doing_ddl() {
    let c = Case::new("akr_concurrent").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut via = c.proxy.connect(Some("clinical")).await;
        let mut direct = c.oracle.on(0).await;
        tasks.push(tokio::spawn(async move {
            let t = format!("c{i}");
            let text = format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
                 DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin"
            );
            let int = format!("CREATE TABLE {t} (id INT PRIMARY KEY, code INT NOT NULL)");
            let (first, second) = if i % 2 == 0 { (text, int) } else { (int, text) };
            let mut mismatches = Vec::new();
            for round in 0..3 {
                for create in [&first, &second] {
                    let rows = if create.contains("VARCHAR") {
                        TEXT_ROWS
                    } else {
                        "(1, 42), (2, 7), (3, 43)"
                    };
                    for sql in [
                        format!("DROP TABLE IF EXISTS {t}"),
                        create.clone(),
                        format!("INSERT INTO {t} (id, code) VALUES {rows}"),
                    ] {
                        via.query_drop(&sql)
                            .await
                            .unwrap_or_else(|e| panic!("{sql}: {e}"));
                        direct.query_drop(&sql).await.unwrap();
                    }
                    for q in number_lookups(&t) {
                        let want = all_sets(&mut direct, &q).await.unwrap();
                        match all_sets(&mut via, &q).await {
                            Ok(got) if got == want => {}
                            Ok(got) => mismatches
                                .push(format!("round {round} {create}: {q}: {got:?} vs {want:?}")),
                            Err(e) if refused(&e) => {}
                            Err(e) => panic!("{q}: {e}"),
                        }
                    }
                }
            }
            mismatches
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert!(all.is_empty(), "{all:#?}");
    c.done().await;
}

/// Physical tables created on the backends directly, after the proxy started (never seen by
/// it): not learned, so lookups by numbers keep reading every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_on_the_backends_after_startup() {
    let mut c = Case::new("akr_backend_new").await;
    c.text_hs_on_the_backends().await;
    c.both(&format!(
        "INSERT INTO hs (id, code) VALUES {UNAMBIGUOUS_ROWS}"
    ))
    .await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

fn int_shards_at_startup(t: &str) -> Vec<(usize, String)> {
    (0..4)
        .map(|s| {
            (
                s / 2,
                format!("CREATE TABLE {t}_{s} (id INT PRIMARY KEY, code INT NOT NULL)"),
            )
        })
        .collect()
}

/// Learned as INT at startup, then replaced on the backends directly (DROP through the proxy
/// or not, CREATE with a VARCHAR key directly): what was learned stays (a dropped table is
/// skipped by the learner, and direct DDL is not seen), so `code = 42` goes to the shard of
/// 42 until a reload. Pre-existing (48c7295^ failed the same way). Now the learner forgets
/// what it knew of a table it no longer finds, so lookups are cautious until it is learned
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_on_the_backends_keeps_the_old_learned_type() {
    let before = int_shards_at_startup("hs");
    let before: Vec<(usize, &str)> = before.iter().map(|(g, s)| (*g, s.as_str())).collect();
    let mut c = Case::with("akr_backend_recreate", &before).await;
    c.direct
        .query_drop("CREATE TABLE hs (id INT PRIMARY KEY, code INT NOT NULL)")
        .await
        .unwrap();
    c.same("SELECT id FROM hs WHERE code = 42").await;
    // DROP through the proxy: learning runs and finds no table.
    c.both("DROP TABLE hs").await;
    c.text_hs_on_the_backends().await;
    // Rows go in through the proxy (each on the shard of its text).
    c.both(&format!(
        "INSERT INTO hs (id, code) VALUES {UNAMBIGUOUS_ROWS}"
    ))
    .await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

/// Accepts connections and never answers: a master that hangs before its handshake.
async fn blackhole() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    port
}

/// Another logical database (`aaa_far`, learned before `clinical`) whose three masters
/// accept connections and never answer.
async fn far_rules(groups: usize) -> String {
    let mut r = String::from("[database]\nname = \"aaa_far\"\ndefault_group = \"b0\"\n");
    for g in 0..groups {
        let port = blackhole().await;
        r.push_str(&format!(
            "\n[groups.b{g}]\nmaster = \"127.0.0.1:{port}\"\nschema = \"far\"\n"
        ));
    }
    for g in 0..groups {
        r.push_str(&format!(
            "\n[[tables]]\nname = \"f{g}\"\nshard_key = \"code\"\nalgorithm = \"hash\"\n\
             shards = 1\nplacement = [\"b{g}\"]\n"
        ));
    }
    r
}

/// A DDL through the proxy while the masters of another database hang: the client hears
/// the statement's end within the documented bound (twice connect_timeout and a second: 5 s
/// in tests), checked loosely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_while_other_masters_hang_is_answered_within_the_bound() {
    let sharded = TestSchema::create("akr_hang").await;
    let oracle = TestSchema::create("akr_hang_o").await;
    let text = format!("{}{}", sharded.clinical_rules("clinical"), rules());
    let proxy = Proxy::start(&[("clinical.toml", text), ("aaa.toml", far_rules(3).await)]).await;
    let mut c = Case {
        via: proxy.connect(Some("clinical")).await,
        direct: oracle.on(0).await,
        sharded,
        oracle,
        proxy,
    };
    let started = Instant::now();
    c.both(
        "CREATE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
    )
    .await;
    let took = started.elapsed();
    eprintln!("CREATE TABLE with three hanging masters elsewhere took {took:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    c.both(&format!(
        "INSERT INTO hs (id, code) VALUES {UNAMBIGUOUS_ROWS}"
    ))
    .await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}

/// Learned as INT at startup (in the background: the five hanging masters of `aaa_far`
/// come first), then one `CREATE OR REPLACE` with a VARCHAR key through the proxy: the
/// learning after it asks `aaa_far`'s hanging masters first, one connect_timeout (2 s) each,
/// past its 5 s bound, so the client hears OK while `clinical` still has the INT learned at
/// startup, and `code = 42` routed to the shard of 42 for the next seconds. At 48c7295^ it
/// failed too (never learned again until a reload). Now the groups are asked at once, so
/// `clinical` is learned within the bound whatever `aaa_far`'s masters do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relearning_behind_hanging_masters_leaves_a_stale_key_type() {
    let sharded = TestSchema::create("akr_hang_stale").await;
    let oracle = TestSchema::create("akr_hang_stale_o").await;
    for (g, sql) in int_shards_at_startup("hs") {
        sharded.exec(g, &[&sql]).await;
    }
    let text = format!("{}{}", sharded.clinical_rules("clinical"), rules());
    let proxy = Proxy::start(&[("clinical.toml", text), ("aaa.toml", far_rules(5).await)]).await;
    let mut c = Case {
        via: proxy.connect(Some("clinical")).await,
        direct: oracle.on(0).await,
        sharded,
        oracle,
        proxy,
    };
    // Startup learning: 5 x connect_timeout on aaa_far, then clinical (learned INT).
    tokio::time::sleep(Duration::from_secs(12)).await;
    c.direct
        .query_drop("CREATE TABLE hs (id INT PRIMARY KEY, code INT NOT NULL)")
        .await
        .unwrap();
    c.both("INSERT INTO hs (id, code) VALUES (1, 42)").await;
    c.same("SELECT id FROM hs WHERE code = 42").await;
    let started = Instant::now();
    c.both(
        "CREATE OR REPLACE TABLE hs (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL) \
         DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_nopad_bin",
    )
    .await;
    eprintln!("CREATE OR REPLACE took {:?}", started.elapsed());
    c.both(&format!(
        "INSERT INTO hs (id, code) VALUES {UNAMBIGUOUS_ROWS}"
    ))
    .await;
    c.same_each(&number_lookups("hs")).await;
    c.done().await;
}
