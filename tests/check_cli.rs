//! `shardgate check` and `shardgate serve` on bad rule files: every mistake reported with file,
//! key and reason, and a non-zero exit.

use std::process::Command;

fn shardgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(args)
        .output()
        .expect("run shardgate")
}

#[test]
fn the_example_rules_pass() {
    let out = shardgate(&["check", concat!(env!("CARGO_MANIFEST_DIR"), "/shard-rules")]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_mistake_is_reported_and_the_exit_is_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"[database]
name = "bad"
default_group = "g9"

[groups.g0]
master = "127.0.0.1:3400"
colour = "blue"

[[tables]]
name = "t"
shard_key = "k"
shards = 4
placement = ["g0", "g0", "g1"]

[[tables]]
name = "u"
shards = 2
"#,
    )
    .unwrap();
    let out = shardgate(&["check", file.to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    for needle in ["bad.toml", "colour", "g9", "placement", "g1", "shard_key"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // serve refuses the same file with the same messages.
    let cfg = dir.path().join("shardgate.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:39999\"\nrules = \"bad.toml\"\n[[users]]\nname = \"app\"\npassword = \"x\"\n[backend]\nuser = \"app\"\npassword = \"x\"\n",
    )
    .unwrap();
    let out = shardgate(&["serve", "--config", cfg.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("colour") && text.contains("placement"),
        "{text}"
    );
}

/// Issue 9 item 6: a broadcast `UPDATE cfg SET n = n + 1` ran twice because two groups named one
/// server and schema; `check` now refuses that layout (and so does every load).
#[test]
fn two_groups_on_one_server_and_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twice.toml");
    std::fs::write(
        &file,
        r#"[database]
name = "twice"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:3400"

[groups.g1]
master = "localhost:3400"

[[tables]]
name = "cfg"
broadcast = true
"#,
    )
    .unwrap();
    let out = shardgate(&["check", file.to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("twice.toml:9: groups.g1.master")
            && text.contains("is also the master of group `g0`"),
        "{text}"
    );
}
