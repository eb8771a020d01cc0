//! Talking to a running proxy's `admin_listen` (plain HTTP): hold and release writes to the
//! moving tables, and reload with the cutover's layout change allowed.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(30);

/// `POST path` to `addr`; the body of a 2xx answer, else an error with the proxy's words.
pub async fn post(addr: &str, path: &str) -> Result<String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot reach the proxy's admin_listen at {addr}"))?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .with_context(|| format!("the proxy at {addr} did not answer POST {path} in time"))??;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("the proxy at {addr} gave no HTTP status: {head}"))?;
    if !(200..300).contains(&status) {
        bail!("proxy {addr}: POST {path}: {status}: {}", body.trim());
    }
    Ok(body.to_owned())
}

pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
