//! The fixture of tests/materialize_attack.rs: a sharded schema behind a proxy and an
//! unsharded oracle schema holding the same rows.

pub use crate::common::*;
pub use mysql_async::prelude::Queryable;
pub use mysql_async::Conn;

pub type Cell = Option<String>;

/// A value as text, or `0x..` hex when it is not UTF-8.
pub fn cell(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| {
        let hex: String = e.as_bytes().iter().map(|x| format!("{x:02X}")).collect();
        format!("0x{hex}")
    })
}

/// The rows of `sql` as the server printed them (text protocol).
pub async fn rows(conn: &mut Conn, sql: &str) -> Result<Vec<Vec<Cell>>, mysql_async::Error> {
    let printed = printed_answer(conn, sql).await?;
    Ok(printed
        .rows
        .into_iter()
        .map(|row| row.into_iter().map(|c| c.map(cell)).collect())
        .collect())
}

/// Sharded tables `t` and `u` (by `k % 4`, shards 0,1 on g0 and 2,3 on g1; `u` bound to
/// `t`), added to clinical.toml as database `m`.
pub const RULES: &str = r#"
[[tables]]
name = "t"
shard_key = "k"
algorithm = "mod"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "u"
bind_to = "t"
shard_key = "k"
"#;

/// A sharded schema behind a proxy (`via`, database `m`) and an unsharded oracle schema
/// (`direct`) that every setup statement also ran on.
pub struct Case {
    pub sharded: TestSchema,
    pub oracle: TestSchema,
    pub proxy: Proxy,
    pub via: Conn,
    pub direct: Conn,
}

impl Case {
    pub async fn new(test: &str, setup: &[&str]) -> Case {
        Case::tuned(test, setup, |_| {}).await
    }

    pub async fn tuned(
        test: &str,
        setup: &[&str],
        tune: impl FnOnce(&mut shardgate::config::server::ServerConfig),
    ) -> Case {
        let sharded = TestSchema::create(test).await;
        let oracle = TestSchema::create(&format!("{test}_o")).await;
        let rules = format!("{}{RULES}", sharded.clinical_rules("m"));
        let proxy = Proxy::start_tuned(&[("m.toml", rules)], tune).await;
        let mut via = proxy.connect(Some("m")).await;
        let mut direct = oracle.on(0).await;
        for sql in setup {
            via.query_drop(*sql)
                .await
                .unwrap_or_else(|e| panic!("via shardgate: {sql}: {e}"));
            direct
                .query_drop(*sql)
                .await
                .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"));
        }
        Case {
            sharded,
            oracle,
            proxy,
            via,
            direct,
        }
    }

    /// Runs `sql` on both sides; the answers must be equal (no refusal accepted).
    pub async fn same(&mut self, sql: &str) {
        let want = rows(&mut self.direct, sql)
            .await
            .unwrap_or_else(|e| panic!("oracle: {sql}: {e}"));
        let got = rows(&mut self.via, sql)
            .await
            .unwrap_or_else(|e| panic!("shardgate: {sql}: {e}"));
        assert_eq!(got, want, "{sql}\nshardgate (left) vs oracle (right)");
    }

    pub async fn both(&mut self, sql: &str) {
        self.via.query_drop(sql).await.unwrap();
        self.direct.query_drop(sql).await.unwrap();
    }

    pub async fn done(self) {
        drop(self.via);
        drop(self.direct);
        self.sharded.drop().await;
        self.oracle.drop().await;
    }
}

pub const T_U: &[&str] = &[
    "CREATE TABLE t (id INT PRIMARY KEY, k INT NOT NULL, x INT NULL, s VARCHAR(20) NULL)",
    "CREATE TABLE u (id INT PRIMARY KEY, k INT NOT NULL, x INT NULL, s VARCHAR(20) NULL)",
    "INSERT INTO t (id, k, x, s) VALUES (1,0,1,'a'),(2,1,2,'b'),(3,2,NULL,'c'),(4,3,4,NULL),(5,0,5,'a'),(6,1,1,'b'),(7,2,2,'z'),(8,3,NULL,'y')",
    "INSERT INTO u (id, k, x, s) VALUES (1,1,1,'a'),(2,2,5,'b'),(3,3,NULL,'c'),(5,0,7,'q'),(9,1,9,'r')",
];
