//! `shardgate check --connect`: what only the servers can tell (issue 9 item 8). A unique key
//! without the shard key is unique per shard only; `check --connect` names every such key,
//! and every server it cannot log in to.

mod common;

use std::process::Command;

use common::*;

fn check_connect(dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["check", "--connect", "--config"])
        .arg(dir.join("shardgate.toml"))
        .output()
        .expect("run shardgate");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "warnings must not fail check:\n{text}"
    );
    text
}

#[tokio::test]
async fn unique_keys_without_the_shard_key_and_unreachable_servers_are_named() {
    let schema = TestSchema::create("check_connect_keys").await;
    schema.create_clinical_tables().await;
    // patients carries the shard key in its primary key: nothing to say about it.
    schema
        .exec(
            0,
            &[
                "ALTER TABLE patients_0 DROP PRIMARY KEY, ADD PRIMARY KEY (id, hospital_id)",
                "ALTER TABLE trial_enrollment_0 ADD UNIQUE KEY uq_code (trial_code, hospital_id), \
                 ADD UNIQUE KEY uq_patient (patient_id)",
            ],
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let rules = schema.clinical_rules("clinical").replace(
        "[groups.g1]\n",
        "[groups.g1]\nreplicas = [\"127.0.0.1:1\"]\n",
    );
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/clinical.toml"), rules).unwrap();
    std::fs::write(
        dir.path().join("shardgate.toml"),
        format!(
            "listen = \"127.0.0.1:3307\"\nrules = \"rules\"\n\n[[users]]\nname = \"{USER}\"\n\
             password = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n"
        ),
    )
    .unwrap();
    let text = check_connect(dir.path());
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert!(
        warnings.iter().any(|w| w.contains(
            "table `clinical_data`: primary key `PRIMARY` (id) does not contain the shard key \
             `hospital_id`"
        )),
        "{text}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(
            "table `trial_enrollment`: unique key `uq_patient` (patient_id) does not contain"
        )),
        "{text}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("group `g1` replica `127.0.0.1:1`") && w.contains("unreachable")),
        "{text}"
    );
    assert!(!text.contains("table `patients`"), "{text}");
    assert!(!text.contains("uq_code"), "{text}");
    // trial_enrollment's PRIMARY (id) and uq_patient, clinical_data's PRIMARY, the replica.
    assert_eq!(warnings.len(), 4, "{text}");
    schema.drop().await;
}

/// A hash key column that compares text other than byte by byte, without `key_collation`:
/// its text lookups read all shards, and `check --connect` says so and what to declare. A
/// NO PAD binary key and a declared, matching key_collation are not reported.
#[tokio::test]
async fn text_key_columns_whose_collation_placement_does_not_follow_are_named() {
    let schema = TestSchema::create("check_connect_collation").await;
    for (table, ty) in [
        (
            "codes",
            "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        ),
        (
            "exact",
            "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
        ),
        (
            "declared",
            "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci",
        ),
        (
            "wrong",
            "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        ),
    ] {
        for shard in 0..2 {
            schema
                .exec(
                    shard,
                    &[&format!(
                        "CREATE TABLE {table}_{shard} (k {ty} NOT NULL, PRIMARY KEY (k))"
                    )],
                )
                .await;
        }
    }
    let table = |name: &str, collation: Option<&str>| {
        format!(
            "\n[[tables]]\nname = \"{name}\"\nshard_key = \"k\"\nalgorithm = \"hash\"\n\
             shards = 2\nplacement = [\"g0\", \"g1\"]\n{}",
            collation
                .map(|c| format!("key_collation = \"{c}\"\n"))
                .unwrap_or_default()
        )
    };
    let rules = format!(
        "[database]\nname = \"shop\"\ndefault_group = \"g0\"\n\n[groups.g0]\n\
         master = \"127.0.0.1:{m0}\"\nschema = \"{s}\"\n\n[groups.g1]\n\
         master = \"127.0.0.1:{m1}\"\nschema = \"{s}\"\n{}{}{}{}",
        table("codes", None),
        table("exact", None),
        table("declared", Some("latin1_swedish_ci")),
        table("wrong", Some("utf8mb4_general_ci")),
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/shop.toml"), rules).unwrap();
    std::fs::write(
        dir.path().join("shardgate.toml"),
        format!(
            "listen = \"127.0.0.1:3307\"\nrules = \"rules\"\n\n[[users]]\nname = \"{USER}\"\n\
             password = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n"
        ),
    )
    .unwrap();
    let text = check_connect(dir.path());
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert!(
        warnings.iter().any(|w| w.contains(
            "shop: table `codes`: key column `k` is text with collation utf8mb4_general_ci"
        ) && w.contains("declare key_collation = \"utf8mb4_general_ci\"")
            && w.contains("resharding job")),
        "{text}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(
            "shop: table `wrong`: key column `k` is text with collation utf8mb4_unicode_ci, but \
             the rules declare key_collation = \"utf8mb4_general_ci\""
        )),
        "{text}"
    );
    assert!(!text.contains("`exact`"), "{text}");
    assert!(!text.contains("`declared`"), "{text}");
    assert_eq!(warnings.len(), 2, "{text}");
    schema.drop().await;
}
