//! Resharding jobs attacked as a hostile user or an unlucky operator would: awkward rows and
//! writes (transactions, key changes, upserts, scatter deletes, odd bytes), crashes at the
//! worst moments, bad job files and commands out of order. Each test asserts on the rows the
//! servers hold and what clients read through the proxy, before and after the move.

mod common;

use common::reshard::{rows_as_text, JobEnv};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};

/// `shop`: `accounts` (hash on a string key, composite primary key, a generated column) with
/// `ledger` bound to it (string primary key, a stored generated column) over g0,g1, and the
/// broadcast table `currencies`. The key is placed by its collation (`key_collation`), so
/// lookups by tenant stay on one shard (without it they would read every shard, and a
/// transaction's update by tenant would span both groups).
fn shop_rules(schema: &TestSchema) -> String {
    format!(
        r#"[database]
name = "shop"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{s}"

[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{s}"

[[tables]]
name = "accounts"
shard_key = "tenant"
algorithm = "hash"
shards = 2
placement = ["g0", "g1"]
key_collation = "utf8mb4_general_ci"

[[tables]]
name = "ledger"
bind_to = "accounts"
shard_key = "tenant"

[[tables]]
name = "currencies"
broadcast = true
"#,
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    )
}

/// hash over 2 shards -> hash over 4 shards on the same groups, new physical names.
const SHOP_JOB: &str = "[job]\ndatabase = \"shop\"\ntable = \"accounts\"\n\n[target]\n\
    algorithm = \"hash\"\nshards = 4\nplacement = [\"g0\", \"g1\", \"g1\", \"g0\"]\n\
    physical = \"{table}_n{shard}\"\n\n[options]\nmax_rows_per_second = 0\n";

async fn create_shop_tables(schema: &TestSchema) {
    for (shard, group) in [(0, 0), (1, 1)] {
        schema
            .exec(
                group,
                &[
                    &format!(
                        "CREATE TABLE accounts_{shard} (tenant VARCHAR(32) CHARACTER SET utf8mb4 \
                         COLLATE utf8mb4_general_ci NOT NULL, id INT NOT NULL, name VARCHAR(64) CHARACTER SET utf8mb4, \
                         body BLOB, amount DECIMAL(20,6), at DATETIME(6), \
                         doubled DECIMAL(22,6) AS (amount * 2) VIRTUAL, \
                         PRIMARY KEY (tenant, id))"
                    ),
                    &format!(
                        "CREATE TABLE ledger_{shard} (code VARCHAR(40) CHARACTER SET utf8mb4 \
                         PRIMARY KEY, tenant VARCHAR(32) CHARACTER SET utf8mb4 \
                         COLLATE utf8mb4_general_ci NOT NULL, \
                         qty INT, note TEXT CHARACTER SET utf8mb4, \
                         tag VARCHAR(80) AS (CONCAT(tenant, '/', code)) STORED)"
                    ),
                ],
            )
            .await;
    }
    for group in 0..2 {
        schema
            .exec(
                group,
                &["CREATE TABLE currencies (code CHAR(3) PRIMARY KEY, rate DECIMAL(12,6))"],
            )
            .await;
    }
}

/// Rows written through the proxy before the job starts: some of every awkward kind.
async fn seed_shop(c: &mut Conn) {
    c.query_drop("INSERT INTO currencies VALUES ('EUR', 1.000000), ('USD', 0.930000)")
        .await
        .unwrap();
    for t in 0..12 {
        let tenant = format!("t{t}");
        for id in 0..25 {
            c.exec_drop(
                "INSERT INTO accounts (tenant, id, name, body, amount, at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    &tenant,
                    id,
                    if id % 5 == 0 { None } else { Some(format!("n{id} ünï 😀")) },
                    if id % 4 == 0 { None } else { Some(vec![0u8, 0x27, 0x5c, id as u8, 0xff]) },
                    format!("{id}.{t:06}"),
                    format!("2024-02-29 23:59:59.{id:06}"),
                ),
            )
            .await
            .unwrap();
        }
        for n in 0..10 {
            c.exec_drop(
                "INSERT INTO ledger (code, tenant, qty, note) VALUES (?, ?, ?, ?)",
                (
                    format!("{tenant}-c{n}"),
                    &tenant,
                    n * 11,
                    format!("it's \\ {n}"),
                ),
            )
            .await
            .unwrap();
        }
    }
}

/// Writes while the job catches up: transactions, a key change, upserts, a scatter delete,
/// a rolled-back transaction, text and binary protocol.
async fn awkward_writes(c: &mut Conn) {
    // An explicit multi-statement transaction across both tables of one tenant.
    let mut tx = c.start_transaction(TxOpts::default()).await.unwrap();
    tx.exec_drop(
        "INSERT INTO accounts (tenant, id, name, body, amount, at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            "t1",
            100,
            "tx",
            vec![0u8, 0, 0x27],
            "-0.000001",
            "1970-01-01 00:00:01.000001",
        ),
    )
    .await
    .unwrap();
    tx.query_drop("INSERT INTO ledger (code, tenant, qty) VALUES ('t1-tx', 't1', 7)")
        .await
        .unwrap();
    tx.query_drop("UPDATE accounts SET amount = amount + 1 WHERE tenant = 't1' AND id < 3")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // autocommit = 0, as some drivers run: writes become visible only at COMMIT.
    c.query_drop("SET autocommit = 0").await.unwrap();
    c.query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t2', 200, NULL)")
        .await
        .unwrap();
    c.query_drop("DELETE FROM accounts WHERE tenant = 't2' AND id = 1")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    // A rolled-back transaction must leave nothing.
    c.query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t2', 201, 'ghost')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    // A primary-key change (not the shard key): the row moves within its shard.
    c.query_drop("UPDATE accounts SET id = id + 1000 WHERE tenant = 't3' AND id IN (2, 3)")
        .await
        .unwrap();
    c.exec_drop(
        "UPDATE ledger SET code = ? WHERE tenant = ? AND code = ?",
        ("t4-renamed", "t4", "t4-c1"),
    )
    .await
    .unwrap();
    // Upserts: ON DUPLICATE KEY UPDATE on an existing and a new row, REPLACE of an existing.
    c.query_drop(
        "INSERT INTO accounts (tenant, id, name, amount) VALUES ('t5', 4, 'dup', 1), \
         ('t5', 300, 'new', 2) ON DUPLICATE KEY UPDATE amount = amount + VALUES(amount), \
         name = VALUES(name)",
    )
    .await
    .unwrap();
    c.exec_drop(
        "REPLACE INTO ledger (code, tenant, qty, note) VALUES (?, ?, ?, ?)",
        ("t6-c2", "t6", -1, Option::<String>::None),
    )
    .await
    .unwrap();
    // Scatter writes: no shard key, every shard.
    c.query_drop("DELETE FROM ledger WHERE qty > 80")
        .await
        .unwrap();
    c.query_drop("UPDATE accounts SET name = CONCAT(name, '!') WHERE id = 7")
        .await
        .unwrap();
    // Odd bytes and NULLs written in the binary protocol.
    c.exec_drop(
        "UPDATE accounts SET body = ?, at = NULL, amount = NULL WHERE tenant = ? AND id = ?",
        (vec![0x5cu8, 0x27, 0, 0x22, 0x0a, 0x1a], "t7", 8),
    )
    .await
    .unwrap();
    // A broadcast update.
    c.query_drop("UPDATE currencies SET rate = 0.931 WHERE code = 'USD'")
        .await
        .unwrap();
    // Many rows in one transaction (more than an applier batch).
    let mut tx = c.start_transaction(TxOpts::default()).await.unwrap();
    for id in 0..500 {
        tx.exec_drop(
            "INSERT INTO ledger (code, tenant, qty) VALUES (?, ?, ?)",
            (format!("bulk-{id}"), "t1", id % 50),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Answers clients read through the proxy: every row, and scatter aggregates and limits.
async fn shop_answers(c: &mut Conn) -> Vec<Vec<Vec<String>>> {
    let queries = [
        "SELECT tenant, id, name, HEX(body), amount, at, doubled FROM accounts ORDER BY tenant, id",
        "SELECT code, tenant, qty, note, tag FROM ledger ORDER BY code",
        "SELECT COUNT(*), SUM(amount) FROM accounts",
        "SELECT tenant, COUNT(*), SUM(qty) FROM ledger GROUP BY tenant ORDER BY tenant",
        "SELECT tenant, id FROM accounts ORDER BY amount DESC, tenant, id LIMIT 7",
        "SELECT code, rate FROM currencies ORDER BY code",
    ];
    let mut out = Vec::new();
    for q in queries {
        out.push(rows_as_text(c, q).await);
    }
    out
}

/// Each of `table`'s physical shards in `layout` (physical template, placement by group
/// index), with the rows' primary keys, for checking no row sits twice.
async fn physical_count(schema: &TestSchema, template: &str, placement: &[usize]) -> usize {
    let mut n = 0;
    for (shard, &group) in placement.iter().enumerate() {
        let mut c = schema.on(group).await;
        let table = template.replace("{shard}", &shard.to_string());
        let rows: Option<i64> = c
            .query_first(format!("SELECT COUNT(*) FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        n += rows.unwrap() as usize;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_rows_and_writes_move_exactly_and_read_the_same_after_cutover() {
    let schema = TestSchema::create("atk_awkward").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    seed_shop(&mut c).await;

    let postpone = env.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = env.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    env.wait_for_phase(&mut job, "catching_up", 60).await;
    awkward_writes(&mut c).await;
    let before = shop_answers(&mut c).await;
    assert_eq!(
        before[0].len(),
        12 * 25 + 2 - 1 + 1,
        "accounts through the proxy"
    );

    std::fs::remove_file(&postpone).unwrap();
    let status = tokio::task::spawn_blocking(move || job.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "run failed:\n{}", env.log());
    assert!(
        env.state().contains("phase = \"cut_over\""),
        "{}",
        env.state()
    );

    let after = shop_answers(&mut c).await;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(b, a, "answer {i} differs after the cutover");
    }
    // Exactly once on the servers, each row where the new rules put it.
    let new_placement = [0, 1, 1, 0];
    assert_eq!(
        physical_count(&schema, "accounts_n{shard}", &new_placement).await,
        before[0].len()
    );
    assert_eq!(
        physical_count(&schema, "ledger_n{shard}", &new_placement).await,
        before[1].len()
    );
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["audit", "--config"])
        .arg(env.config())
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "audit of the new layout:\n{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
    // Writes after cutover land on the new layout and read back.
    c.query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t9', 900, 'late')")
        .await
        .unwrap();
    let late: Option<String> = c
        .query_first("SELECT name FROM accounts WHERE tenant = 't9' AND id = 900")
        .await
        .unwrap();
    assert_eq!(late.as_deref(), Some("late"));
    drop(c);
    schema.drop().await;
}

/// Seeds `shop`, runs the job until it catches up, kills it (SIGKILL), then leaves the files as
/// a cutover leaves them just after it wrote the new rule file: the old file kept beside the
/// job, the new one in place. The proxy still runs the old rules.
async fn crash_after_the_rule_file_was_written(env: &JobEnv, c: &mut Conn) {
    seed_shop(c).await;
    let postpone = env.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = env.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    env.wait_for_phase(&mut job, "catching_up", 60).await;
    drop(job);
    let job = shardgate::reshard::job::load(&env.job(), &env.dir.path().join("rules")).unwrap();
    std::fs::write(
        shardgate::reshard::job::backup_path_of(&env.job()),
        &job.rule_text_before,
    )
    .unwrap();
    std::fs::write(env.rules_file(), &job.rule_text_after).unwrap();
}

/// Rows of `accounts` through the proxy, and on the new layout's physical tables.
async fn accounts_seen(env: &JobEnv, schema: &TestSchema) -> (Vec<Vec<String>>, usize) {
    let mut c = env.connect().await;
    let rows = rows_as_text(
        &mut c,
        "SELECT tenant, id, name, HEX(body) FROM accounts ORDER BY tenant, id",
    )
    .await;
    let physical = physical_count(schema, "accounts_n{shard}", &[0, 1, 1, 0]).await;
    (rows, physical)
}

/// Killed between writing the new rule file and switching the proxy: the proxy's hold lapses
/// and clients go on writing the old tables under the old rules. The next `run` must finish the
/// cutover with those writes, not refuse the job as already moved (nor let a later proxy
/// restart route to new tables that lack them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_after_writing_the_rule_file_is_finished_by_the_next_run() {
    let schema = TestSchema::create("atk_crash_before_reload").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    crash_after_the_rule_file_was_written(&env, &mut c).await;
    // Writes on the old rules after the crash.
    c.query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t1', 500, 'after crash')")
        .await
        .unwrap();
    c.query_drop("DELETE FROM accounts WHERE tenant = 't2' AND id = 3")
        .await
        .unwrap();
    let before = rows_as_text(
        &mut c,
        "SELECT tenant, id, name, HEX(body) FROM accounts ORDER BY tenant, id",
    )
    .await;

    let (ok, status) = env.reshard_output("status", &[]);
    assert!(ok, "{status}");
    let (ok, out) = env.reshard_output("cancel", &[]);
    assert!(
        !ok && out.contains("run"),
        "cancel must not drop tables a half-done cutover may route to:\n{out}"
    );
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(ok, "the second run did not finish the cutover:\n{out}");
    let (rows, physical) = accounts_seen(&env, &schema).await;
    assert_eq!(
        rows, before,
        "rows through the proxy after the finished cutover"
    );
    assert_eq!(physical, before.len(), "rows on the new layout");
    drop(c);
    schema.drop().await;
}

/// Killed after the proxy switched but before the job recorded the cutover: clients already
/// write the new tables. The next `run` must record the cutover without replaying old rows
/// over newer ones (and without a verify that can only fail, as the new tables moved on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_after_the_proxy_switched_is_recorded_by_the_next_run() {
    let schema = TestSchema::create("atk_crash_after_reload").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    crash_after_the_rule_file_was_written(&env, &mut c).await;
    let answer = admin::http(
        env.admin,
        "POST",
        "/reload?allow_layout=shop.accounts,shop.ledger",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Writes on the new layout: a changed row and a new one.
    c.query_drop("UPDATE accounts SET name = 'newer' WHERE tenant = 't1' AND id = 1")
        .await
        .unwrap();
    c.query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t1', 501, 'on new')")
        .await
        .unwrap();
    let before = rows_as_text(
        &mut c,
        "SELECT tenant, id, name, HEX(body) FROM accounts ORDER BY tenant, id",
    )
    .await;
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(ok, "the second run did not record the cutover:\n{out}");
    assert!(
        env.state().contains("phase = \"cut_over\""),
        "{}",
        env.state()
    );
    let (rows, physical) = accounts_seen(&env, &schema).await;
    assert_eq!(
        rows, before,
        "rows through the proxy after the recorded cutover"
    );
    assert_eq!(physical, before.len(), "rows on the new layout");
    drop(c);
    schema.drop().await;
}

/// Killed after a rollback switched the proxy back but before it recorded that: clients write
/// the old tables again. `rollback` again must go on from where its reverse replication got,
/// not replay the new tables' changes since the cutover over the old tables' newer rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_killed_after_switching_back_does_not_replay_over_newer_rows() {
    let schema = TestSchema::create("atk_crash_rollback").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    seed_shop(&mut c).await;
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(ok, "{out}");
    // On the new layout.
    c.query_drop("UPDATE accounts SET name = 'v1' WHERE tenant = 't1' AND id = 1")
        .await
        .unwrap();
    // What an interrupted rollback leaves: the old rows caught up (here by hand), its reverse
    // position saved, the old rule file back and the proxy switched to it.
    // (t1 lives in one of the two old shards; updating both is harmless.)
    for g in 0..2 {
        schema
            .exec(
                g,
                &[&format!(
                    "UPDATE accounts_{g} SET name = 'v1' WHERE tenant = 't1' AND id = 1"
                )],
            )
            .await;
    }
    let mut reverse = String::from("phase = \"catching_up\"\nstarted_at = 0\n");
    for (g, group) in [("g0", 0), ("g1", 1)] {
        let mut m = direct(master_port(group), None).await;
        let pos: Option<String> = m.query_first("SELECT @@gtid_binlog_pos").await.unwrap();
        let pos = pos.unwrap();
        reverse.push_str(&format!(
            "\n[sources.{g}]\nsnapshot_gtid = \"{pos}\"\napplied_gtid = \"{pos}\"\n"
        ));
    }
    std::fs::write(env.job().with_extension("state.rollback.toml"), reverse).unwrap();
    let backup = shardgate::reshard::job::backup_path_of(&env.job());
    std::fs::copy(&backup, env.rules_file()).unwrap();
    let answer = admin::http(
        env.admin,
        "POST",
        "/reload?allow_layout=shop.accounts,shop.ledger",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A newer write on the old layout.
    c.query_drop("UPDATE accounts SET name = 'v2' WHERE tenant = 't1' AND id = 1")
        .await
        .unwrap();

    let (ok, out) = env.reshard_output("rollback", &[]);
    assert!(ok, "the second rollback failed:\n{out}");
    let name: Option<String> = c
        .query_first("SELECT name FROM accounts WHERE tenant = 't1' AND id = 1")
        .await
        .unwrap();
    assert_eq!(
        name.as_deref(),
        Some("v2"),
        "a newer write was replayed over"
    );
    drop(c);
    schema.drop().await;
}

/// Two `run`s of one job would both copy, stream and cut over, racing on the state file; a
/// `cancel` beside a running `run` would drop the tables it fills. Only one at a time, and
/// a SIGKILLed holder never blocks the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_worked_on_by_one_process_at_a_time() {
    let schema = TestSchema::create("atk_two_runs").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    seed_shop(&mut c).await;
    let postpone = env.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = env.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    env.wait_for_phase(&mut job, "catching_up", 60).await;
    for action in ["run", "cancel", "rollback"] {
        let (ok, out) = env.reshard_output(action, &[]);
        assert!(
            !ok && out.contains("another `shardgate reshard`"),
            "{action} beside a running run:\n{out}"
        );
    }
    let (ok, out) = env.reshard_output("status", &[]);
    assert!(ok && out.contains("catching up"), "{out}");
    drop(job);
    let (ok, out) = env.reshard_output("cancel", &[]);
    assert!(ok, "cancel after the run was killed:\n{out}");
    let mut g0 = schema.on(0).await;
    let left: Vec<String> = g0
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '%\\_n%'")
        .await
        .unwrap();
    assert!(left.is_empty(), "cancel left {left:?}");
    drop((c, g0));
    schema.drop().await;
}

/// Tables with the target's names that the job did not make (an operator's, another job's)
/// are never written nor dropped by it, even when `plan` was skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_the_job_did_not_make_are_neither_filled_nor_dropped() {
    let schema = TestSchema::create("atk_stray_target").await;
    create_shop_tables(&schema).await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE accounts_n0 (tenant VARCHAR(32) NOT NULL, id INT NOT NULL, \
                 PRIMARY KEY (tenant, id))",
                "INSERT INTO accounts_n0 VALUES ('someone else', 1)",
            ],
        )
        .await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    seed_shop(&mut c).await;
    let stray = || async {
        let mut g0 = schema.on(0).await;
        let rows: Vec<(String, i64)> = g0
            .query("SELECT tenant, id FROM accounts_n0")
            .await
            .expect("the stray table is still there");
        rows
    };

    let (ok, out) = env.reshard_output("cancel", &[]);
    assert!(!ok && out.contains("never run"), "{out}");
    assert_eq!(stray().await, vec![("someone else".to_string(), 1)]);
    let (ok, out) = env.reshard_output("plan", &[]);
    assert!(!ok && out.contains("accounts_n0"), "{out}");
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(
        !ok && out.contains("accounts_n0") && out.contains("already"),
        "run over a table it did not make:\n{out}"
    );
    assert_eq!(stray().await, vec![("someone else".to_string(), 1)]);
    drop(c);
    schema.drop().await;
}

/// Job files and commands an operator gets wrong are refused before any server is touched,
/// each naming what is wrong (the groups' addresses here lead nowhere).
#[test]
fn bad_job_files_and_commands_out_of_order_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/shop.toml"),
        "[database]\nname = \"shop\"\ndefault_group = \"g0\"\n\n[groups.g0]\n\
         master = \"127.0.0.1:1\"\n\n[groups.g1]\nmaster = \"127.0.0.1:2\"\n\n[[tables]]\n\
         name = \"accounts\"\nshard_key = \"tenant\"\nalgorithm = \"hash\"\nshards = 2\n\
         placement = [\"g0\", \"g1\"]\n\n[[tables]]\nname = \"ledger\"\nbind_to = \"accounts\"\n\
         shard_key = \"tenant\"\n\n[[tables]]\nname = \"accounts_v2_0\"\nshard_key = \"x\"\n\
         shards = 1\nplacement = [\"g0\"]\n",
    )
    .unwrap();
    // No admin_listen: a run has no proxy to switch.
    std::fs::write(
        dir.path().join("shardgate.toml"),
        "listen = \"127.0.0.1:1\"\nrules = \"rules\"\n[[users]]\nname = \"a\"\npassword = \"b\"\n\
         [backend]\nuser = \"a\"\npassword = \"b\"\n",
    )
    .unwrap();
    let good_target = "[target]\nshards = 4\nplacement = [\"g0\", \"g1\", \"g0\", \"g1\"]\n\
                       physical = \"{table}_n{shard}\"\n";
    let job = |body: &str| format!("[job]\ndatabase = \"shop\"\ntable = \"accounts\"\n\n{body}");
    let cases: Vec<(&str, String, &str)> = vec![
        ("plan", job("[target]\nshards = \"4\"\n"), "invalid type"),
        ("plan", job("[target]\nshards = 0\nplacement = []\n"), "shards"),
        (
            "plan",
            job("[target]\nshards = 4\nplacement = [\"g0\", \"g1\"]\nphysical = \"{table}_n{shard}\"\n"),
            "placement",
        ),
        (
            "plan",
            job("[target]\nshards = 2\nplacement = [\"g0\", \"gX\"]\nphysical = \"{table}_n{shard}\"\n"),
            "gX",
        ),
        (
            "plan",
            job("[target]\nalgorithm = \"modulo\"\nshards = 4\n"),
            "unknown variant `modulo`",
        ),
        (
            "plan",
            format!("[job]\ndatabase = \"nope\"\ntable = \"accounts\"\n\n{good_target}"),
            "no rule file describes database `nope`",
        ),
        (
            "plan",
            format!("[job]\ndatabase = \"shop\"\ntable = \"missing\"\n\n{good_target}"),
            "no sharded table `missing`",
        ),
        (
            "plan",
            format!("[job]\ndatabase = \"shop\"\ntable = \"ledger\"\n\n{good_target}"),
            "bound to `accounts`",
        ),
        (
            "plan",
            job("[target]\nshards = 2\nplacement = [\"g0\", \"g1\"]\n"),
            "nothing to move",
        ),
        (
            "plan",
            job("[target]\nshards = 1\nplacement = [\"g0\"]\nphysical = \"{table}_v2_{shard}\"\n"),
            "has the name of shard 0 of `accounts`",
        ),
        (
            "plan",
            job(&format!("{good_target}\n[options]\nmax_rows_per_secnd = 5\n")),
            "unknown field `max_rows_per_secnd`",
        ),
        ("plan", job(""), "missing field `target`"),
        ("run", job(good_target), "admin_listen"),
        ("rollback", job(good_target), "never run"),
        ("cleanup", job(good_target), "never run"),
        ("cancel", job(good_target), "never run"),
    ];
    for (action, body, want) in cases {
        let file = dir.path().join("job.toml");
        std::fs::write(&file, &body).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["reshard", action])
            .arg(&file)
            .arg("--config")
            .arg(dir.path().join("shardgate.toml"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{action} {body}: {text}");
        assert!(
            text.contains(want),
            "{action} {body}: wanted `{want}` in {text}"
        );
    }
    // Out of order on a job that is copying (a state file says so).
    let file = dir.path().join("job.toml");
    std::fs::write(&file, job(good_target)).unwrap();
    std::fs::write(
        dir.path().join("job.state.toml"),
        "phase = \"copying\"\nstarted_at = 0\n",
    )
    .unwrap();
    for (action, extra, want) in [
        (
            "rollback",
            None,
            "rollback needs a cut-over job; it is copying",
        ),
        (
            "cleanup",
            Some("--yes"),
            "nothing to clean up while copying",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["reshard", action])
            .arg(&file)
            .arg("--config")
            .arg(dir.path().join("shardgate.toml"))
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && text.contains(want),
            "{action}: {text}"
        );
    }
}

/// An ALTER TABLE on a moving table while the job catches up stops it loudly (the targets
/// would no longer match), naming table, server and position; status keeps the error, a
/// rerun stops at the same place, routing never changed, and cancel cleans up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_on_a_moving_table_stops_the_job_naming_table_and_position() {
    let schema = TestSchema::create("atk_ddl").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let rules_before = std::fs::read_to_string(env.rules_file()).unwrap();
    let mut c = env.connect().await;
    seed_shop(&mut c).await;
    let postpone = env.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = env.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    env.wait_for_phase(&mut job, "catching_up", 60).await;
    c.query_drop("INSERT INTO ledger (code, tenant, qty) VALUES ('before-ddl', 't1', 1)")
        .await
        .unwrap();
    c.query_drop("ALTER TABLE ledger ADD COLUMN extra INT")
        .await
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        loop {
            if let Some(s) = job.0.try_wait().unwrap() {
                return Some(s);
            }
            if started.elapsed() > std::time::Duration::from_secs(30) {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let log = env.log();
    let status = status.unwrap_or_else(|| panic!("the job went on after the DDL:\n{log}"));
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("schema change on moving table `ledger_")
            && log.contains("ADD COLUMN extra")
            && log.contains("127.0.0.1:"),
        "the job's error must name table, server and position:\n{log}"
    );
    let (_, out) = env.reshard_output("status", &[]);
    assert!(
        out.contains("last error") && out.contains("schema change on moving table `ledger_"),
        "{out}"
    );
    assert!(
        !log.contains("verify round"),
        "verify ran after the applier had stopped:\n{log}"
    );
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(!ok && out.contains("schema change"), "a rerun:\n{out}");
    assert_eq!(
        std::fs::read_to_string(env.rules_file()).unwrap(),
        rules_before,
        "routing changed"
    );
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM ledger WHERE code = 'before-ddl'")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    let (ok, out) = env.reshard_output("cancel", &[]);
    assert!(ok, "{out}");
    drop(c);
    schema.drop().await;
}

/// A transaction that wrote a moving table and stays open keeps the cutover from draining:
/// the job retries a bounded number of times, other clients' writes go on without errors,
/// and it stops saying why. Once the transaction commits (on the old rules), a rerun cuts
/// over with its rows. A transaction that only read before the cutover and writes after it
/// is refused with 1213 and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_open_across_the_cutover_makes_the_job_retry_report_and_finish_later() {
    let schema = TestSchema::create("atk_open_txn").await;
    create_shop_tables(&schema).await;
    let job = SHOP_JOB.replace(
        "max_rows_per_second = 0\n",
        "max_rows_per_second = 0\ncutover_max_pause_ms = 200\n",
    );
    let env = JobEnv::start("shop", &shop_rules(&schema), &job).await;
    let mut c = env.connect().await;
    seed_shop(&mut c).await;
    let mut open = env.connect().await;
    open.query_drop("BEGIN").await.unwrap();
    open.query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t1', 700, 'open')")
        .await
        .unwrap();

    // Autocommit writes meanwhile: each must succeed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = env.connect().await;
        tokio::spawn(async move {
            let mut written = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                w.exec_drop(
                    "INSERT INTO accounts (tenant, id, name) VALUES (?, ?, 'w')",
                    (format!("t{}", n % 12), 10_000 + n),
                )
                .await
                .unwrap_or_else(|e| panic!("write {n} during the cutover attempts: {e}"));
                written.push((format!("t{}", n % 12), 10_000 + n));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            written
        })
    };
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(!ok, "the cutover cannot drain an open transaction:\n{out}");
    assert!(
        out.contains("cutover attempt 5") && out.contains("did not finish"),
        "the job must say it retried and why it stopped:\n{out}"
    );
    let (_, status) = env.reshard_output("status", &[]);
    assert!(
        status.contains("cutover retries: 5") && status.contains("last error"),
        "{status}"
    );
    open.query_drop("COMMIT").await.unwrap();

    let mut late = env.connect().await;
    late.query_drop("BEGIN").await.unwrap();
    let _: Option<i64> = late
        .query_first("SELECT id FROM accounts WHERE tenant = 't2' LIMIT 1")
        .await
        .unwrap();
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(ok, "the rerun did not cut over:\n{out}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    let err = late
        .query_drop("INSERT INTO accounts (tenant, id, name) VALUES ('t2', 701, 'late')")
        .await;
    expect_code(err, 1213);
    late.query_drop("ROLLBACK").await.unwrap();

    let open_row: Option<String> = c
        .query_first("SELECT name FROM accounts WHERE tenant = 't1' AND id = 700")
        .await
        .unwrap();
    assert_eq!(open_row.as_deref(), Some("open"));
    let late_row: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM accounts WHERE tenant = 't2' AND id = 701")
        .await
        .unwrap();
    assert_eq!(late_row, Some(0));
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM accounts WHERE name = 'w'")
        .await
        .unwrap();
    assert_eq!(n, Some(written.len() as i64), "writes during the attempts");
    assert_eq!(
        physical_count(&schema, "accounts_n{shard}", &[0, 1, 1, 0]).await,
        12 * 25 + 1 + written.len()
    );
    drop((c, open, late));
    schema.drop().await;
}

/// A string primary key in a case-insensitive collation, more rows in a source shard than
/// one copy chunk: chunks are walked in the column's collation order, and the next chunk's
/// bound (a `_binary` literal) must compare in that collation too, or `B-...` would sort
/// below `a-...` and the rows after a chunk ending in `a-` would be skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_keys_in_a_case_insensitive_collation_copy_every_row_across_chunks() {
    let schema = TestSchema::create("atk_ci_chunks").await;
    create_shop_tables(&schema).await;
    let env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    c.query_drop("INSERT INTO accounts (tenant, id) VALUES ('t1', 1)")
        .await
        .unwrap();
    for (prefix, n) in [("a-", 2100), ("B-", 100), ("Ö-", 10)] {
        let rows: Vec<String> = (0..n)
            .map(|i| format!("('{prefix}{i:05}', 't1', {i})"))
            .collect();
        c.query_drop(format!(
            "INSERT INTO ledger (code, tenant, qty) VALUES {}",
            rows.join(",")
        ))
        .await
        .unwrap();
    }
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(ok, "{out}");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM ledger").await.unwrap();
    assert_eq!(n, Some(2210));
    assert_eq!(
        physical_count(&schema, "ledger_n{shard}", &[0, 1, 1, 0]).await,
        2210
    );
    drop(c);
    schema.drop().await;
}

/// Clients writing two tables per transaction while the proxy is restarted mid-catch-up and
/// the job cuts over: every committed transaction is there whole, exactly once, and every
/// refused one (1213 is the only error allowed) left nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_across_a_proxy_restart_and_the_cutover_are_all_or_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let schema = TestSchema::create("atk_txn_cutover").await;
    create_shop_tables(&schema).await;
    let mut env = JobEnv::start("shop", &shop_rules(&schema), SHOP_JOB).await;
    let mut c = env.connect().await;
    seed_shop(&mut c).await;
    drop(c);
    let postpone = env.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = env.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    env.wait_for_phase(&mut job, "catching_up", 60).await;
    env.kill_proxy();
    env.start_proxy().await;

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = stop.clone();
            let opts = direct_opts(env.port, Some("shop"));
            tokio::spawn(async move {
                let mut c = Conn::new(opts).await.unwrap();
                let (mut committed, mut refused) = (Vec::new(), Vec::new());
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = 50_000 + w * 10_000 + n;
                    let tenant = format!("t{}", n % 12);
                    let r: Result<(), mysql_async::Error> = async {
                        c.query_drop("BEGIN").await?;
                        c.exec_drop(
                            "INSERT INTO accounts (tenant, id, name) VALUES (?, ?, 'tx')",
                            (&tenant, id),
                        )
                        .await?;
                        c.exec_drop(
                            "INSERT INTO ledger (code, tenant, qty) VALUES (?, ?, ?)",
                            (format!("tx-{id}"), &tenant, id),
                        )
                        .await?;
                        c.query_drop("COMMIT").await
                    }
                    .await;
                    match r {
                        Ok(()) => committed.push(id),
                        Err(mysql_async::Error::Server(e)) if e.code == 1213 => {
                            c.query_drop("ROLLBACK").await.unwrap();
                            refused.push(id);
                        }
                        Err(e) => panic!("transaction {id}: {e}"),
                    }
                }
                (committed, refused)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    std::fs::remove_file(&postpone).unwrap();
    let status = tokio::task::spawn_blocking(move || job.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "run failed:\n{}", env.log());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut committed, mut refused) = (Vec::new(), Vec::new());
    for w in writers {
        let (c, r) = w.await.unwrap();
        committed.extend(c);
        refused.extend(r);
    }
    assert!(!committed.is_empty());
    let mut c = env.connect().await;
    let got: Vec<(i64, i64)> = c
        .query(
            "SELECT a.id, l.qty FROM accounts a JOIN ledger l ON l.tenant = a.tenant \
             AND l.code = CONCAT('tx-', a.id) WHERE a.name = 'tx' ORDER BY a.id",
        )
        .await
        .unwrap();
    let ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
    committed.sort();
    assert_eq!(ids, committed, "committed transactions, whole and once");
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM ledger WHERE code LIKE 'tx-%'")
        .await
        .unwrap();
    assert_eq!(n, Some(committed.len() as i64), "no half of a refused one");
    assert_eq!(
        physical_count(&schema, "accounts_n{shard}", &[0, 1, 1, 0]).await,
        12 * 25 + committed.len()
    );
    eprintln!(
        "{} transactions committed, {} refused with 1213",
        committed.len(),
        refused.len()
    );
    drop(c);
    schema.drop().await;
}

/// The copy's `max_replica_lag_s` pause works for a job user without SLAVE MONITOR (the
/// cluster's `reshard` user): the replica's lag is measured by GTID positions. The "replica"
/// is g1's master listed as a replica of g0: it never applies g0's transactions, so it falls
/// behind from the first position the job sees, as a stopped replica would, and the shared
/// cluster's real replicas keep replicating for the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_pauses_for_a_replica_behind_by_gtid_positions() {
    let schema = TestSchema::create("atk_lag_gate").await;
    for shard in 0..2 {
        schema
            .exec(
                0,
                &[
                    &format!("CREATE TABLE items_{shard} (id INT PRIMARY KEY, k INT NOT NULL)"),
                    &format!(
                        "INSERT INTO items_{shard} SELECT seq * 2 + {shard}, seq * 2 + {shard} \
                         FROM seq_1_to_5000"
                    ),
                ],
            )
            .await;
    }
    let rules = format!(
        "[database]\nname = \"lagdb\"\ndefault_group = \"g0\"\n\n[groups.g0]\n\
         master = \"127.0.0.1:{m0}\"\nreplicas = [\"127.0.0.1:{m1}\"]\nschema = \"{s}\"\n\n\
         [[tables]]\nname = \"items\"\nshard_key = \"k\"\nalgorithm = \"mod\"\nshards = 2\n\
         placement = [\"g0\", \"g0\"]\n",
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    );
    let job = "[job]\ndatabase = \"lagdb\"\ntable = \"items\"\n\n[target]\nalgorithm = \"mod\"\n\
               shards = 4\nplacement = [\"g0\", \"g0\", \"g0\", \"g0\"]\n\
               physical = \"{table}_n{shard}\"\n\n[options]\nmax_rows_per_second = 1000\n\
               max_replica_lag_s = 1\n";
    let env = JobEnv::start("lagdb", &rules, job).await;
    let mut run = env.reshard_logged("run", &[]);
    let paused = format!(
        "copy paused: replica 127.0.0.1:{} (group g0) is ",
        master_port(1)
    );
    env.wait_for("the copy to pause for the lagging replica", 30, || {
        env.log().contains(&paused)
    })
    .await;
    let log = env.log();
    assert!(
        log.contains("replica lag measured by GTID positions"),
        "{log}"
    );
    assert!(!log.contains("cannot read the lag"), "{log}");
    assert!(!log.contains("copy done"), "{log}");
    // Paused, not slowed: no row is copied while the replica stays behind.
    let copied = |env: &JobEnv| {
        env.state()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("rows = "))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = copied(&env);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(copied(&env), before, "{}", env.state());
    assert!(before < 10_000, "{}", env.state());
    assert!(run.0.try_wait().unwrap().is_none(), "{}", env.log());
    drop(run);
    let (ok, out) = env.reshard_output("cancel", &[]);
    assert!(ok, "cancel after the paused run was killed:\n{out}");
    schema.drop().await;
}
