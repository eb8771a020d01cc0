//! A hostile round against the select fast path's kept shapes (`plan::select_shapes`,
//! `select_fast::replay`): a statement planned from a kept shape must route and answer
//! exactly as one planned afresh.
//!
//! Every proxy here serves on one current-thread runtime of its own thread, so all of its
//! sessions share the thread's kept shapes. Each answer is compared with the same
//! statement behind a fresh comment (a shape never seen, so planned afresh) and, where the
//! rows are known, with the server's own answer over one table holding every row (`t_all`).

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tokio_util::sync::CancellationToken;

/// A proxy on a thread of its own (one current-thread runtime, like one production worker).
struct Gate {
    port: u16,
    dir: PathBuf,
    stop: CancellationToken,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Gate {
    async fn start(files: Vec<(String, String)>) -> Gate {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let named: Vec<(&str, String)> =
                    files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
                let proxy = Proxy::start_tuned(&named, |c| {
                    c.users.push(admin_user("ops", "ops-pass"));
                })
                .await;
                let stop = proxy.shutdown.clone();
                let _ = tx.send((proxy.port, proxy.rules_dir().to_path_buf(), stop.clone()));
                stop.cancelled().await;
                drop(proxy);
                tokio::time::sleep(Duration::from_millis(100)).await;
            });
        });
        let (port, dir, stop) = rx.await.unwrap();
        Gate { port, dir, stop }
    }

    async fn connect(&self, db: Option<&str>) -> Conn {
        Conn::new(direct_opts(self.port, db)).await.unwrap()
    }

    async fn admin(&self) -> Conn {
        let opts = OptsBuilder::from_opts(direct_opts(self.port, None))
            .user(Some("ops"))
            .pass(Some("ops-pass"));
        Conn::new(opts).await.unwrap()
    }
}

type Answer = Result<Vec<Vec<String>>, (u16, String)>;

async fn answer(conn: &mut Conn, sql: &str) -> Answer {
    match conn.query::<mysql_async::Row, _>(sql).await {
        Ok(rows) => Ok(cells(rows)),
        Err(mysql_async::Error::Server(e)) => Err((e.code, e.message)),
        Err(other) => panic!("{sql}: {other}"),
    }
}

static FRESH: AtomicU64 = AtomicU64::new(0);

/// `sql` behind a comment no text has had: a shape never kept, so planned afresh.
fn fresh(sql: &str) -> String {
    let n = FRESH.fetch_add(1, Ordering::Relaxed);
    format!("/*fresh {n} {}*/ {sql}", std::process::id())
}

/// Runs `sql` (perhaps from a kept shape) and the same statement planned afresh on the same
/// session; they must answer alike. Returns the answer.
async fn same_as_fresh(conn: &mut Conn, sql: &str) -> Answer {
    let kept = answer(conn, sql).await;
    let afresh = answer(conn, &fresh(sql)).await;
    // Messages may quote the text's columns, which the fresh comment shifts: codes only.
    let code = |a: &Answer| a.as_ref().map_err(|e| e.0).cloned();
    assert_eq!(
        code(&kept),
        code(&afresh),
        "kept shape vs fresh plan: {sql}"
    );
    kept
}

const SA_TABLES: &str = r#"
[[tables]]
name = "t"
shard_key = "id"
algorithm = "mod"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "s"
shard_key = "k"
algorithm = "hash"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "b"
broadcast = true
"#;

/// Logical `sa` (t sharded by id mod 4, s by a text key, b broadcast, u unsharded) and `sb`
/// (its own t, unsharded), with a proxy.
struct Fixture {
    a: TestSchema,
    b: TestSchema,
    gate: Gate,
}

const IDS: std::ops::RangeInclusive<i64> = -9..=40;

impl Fixture {
    async fn new(name: &str, replicas: bool) -> Fixture {
        let a = TestSchema::create(&format!("ass_{name}_a")).await;
        let b = TestSchema::create(&format!("ass_{name}_b")).await;
        for shard in 0..4i64 {
            let g = if shard < 2 { 0 } else { 1 };
            let rows: Vec<String> = IDS
                .filter(|id| id.rem_euclid(4) == shard)
                .map(|id| format!("({id}, 'r{id}')"))
                .collect();
            a.exec(
                g,
                &[
                    &format!("CREATE TABLE t_{shard} (id BIGINT PRIMARY KEY, v VARCHAR(20))"),
                    &format!("INSERT INTO t_{shard} VALUES {}", rows.join(",")),
                    &format!(
                        "CREATE TABLE s_{shard} (k VARCHAR(20) COLLATE utf8mb4_general_ci \
                         PRIMARY KEY, v VARCHAR(20))"
                    ),
                ],
            )
            .await;
        }
        let all: Vec<String> = IDS.map(|id| format!("({id}, 'r{id}')")).collect();
        a.exec(
            0,
            &[
                "CREATE TABLE t_all (id BIGINT PRIMARY KEY, v VARCHAR(20))",
                &format!("INSERT INTO t_all VALUES {}", all.join(",")),
                "CREATE TABLE s_all (k VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, \
                 v VARCHAR(20))",
                "CREATE TABLE u (id BIGINT PRIMARY KEY, v VARCHAR(20))",
                "INSERT INTO u VALUES (1, 'u1'), (2, 'u2'), (5, 'u5')",
                "CREATE TABLE only_a (id INT PRIMARY KEY)",
            ],
        )
        .await;
        for g in 0..2 {
            a.exec(
                g,
                &[
                    "CREATE TABLE b (id BIGINT PRIMARY KEY, v VARCHAR(20))",
                    "INSERT INTO b VALUES (1, 'b1'), (5, 'b5')",
                ],
            )
            .await;
        }
        b.exec(
            0,
            &[
                "CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(20))",
                "INSERT INTO t VALUES (5, 'sb5'), (6, 'sb6'), (7, 'sb7')",
                "CREATE TABLE only_b (id INT PRIMARY KEY, v VARCHAR(20))",
                "INSERT INTO only_b VALUES (5, 'ob5')",
            ],
        )
        .await;
        let gate = Gate::start(vec![
            (
                "sa.toml".into(),
                two_group_rules_with_replicas("sa", &a.name, SA_TABLES, replicas),
            ),
            (
                "sb.toml".into(),
                two_group_rules_with_replicas("sb", &b.name, "", replicas),
            ),
        ])
        .await;
        // Text keys through the proxy's own insert path, mirrored in s_all.
        let mut c = gate.connect(Some("sa")).await;
        let keys = ["a", "B", "abc", "5", "07", "x y", "é"];
        for k in keys {
            c.exec_drop("INSERT INTO s (k, v) VALUES (?, ?)", (k, format!("v{k}")))
                .await
                .unwrap();
        }
        let mut d = a.on(0).await;
        for k in keys {
            d.exec_drop(
                "INSERT INTO s_all (k, v) VALUES (?, ?)",
                (k, format!("v{k}")),
            )
            .await
            .unwrap();
        }
        Fixture { a, b, gate }
    }

    /// The server's own answer for `template` with `{T}` -> `all_table`.
    async fn oracle(&self, template: &str, all_table: &str, sql_mode: Option<&str>) -> Answer {
        let mut d = self.a.on(0).await;
        if let Some(mode) = sql_mode {
            d.query_drop(format!("SET SESSION sql_mode = '{mode}'"))
                .await
                .unwrap();
        }
        let a = answer(&mut d, &template.replace("{T}", all_table)).await;
        let _ = d.disconnect().await;
        a
    }

    async fn drop(self) {
        drop(self.gate);
        self.a.drop().await;
        self.b.drop().await;
    }
}

/// Sends `template` with `{V}` replaced by each of `values` in turn (the first makes the
/// shape kept, the rest replay it) and checks every answer against the fresh plan and the
/// server's answer over the table of all rows. Returns the mismatches with the oracle.
async fn sequence(
    fx: &Fixture,
    conn: &mut Conn,
    template: &str,
    table: &str,
    values: &[&str],
    sql_mode: Option<&str>,
) -> Vec<String> {
    let mut bad = Vec::new();
    for v in values {
        let t = template.replace("{V}", v);
        let got = same_as_fresh(conn, &t.replace("{T}", table)).await;
        let want = fx.oracle(&t, &format!("{table}_all"), sql_mode).await;
        let same = match (&got, &want) {
            (Ok(g), Ok(w)) => g == w,
            // A refusal or error: the same code.
            (Err((g, _)), Err((w, _))) => g == w,
            _ => false,
        };
        if !same {
            bad.push(format!("{t}: proxy {got:?}, server {want:?}"));
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_key_literals_route_as_planned_afresh() {
    let fx = Fixture::new("int_lits", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    let mut bad = Vec::new();
    for (template, values) in [
        (
            "SELECT id, v FROM {T} WHERE id={V} ORDER BY id",
            &[
                "5",
                "6",
                "7",
                "8",
                "0",
                "40",
                "41",
                "5.0",
                "1e1",
                "0.5e1",
                "18446744073709551616",
                "9223372036854775807",
                "00000000000000000000013",
            ][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = -{V} ORDER BY id",
            &["5", "6", "7", "8", "1e0"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} ORDER BY id",
            &["'5'", "'6'", "' 7'", "'9abc'", "'abc'", "\"10\"", "'1e1'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = x{V} ORDER BY id",
            &["'05'", "'06'", "'0B'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = _latin1{V} ORDER BY id",
            &["'5'", "'6'", "'13'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} '3' ORDER BY id",
            &["'1'", "'2'", "'0'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id IN ({V}) ORDER BY id",
            &["5", "9", "13", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id IN (5, {V}) ORDER BY id",
            &["9", "6", "13", "'17'", "NULL"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id <=> {V} ORDER BY id",
            &["5", "6", "'7'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE {V} = id AND v <> 'zz' ORDER BY id",
            &["5", "6", "7", "'8'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id={V}AND v<>'' ORDER BY id",
            &["5", "6", "'7'"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE v = 'r5' AND id = {V} ORDER BY id",
            &["5", "6", "9"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} /* 6 */ ORDER BY id",
            &["5", "6", "7"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} /*!100000 AND id = 9 */ ORDER BY id",
            &["5", "9", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} /*M!999999 AND id = 9 */ ORDER BY id",
            &["5", "9", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = 5 /*!100000 AND id = {V} */ ORDER BY id",
            &["5", "9", "6"][..],
        ),
    ] {
        bad.extend(sequence(&fx, &mut c, template, "t", values, None).await);
    }
    assert!(bad.is_empty(), "{bad:#?}");
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_key_literals_route_as_planned_afresh() {
    let fx = Fixture::new("text_lits", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    let mut bad = Vec::new();
    for (template, values) in [
        (
            "SELECT k, v FROM {T} WHERE k = {V} ORDER BY k",
            &[
                "'a'", "'A'", "'b'", "'abc'", "'ABC'", "'ABC '", "'5'", "'07'", "'x y'", "'é'",
                "'e'",
            ][..],
        ),
        (
            "SELECT k, v FROM {T} WHERE k = {V} ORDER BY k",
            &["5", "7", "07", "5.0"][..],
        ),
        (
            "SELECT k, v FROM {T} WHERE k = _utf8mb4{V} COLLATE utf8mb4_bin ORDER BY k",
            &["'a'", "'A'"][..],
        ),
        (
            "SELECT k, v FROM {T} WHERE k IN ({V}) ORDER BY k",
            &["'a'", "'b'", "'abc'"][..],
        ),
    ] {
        bad.extend(sequence(&fx, &mut c, template, "s", values, None).await);
    }
    assert!(bad.is_empty(), "{bad:#?}");
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_other_databases_do_not_share_a_shape() {
    let fx = Fixture::new("two_dbs", false).await;
    let mut a = fx.gate.connect(Some("sa")).await;
    let mut b = fx.gate.connect(Some("sb")).await;
    let mut none = fx.gate.connect(None).await;
    for id in [5, 6, 7, 5] {
        let sql = format!("SELECT v FROM t WHERE id={id}");
        assert_eq!(
            same_as_fresh(&mut a, &sql).await,
            Ok(vec![row(&[&format!("r{id}")])])
        );
        assert_eq!(
            same_as_fresh(&mut b, &sql).await,
            Ok(vec![row(&[&format!("sb{id}")])])
        );
        // The same session switching back and forth.
        b.query_drop("USE sa").await.unwrap();
        assert_eq!(
            same_as_fresh(&mut b, &sql).await,
            Ok(vec![row(&[&format!("r{id}")])])
        );
        b.query_drop("USE sb").await.unwrap();
        // No database: the server's error, never a kept route.
        let err = same_as_fresh(&mut none, &sql).await;
        assert!(err.is_err(), "{sql} without a database: {err:?}");
        // Qualified names from every session.
        for c in [&mut a, &mut b, &mut none] {
            let q = format!("SELECT v FROM sa.t WHERE id={id}");
            assert_eq!(
                same_as_fresh(c, &q).await,
                Ok(vec![row(&[&format!("r{id}")])])
            );
            let q = format!("SELECT v FROM `sb`.t WHERE id={id}");
            assert_eq!(
                same_as_fresh(c, &q).await,
                Ok(vec![row(&[&format!("sb{id}")])])
            );
        }
    }
    // The other order, in a shape of its own: the unsharded database's decision is kept
    // first, and must not send the sharded database's read whole to its default group.
    for id in [5, 6, 7] {
        let sql = format!("SELECT v FROM t AS x WHERE id={id}");
        assert_eq!(
            same_as_fresh(&mut b, &sql).await,
            Ok(vec![row(&[&format!("sb{id}")])])
        );
        assert_eq!(
            same_as_fresh(&mut a, &sql).await,
            Ok(vec![row(&[&format!("r{id}")])])
        );
    }
    // A table only one database has.
    for id in [5, 6] {
        let sql = format!("SELECT v FROM only_b WHERE id={id}");
        let want = if id == 5 { vec![row(&["ob5"])] } else { vec![] };
        assert_eq!(same_as_fresh(&mut b, &sql).await, Ok(want));
        assert_eq!(
            same_as_fresh(&mut a, &sql).await.map_err(|e| e.0),
            Err(1146)
        );
    }
    // USE information_schema, then the same shapes.
    a.query_drop("USE information_schema").await.unwrap();
    for id in [5, 6] {
        let sql = format!("SELECT v FROM t WHERE id={id}");
        let got = same_as_fresh(&mut a, &sql).await;
        assert!(got.is_err(), "information_schema.t: {got:?}");
        let sql = format!("SELECT v FROM sa.t WHERE id={id}");
        assert_eq!(
            same_as_fresh(&mut a, &sql).await,
            Ok(vec![row(&[&format!("r{id}")])])
        );
    }
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_modes_read_the_same_shape_apart() {
    let fx = Fixture::new("sql_modes", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    let mut other = fx.gate.connect(Some("sa")).await;
    let mut bad = Vec::new();
    let templates: &[(&str, &[&str])] = &[
        (
            r#"SELECT id, v FROM {T} WHERE id = "{V}" ORDER BY id"#,
            &["5", "6", "id", "v"],
        ),
        (
            r"SELECT id, v FROM {T} WHERE id = '{V}' AND v <> 'x' ORDER BY id",
            &[r"5\", r"6\", "7", r"\'"],
        ),
        (
            r"SELECT id, v FROM {T} WHERE id = '{V}' AND id = '9' ORDER BY id",
            &[r"9\", r"5\", "9"],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = 5 || id = {V} ORDER BY id",
            &["6", "9"],
        ),
    ];
    for mode in [
        "",
        "ANSI_QUOTES",
        "NO_BACKSLASH_ESCAPES",
        "",
        "ANSI",
        "PIPES_AS_CONCAT",
    ] {
        c.query_drop(format!("SET SESSION sql_mode = '{mode}'"))
            .await
            .unwrap();
        for (template, values) in templates {
            bad.extend(sequence(&fx, &mut c, template, "t", values, Some(mode)).await);
            // A session in the default mode on the same thread, between the others.
            bad.extend(sequence(&fx, &mut other, template, "t", values, Some("")).await);
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_statement_for_reads_the_text_in_its_mode() {
    let fx = Fixture::new("set_stmt", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    // Kept in the default mode, where "id" is a string.
    for v in ["5", "id", "6"] {
        let sql = format!(r#"SELECT id, v FROM t WHERE id = "{v}" ORDER BY id"#);
        let want = fx.oracle(&sql.replace(" t ", " {T} "), "t_all", None).await;
        assert_eq!(same_as_fresh(&mut c, &sql).await, want, "{sql}");
    }
    for v in ["5", "id", "6"] {
        let sql = format!(
            r#"SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT id, v FROM t WHERE id = "{v}" ORDER BY id"#
        );
        let got = same_as_fresh(&mut c, &sql).await;
        let want = fx.oracle(&sql.replace(" t ", " {T} "), "t_all", None).await;
        match (&got, &want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{sql}"),
            // A refusal is fine; a different answer is not.
            (Err(_), _) => {}
            (Ok(_), Err(_)) => panic!("{sql}: {got:?} vs server {want:?}"),
        }
    }
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_layout_a_kept_shape_reads() {
    let fx = Fixture::new("reload", false).await;
    // r: unsharded (g0's `r`), then 2 shards, then 4: each copy says where it is.
    fx.a.exec(
        0,
        &[
            "CREATE TABLE r (id INT PRIMARY KEY, v VARCHAR(20))",
            "INSERT INTO r VALUES (3, 'whole'), (7, 'whole')",
        ],
    )
    .await;
    for (shard, g) in (0..4).flat_map(|s| [(s, 0), (s, 1)]) {
        fx.a.exec(
            g,
            &[
                &format!("CREATE TABLE r_{shard} (id INT PRIMARY KEY, v VARCHAR(20))"),
                &format!("INSERT INTO r_{shard} VALUES (3, 's{shard}'), (7, 's{shard}')"),
            ],
        )
        .await;
    }
    let mut c = fx.gate.connect(Some("sa")).await;
    let mut admin = fx.gate.admin().await;
    let ask = |id: i32| format!("SELECT v FROM r WHERE id={id}");
    for id in [3, 7] {
        assert_eq!(
            same_as_fresh(&mut c, &ask(id)).await,
            Ok(vec![row(&["whole"])])
        );
    }
    let layouts = [
        ("2", r#"["g0", "g1"]"#, ["s1", "s1"]),
        ("4", r#"["g0", "g0", "g1", "g1"]"#, ["s3", "s3"]),
    ];
    for (shards, placement, want) in layouts {
        let tables = format!(
            "{SA_TABLES}\n[[tables]]\nname = \"r\"\nshard_key = \"id\"\nalgorithm = \"mod\"\n\
             shards = {shards}\nplacement = {placement}\n"
        );
        std::fs::write(
            fx.gate.dir.join("sa.toml"),
            two_group_rules_with_replicas("sa", &fx.a.name, &tables, false),
        )
        .unwrap();
        admin.query_drop("SHARDGATE RELOAD").await.unwrap();
        for (id, want) in [3, 7].into_iter().zip(want) {
            assert_eq!(
                answer(&mut c, &ask(id)).await,
                Ok(vec![row(&[want])]),
                "{shards} shards: {}",
                ask(id)
            );
            assert_eq!(
                same_as_fresh(&mut c, &ask(id)).await,
                Ok(vec![row(&[want])])
            );
        }
    }
    // And back to unsharded.
    std::fs::write(
        fx.gate.dir.join("sa.toml"),
        two_group_rules_with_replicas("sa", &fx.a.name, SA_TABLES, false),
    )
    .unwrap();
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    for id in [3, 7] {
        assert_eq!(answer(&mut c, &ask(id)).await, Ok(vec![row(&["whole"])]));
    }
    fx.drop().await;
}

/// Which server answered: the port in the first column.
async fn port_of(c: &mut Conn, sql: &str) -> u16 {
    let rows = text_rows(c, sql).await;
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_reads_of_a_kept_shape_run_on_the_master() {
    let fx = Fixture::new("locking", true).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    // Let the replicas catch up with the fixture's rows.
    for g in 0..2 {
        let mut r = direct(replica_port(g), Some(&fx.a.name)).await;
        for _ in 0..100 {
            let n: Option<i64> = r
                .query_first("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()")
                .await
                .unwrap_or(Some(0));
            if n.unwrap_or(0) >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let master_of = |id: i64| master_port(usize::from(id.rem_euclid(4) >= 2));
    let mut replica_seen = false;
    for round in 0..3 {
        for id in [5i64, 6, 7, 8, 2, 3] {
            let plain = format!("SELECT @@port, v FROM t WHERE id={id}");
            let port = port_of(&mut c, &plain).await;
            replica_seen |= port != master_of(id);
            for tail in ["FOR UPDATE", "LOCK IN SHARE MODE", "FOR UPDATE NOWAIT"] {
                let sql = format!("SELECT @@port, v FROM t WHERE id={id} {tail}");
                assert_eq!(
                    port_of(&mut c, &sql).await,
                    master_of(id),
                    "{sql} (round {round})"
                );
            }
            let sql = format!("SELECT @@port, v FROM u WHERE id={} FOR UPDATE", id % 3);
            assert_eq!(
                answer(&mut c, &sql)
                    .await
                    .map(|r| r.len() <= 1 && r.iter().all(|r| r[0] == master_port(0).to_string())),
                Ok(true),
                "{sql}"
            );
            let sql = format!("SELECT @@port, v FROM b WHERE id={id} LOCK IN SHARE MODE");
            let rows = text_rows(&mut c, &sql).await;
            assert!(
                rows.iter()
                    .all(|r| r[0] == master_port(0).to_string()
                        || r[0] == master_port(1).to_string()),
                "{sql}: {rows:?}"
            );
        }
    }
    eprintln!("plain reads seen on a replica: {replica_seen}");
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_shapes_long_texts_and_names_answer_as_afresh() {
    let fx = Fixture::new("many_shapes", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    let mut bad = Vec::new();
    // More shapes than are kept, cycled with new values.
    for round in 0..3 {
        for n in 0..20 {
            let t = format!("SELECT id, v AS a{n} FROM {{T}} WHERE id = {{V}} ORDER BY id");
            let v = ((n * 7 + round * 3) % 45).to_string();
            bad.extend(sequence(&fx, &mut c, &t, "t", &[&v], None).await);
        }
    }
    // Texts longer than a kept shape may be, and names written every way.
    let pad = "x".repeat(1100);
    let long = format!("SELECT id, v FROM {{T}} WHERE id = {{V}} /* {pad} */ ORDER BY id");
    for (template, values) in [
        (long.as_str(), &["5", "6", "7"][..]),
        (
            "SELECT {T}.id, {T}.v FROM {T} WHERE {T}.id = {V} ORDER BY id",
            &["5", "6"][..],
        ),
        (
            "SELECT x.id, x.v FROM {T} AS x WHERE x.id = {V} ORDER BY id",
            &["5", "6"][..],
        ),
        (
            "SELECT x.id, x.v FROM {T} x WHERE x.`id` = {V} ORDER BY id",
            &["5", "6"][..],
        ),
        ("SELECT x.id FROM {T} x WHERE {T}.id = {V}", &["5", "6"][..]),
        (
            "SELECT ID, V FROM {T} WHERE Id = {V} ORDER BY ID",
            &["5", "6"][..],
        ),
        (
            "SELECT `id`, `v` FROM `{T}` WHERE `id` = {V} ORDER BY id",
            &["5", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} AND id = 5 ORDER BY id",
            &["5", "6", "9"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} ORDER BY id LIMIT 1",
            &["5", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} ORDER BY id LIMIT 0, 1",
            &["5", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} AND v LIKE 'r%' ORDER BY id",
            &["5", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE id = {V} AND id BETWEEN 0 AND 9 ORDER BY id",
            &["5", "13", "6"][..],
        ),
        (
            "SELECT id, v FROM {T} WHERE (id = {V}) ORDER BY id",
            &["5", "6"][..],
        ),
        ("SELECT id, v FROM {T} WHERE id = {V};", &["5", "6"][..]),
        (
            "SELECT COUNT(*) FROM {T} WHERE id = {V}",
            &["5", "6", "'x'"][..],
        ),
        (
            "SELECT id + 0.5, CONCAT(v, 'z') FROM {T} WHERE id = {V}",
            &["5", "6"][..],
        ),
    ] {
        bad.extend(sequence(&fx, &mut c, template, "t", values, None).await);
    }
    assert!(bad.is_empty(), "{bad:#?}");
    // The unsharded and broadcast tables, qualified or not.
    for id in [1, 2, 5, 9] {
        for (sql, want) in [
            (format!("SELECT v FROM u WHERE id = {id}"), format!("u{id}")),
            (
                format!("SELECT v FROM sa.u WHERE id = {id}"),
                format!("u{id}"),
            ),
            (format!("SELECT v FROM b WHERE id = {id}"), format!("b{id}")),
            (
                format!("SELECT v FROM `sa`.`b` WHERE id = {id}"),
                format!("b{id}"),
            ),
        ] {
            let got = same_as_fresh(&mut c, &sql).await.unwrap();
            let exists = matches!(
                (id, sql.contains(" u ") || sql.contains(".u ")),
                (1 | 2 | 5, true) | (1 | 5, false)
            );
            let want = if exists { vec![row(&[&want])] } else { vec![] };
            assert_eq!(got, want, "{sql}");
        }
    }
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_bound_reads_of_a_kept_shape() {
    let fx = Fixture::new("session_bound", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    let mut other = fx.gate.connect(Some("sa")).await;
    // CONNECTION_ID() in the select list: the client's id, whatever the shape did before.
    for conn in [&mut c, &mut other] {
        let me = conn.id().to_string();
        for id in [5, 6, 1] {
            for sql in [
                format!("SELECT CONNECTION_ID(), v FROM t WHERE id = {id}"),
                format!("SELECT CONNECTION_ID(), v FROM u WHERE id = {id}"),
            ] {
                let rows = text_rows(conn, &sql).await;
                assert!(rows.iter().all(|r| r[0] == me), "{sql}: {rows:?} (me {me})");
            }
        }
    }
    // SQL_CALC_FOUND_ROWS then FOUND_ROWS().
    for id in [5, 6, 200, 7] {
        let sql = format!("SELECT SQL_CALC_FOUND_ROWS v FROM t WHERE id = {id} LIMIT 0");
        assert_eq!(text_rows(&mut c, &sql).await.len(), 0);
        let n = text_rows(&mut c, "SELECT FOUND_ROWS()").await;
        let want = if IDS.contains(&id) { "1" } else { "0" };
        assert_eq!(n, vec![row(&[want])], "{sql}");
    }
    // A temporary table named like the unsharded table shadows it on its connection.
    c.query_drop("CREATE TEMPORARY TABLE u (id BIGINT PRIMARY KEY, v VARCHAR(20))")
        .await
        .unwrap();
    c.query_drop("INSERT INTO u VALUES (1, 'tmp1')")
        .await
        .unwrap();
    for id in [1, 2] {
        let sql = format!("SELECT v FROM u WHERE id = {id}");
        let want = if id == 1 {
            vec![row(&["tmp1"])]
        } else {
            vec![]
        };
        assert_eq!(same_as_fresh(&mut c, &sql).await, Ok(want), "{sql}");
        let want = vec![row(&[&format!("u{id}")])];
        assert_eq!(
            same_as_fresh(&mut other, &sql).await,
            Ok(want),
            "{sql} elsewhere"
        );
    }
    c.query_drop("DROP TEMPORARY TABLE u").await.unwrap();
    // A shape first seen failing, then good values of it.
    for (sql, ok) in [
        ("SELECT v FROM t WHERE id = x'5'", false),
        ("SELECT v FROM t WHERE id = x'05'", true),
        ("SELECT nope FROM t WHERE id = 5", false),
        ("SELECT nope FROM t WHERE id = 6", false),
    ] {
        let got = same_as_fresh(&mut c, sql).await;
        assert_eq!(got.is_ok(), ok, "{sql}: {got:?}");
    }
    // Multi-statement texts.
    for (x, y) in [(5, 6), (7, 8)] {
        let sql = format!("SELECT v FROM t WHERE id = {x}; SELECT v FROM t WHERE id = {y}");
        let mut r = c.query_iter(sql.as_str()).await;
        let mut got = Vec::new();
        if let Ok(result) = r.as_mut() {
            while !result.is_empty() {
                let rows: Vec<mysql_async::Row> = result.collect().await.unwrap();
                got.extend(cells(rows));
            }
        }
        if r.is_ok() {
            assert_eq!(
                got,
                vec![row(&[&format!("r{x}")]), row(&[&format!("r{y}")])],
                "{sql}"
            );
        }
    }
    fx.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_reads_of_a_kept_shape() {
    let fx = Fixture::new("prepared", false).await;
    let mut c = fx.gate.connect(Some("sa")).await;
    let sql = "SELECT id, v FROM t WHERE id = ? ORDER BY id";
    let mut d = fx.a.on(0).await;
    let all = "SELECT id, v FROM t_all WHERE id = ? ORDER BY id";
    let params: Vec<mysql_async::Value> = vec![
        5i64.into(),
        6i64.into(),
        "7".into(),
        "8".into(),
        5.5f64.into(),
        "9abc".into(),
        mysql_async::Value::NULL,
        13u64.into(),
        (-5i64).into(),
        b"14".to_vec().into(),
    ];
    for p in params {
        let got: Vec<mysql_async::Row> = c.exec(sql, vec![p.clone()]).await.unwrap();
        let want: Vec<mysql_async::Row> = d.exec(all, vec![p.clone()]).await.unwrap();
        assert_eq!(cells(got), cells(want), "{p:?}");
        // And the text protocol of the same value between them.
        let text = format!(
            "SELECT id, v FROM t WHERE id = {} ORDER BY id",
            p.as_sql(false)
        );
        let got = same_as_fresh(&mut c, &text).await;
        let want = answer(&mut d, &text.replace(" t ", " t_all ")).await;
        assert_eq!(got.map_err(|e| e.0), want.map_err(|e| e.0), "{text}");
    }
    fx.drop().await;
}
