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
