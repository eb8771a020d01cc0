//! Live reload of the rule files (issue 11, part 1): `SHARDGATE RELOAD` and SIGHUP re-read
//! them, refuse a file with errors or a layout change (the running rules stay), and swap
//! valid rules for new statements while transactions finish on theirs. Every check looks at
//! the physical tables, since a reload that routes a row to the wrong shard would look fine
//! through the proxy.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use shardgate::config::server::UserConfig;

use common::*;

fn ops() -> UserConfig {
    admin_user("ops", "ops-pass")
}

async fn connect_ops(proxy: &Proxy) -> Conn {
    let opts = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    Conn::new(opts).await.unwrap()
}

async fn ids(schema: &TestSchema, group: usize, table: &str) -> Vec<i64> {
    let mut c = schema.on(group).await;
    let v = c
        .query(format!("SELECT id FROM {table} ORDER BY id"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    v
}

/// The demo layout plus a group named `a0` that sorts before g0 and g1: every group's
/// number changes, while the tables stay where they are.
fn with_group_a0(rules: &str) -> String {
    rules.replace(
        "[groups.g0]",
        &format!(
            "[groups.a0]\nmaster = \"127.0.0.1:{}\"\nschema = \"sgt_reload_other\"\n\n[groups.g0]",
            master_port(1)
        ),
    ) + "\n[[tables]]\nname = \"audit\"\nshard_key = \"id\"\nshards = 1\nplacement = [\"a0\"]\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_renumbers_groups_keeps_every_row_on_its_shard() {
    let schema = TestSchema::create("reload_renumber").await;
    schema.create_clinical_tables().await;
    let rules = schema.clinical_rules("clinical");
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules.clone())], |c| {
        c.users.push(ops());
    })
    .await;
    let mut other = schema.on(1).await;
    other
        .query_drop("CREATE DATABASE IF NOT EXISTS sgt_reload_other")
        .await
        .unwrap();
    other
        .query_drop("CREATE TABLE IF NOT EXISTS sgt_reload_other.audit_0 (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let mut c = proxy.connect(Some("clinical")).await;
    // A session with state (a temporary table pins its connections) and an open
    // transaction, both started on the old rules.
    c.query_drop("SET @marker = 1").await.unwrap();
    let mut t = proxy.connect(Some("clinical")).await;
    t.query_drop("BEGIN").await.unwrap();
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 2, 'before')")
        .await
        .unwrap();

    std::fs::write(
        proxy.rules_dir().join("clinical.toml"),
        with_group_a0(&rules),
    )
    .unwrap();
    let mut admin = connect_ops(&proxy).await;
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    let info = admin.info().to_string();
    assert!(info.contains("rules generation 1"), "{info}");

    // The transaction finishes on its rules: its second write lands beside its first.
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'during')")
        .await
        .unwrap();
    t.query_drop("COMMIT").await.unwrap();
    // New statements, on the pinned session and a fresh one, route by the new numbering.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (3, 2, 'after')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (4, 1, 'after')")
        .await
        .unwrap();
    let mut fresh = proxy.connect(Some("clinical")).await;
    fresh
        .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 3, 'fresh')")
        .await
        .unwrap();
    fresh
        .query_drop("INSERT INTO audit (id) VALUES (7)")
        .await
        .unwrap();
    let n: Option<i64> = fresh
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(n, Some(5));

    assert_eq!(ids(&schema, 1, "patients_2").await, [1, 2, 3]);
    assert_eq!(ids(&schema, 0, "patients_1").await, [4]);
    assert_eq!(ids(&schema, 1, "patients_3").await, [5]);
    let audit: Vec<i64> = other
        .query("SELECT id FROM sgt_reload_other.audit_0")
        .await
        .unwrap();
    assert_eq!(audit, [7]);
    other
        .query_drop("DROP DATABASE sgt_reload_other")
        .await
        .unwrap();
    schema.drop().await;
}

/// A session sending statement after statement keeps its backend connection between them
/// (`[backend] idle_hold_ms`). A reload that moves a group to another server must move the
/// session's next statement too: the held connection belongs to the old pool, and taking
/// it back by the group's name would keep reading the old server for as long as the
/// session's statements keep coming within the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_moves_a_group_moves_sessions_holding_its_connections() {
    let schema = TestSchema::create("reload_move_held").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 (id, hospital_id, name) VALUES (1, 2, 'old server')"],
        )
        .await;
    // The same shard table in a schema of its own on g0's server, where the reload moves g1.
    let moved = format!("{}_moved", schema.name);
    let mut g0 = Conn::new(direct_opts(master_port(0), None)).await.unwrap();
    g0.query_drop(format!("DROP DATABASE IF EXISTS `{moved}`"))
        .await
        .unwrap();
    g0.query_drop(format!("CREATE DATABASE `{moved}`"))
        .await
        .unwrap();
    let (_, create): (String, String) = schema
        .on(1)
        .await
        .query_first("SHOW CREATE TABLE patients_2")
        .await
        .unwrap()
        .unwrap();
    g0.query_drop(format!("USE `{moved}`")).await.unwrap();
    g0.query_drop(create).await.unwrap();
    g0.query_drop(format!(
        "INSERT INTO `{moved}`.patients_2 (id, hospital_id, name) VALUES (1, 2, 'new server')"
    ))
    .await
    .unwrap();
    let rules = schema.clinical_rules("clinical");
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules.clone())], |c| {
        c.users.push(ops());
        // Long enough that every statement of this test finds the previous one's connection.
        c.backend.idle_hold = Duration::from_secs(30);
    })
    .await;
    let read = "SELECT name FROM patients WHERE hospital_id = 2 AND id = 1";
    let mut c = proxy.connect(Some("clinical")).await;
    let name: Option<String> = c.query_first(read).await.unwrap();
    assert_eq!(name.as_deref(), Some("old server"));
    let g1 = format!(
        "[groups.g1]\nmaster = \"127.0.0.1:{}\"\nschema = \"{}\"",
        master_port(1),
        schema.name
    );
    let moved_g1 = format!(
        "[groups.g1]\nmaster = \"127.0.0.1:{}\"\nschema = \"{moved}\"",
        master_port(0)
    );
    assert!(rules.contains(&g1), "{rules}");
    std::fs::write(
        proxy.rules_dir().join("clinical.toml"),
        rules.replace(&g1, &moved_g1),
    )
    .unwrap();
    let mut admin = connect_ops(&proxy).await;
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    for prepared in [false, true] {
        let name: Option<String> = if prepared {
            c.exec_first(read, ()).await.unwrap()
        } else {
            c.query_first(read).await.unwrap()
        };
        assert_eq!(
            name.as_deref(),
            Some("new server"),
            "prepared: {prepared}: the session read the server its group left"
        );
    }
    drop(c);
    drop(proxy);
    g0.query_drop(format!("DROP DATABASE `{moved}`"))
        .await
        .unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_and_layout_changes_are_refused_and_the_old_rules_serve() {
    let schema = TestSchema::create("reload_refused").await;
    schema.create_clinical_tables().await;
    let rules = schema.clinical_rules("clinical");
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules.clone())], |c| {
        c.users.push(ops());
    })
    .await;
    let mut admin = connect_ops(&proxy).await;
    let file = proxy.rules_dir().join("clinical.toml");

    // Not an admin: 1227.
    let mut app = proxy.connect(Some("clinical")).await;
    let msg = expect_code(app.query_drop("SHARDGATE RELOAD").await, 1227);
    assert!(msg.contains("admin"), "{msg}");

    // A syntax error: refused with its file and line, nothing changes.
    std::fs::write(&file, rules.replace("shards = 4", "shards = = 4")).unwrap();
    let msg = expect_code(admin.query_drop("SHARDGATE RELOAD").await, 1105);
    assert!(
        msg.contains("clinical.toml:") && msg.contains("the running rules stay"),
        "{msg}"
    );

    // A hand-made layout change: refused, naming the table and the way to do it.
    std::fs::write(
        &file,
        rules.replace(
            "\"g0\", \"g0\", \"g1\", \"g1\"",
            "\"g0\", \"g1\", \"g0\", \"g1\"",
        ),
    )
    .unwrap();
    let msg = expect_code(admin.query_drop("SHARDGATE RELOAD").await, 1105);
    assert!(
        msg.contains("table `clinical_data`") && msg.contains("shardgate reshard"),
        "{msg}"
    );

    // The old placement still routes: hospital 1 is shard 1 on g0.
    app.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'x')")
        .await
        .unwrap();
    assert_eq!(ids(&schema, 0, "patients_1").await, [1]);
    schema.drop().await;
}

/// The real binary: `kill -HUP` reloads (before, the signal ended the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_binary() {
    let schema = TestSchema::create("reload_sighup").await;
    schema.create_clinical_tables().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let rules = schema.clinical_rules("clinical");
    std::fs::write(dir.path().join("rules/clinical.toml"), &rules).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        dir.path().join("shardgate.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nrules = \"rules\"\nworkers = 2\n\n[[users]]\n\
             name = \"{USER}\"\npassword = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\n\
             password = \"{PASSWORD}\"\n"
        ),
    )
    .unwrap();
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["serve", "--config"])
            .arg(dir.path().join("shardgate.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let opts = OptsBuilder::from_opts(direct_opts(port, Some("clinical")));
    let mut c = None;
    for _ in 0..100 {
        if let Ok(conn) = Conn::new(opts.clone()).await {
            c = Some(conn);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = c.expect("shardgate serve came up");
    // A new broadcast table, added by the reload.
    schema
        .exec(0, &["CREATE TABLE wards (id INT PRIMARY KEY)"])
        .await;
    schema
        .exec(1, &["CREATE TABLE wards (id INT PRIMARY KEY)"])
        .await;
    std::fs::write(
        dir.path().join("rules/clinical.toml"),
        rules + "\n[[tables]]\nname = \"wards\"\nbroadcast = true\n",
    )
    .unwrap();
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "SIGHUP must not end the process"
    );
    // The same session (it holds no transaction) now writes every copy.
    c.query_drop("INSERT INTO wards VALUES (5)").await.unwrap();
    for g in 0..2 {
        assert_eq!(ids(&schema, g, "wards").await, [5], "group {g}");
    }
    drop(c);
    drop(child);
    schema.drop().await;
}
