//! Text shard keys and their collation, against real MariaDB. The server compares a text
//! key column by its collation ('ABC' = 'abc' under `_ci`, 'a' = 'a ' under every PAD SPACE
//! collation), so a lookup hashed from the text as written would miss rows written in
//! another spelling. Without `key_collation` such lookups read every shard; with it, text
//! keys are placed by the collation's canonical form and lookups go to one shard. Both
//! protocols; rows are checked on the backends directly.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};
use shardgate::sharding::{Algorithm, KeyCollation, KeyValue, Sharder};

const SHARDS: u32 = 4;

/// Shards 0,1 on g0 and 2,3 on g1.
fn group_of(shard: u32) -> usize {
    if shard < 2 {
        0
    } else {
        1
    }
}

/// `items` (hash over 4 shards by `code`) and `tags` bound to it; `key_collation` as given.
fn rules(schema: &TestSchema, key_collation: Option<&str>) -> String {
    let collation = key_collation
        .map(|c| format!("key_collation = \"{c}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[database]
name = "shop"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{schema}"

[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{schema}"

[[tables]]
name = "items"
shard_key = "code"
algorithm = "hash"
shards = {SHARDS}
placement = ["g0", "g0", "g1", "g1"]
{collation}
[[tables]]
name = "tags"
shard_key = "code"
bind_to = "items"
"#,
        m0 = master_port(0),
        m1 = master_port(1),
        schema = schema.name
    )
}

/// The physical shards of `table`, with a key column of this type.
async fn create_shards(schema: &TestSchema, table: &str, key_type: &str) {
    for shard in 0..SHARDS {
        schema
            .exec(
                group_of(shard),
                &[&format!(
                    "CREATE TABLE {table}_{shard} (code {key_type} NOT NULL, note VARCHAR(20))"
                )],
            )
            .await;
    }
}

async fn start(schema: &TestSchema, key_collation: Option<&str>) -> Proxy {
    Proxy::start_tuned(&[("shop.toml", rules(schema, key_collation))], |c| {
        c.users.push(admin_user("ops", "ops-pass"))
    })
    .await
}

async fn connect_ops(proxy: &Proxy) -> Conn {
    let opts = OptsBuilder::from_opts(proxy.opts(Some("shop")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    Conn::new(opts).await.unwrap()
}

async fn stats(ops: &mut Conn) -> HashMap<String, u64> {
    let rows: Vec<(String, String)> = ops.query("SHOW SHARDGATE STATS").await.unwrap();
    rows.into_iter()
        .map(|(n, v)| (n, v.parse().unwrap_or(0)))
        .collect()
}

fn moved(before: &HashMap<String, u64>, after: &HashMap<String, u64>, name: &str) -> u64 {
    after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
}

/// PREVIEW's route detail and the shards of its queries.
async fn preview(ops: &mut Conn, sql: &str) -> (String, Vec<String>) {
    let rows: Vec<Row> = ops.query(format!("SHARDGATE PREVIEW {sql}")).await.unwrap();
    let mut route = String::new();
    let mut shards = Vec::new();
    for r in rows {
        let action: String = r.get("Action").unwrap();
        let detail: Option<String> = r.get("Detail").unwrap();
        match action.as_str() {
            "route" => route = detail.unwrap_or_default(),
            "query" => shards.push(r.get::<Option<String>, _>("Shard").unwrap().unwrap()),
            _ => {}
        }
    }
    (route, shards)
}

async fn notes_text(c: &mut Conn, table: &str, key: &str) -> Vec<String> {
    let mut v: Vec<String> = c
        .query(format!("SELECT note FROM {table} WHERE code = '{key}'"))
        .await
        .unwrap_or_else(|e| panic!("{key:?}: {e}"));
    v.sort();
    v
}

async fn notes_bound(c: &mut Conn, table: &str, key: &str) -> Vec<String> {
    let mut v: Vec<String> = c
        .exec(format!("SELECT note FROM {table} WHERE code = ?"), (key,))
        .await
        .unwrap_or_else(|e| panic!("{key:?}: {e}"));
    v.sort();
    v
}

/// Where each row is on the backends: (shard, code, note).
async fn physical_rows(schema: &TestSchema, table: &str) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    for shard in 0..SHARDS {
        let mut c = schema.on(group_of(shard)).await;
        let rows: Vec<(String, String)> = c
            .query(format!("SELECT code, note FROM {table}_{shard}"))
            .await
            .unwrap();
        out.extend(rows.into_iter().map(|(k, n)| (shard, k, n)));
        c.disconnect().await.unwrap();
    }
    out.sort();
    out
}

fn crc_shard(text: &str) -> u32 {
    crc32fast::hash(text.as_bytes()) % SHARDS
}

const CI_VARCHAR: &str = "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_ci_key_reads_scatter_and_find_every_spelling_in_both_protocols() {
    let schema = TestSchema::create("textkeys_undeclared").await;
    create_shards(&schema, "items", CI_VARCHAR).await;
    create_shards(&schema, "tags", CI_VARCHAR).await;
    let proxy = start(&schema, None).await;
    let mut c = proxy.connect(Some("shop")).await;
    let mut ops = connect_ops(&proxy).await;
    c.query_drop("INSERT INTO items (code, note) VALUES ('ABC', 'upper')")
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO items (code, note) VALUES (?, ?)",
        ("a ", "pad"),
    )
    .await
    .unwrap();
    // Placement is as it always was: the text as written.
    assert_eq!(physical_rows(&schema, "items").await, {
        let mut want = vec![
            (crc_shard("ABC"), "ABC".to_owned(), "upper".to_owned()),
            (crc_shard("a "), "a ".to_owned(), "pad".to_owned()),
        ];
        want.sort();
        want
    });
    let before = stats(&mut ops).await;
    for (key, want) in [
        ("abc", vec!["upper"]),
        ("Abc  ", vec!["upper"]),
        ("A", vec!["pad"]),
        ("a", vec!["pad"]),
        ("zzz", vec![]),
    ] {
        assert_eq!(notes_text(&mut c, "items", key).await, want, "text {key:?}");
        assert_eq!(
            notes_bound(&mut c, "items", key).await,
            want,
            "bound {key:?}"
        );
    }
    let after = stats(&mut ops).await;
    assert_eq!(moved(&before, &after, "statements.single.ok"), 0);
    assert_eq!(moved(&before, &after, "statements.all.ok"), 10);
    let (route, shards) = preview(&mut ops, "SELECT note FROM items WHERE code = 'abc'").await;
    assert_eq!(shards.len(), SHARDS as usize, "{route}");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_key_collation_places_by_canonical_form_and_routes_every_spelling_to_one_shard() {
    let schema = TestSchema::create("textkeys_declared").await;
    create_shards(&schema, "items", CI_VARCHAR).await;
    create_shards(&schema, "tags", CI_VARCHAR).await;
    let proxy = start(&schema, Some("utf8mb4_general_ci")).await;
    let mut c = proxy.connect(Some("shop")).await;
    let mut ops = connect_ops(&proxy).await;
    c.query_drop("INSERT INTO items (code, note) VALUES ('ABC', 'upper')")
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO items (code, note) VALUES (?, ?)",
        ("a ", "pad"),
    )
    .await
    .unwrap();
    // A quoted number in a text column is its text: accepted, placed as '042'.
    c.query_drop("INSERT INTO items (code, note) VALUES ('042', 'number')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO tags (code, note) VALUES ('Abc ', 'tag')")
        .await
        .unwrap();
    // Each row on the shard of its canonical form: lower-cased, trailing spaces trimmed.
    let mut want = vec![
        (crc_shard("abc"), "ABC".to_owned(), "upper".to_owned()),
        (crc_shard("a"), "a ".to_owned(), "pad".to_owned()),
        (crc_shard("042"), "042".to_owned(), "number".to_owned()),
    ];
    want.sort();
    assert_eq!(physical_rows(&schema, "items").await, want);
    assert_eq!(
        physical_rows(&schema, "tags").await,
        [(crc_shard("abc"), "Abc ".to_owned(), "tag".to_owned())]
    );
    // The proxy's own sharder agrees with the golden CRC32 shards.
    let sharder = Sharder::new(Algorithm::Hash, SHARDS)
        .with_collation(KeyCollation::named("utf8mb4_general_ci"));
    assert_eq!(
        sharder.shard_of(KeyValue::Text("aBc  ")).unwrap(),
        crc_shard("abc")
    );

    let before = stats(&mut ops).await;
    for (key, want) in [
        ("abc", vec!["upper"]),
        ("Abc  ", vec!["upper"]),
        ("A", vec!["pad"]),
        ("a", vec!["pad"]),
        ("042", vec!["number"]),
        ("zzz", vec![]),
    ] {
        assert_eq!(notes_text(&mut c, "items", key).await, want, "text {key:?}");
        assert_eq!(
            notes_bound(&mut c, "items", key).await,
            want,
            "bound {key:?}"
        );
    }
    assert_eq!(notes_bound(&mut c, "tags", "ABC").await, ["tag"]);
    let after = stats(&mut ops).await;
    assert_eq!(moved(&before, &after, "statements.single.ok"), 13);
    assert_eq!(moved(&before, &after, "statements.all.ok"), 0);
    let (route, shards) = preview(&mut ops, "SELECT note FROM items WHERE code = 'aBC  '").await;
    assert_eq!(
        shards,
        [crc_shard("abc").to_string()],
        "one shard, the canonical form's: {route}"
    );
    // A join on the key of bound tables stays on that shard.
    let joined: Vec<(String, String)> = c
        .query(
            "SELECT i.note, t.note FROM items i JOIN tags t ON t.code = i.code \
             WHERE i.code = 'abc' AND t.code = 'abc'",
        )
        .await
        .unwrap();
    assert_eq!(joined, [("upper".to_owned(), "tag".to_owned())]);

    // An integer compares with a text column as a number ('042' = 42): it reads all shards.
    let n: Vec<String> = c
        .query("SELECT note FROM items WHERE code = 42")
        .await
        .unwrap();
    assert_eq!(n, ["number"]);
    let bound: Vec<String> = c
        .exec("SELECT note FROM items WHERE code = ?", (42,))
        .await
        .unwrap();
    assert_eq!(bound, ["number"]);

    // An UPDATE by another spelling reaches the row, on its one shard.
    c.query_drop("UPDATE items SET note = 'changed' WHERE code = 'abc '")
        .await
        .unwrap();
    assert_eq!(notes_text(&mut c, "items", "ABC").await, ["changed"]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_keys_under_a_declared_collation_are_refused_as_writes_and_read_everywhere() {
    let schema = TestSchema::create("textkeys_non_ascii").await;
    create_shards(&schema, "items", CI_VARCHAR).await;
    create_shards(&schema, "tags", CI_VARCHAR).await;
    let proxy = start(&schema, Some("utf8mb4_general_ci")).await;
    let mut c = proxy.connect(Some("shop")).await;
    for result in [
        c.query_drop("INSERT INTO items (code, note) VALUES ('café', 'x')")
            .await,
        c.exec_drop(
            "INSERT INTO items (code, note) VALUES (?, ?)",
            ("café", "x"),
        )
        .await,
        c.query_drop("REPLACE INTO items (code, note) VALUES ('ＡＢＣ', 'x')")
            .await,
        c.query_drop("INSERT INTO items (code, note) VALUES ('a\\tb', 'x')")
            .await,
    ] {
        let msg = expect_code(result, 1235);
        for part in ["items", "code", "utf8mb4_general_ci", "printable ASCII"] {
            assert!(msg.contains(part), "{part} missing in: {msg}");
        }
    }
    for shard in 0..SHARDS {
        let mut d = schema.on(group_of(shard)).await;
        let n: Option<i64> = d
            .query_first(format!("SELECT COUNT(*) FROM items_{shard}"))
            .await
            .unwrap();
        assert_eq!(n, Some(0), "nothing written on shard {shard}");
    }
    // A row with such a key (written behind the proxy) is found under any equal spelling.
    schema
        .exec(
            group_of(3),
            &["INSERT INTO items_3 (code, note) VALUES ('café', 'direct')"],
        )
        .await;
    for key in ["CAFÉ", "café", "cafe\u{301}"] {
        let text: Vec<String> = c
            .query(format!("SELECT note FROM items WHERE code = '{key}'"))
            .await
            .unwrap();
        let bound: Vec<String> = c
            .exec("SELECT note FROM items WHERE code = ?", (key,))
            .await
            .unwrap();
        // 'e' + combining acute is not 'é' under general_ci; whatever the server says, the
        // proxy must say the same as one backend asked directly.
        let mut d = schema.on(group_of(3)).await;
        let direct: Vec<String> = d
            .exec("SELECT note FROM items_3 WHERE code = ?", (key,))
            .await
            .unwrap();
        assert_eq!(text, direct, "text {key:?}");
        assert_eq!(bound, direct, "bound {key:?}");
        if key != "cafe\u{301}" {
            assert_eq!(direct, ["direct"], "{key:?}");
        }
    }
    schema.drop().await;
}

/// The startup learner reads each key column's collation: a NO PAD binary VARCHAR key
/// (byte equality) routes text lookups to one shard without `key_collation`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_nopad_bin_key_routes_text_lookups_and_ci_key_keeps_scattering() {
    let schema = TestSchema::create("textkeys_learned").await;
    // `items` (ci) is learned before `tags` (nopad_bin): once tags routes, items is known.
    create_shards(&schema, "items", CI_VARCHAR).await;
    create_shards(
        &schema,
        "tags",
        "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
    )
    .await;
    // Bound tables share the layout, not the key column: tags is its own column.
    let proxy = start(&schema, None).await;
    let mut ops = connect_ops(&proxy).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, shards) = preview(&mut ops, "SELECT * FROM tags WHERE code = 'Ab '").await;
        if shards == [crc_shard("Ab ").to_string()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tags never routed to one shard: {shards:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (route, shards) = preview(&mut ops, "SELECT * FROM items WHERE code = 'Ab'").await;
    assert_eq!(shards.len(), SHARDS as usize, "{route}");
    // On a text column an integer reads every shard (it equals '042', ' 42', ...).
    let (route, shards) = preview(&mut ops, "SELECT * FROM tags WHERE code = 42").await;
    assert_eq!(shards.len(), SHARDS as usize, "{route}");
    let mut c = proxy.connect(Some("shop")).await;
    c.query_drop("INSERT INTO tags (code, note) VALUES ('Ab', 'one')")
        .await
        .unwrap();
    assert_eq!(notes_bound(&mut c, "tags", "Ab").await, ["one"]);
    assert!(notes_bound(&mut c, "tags", "ab").await.is_empty());
    assert!(notes_text(&mut c, "tags", "Ab ").await.is_empty());
    schema.drop().await;
}

/// A reload learns again: a table created after startup routes once reloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_learns_a_key_column_created_after_startup() {
    let schema = TestSchema::create("textkeys_reload").await;
    let proxy = start(&schema, None).await;
    let mut ops = connect_ops(&proxy).await;
    let nopad = "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";
    create_shards(&schema, "items", nopad).await;
    create_shards(&schema, "tags", nopad).await;
    let (route, shards) = preview(&mut ops, "SELECT * FROM items WHERE code = 'k'").await;
    assert_eq!(shards.len(), SHARDS as usize, "unknown column: {route}");
    ops.query_drop("SHARDGATE RELOAD").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, shards) = preview(&mut ops, "SELECT * FROM items WHERE code = 'k'").await;
        if shards == [crc_shard("k").to_string()] {
            break;
        }
        assert!(Instant::now() < deadline, "never learned: {shards:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    schema.drop().await;
}

/// All printable-ASCII strings of 0, 1 and 2 characters, as bytes.
fn short_ascii_strings() -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for a in 0x20u8..=0x7e {
        out.push(vec![a]);
        for b in 0x20u8..=0x7e {
            out.push(vec![a, b]);
        }
    }
    out
}

/// The charset a collation belongs to.
fn charset(collation: &str) -> &str {
    collation.split('_').next().unwrap()
}

/// For every supported collation the server has, the canonical form groups the short
/// printable-ASCII strings exactly as the server's equality does (so also: no ASCII
/// contractions or ignorables).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canonical_form_gives_the_servers_equality_classes_on_printable_ascii() {
    let schema = TestSchema::create("textkeys_classes").await;
    let mut d = schema.on(0).await;
    let present: BTreeSet<String> = d
        .query::<String, _>("SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
        .await
        .unwrap()
        .into_iter()
        .chain(["binary".to_owned()])
        .collect();
    let strings = short_ascii_strings();
    let mut tested = Vec::new();
    for name in KeyCollation::supported() {
        if !present.contains(name) {
            eprintln!("{name}: not on this server, not compared");
            continue;
        }
        let column = if name == "binary" {
            "VARBINARY(4)".to_owned()
        } else {
            format!("VARCHAR(4) CHARACTER SET {} COLLATE {name}", charset(name))
        };
        d.query_drop("DROP TABLE IF EXISTS classes").await.unwrap();
        d.query_drop(format!("CREATE TABLE classes (s {column} NOT NULL)"))
            .await
            .unwrap();
        for chunk in strings.chunks(2500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        "('')".to_owned()
                    } else {
                        format!("(X'{}')", hex(s))
                    }
                })
                .collect();
            d.query_drop(format!("INSERT INTO classes VALUES {}", values.join(",")))
                .await
                .unwrap();
        }
        let groups: Vec<String> = d
            .query("SELECT GROUP_CONCAT(HEX(s) SEPARATOR ',') FROM classes GROUP BY s")
            .await
            .unwrap();
        let server: BTreeSet<BTreeSet<String>> = groups
            .iter()
            .map(|g| g.split(',').map(str::to_owned).collect())
            .collect();
        let collation = KeyCollation::named(name).unwrap();
        let mut by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in &strings {
            let text = std::str::from_utf8(s).unwrap();
            let key = collation
                .canonical(text)
                .unwrap_or_else(|| panic!("{name}: {text:?} has no canonical form"))
                .into_owned();
            by_key.entry(key).or_default().insert(hex(s));
        }
        let ours: BTreeSet<BTreeSet<String>> = by_key.into_values().collect();
        let only_server: Vec<_> = server.difference(&ours).take(5).collect();
        let only_ours: Vec<_> = ours.difference(&server).take(5).collect();
        assert!(
            only_server.is_empty() && only_ours.is_empty(),
            "{name}: server classes not ours {only_server:?}; ours not the server's {only_ours:?}"
        );
        tested.push(name);
    }
    d.disconnect().await.unwrap();
    // MariaDB 10.11 lacks only uca1400; every other listed collation must have been compared.
    assert!(tested.len() >= 18, "compared only {tested:?}");
    schema.drop().await;
}

fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02X}")).collect()
}

/// The way to declare `key_collation` on a table holding rows: a resharding job whose target
/// declares it moves every text key to its canonical form's shard, and afterwards every
/// spelling of a key reads its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resharding_job_declaring_key_collation_moves_text_keys_to_their_canonical_shards() {
    use common::reshard::JobEnv;
    let schema = TestSchema::create("textkeys_reshard").await;
    for (shard, group) in [(0, 0), (1, 1)] {
        schema
            .exec(
                group,
                &[&format!(
                    "CREATE TABLE items_{shard} (code {CI_VARCHAR} NOT NULL PRIMARY KEY, \
                     note VARCHAR(20))"
                )],
            )
            .await;
    }
    let (rules, job) = declaring_job(&schema);
    let job = job.as_str();
    let env = JobEnv::start("shop", &rules, job).await;
    let mut c = env.connect().await;
    let keys: Vec<String> = ["ABC", "a ", "Hello", "hello2  ", "Zz-9"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..40).map(|i| format!("Key{i}{}", " ".repeat(i % 3))))
        .collect();
    for k in &keys {
        c.exec_drop("INSERT INTO items (code, note) VALUES (?, ?)", (k, k))
            .await
            .unwrap();
    }
    // Rows written and changed while the job catches up are placed by the new form too.
    let postpone = env.dir.path().join("postpone");
    std::fs::write(&postpone, "").unwrap();
    let postpone_arg = postpone.to_string_lossy().into_owned();
    let mut job = env.reshard_logged("run", &["--postpone-cutover-file", &postpone_arg]);
    env.wait_for_phase(&mut job, "catching_up", 60).await;
    let late = ["Late ", "LATER", "lAtEsT  "];
    for k in late {
        c.exec_drop("INSERT INTO items (code, note) VALUES (?, ?)", (k, "tmp"))
            .await
            .unwrap();
        c.exec_drop("UPDATE items SET note = ? WHERE code = ?", (k, k))
            .await
            .unwrap();
    }
    c.query_drop("DELETE FROM items WHERE code = 'Zz-9'")
        .await
        .unwrap();
    let keys: Vec<String> = keys
        .into_iter()
        .filter(|k| k != "Zz-9")
        .chain(late.iter().map(|k| k.to_string()))
        .collect();
    std::fs::remove_file(&postpone).unwrap();
    let status = tokio::task::spawn_blocking(move || job.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "run failed:\n{}", env.log());
    let rule_file = std::fs::read_to_string(env.rules_file()).unwrap();
    assert!(
        rule_file.contains("key_collation = \"utf8mb4_general_ci\""),
        "{rule_file}"
    );
    let collation = KeyCollation::named("utf8mb4_general_ci").unwrap();
    let mut physical = Vec::new();
    for shard in 0..SHARDS {
        let mut d = schema.on(group_of(shard)).await;
        let rows: Vec<String> = d
            .query(format!("SELECT code FROM items_n{shard}"))
            .await
            .unwrap();
        for code in rows {
            let canonical = collation.canonical(&code).unwrap().into_owned();
            assert_eq!(crc_shard(&canonical), shard, "{code:?} on shard {shard}");
            physical.push(code);
        }
        d.disconnect().await.unwrap();
    }
    assert_eq!(physical.len(), keys.len());
    // The proxy now serves the new layout: other spellings find each row.
    for k in &keys {
        let other = format!("{}   ", k.trim_end().to_ascii_uppercase());
        let text: Vec<String> = c
            .query(format!("SELECT note FROM items WHERE code = '{other}'"))
            .await
            .unwrap();
        let bound: Vec<String> = c
            .exec("SELECT note FROM items WHERE code = ?", (&other,))
            .await
            .unwrap();
        assert_eq!(text, vec![k.as_str()], "{other:?}");
        assert_eq!(bound, vec![k.as_str()], "{other:?}");
    }
    drop(c);
    schema.drop().await;
}

/// `items` hash over 2 shards without key_collation, and a job moving it to 4 shards with
/// key_collation utf8mb4_general_ci.
fn declaring_job(schema: &TestSchema) -> (String, String) {
    let rules = format!(
        "[database]\nname = \"shop\"\ndefault_group = \"g0\"\n\n[groups.g0]\n\
         master = \"127.0.0.1:{m0}\"\nschema = \"{s}\"\n\n[groups.g1]\n\
         master = \"127.0.0.1:{m1}\"\nschema = \"{s}\"\n\n[[tables]]\nname = \"items\"\n\
         shard_key = \"code\"\nalgorithm = \"hash\"\nshards = 2\nplacement = [\"g0\", \"g1\"]\n",
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    );
    let job = "[job]\ndatabase = \"shop\"\ntable = \"items\"\n\n[target]\nshards = 4\n\
               placement = [\"g0\", \"g0\", \"g1\", \"g1\"]\nphysical = \"{table}_n{shard}\"\n\
               key_collation = \"utf8mb4_general_ci\"\n\n[options]\nmax_rows_per_second = 0\n";
    (rules, job.to_owned())
}

/// Text a collation cannot place stops the job's copy, naming the key and the collation,
/// instead of putting it on some shard where lookups would miss it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_declaring_key_collation_stops_at_a_key_it_cannot_place() {
    use common::reshard::JobEnv;
    let schema = TestSchema::create("textkeys_reshard_refused").await;
    for (shard, group) in [(0, 0), (1, 1)] {
        schema
            .exec(
                group,
                &[&format!(
                    "CREATE TABLE items_{shard} (code {CI_VARCHAR} NOT NULL PRIMARY KEY, \
                     note VARCHAR(20))"
                )],
            )
            .await;
    }
    let (rules, job) = declaring_job(&schema);
    let env = JobEnv::start("shop", &rules, &job).await;
    let mut c = env.connect().await;
    // Without key_collation the proxy places it as written.
    c.exec_drop(
        "INSERT INTO items (code, note) VALUES (?, ?)",
        ("Ärger", "x"),
    )
    .await
    .unwrap();
    let (ok, out) = env.reshard_output("plan", &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("text keys placed by key_collation utf8mb4_general_ci (was none)"),
        "{out}"
    );
    let (ok, out) = env.reshard_output("run", &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("'Ärger' has no single shard under collation utf8mb4_general_ci"),
        "{out}"
    );
    let rule_file = std::fs::read_to_string(env.rules_file()).unwrap();
    assert!(!rule_file.contains("key_collation"), "{rule_file}");
    drop(c);
    schema.drop().await;
}
