//! The files operators install from deploy/ (issue 14, point 4): the systemd unit must pass
//! `systemd-analyze verify` (a mistyped key or section is only a warning to systemd, so any
//! output fails the test), and the commands it runs must be ones this binary accepts.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../deploy/shardgate.service");
const INSTALLED_BINARY: &str = "/usr/local/bin/shardgate";

/// The unit with its binary path pointed at the one cargo built (verify checks that the
/// commands exist and are executable).
fn unit_for_this_build(dir: &Path) -> std::path::PathBuf {
    let unit = UNIT.replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_shardgate"));
    let path = dir.join("shardgate.service");
    std::fs::write(&path, unit).unwrap();
    path
}

fn verify(path: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(path)
        .output()
        .expect("systemd-analyze (Debian package systemd; deploy/test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, output) = verify(&unit_for_this_build(dir.path()));
    assert!(ok && output.trim().is_empty(), "{output}");
}

#[test]
fn systemd_analyze_verify_would_catch_a_broken_unit() {
    // The check above can fail: a misspelt key is reported.
    let dir = tempfile::tempdir().unwrap();
    let path = unit_for_this_build(dir.path());
    let broken = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Restart=on-failure", "Restrat=on-failure");
    std::fs::write(&path, broken).unwrap();
    let (_, output) = verify(&path);
    assert!(output.contains("Restrat"), "{output}");
}

#[test]
fn systemd_unit_reloads_with_sighup_and_restarts_on_failure() {
    let line = |key: &str| {
        UNIT.lines()
            .find(|l| l.starts_with(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in deploy/shardgate.service"))
            .to_owned()
    };
    assert_eq!(line("ExecReload"), "ExecReload=/bin/kill -HUP $MAINPID");
    assert_eq!(line("Restart"), "Restart=on-failure");
    assert!(line("ExecStart").ends_with("serve --config /etc/shardgate/shardgate.toml"));
}

#[test]
fn the_units_start_check_is_a_command_this_binary_runs() {
    // ExecStartPre runs `shardgate check --config F`: with the demo config it succeeds.
    let pre = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre="))
        .unwrap();
    let args: Vec<&str> = pre.split_whitespace().skip(1).collect();
    assert_eq!(args, ["check", "--config", "/etc/shardgate/shardgate.toml"]);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["check", "--config"])
        .arg(repo.join("deploy/shardgate.toml"))
        .env("SHARDGATE_BACKEND_PASSWORD", "unused-by-check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
