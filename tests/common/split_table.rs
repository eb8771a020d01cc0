//! A logical table `t` split by `id % 2` into `s_0` (g0) and `s_1` (g1), beside a plain `t`
//! on g0 holding every row: what one MariaDB server answers for the logical text, for tests
//! that compare merged reads with it (`scatter_weights`, `attack_scatter_weights`). The
//! proxy's client is an admin (`ops`), so that `SHARDGATE PREVIEW` shows the shard queries.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use shardgate::config::server::ServerConfig;

use super::{admin_user, two_group_rules, Proxy, TestSchema};

/// The rules of `t`: shard key `id`, `mod` over two shards, one per group.
pub const RULES: &str = r#"
[[tables]]
name = "t"
shard_key = "id"
algorithm = "mod"
shards = 2
placement = ["g0", "g1"]
physical = "s_{shard}"
"#;

/// Creates `s_0`, `s_1` and `t` as `CREATE TABLE <name> <table>` and inserts `rows` (each a
/// parenthesised row for `columns`, e.g. `(id, a)` or empty for all, the id first): even
/// ids on `s_0`, odd ones on `s_1`, all of them in `t`.
pub async fn create(s: &TestSchema, table: &str, columns: &str, rows: &[(u32, &str)]) {
    for g in 0..2u32 {
        let part: Vec<&str> = rows
            .iter()
            .filter(|(id, _)| id % 2 == g)
            .map(|(_, r)| *r)
            .collect();
        s.exec(
            g as usize,
            &[
                &format!("CREATE TABLE s_{g} {table}"),
                &format!("INSERT INTO s_{g} {columns} VALUES {}", part.join(", ")),
            ],
        )
        .await;
    }
    let all: Vec<&str> = rows.iter().map(|(_, r)| *r).collect();
    s.exec(
        0,
        &[
            &format!("CREATE TABLE t {table}"),
            &format!("INSERT INTO t {columns} VALUES {}", all.join(", ")),
        ],
    )
    .await;
}

/// A proxy over `t` as logical database `db`, `tune`d, with the admin user `ops`.
pub async fn proxy(s: &TestSchema, db: &str, tune: impl FnOnce(&mut ServerConfig)) -> Proxy {
    Proxy::start_tuned(&[("t.toml", two_group_rules(db, &s.name, RULES))], |c| {
        c.users.push(admin_user("ops", "ops-pass"));
        tune(c)
    })
    .await
}

/// A connection to `proxy` as `ops`, in database `db`, once the proxy has learned the
/// column types of `t` (in the background after it starts; merged reads weigh every key
/// until then).
pub async fn connect_ops(proxy: &Proxy, db: &str) -> Conn {
    let ops = OptsBuilder::from_opts(proxy.opts(Some(db)))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut c = Conn::new(ops).await.expect("connect to shardgate as ops");
    until_learned(&mut c).await;
    c
}

/// The shard queries `SHARDGATE PREVIEW` shows for `sql` (on an admin's connection).
pub async fn shard_queries(c: &mut Conn, sql: &str) -> Vec<String> {
    let preview = format!("SHARDGATE PREVIEW {sql}");
    let rows: Vec<mysql_async::Row> = c.query(&preview).await.expect(&preview);
    rows.into_iter()
        .filter(|r| r.get::<Option<String>, _>(1).flatten().as_deref() == Some("query"))
        .filter_map(|r| r.get::<Option<String>, _>(6).flatten())
        .collect()
}

/// Waits (10 s at most) until a merged `ORDER BY id` asks the shards for no weight: the
/// proxy knows `t`'s column types.
pub async fn until_learned(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let queries = shard_queries(c, "SELECT id FROM t ORDER BY id").await;
        if !queries.is_empty() && queries.iter().all(|q| !q.contains("WEIGHT_STRING")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not learn t's column types within 10 s: {queries:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
