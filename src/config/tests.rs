//! One test per rule-file check (RULES.md, "What `shardgate check` must catch"), asserting the
//! whole printed diagnostic: file, line, key and reason.

use std::path::{Path, PathBuf};

use super::model::{KeyGenerator, KeyGeneratorKind, ReadPolicy, Replica, TableKind};
use super::*;
use crate::sharding::Algorithm;

/// Lines 1-9 of every test file; the text a test appends starts on line 10.
const HEADER: &str = r#"[database]
name = "clinical"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:3400"

[groups.g1]
master = "127.0.0.1:3410"
"#;

/// A table whose default placement puts shard 1 on g1, so files that append it do not get the
/// "group `g1` is not used" warning.
const USES_G1: &str = "\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nshards = 2\n";

fn diagnostics(text: &str) -> Diagnostics {
    from_sources([(PathBuf::from("clinical.toml"), Ok(text.to_owned()))]).1
}

/// Every diagnostic of `HEADER` + `tables`, as printed.
fn check_tables(tables: &str) -> Vec<String> {
    printed(&diagnostics(&format!("{HEADER}{tables}")))
}

fn printed(d: &Diagnostics) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

fn load_one(text: &str) -> Arc<Database> {
    let rules = rules_from_strs(&[("clinical.toml", text)]).unwrap_or_else(|d| panic!("{d}"));
    rules.database("clinical").unwrap().clone()
}

fn spec(db: &Database, table: &str) -> Arc<model::ShardSpec> {
    match &db.table(table).unwrap().kind {
        TableKind::Sharded(s) => s.clone(),
        TableKind::Broadcast => panic!("{table} is broadcast"),
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ---- the example files ----

#[test]
fn example_rule_files_load_cleanly() {
    let dir = repo("shard-rules");
    assert_eq!(check(&dir), Diagnostics::default());
    let rules = load_rules(&dir).unwrap();
    assert_eq!(
        rules.databases().keys().collect::<Vec<_>>(),
        ["clinical", "sbtest"]
    );

    let db = rules.database("Clinical").unwrap();
    assert_eq!(db.name, "clinical");
    assert_eq!(db.source, dir.join("clinical.toml"));
    let names: Vec<&str> = db.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["g0", "g1"]);
    assert_eq!(db.default_group, 0);
    let g0 = &db.groups[0];
    assert_eq!(g0.master, "127.0.0.1:3400");
    assert_eq!(
        g0.replicas,
        [Replica {
            addr: "127.0.0.1:3401".into(),
            weight: 1
        }]
    );
    assert_eq!(g0.schema, "clinical");
    assert_eq!(g0.read_policy, ReadPolicy::RoundRobin);
    assert_eq!(g0.max_replica_lag_s, 5);

    let data = spec(db, "clinical_data");
    assert_eq!(data.shard_key, "hospital_id");
    assert_eq!(data.sharder.algorithm(), Algorithm::Mod);
    assert_eq!(data.shards(), 4);
    assert_eq!(data.placement, [0, 0, 1, 1]);
    assert_eq!(data.family, "clinical_data");
    assert_eq!(
        data.key_generator,
        Some(KeyGenerator {
            column: "id".into(),
            kind: KeyGeneratorKind::Snowflake
        })
    );
    for bound in ["patients", "trial_enrollment", "PATIENTS"] {
        let s = spec(db, bound);
        assert_eq!(s.family, "clinical_data");
        assert_eq!(s.placement, data.placement);
        assert_eq!(s.sharder.algorithm(), Algorithm::Mod);
        assert_eq!(s.shards(), 4);
        assert_eq!(s.shard_key, "hospital_id");
        assert_eq!(s.key_generator, None);
    }
    assert!(matches!(
        db.table("hospitals").unwrap().kind,
        TableKind::Broadcast
    ));
    assert!(db.table("medication_log").is_none());

    let sbtest = rules.database("sbtest").unwrap();
    assert!(sbtest.tables.is_empty());
    assert_eq!(sbtest.groups[0].schema, "sbtest");
}

#[test]
fn a_single_file_loads_too() {
    let rules = load_rules(&repo("shard-rules/sbtest.toml")).unwrap();
    assert_eq!(rules.databases().len(), 1);
}

// ---- shape: unknown keys, types, syntax ----

#[test]
fn every_unknown_key_is_reported_with_its_line() {
    let text = format!(
        r#"{HEADER}replica = ["127.0.0.1:3411"]

[[tables]]
name = "t"
shard_ky = "id"
shards = 2

[[tables]]
name = "u"
broadcast = true
comment = "x"

[extra]
"#
    );
    assert_eq!(
        printed(&diagnostics(&text)),
        [
            "clinical.toml:10: groups.g1.replica: unknown key `replica`, did you mean `replicas`?",
            "clinical.toml:14: tables[0].shard_ky: unknown key `shard_ky`, did you mean `shard_key`?",
            "clinical.toml:20: tables[1].comment: unknown key `comment`, expected one of `name`, \
             `shard_key`, `algorithm`, `shards`, `placement`, `key_generator`, `bind_to`, \
             `key_collation`, `broadcast`, `physical`, `cache_ttl_ms`",
            "clinical.toml:22: extra: unknown key `extra`, expected one of `database`, `groups`, \
             `tables`",
        ]
    );
}

#[test]
fn unknown_keys_inside_replica_tables_are_reported() {
    let text = format!("{HEADER}replicas = [{{ addr = \"127.0.0.1:3411\", wieght = 2 }}]\n");
    assert_eq!(
        printed(&diagnostics(&text)),
        ["clinical.toml:10: groups.g1.replicas[0].wieght: unknown field `wieght`, expected `addr` \
          or `weight`"]
    );
}

#[test]
fn type_errors_in_several_sections_are_all_reported() {
    let text = format!(
        r#"{HEADER}read_policy = "fastest"

[[tables]]
name = "t"
shard_key = "id"
shards = "4"

[[tables]]
name = "u"
broadcast = "yes"
"#
    );
    assert_eq!(
        printed(&diagnostics(&text)),
        [
            "clinical.toml:10: groups.g1.read_policy: unknown variant `fastest`, expected one of \
             `random`, `round_robin`, `weighted`, `least_latency`, `master_only`",
            "clinical.toml:15: tables[0].shards: invalid type: string \"4\", expected an integer",
            "clinical.toml:19: tables[1].broadcast: invalid type: string \"yes\", expected a \
             boolean",
        ]
    );
}

#[test]
fn replicas_of_the_wrong_shape_say_what_is_expected() {
    let text = format!("{HEADER}replicas = [3411]\n");
    assert_eq!(
        printed(&diagnostics(&text)),
        [
            "clinical.toml:10: groups.g1.replicas[0]: invalid type: integer `3411`, expected \
          \"host:port\" or { addr = \"host:port\", weight = N }"
        ]
    );
}

#[test]
fn syntax_errors_have_a_line() {
    let text = format!("{HEADER}schema = \"clinical\n");
    assert_eq!(
        printed(&diagnostics(&text)),
        ["clinical.toml:10: TOML syntax: invalid basic string"]
    );
}

// ---- database and groups ----

#[test]
fn missing_database_section() {
    let text = "[groups.g0]\nmaster = \"127.0.0.1:3400\"\n";
    assert_eq!(
        printed(&diagnostics(text)),
        [
            "clinical.toml: database: missing [database] section (name = the schema clients see, \
          default_group = where unsharded tables live)"
        ]
    );
}

#[test]
fn missing_default_group() {
    let text = "[database]\nname = \"clinical\"\n\n[groups.g0]\nmaster = \"127.0.0.1:3400\"\n";
    assert_eq!(
        printed(&diagnostics(text)),
        [
            "clinical.toml:1: database.default_group: missing default_group: the group where \
          unsharded tables live"
        ]
    );
}

#[test]
fn default_group_that_does_not_exist() {
    let text = HEADER.replace("default_group = \"g0\"", "default_group = \"g3\"");
    assert_eq!(
        printed(&diagnostics(&text)),
        ["clinical.toml:3: database.default_group: group `g3` does not exist (groups: g0, g1)"]
    );
}

#[test]
fn a_database_needs_groups() {
    let text = "[database]\nname = \"clinical\"\ndefault_group = \"g0\"\n";
    assert_eq!(
        printed(&diagnostics(text)),
        [
            "clinical.toml: groups: no groups: a database needs at least one [groups.NAME] with a \
          master"
        ]
    );
}

#[test]
fn a_group_without_master() {
    let text = format!("{HEADER}\n[groups.g2]\nreplicas = [\"127.0.0.1:3421\"]\n");
    assert_eq!(
        printed(&diagnostics(&text)),
        ["clinical.toml:11: groups.g2.master: group `g2` has no master"]
    );
}

#[test]
fn addresses_must_be_host_port() {
    let text =
        HEADER.replace("127.0.0.1:3410", "127.0.0.1") + "replicas = [\"db1:3411\", \"db1:x\"]\n";
    assert_eq!(
        printed(&diagnostics(&text)),
        [
            "clinical.toml:9: groups.g1.master: `127.0.0.1` is not host:port (the port is missing)",
            "clinical.toml:10: groups.g1.replicas[1]: `db1:x` is not host:port (`x` is not a \
             port: 1-65535)",
        ]
    );
}

#[test]
fn replica_weights_and_policies() {
    let replicas = "replicas = [\"127.0.0.1:3411\", { addr = \"127.0.0.1:3412\", weight = 3 }]\n";
    let d = diagnostics(&format!("{HEADER}{replicas}{USES_G1}"));
    assert!(!d.has_errors());
    assert_eq!(
        printed(&d),
        [
            "clinical.toml:10: groups.g1.replicas[1]: warning: weight has no effect: group `g1` \
          reads with round_robin, not weighted"
        ]
    );
    let weighted =
        format!("{HEADER}{replicas}read_policy = \"weighted\"\nmax_replica_lag_s = 30\n{USES_G1}");
    assert_eq!(diagnostics(&weighted), Diagnostics::default());
    let db = load_one(&weighted);
    let g1 = &db.groups[1];
    assert_eq!(g1.read_policy, ReadPolicy::Weighted);
    assert_eq!(g1.max_replica_lag_s, 30);
    let weights: Vec<u32> = g1.replicas.iter().map(|r| r.weight).collect();
    assert_eq!(weights, [1, 3]);
}

#[test]
fn a_replica_that_is_the_master_or_listed_twice() {
    let text = format!("{HEADER}replicas = [\"127.0.0.1:3410\", \"h:1\", \"h:1\"]\n");
    assert_eq!(
        printed(&diagnostics(&text)),
        [
            "clinical.toml:10: groups.g1.replicas[0]: replica `127.0.0.1:3410` is the group's \
             master",
            "clinical.toml:10: groups.g1.replicas[2]: replica `h:1` is listed twice",
        ]
    );
}

#[test]
fn schema_defaults_to_the_database_name() {
    let db = load_one(&format!("{HEADER}schema = \"clinical_b\"\n"));
    assert_eq!(db.groups[0].schema, "clinical");
    assert_eq!(db.groups[1].schema, "clinical_b");
}

// ---- tables ----

#[test]
fn placement_naming_a_group_that_does_not_exist() {
    let got = check_tables(
        r#"
[[tables]]
name = "t"
shard_key = "id"
shards = 2
placement = ["g0", "g5"]
"#,
    );
    assert_eq!(
        got,
        ["clinical.toml:15: tables[0].placement[1]: group `g5` does not exist (groups: g0, g1)"]
    );
}

#[test]
fn placement_length_must_match_shards() {
    let got = check_tables(
        r#"
[[tables]]
name = "t"
shard_key = "id"
shards = 4
placement = ["g0", "g0", "g1"]
"#,
    );
    assert_eq!(
        got,
        ["clinical.toml:15: tables[0].placement: placement has 3 groups but shards = 4"]
    );
}

#[test]
fn shards_must_be_at_least_one() {
    for (shards, got) in [("0", "0"), ("-1", "-1")] {
        let text = format!("\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nshards = {shards}\n");
        assert_eq!(
            check_tables(&text),
            [format!(
                "clinical.toml:14: tables[0].shards: shards must be at least 1, got {got}"
            )]
        );
    }
    let text = "\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nshards = 5000\n";
    assert_eq!(
        check_tables(text),
        ["clinical.toml:14: tables[0].shards: shards must be at most 1024, got 5000"]
    );
}

#[test]
fn a_sharded_table_needs_shards_or_a_placement() {
    let got = check_tables("\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\n");
    assert_eq!(
        got,
        ["clinical.toml:11: tables[0].shards: sharded table `t` needs shards = N (or a placement \
          list)"]
    );
    let db = load_one(&format!(
        "{HEADER}\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nplacement = [\"g1\", \"g0\"]\n"
    ));
    assert_eq!(spec(&db, "t").placement, [1, 0]);
}

#[test]
fn a_sharded_table_needs_a_shard_key() {
    let got = check_tables("\n[[tables]]\nname = \"t\"\nshards = 2\n");
    assert_eq!(
        got,
        [
            "clinical.toml:11: tables[0].shard_key: sharded table `t` has no shard_key (or set \
          broadcast = true to copy it to every group)"
        ]
    );
}

#[test]
fn table_names_are_unique_ignoring_case() {
    let got = check_tables(
        r#"
[[tables]]
name = "hospitals"
broadcast = true

[[tables]]
name = "Hospitals"
broadcast = true
"#,
    );
    assert_eq!(
        got,
        [
            "clinical.toml:16: tables[1].name: table `Hospitals` is declared twice (first as \
          tables[0] on line 12); table names are case-insensitive"
        ]
    );
}

#[test]
fn a_broadcast_table_has_no_shard_key_or_layout() {
    let got = check_tables(
        r#"
[[tables]]
name = "hospitals"
broadcast = true
shard_key = "id"
shards = 2
placement = ["g0", "g1"]
algorithm = "hash"
"#,
    );
    let reason = "it is copied whole to every group";
    assert_eq!(
        got,
        [
            format!("clinical.toml:14: tables[0].shard_key: broadcast table `hospitals` cannot have a shard_key: {reason}"),
            format!("clinical.toml:15: tables[0].shards: broadcast table `hospitals` cannot have shards: {reason}"),
            format!("clinical.toml:16: tables[0].placement: broadcast table `hospitals` cannot have a placement: {reason}"),
            format!("clinical.toml:17: tables[0].algorithm: broadcast table `hospitals` cannot have an algorithm: {reason}"),
        ]
    );
}

#[test]
fn physical_templates_name_shards_and_bound_tables_keep_their_own() {
    let text = format!(
        r#"{HEADER}
[[tables]]
name = "patients"
shard_key = "hospital_id"
shards = 4
physical = "{{table}}_v2_{{shard}}"

[[tables]]
name = "visits"
bind_to = "patients"
shard_key = "hospital_id"
"#
    );
    let d = diagnostics(&text);
    assert!(printed(&d).is_empty(), "{:?}", printed(&d));
    let db = load_one(&text);
    assert_eq!(
        db.table("patients").unwrap().physical_name(3),
        "patients_v2_3"
    );
    assert_eq!(db.table("visits").unwrap().physical_name(3), "visits_3");
    assert_eq!(
        db.sharded_table_of_physical("PATIENTS_V2_1")
            .map(|r| r.name.as_str()),
        Some("patients")
    );
    assert!(db.sharded_table_of_physical("patients_1").is_none());
    assert!(db.sharded_table_of_physical("patients_v2_4").is_none());
}

#[test]
fn physical_templates_that_collide_or_cannot_name_shards_are_refused() {
    let got = check_tables(
        r#"
[[tables]]
name = "a"
shard_key = "id"
shards = 2
physical = "x_{shard}"

[[tables]]
name = "b"
shard_key = "id"
shards = 2
physical = "x_{shard}"

[[tables]]
name = "c"
shard_key = "id"
shards = 2
physical = "{table}"

[[tables]]
name = "d"
broadcast = true
physical = "d_{shard}"
"#,
    );
    assert_eq!(
        got,
        [
            "clinical.toml:21: tables[1].physical: shard 0 of `b` and shard 0 of `a` would both \
             be physical table `x_0`",
            "clinical.toml:27: tables[2].physical: `{table}` must contain {shard} exactly once, \
             or two shards would share one physical table",
            "clinical.toml:32: tables[3].physical: broadcast table `d` cannot have physical \
             names of shards: it is copied whole to every group",
        ]
    );
}

#[test]
fn a_broadcast_table_cannot_take_a_shard_tables_name() {
    let got = check_tables(
        r#"
[[tables]]
name = "orders"
shard_key = "id"
shards = 4

[[tables]]
name = "orders_3"
broadcast = true
"#,
    );
    assert_eq!(
        got,
        ["clinical.toml:17: tables[1].name: broadcast table `orders_3` has the name of shard 3 of \
          `orders`: their physical tables would be the same"]
    );
}

const ROOT: &str = r#"
[[tables]]
name = "orders"
shard_key = "customer_id"
algorithm = "hash"
shards = 4
placement = ["g0", "g1", "g0", "g1"]
"#;

/// `ROOT` ends on line 16; the bound table text starts on line 17.
fn check_bound(bound: &str) -> Vec<String> {
    check_tables(&format!("{ROOT}{bound}"))
}

#[test]
fn bound_tables_inherit_the_layout() {
    let bound =
        "\n[[tables]]\nname = \"items\"\nbind_to = \"Orders\"\nshard_key = \"Customer_ID\"\n\
                 \n[[tables]]\nname = \"notes\"\nbind_to = \"items\"\nshard_key = \"customer_id\"\n\
                 algorithm = \"hash\"\nshards = 4\nplacement = [\"g0\", \"g1\", \"g0\", \"g1\"]\n";
    assert_eq!(check_bound(bound), Vec::<String>::new());
    let db = load_one(&format!("{HEADER}{ROOT}{bound}"));
    let orders = spec(&db, "orders");
    for name in ["items", "notes"] {
        let s = spec(&db, name);
        assert_eq!(s.family, "orders");
        assert_eq!(s.sharder.algorithm(), Algorithm::Hash);
        assert_eq!(s.placement, orders.placement);
        assert_eq!(s.shard_key, "customer_id");
    }
}

#[test]
fn bind_to_a_table_that_does_not_exist() {
    let got = check_bound(
        "\n[[tables]]\nname = \"items\"\nbind_to = \"order\"\nshard_key = \"customer_id\"\n",
    );
    assert_eq!(
        got,
        ["clinical.toml:20: tables[1].bind_to: table `order` does not exist in this file"]
    );
}

#[test]
fn bind_to_a_broadcast_table() {
    let got = check_tables(
        r#"
[[tables]]
name = "hospitals"
broadcast = true

[[tables]]
name = "wards"
bind_to = "hospitals"
shard_key = "hospital_id"
"#,
    );
    assert_eq!(
        got,
        ["clinical.toml:17: tables[1].bind_to: `hospitals` is a broadcast table; bind_to needs a \
          sharded table"]
    );
}

#[test]
fn bind_to_cycles() {
    let got = check_tables(
        r#"
[[tables]]
name = "a"
bind_to = "b"
shard_key = "id"

[[tables]]
name = "b"
bind_to = "a"
shard_key = "id"
"#,
    );
    assert_eq!(
        got,
        ["clinical.toml:18: tables[1].bind_to: bind_to forms a cycle: b -> a -> b"]
    );
}

#[test]
fn bind_to_with_a_different_shard_count_algorithm_or_placement() {
    let reason = "bound tables share algorithm, shards, placement and key_collation so joins on \
                  the key stay on one shard";
    let got = check_bound(
        r#"
[[tables]]
name = "items"
bind_to = "orders"
shard_key = "customer_id"
shards = 8
algorithm = "mod"
placement = ["g0", "g0", "g1", "g1"]
"#,
    );
    assert_eq!(
        got,
        [
            format!("clinical.toml:22: tables[1].shards: shards = 8 differs from 4 of `orders`: {reason}"),
            format!("clinical.toml:23: tables[1].algorithm: algorithm mod differs from hash of `orders`: {reason}"),
            format!("clinical.toml:24: tables[1].placement: placement [g0, g0, g1, g1] differs from [g0, g1, g0, g1] of `orders`: {reason}"),
        ]
    );
}

#[test]
fn bound_tables_use_the_same_key_column() {
    let got = check_bound(
        "\n[[tables]]\nname = \"items\"\nbind_to = \"orders\"\nshard_key = \"order_id\"\n",
    );
    assert_eq!(
        got,
        ["clinical.toml:21: tables[1].shard_key: shard_key `order_id` differs from `customer_id` \
          of `orders`: bound tables use the same key column"]
    );
    let got = check_bound("\n[[tables]]\nname = \"items\"\nbind_to = \"orders\"\n");
    assert_eq!(
        got,
        ["clinical.toml:18: tables[1].shard_key: sharded table `items` has no shard_key (a bound \
          table names its key too: shard_key = \"customer_id\")"]
    );
}

#[test]
fn a_broken_target_is_reported_once() {
    let got = check_tables(
        r#"
[[tables]]
name = "orders"
shard_key = "id"
shards = 0

[[tables]]
name = "items"
bind_to = "orders"
shard_key = "id"
"#,
    );
    assert_eq!(
        got,
        ["clinical.toml:14: tables[0].shards: shards must be at least 1, got 0"]
    );
}

#[test]
fn default_placement_spreads_contiguous_blocks_over_sorted_groups() {
    let three = HEADER.to_owned() + "\n[groups.a]\nmaster = \"127.0.0.1:3420\"\n";
    let db = load_one(&format!(
        "{three}\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nshards = 4\n\
         \n[[tables]]\nname = \"u\"\nshard_key = \"id\"\nshards = 6\nalgorithm = \"ring\"\n"
    ));
    let names: Vec<&str> = db.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["a", "g0", "g1"]);
    assert_eq!(db.default_group, 1);
    // shard i -> groups[i * 3 / 4]
    assert_eq!(spec(&db, "t").placement, [0, 0, 1, 2]);
    assert_eq!(spec(&db, "u").placement, [0, 0, 1, 1, 2, 2]);
    assert_eq!(spec(&db, "u").sharder.algorithm(), Algorithm::Ring);
}

#[test]
fn fewer_shards_than_groups_leaves_a_group_unused() {
    let one_shard = "\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nshards = 1\n";
    assert_eq!(
        check_tables(one_shard),
        ["clinical.toml:8: groups.g1: warning: group `g1` is not used: no placement names it and \
          it is not the default group"]
    );
    let with_broadcast = format!("{one_shard}\n[[tables]]\nname = \"h\"\nbroadcast = true\n");
    let d = diagnostics(&format!("{HEADER}{with_broadcast}"));
    assert!(!d.has_errors());
    assert_eq!(
        printed(&d),
        ["clinical.toml:8: groups.g1: warning: group `g1` holds no shard and is not the default \
          group: it only gets copies of broadcast tables"]
    );
}

#[test]
fn warnings_do_not_fail_loading() {
    let text =
        format!("{HEADER}replicas = [{{ addr = \"127.0.0.1:3411\", weight = 0 }}]\n{USES_G1}");
    let (rules, d) = from_sources([(PathBuf::from("c.toml"), Ok(text.clone()))]);
    assert!(rules.is_some());
    assert_eq!(
        printed(&d),
        [
            "c.toml:10: groups.g1.replicas[0]: warning: replica `127.0.0.1:3411` has weight 0: \
          weighted reads never use it"
        ]
    );
    assert!(rules_from_strs(&[("c.toml", &text)]).is_ok());
}

#[test]
fn key_generator_column_must_not_be_empty() {
    let got = check_tables(
        "\n[[tables]]\nname = \"t\"\nshard_key = \"id\"\nshards = 2\nkey_generator = { column = \"\" }\n",
    );
    assert_eq!(
        got,
        ["clinical.toml:15: tables[0].key_generator.column: the column must not be empty"]
    );
}

// ---- files and directories ----

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_directory_holds_one_database_per_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.toml", &HEADER.replace("clinical", "billing"));
    write(dir.path(), "a.toml", HEADER);
    write(dir.path(), ".#a.toml", "not toml at all [");
    write(dir.path(), "notes.txt", "ignored");
    let rules = load_rules(dir.path()).unwrap();
    assert_eq!(
        rules.databases().keys().collect::<Vec<_>>(),
        ["billing", "clinical"]
    );
    assert_eq!(
        rules.database("billing").unwrap().source,
        dir.path().join("b.toml")
    );
}

#[test]
fn two_files_cannot_declare_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEADER}{USES_G1}");
    let a = write(dir.path(), "a.toml", &text);
    let b = write(
        dir.path(),
        "b.toml",
        &text.replace("\"clinical\"", "\"Clinical\""),
    );
    let d = load_rules(dir.path()).unwrap_err();
    assert_eq!(
        printed(&d),
        [format!(
            "{}:2: database.name: database `Clinical` is already declared in {} (database names \
             are case-insensitive)",
            b.display(),
            a.display()
        )]
    );
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.toml",
        &HEADER.replace("default_group = \"g0\"", "default_group = \"x\""),
    );
    write(
        dir.path(),
        "b.toml",
        &format!("{}\n[oops]\n", HEADER.replace("clinical", "b")),
    );
    let d = check(dir.path());
    assert_eq!(d.errors().count(), 2, "{d}");
    assert!(d.0[0].file.ends_with("a.toml") && d.0[1].file.ends_with("b.toml"));
}

#[test]
fn unreadable_paths_and_empty_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = load_rules(dir.path()).unwrap_err();
    assert_eq!(
        printed(&d),
        [format!(
            "{}: no rule files (*.toml) in this directory",
            dir.path().display()
        )]
    );
    let missing = dir.path().join("missing.toml");
    let d = check(&missing);
    assert!(d.has_errors());
    assert!(d
        .to_string()
        .starts_with(&format!("{}: cannot read: ", missing.display())));
}

// ---- the live-schema check ----

#[test]
fn mod_needs_an_integer_key_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}\n[[tables]]\nname = \"t\"\nshard_key = \"Code\"\nshards = 2\n\
         \n[[tables]]\nname = \"u\"\nshard_key = \"code\"\nshards = 2\nalgorithm = \"hash\"\n\
         \n[[tables]]\nname = \"v\"\nshard_key = \"id\"\nshards = 2\n"
    );
    write(dir.path(), "clinical.toml", &text);
    let rules = load_rules(dir.path()).unwrap();
    let db = rules.database("clinical").unwrap();
    let types = |table: &str, column: &str| match (table, column) {
        ("t", "code") | ("u", "code") => Some("varchar(16)".to_owned()),
        ("v", "id") => Some("bigint(20) unsigned".to_owned()),
        _ => None,
    };
    let d = check_key_column_types(db, types);
    assert_eq!(
        printed(&d),
        [format!(
            "{}:13: tables[0].shard_key: algorithm mod needs an integer key column, but `t`.`code` \
             is varchar(16); use hash or ring for other types",
            dir.path().join("clinical.toml").display()
        )]
    );
}

// ---- two groups on one server and schema (issue 9 item 6) ----

#[test]
fn two_groups_on_one_server_and_schema_are_an_error() {
    let text = HEADER.replace("127.0.0.1:3410", "localhost:3400") + USES_G1;
    let d = printed(&diagnostics(&text));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with(
            "clinical.toml:9: groups.g1.master: master `localhost:3400` with schema `clinical` \
             is also the master of group `g0`"
        ),
        "{d:?}"
    );
}

#[test]
fn a_replica_that_is_another_groups_master_is_an_error() {
    let text = format!("{HEADER}replicas = [\"127.0.0.1:3400\"]\n{USES_G1}");
    let d = printed(&diagnostics(&text));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with(
            "clinical.toml:10: groups.g1.replicas[0]: replica `127.0.0.1:3400` with schema \
             `clinical` is also the master of group `g0`"
        ),
        "{d:?}"
    );
}

#[test]
fn one_server_with_two_schemas_is_two_groups() {
    let text =
        HEADER.replace("127.0.0.1:3410", "127.0.0.1:3400") + "schema = \"clinical_b\"\n" + USES_G1;
    assert_eq!(printed(&diagnostics(&text)), Vec::<String>::new());
}

/// Several logical databases may expose one schema (with different read policies, say): each
/// statement goes through one of them, so nothing runs twice.
#[test]
fn two_databases_may_share_a_server_and_schema() {
    let other = "[database]\nname = \"other\"\ndefault_group = \"g0\"\n\n[groups.g0]\n\
                 master = \"127.0.0.1:3410\"\nschema = \"clinical\"\n";
    let (rules, d) = from_sources([
        (
            PathBuf::from("clinical.toml"),
            Ok(format!("{HEADER}{USES_G1}")),
        ),
        (PathBuf::from("other.toml"), Ok(other.to_owned())),
    ]);
    assert!(rules.is_some(), "{d}");
}

// ---- key_collation ----

#[test]
fn key_collation_builds_the_sharder_and_bound_tables_inherit_it() {
    let text = format!(
        "{HEADER}{}key_collation = \"UTF8MB4_General_CI\"\n\n[[tables]]\nname = \"items\"\n\
         bind_to = \"orders\"\nshard_key = \"customer_id\"\n\n[[tables]]\nname = \"notes\"\n\
         bind_to = \"orders\"\nshard_key = \"customer_id\"\nkey_collation = \"utf8mb4_general_ci\"\n",
        ROOT
    );
    let db = load_one(&text);
    for name in ["orders", "items", "notes"] {
        let c = spec(&db, name).sharder.collation().map(|c| c.name());
        assert_eq!(c, Some("utf8mb4_general_ci"), "{name}");
    }
}

#[test]
fn key_collation_on_a_mod_table_is_an_error_naming_file_table_and_key() {
    let got = check_tables(
        "\n[[tables]]\nname = \"orders\"\nshard_key = \"id\"\nalgorithm = \"mod\"\nshards = 2\n\
         key_collation = \"utf8mb4_bin\"\n",
    );
    assert_eq!(
        got,
        [
            "clinical.toml:16: tables[0].key_collation: table `orders` uses algorithm mod, whose \
          key is an integer column: key_collation applies to text keys of hash and ring tables \
          only"
        ]
    );
}

#[test]
fn an_unknown_key_collation_lists_the_supported_ones() {
    let got = check_tables(
        "\n[[tables]]\nname = \"orders\"\nshard_key = \"code\"\nalgorithm = \"ring\"\nshards = 2\n\
         key_collation = \"utf8mb4_0900_ai_ci\"\n",
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "clinical.toml:16: tables[0].key_collation: collation `utf8mb4_0900_ai_ci` of table \
             `orders` is not supported as a key_collation (the proxy must know how it compares \
             text); supported: binary, utf8mb4_bin, utf8mb4_nopad_bin, utf8mb4_general_ci,"
        ),
        "{got:?}"
    );
    assert!(got[0].contains("utf8mb4_uca1400_ai_ci"), "{got:?}");
    assert!(got[0].contains("latin1_swedish_ci"), "{got:?}");
}

#[test]
fn bound_tables_must_agree_on_key_collation() {
    let reason = "bound tables share algorithm, shards, placement and key_collation so joins on \
                  the key stay on one shard";
    let got = check_bound(
        "\n[[tables]]\nname = \"items\"\nbind_to = \"orders\"\nshard_key = \"customer_id\"\n\
         key_collation = \"utf8mb4_bin\"\n",
    );
    assert_eq!(
        got,
        [format!(
            "clinical.toml:22: tables[1].key_collation: key_collation utf8mb4_bin differs from \
             none of `orders`: {reason}"
        )]
    );
}

#[test]
fn a_broadcast_table_has_no_key_collation() {
    let got = check_tables(
        "\n[[tables]]\nname = \"h\"\nbroadcast = true\nkey_collation = \"utf8mb4_bin\"\n",
    );
    assert_eq!(
        got,
        [
            "clinical.toml:14: tables[0].key_collation: broadcast table `h` cannot have a \
          key_collation: it is copied whole to every group"
        ]
    );
}
