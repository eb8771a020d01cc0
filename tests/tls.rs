//! TLS for clients (issue 15, point 3) with a certificate made by the test (never a committed
//! key): the mariadb CLI with --ssl, pymysql and mysql-connector over TLS (native and
//! caching_sha2_password full authentication), plain clients accepted or refused with 3159
//! under require_secure_transport, and bad certificate paths as config errors.

mod common;

use std::path::{Path, PathBuf};

use shardgate::config::server::{parse_server_config, TlsConfig};

use common::*;

/// A self-signed certificate for 127.0.0.1 and its key, written to `dir`.
fn make_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

async fn setup(test: &str, required: bool) -> (TestSchema, Proxy, tempfile::TempDir, PathBuf) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    for g in 0..2 {
        schema
            .exec(g, &["INSERT INTO hospitals VALUES (2, 'St. Anne', 'Brno')"])
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_certificate(dir.path());
    let ca = cert.clone();
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.tls = Some(TlsConfig {
                cert,
                key,
                require_secure_transport: required,
            })
        },
    )
    .await;
    (schema, proxy, dir, ca)
}

fn run_python(port: u16, ca: &Path, required: bool) {
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("tests/clients/tls.py"))
        .env("SHARDGATE_PORT", port.to_string())
        .env("SHARDGATE_CA", ca)
        .env("SHARDGATE_REQUIRED", if required { "1" } else { "0" })
        .output()
        .expect("run python3");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "tls.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("tls ok"), "{stdout}");
}

/// The mariadb CLI's own report of its connection (`status`), and the query's output.
fn mariadb_cli(port: u16, extra: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", USER])
        .arg(format!("-p{PASSWORD}"))
        .args(extra)
        .args([
            "clinical",
            "-e",
            "status; SELECT name FROM hospitals WHERE id = 2",
        ])
        .output()
        .expect("run mariadb");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_and_the_cli_log_in_over_tls() {
    let (schema, proxy, _dir, ca) = setup("tls_drivers", false).await;
    let port = proxy.port;
    let ca_arg = format!("--ssl-ca={}", ca.display());
    let (ok, out) = tokio::task::spawn_blocking(move || {
        mariadb_cli(port, &["--ssl", &ca_arg, "--ssl-verify-server-cert"])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("Cipher in use is"),
        "the CLI is on TLS:\n{out}"
    );
    assert!(out.contains("St. Anne"), "{out}");
    // Without --ssl the same CLI still gets in (TLS offered, not required)... unless the
    // client defaults to TLS, in which case it is on TLS too: either way it answers.
    let (ok, out) = tokio::task::spawn_blocking(move || mariadb_cli(port, &["--skip-ssl"]))
        .await
        .unwrap();
    assert!(ok && out.contains("St. Anne"), "{out}");
    assert!(!out.contains("Cipher in use is"), "{out}");
    tokio::task::spawn_blocking(move || run_python(port, &ca, false))
        .await
        .unwrap();
    // mysql_async here is built without TLS: a plain login works when TLS is optional.
    let mut c = proxy.connect(Some("clinical")).await;
    use mysql_async::prelude::Queryable;
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM hospitals")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    c.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_secure_transport_refuses_plain_logins_with_3159() {
    let (schema, proxy, _dir, ca) = setup("tls_required", true).await;
    let port = proxy.port;
    let r = mysql_async::Conn::new(proxy.opts(Some("clinical"))).await;
    let msg = expect_code(r, 3159);
    assert!(msg.contains("require_secure_transport"), "{msg}");
    let (ok, out) = tokio::task::spawn_blocking(move || mariadb_cli(port, &["--skip-ssl"]))
        .await
        .unwrap();
    assert!(!ok && out.contains("3159"), "{out}");
    let ca_arg = format!("--ssl-ca={}", ca.display());
    let (ok, out) = tokio::task::spawn_blocking(move || mariadb_cli(port, &["--ssl", &ca_arg]))
        .await
        .unwrap();
    assert!(ok && out.contains("St. Anne"), "{out}");
    tokio::task::spawn_blocking(move || run_python(port, &ca, true))
        .await
        .unwrap();
    schema.drop().await;
}

#[test]
fn bad_certificate_paths_are_config_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_certificate(dir.path());
    let config = |cert: &str, key: &str| {
        format!(
            "listen = \"127.0.0.1:1\"\nrules = \"r\"\n[[users]]\nname = \"a\"\npassword = \"b\"\n\
             [backend]\nuser = \"u\"\npassword = \"p\"\n[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n"
        )
    };
    let parse = |text: String| parse_server_config(&text, dir.path(), |_| None);
    let ok = parse(config(cert.to_str().unwrap(), key.to_str().unwrap())).unwrap();
    assert_eq!(ok.tls.unwrap().cert, cert);
    let e = parse(config("missing.pem", key.to_str().unwrap())).unwrap_err();
    assert!(
        e.to_string().contains("tls.cert: cannot read") && e.to_string().contains("missing.pem"),
        "{e}"
    );
    // The key file given as the certificate, and the certificate as the key.
    let e = parse(config(key.to_str().unwrap(), cert.to_str().unwrap())).unwrap_err();
    assert!(e.to_string().contains("tls."), "{e}");
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = make_certificate(other.path());
    let e = parse(config(cert.to_str().unwrap(), other_key.to_str().unwrap())).unwrap_err();
    assert!(
        e.to_string().contains("tls.key"),
        "a key of another certificate: {e}"
    );
}

/// Reads from `s` until the proxy closes it; `Err` if it is still open after `limit`.
async fn closed_within(
    s: &mut tokio::net::TcpStream,
    limit: std::time::Duration,
) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    ended.map_err(|_| format!("still open after {limit:?}"))
}

/// Regression: a client that connected and stalled (said nothing after the greeting, or
/// sent an SSLRequest and never started the TLS handshake) kept its socket and task for
/// ever; now the login must be done within `LOGIN_TIMEOUT` (10 s), on the TLS listener and
/// on a plain one, while a client logging in meanwhile is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_stalling_in_the_login_are_disconnected_after_the_login_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (schema, proxy, _dir, _ca) = setup("tls_stall", false).await;
    let plain = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let limit =
        shardgate::frontend::login_deadline::LOGIN_TIMEOUT + std::time::Duration::from_secs(5);

    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .unwrap();
    let mut silent_plain = tokio::net::TcpStream::connect(("127.0.0.1", plain.port))
        .await
        .unwrap();
    let mut ssl_then_nothing = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .unwrap();
    // Greeting first, then a bare SSLRequest (CLIENT_SSL | PROTOCOL_41 | SECURE_CONNECTION).
    let mut header = [0u8; 4];
    ssl_then_nothing.read_exact(&mut header).await.unwrap();
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut greeting = vec![0u8; len];
    ssl_then_nothing.read_exact(&mut greeting).await.unwrap();
    let caps: u32 = 0x0800 | 0x0200 | 0x8000;
    let mut req = vec![32u8, 0, 0, 1];
    req.extend_from_slice(&caps.to_le_bytes());
    req.extend_from_slice(&(16u32 << 20).to_le_bytes());
    req.push(45);
    req.extend_from_slice(&[0u8; 23]);
    ssl_then_nothing.write_all(&req).await.unwrap();

    // Others log in meanwhile.
    let mut c = mysql_async::Conn::new(plain.opts(Some("clinical")))
        .await
        .unwrap();
    let one: Option<i64> = mysql_async::prelude::Queryable::query_first(&mut c, "SELECT 1")
        .await
        .unwrap();
    assert_eq!(one, Some(1));
    let (a, b, d) = tokio::join!(
        closed_within(&mut silent, limit),
        closed_within(&mut silent_plain, limit),
        closed_within(&mut ssl_then_nothing, limit)
    );
    assert_eq!(
        (a, b, d),
        (Ok(()), Ok(()), Ok(())),
        "silent TLS-listener client, silent plain client, SSLRequest then nothing"
    );
    drop(c);
    schema.drop().await;
}
