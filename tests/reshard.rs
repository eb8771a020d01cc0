//! Resharding jobs end to end against real MariaDB: the family clinical_data (+ patients,
//! trial_enrollment) moves from mod 4 on g0,g1 to mod 8 on g0,g1,g2 while clients write
//! through a running proxy; the job is killed with SIGKILL mid-copy and mid-catch-up and
//! resumed; after cutover every acknowledged write is there exactly once, on the shard the new
//! rules name; then rollback replays the writes made since into the old tables, and cleanup
//! drops the unused layout.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

const HOSPITALS: i64 = 32;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Setup {
    schema: TestSchema,
    g2_schema: String,
    dir: tempfile::TempDir,
    port: u16,
    _proxy: Killed,
}

impl Setup {
    fn config(&self) -> PathBuf {
        self.dir.path().join("shardgate.toml")
    }

    fn job(&self) -> PathBuf {
        self.dir.path().join("migrations/clinical-4-to-8.toml")
    }

    fn state(&self) -> String {
        std::fs::read_to_string(self.job().with_extension("state.toml")).unwrap_or_default()
    }

    async fn connect(&self) -> Conn {
        Conn::new(OptsBuilder::from_opts(direct_opts(
            self.port,
            Some("clinical"),
        )))
        .await
        .unwrap()
    }

    fn reshard(&self, action: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shardgate"));
        c.args(["reshard", action])
            .arg(self.job())
            .arg("--config")
            .arg(self.config())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// A job run in the background, its output going to `job.log` (shown when a wait fails).
    fn reshard_logged(&self, action: &str, extra: &[&str]) -> Killed {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut c = self.reshard(action, extra);
        c.stdout(log.try_clone().unwrap()).stderr(log);
        Killed(c.spawn().unwrap())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("job.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

async fn setup(test: &str) -> Setup {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    // g2 is a new group: its own schema on g1's server, holding only the broadcast table (as
    // an operator creates it before adding the group, since broadcast writes reach it).
    let g2_schema = format!("{}_g2", schema.name);
    let mut c = direct(master_port(1), None).await;
    c.query_drop(format!("DROP DATABASE IF EXISTS `{g2_schema}`"))
        .await
        .unwrap();
    c.query_drop(format!(
        "CREATE DATABASE `{g2_schema}` DEFAULT CHARACTER SET utf8mb4"
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "CREATE TABLE `{g2_schema}`.hospitals (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, \
         city VARCHAR(100))"
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    let rules = schema.clinical_rules("clinical").replace(
        "[[tables]]\nname = \"clinical_data\"",
        &format!(
            "[groups.g2]\nmaster = \"127.0.0.1:{}\"\nschema = \"{g2_schema}\"\n\n[[tables]]\nname = \"clinical_data\"",
            master_port(1)
        ),
    );
    std::fs::write(dir.path().join("rules/clinical.toml"), &rules).unwrap();
    let (port, admin) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("shardgate.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nrules = \"rules\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
             workers = 2\n\n[[users]]\nname = \"{USER}\"\npassword = \"{PASSWORD}\"\n\n\
             [backend]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\npool_max = 32\n\n\
             [reshard]\nuser = \"{RESHARD_USER}\"\npassword = \"{RESHARD_PASSWORD}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("migrations/clinical-4-to-8.toml"),
        "[job]\ndatabase = \"clinical\"\ntable = \"clinical_data\"\n\n[target]\nshards = 8\n\
         placement = [\"g0\", \"g0\", \"g1\", \"g1\", \"g2\", \"g2\", \"g2\", \"g2\"]\n\
         physical = \"{table}_v2_{shard}\"\n\n[options]\nmax_rows_per_second = 3000\n\
         cutover_max_pause_ms = 500\n",
    )
    .unwrap();
    let proxy = Killed(
        Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["serve", "--config"])
            .arg(dir.path().join("shardgate.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let s = Setup {
        schema,
        g2_schema,
        dir,
        port,
        _proxy: proxy,
    };
    for _ in 0..100 {
        if Conn::new(direct_opts(port, Some("clinical"))).await.is_ok() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("shardgate serve did not come up");
}

/// What clients were told: patient id -> (hospital, name) or deleted.
type Model = Arc<Mutex<BTreeMap<i64, Option<(i64, String)>>>>;

async fn seed(s: &Setup, model: &Model) {
    let mut c = s.connect().await;
    let mut hospitals = Vec::new();
    for h in 0..HOSPITALS {
        hospitals.push(format!("({h}, 'h{h}', 'c{h}')"));
    }
    c.query_drop(format!(
        "INSERT INTO hospitals VALUES {}",
        hospitals.join(",")
    ))
    .await
    .unwrap();
    for batch in 0..10 {
        let mut p = Vec::new();
        let mut d = Vec::new();
        let mut t = Vec::new();
        for i in 0..300 {
            let id = batch * 300 + i;
            let h = id % HOSPITALS;
            p.push(format!("({id}, {h}, 'p{id}', '2000-01-02', NULL)"));
            d.push(format!(
                "({id}, {h}, {id}, 'm', {id}.125, '2024-01-01 00:00:00.5', 'n\\'{id}', NULL)"
            ));
            t.push(format!("({id}, {h}, {id}, 'T{}', NULL)", id % 5));
            model
                .lock()
                .unwrap()
                .insert(id, Some((h, format!("p{id}"))));
        }
        c.query_drop(format!("INSERT INTO patients VALUES {}", p.join(",")))
            .await
            .unwrap();
        c.query_drop(format!("INSERT INTO clinical_data VALUES {}", d.join(",")))
            .await
            .unwrap();
        c.query_drop(format!(
            "INSERT INTO trial_enrollment VALUES {}",
            t.join(",")
        ))
        .await
        .unwrap();
    }
}

/// A client writing by key through the proxy until told to stop, noting every acknowledged
/// write and the longest time one took.
async fn writer(
    port: u16,
    seed: i64,
    model: Model,
    stop: Arc<AtomicBool>,
    longest_ms: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
) {
    let mut c = Conn::new(direct_opts(port, Some("clinical")))
        .await
        .unwrap();
    let mut n: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = 100_000 * (seed + 1) + n;
        let h = (id * 7) % HOSPITALS;
        let started = Instant::now();
        let step = n % 4;
        let r = match step {
            // New patient.
            0 | 1 => c
                .exec_drop(
                    "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
                    (id, h, format!("w{id}")),
                )
                .await
                .map(|_| Some((id, Some((h, format!("w{id}")))))),
            // Rename an earlier one of ours.
            2 => {
                let old = id - 2;
                let oh = (old * 7) % HOSPITALS;
                c.exec_drop(
                    "UPDATE patients SET name = ? WHERE hospital_id = ? AND id = ?",
                    (format!("u{old}"), oh, old),
                )
                .await
                .map(|_| {
                    // The first round's "earlier one" was never inserted.
                    (c.affected_rows() == 1).then(|| (old, Some((oh, format!("u{old}")))))
                })
            }
            // Delete a seeded patient.
            _ => {
                let victim = (seed * 997 + n * 13) % 3000;
                let vh = victim % HOSPITALS;
                c.exec_drop(
                    "DELETE FROM patients WHERE hospital_id = ? AND id = ?",
                    (vh, victim),
                )
                .await
                .map(|_| Some((victim, None)))
            }
        };
        let took = started.elapsed().as_millis() as u64;
        longest_ms.fetch_max(took, Ordering::Relaxed);
        match r {
            Ok(Some((key, value))) => {
                model.lock().unwrap().insert(key, value);
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("writer {seed}: {e}");
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if n % 5 == 0 {
            // Each writer its own hospitals: concurrent writes of one broadcast row may reach
            // the groups in different orders, which the proxy reports (and is not this test).
            let hid = seed + 3 * (n % 10);
            if let Err(e) = c
                .exec_drop(
                    "UPDATE hospitals SET city = ? WHERE id = ?",
                    (format!("x{n}"), hid),
                )
                .await
            {
                eprintln!("writer {seed}: {e}");
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn wait_for(s: &Setup, what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; state:\n{}\njob output:\n{}",
            s.state(),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn output(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Patients as the physical tables of a layout hold them, checking each row's shard.
async fn physical_patients(
    _s: &Setup,
    template: &str,
    shards: i64,
    groups: &[(usize, String)],
) -> BTreeMap<i64, (i64, String)> {
    let mut all = BTreeMap::new();
    for shard in 0..shards {
        let (port_group, schema) = &groups[shard as usize];
        let mut c = direct(master_port(*port_group), Some(schema)).await;
        let table = template.replace("{shard}", &shard.to_string());
        let rows: Vec<(i64, i64, String)> = c
            .query(format!("SELECT id, hospital_id, name FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        for (id, h, name) in rows {
            assert_eq!(h % shards, shard, "patient {id} sits in {table}");
            assert!(all.insert(id, (h, name)).is_none(), "patient {id} twice");
        }
    }
    all
}

fn expected(model: &Model) -> BTreeMap<i64, (i64, String)> {
    model
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_family_moves_from_4_to_8_shards_under_writes_through_kills_and_back() {
    let s = setup("reshard_4_8").await;
    let model: Model = Arc::default();
    seed(&s, &model).await;

    let (plan_ok, plan) = output(s.reshard("plan", &[]).spawn().unwrap());
    assert!(plan_ok, "{plan}");
    assert!(plan.contains("clinical_data_v2_7 on g2"), "{plan}");
    assert!(plan.contains("patients_1 on g0: 750"), "{plan}");

    let stop = Arc::new(AtomicBool::new(false));
    let longest = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(writer(
                s.port,
                i,
                model.clone(),
                stop.clone(),
                longest.clone(),
                errors.clone(),
            ))
        })
        .collect();

    // 1. Killed mid-copy (throttled to 3000 rows/s, 9000 rows to copy).
    let postpone = s.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = s.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    wait_for(&s, "rows copied", 60, || s.state().contains("rows = ")).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    job.0.kill().unwrap();
    job.0.wait().unwrap();
    let state = s.state();
    assert!(state.contains("phase = \"copying\""), "{state}");

    // 2. Resumed, then killed mid-catch-up (the cutover is postponed).
    let job = s.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    wait_for(&s, "catch-up", 120, || {
        s.state().contains("phase = \"catching_up\"")
    })
    .await;
    wait_for(&s, "changes applied", 60, || {
        s.state()
            .lines()
            .any(|l| l.starts_with("events_applied = ") && l != "events_applied = 0")
    })
    .await;
    // One run of a job at a time.
    let (second_ok, second) = output(
        s.reshard("run", &["--postpone-cutover-file", &postpone_arg])
            .spawn()
            .unwrap(),
    );
    assert!(!second_ok && second.contains("is working on"), "{second}");
    let mut job = job;
    job.0.kill().unwrap();
    job.0.wait().unwrap();
    let (status_ok, status) = output(s.reshard("status", &[]).spawn().unwrap());
    assert!(status_ok && status.contains("catching up"), "{status}");

    // 3. Resumed to the end: cutover once the postpone file is gone.
    let job = s
        .reshard("run", &["--postpone-cutover-file", &postpone_arg])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(&postpone).unwrap();
    let (ok, out) = output(job);
    assert!(ok, "run failed:\n{out}");
    assert!(out.contains("cut over"), "{out}");
    // Writes go on for a moment on the new layout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "client errors during the move"
    );
    eprintln!(
        "longest write during the job: {} ms",
        longest.load(Ordering::Relaxed)
    );

    // Every acknowledged write exactly once, on the shard the new rules name.
    let g = |port_group: usize, schema: &str| (port_group, schema.to_string());
    let new_groups = [
        g(0, &s.schema.name),
        g(0, &s.schema.name),
        g(1, &s.schema.name),
        g(1, &s.schema.name),
        g(1, &s.g2_schema),
        g(1, &s.g2_schema),
        g(1, &s.g2_schema),
        g(1, &s.g2_schema),
    ];
    let want = expected(&model);
    let got = physical_patients(&s, "patients_v2_{shard}", 8, &new_groups).await;
    let missing: Vec<_> = want.iter().filter(|(k, v)| got.get(k) != Some(v)).collect();
    let extra: Vec<_> = got.iter().filter(|(k, _)| !want.contains_key(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the new layout differs from what clients were told: missing or different {missing:?}, \
         extra {extra:?}\njob output:\n{}",
        s.log()
    );
    // The proxy reads the new layout.
    let mut c = s.connect().await;
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n as usize, want.len());
    let rows: i64 = c
        .query_first("SELECT COUNT(*) FROM patients p JOIN hospitals h ON h.id = p.hospital_id WHERE p.hospital_id = 5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rows as usize,
        want.values().filter(|(h, _)| *h == 5).count()
    );
    let data: i64 = c
        .query_first("SELECT COUNT(*) FROM clinical_data")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data, 3000);
    // The broadcast copy on g2 equals g0's.
    let mut g0 = direct(master_port(0), Some(&s.schema.name)).await;
    let mut g2 = direct(master_port(1), Some(&s.g2_schema)).await;
    let a: Vec<(i64, String, Option<String>)> = g0
        .query("SELECT * FROM hospitals ORDER BY id")
        .await
        .unwrap();
    let b: Vec<(i64, String, Option<String>)> = g2
        .query("SELECT * FROM hospitals ORDER BY id")
        .await
        .unwrap();
    assert_eq!(a, b);

    // 4. Writes after cutover, then rollback: the old tables get them.
    for id in 900_000..900_020i64 {
        c.exec_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
            (id, id % HOSPITALS, "late"),
        )
        .await
        .unwrap();
        model
            .lock()
            .unwrap()
            .insert(id, Some((id % HOSPITALS, "late".into())));
    }
    c.exec_drop(
        "DELETE FROM patients WHERE hospital_id = ? AND id = ?",
        (7, 7),
    )
    .await
    .unwrap();
    model.lock().unwrap().insert(7, None);
    let (ok, out) = output(s.reshard("rollback", &[]).spawn().unwrap());
    assert!(ok, "rollback failed:\n{out}");
    let old_groups = [
        g(0, &s.schema.name),
        g(0, &s.schema.name),
        g(1, &s.schema.name),
        g(1, &s.schema.name),
    ];
    let got = physical_patients(&s, "patients_{shard}", 4, &old_groups).await;
    assert!(
        got == expected(&model),
        "the old layout lacks writes made after cutover"
    );
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n as usize, expected(&model).len());

    // 5. Cleanup drops the layout no longer routed to.
    let (ok, out) = output(s.reshard("cleanup", &[]).spawn().unwrap());
    assert!(!ok && out.contains("--yes"), "{out}");
    let (ok, out) = output(s.reshard("cleanup", &["--yes"]).spawn().unwrap());
    assert!(ok, "{out}");
    let (ok, out) = output(s.reshard("status", &[]).spawn().unwrap());
    assert!(ok && out.contains("cleaned up"), "{out}");
    let left: Vec<String> = g2
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '%v2%'")
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    drop(c);
    let mut d = direct(master_port(1), None).await;
    d.query_drop(format!("DROP DATABASE IF EXISTS `{}`", s.g2_schema))
        .await
        .unwrap();
    s.schema.drop().await;
}

/// `plan` refuses a job it could not run, naming what is wrong, before touching a server.
#[test]
fn plan_names_what_is_wrong_with_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let rules = r#"[database]
name = "clinical"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:1"

[groups.g1]
master = "127.0.0.1:2"

[[tables]]
name = "clinical_data"
shard_key = "hospital_id"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "patients"
bind_to = "clinical_data"
shard_key = "hospital_id"
"#;
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/clinical.toml"), rules).unwrap();
    std::fs::write(
        dir.path().join("shardgate.toml"),
        "listen = \"127.0.0.1:1\"\nrules = \"rules\"\n[[users]]\nname = \"a\"\npassword = \"b\"\n\
         [backend]\nuser = \"a\"\npassword = \"b\"\n",
    )
    .unwrap();
    let cases = [
        (
            "table = \"clinical_data\"\n\n[target]\nshards = 8\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\", \"g9\", \"g9\", \"g9\", \"g9\"]\nphysical = \"{table}_v2_{shard}\"\n",
            "g9",
        ),
        (
            "table = \"patients\"\n\n[target]\nshards = 8\n",
            "bound to `clinical_data`",
        ),
        (
            "table = \"clinical_data\"\n\n[target]\nshards = 8\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\", \"g0\", \"g0\", \"g1\", \"g1\"]\n",
            "a name the running rules already use",
        ),
        (
            "table = \"clinical_data\"\n\n[target]\nshards = 4\n",
            "nothing to move",
        ),
        (
            "table = \"clinical_data\"\nbogus = 1\n\n[target]\nshards = 8\n",
            "unknown field `bogus`",
        ),
    ];
    for (body, want) in cases {
        let job = dir.path().join("job.toml");
        std::fs::write(&job, format!("[job]\ndatabase = \"clinical\"\n{body}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["reshard", "plan"])
            .arg(&job)
            .arg("--config")
            .arg(dir.path().join("shardgate.toml"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{body}: {text}");
        assert!(text.contains(want), "{body}: wanted `{want}` in {text}");
    }
}
