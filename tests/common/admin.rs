//! The admin HTTP endpoint (`admin_listen`) from tests: a free port for it, and requests.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A port nothing listens on now (the proxy binds it a moment later).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// An admin answer: status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `METHOD target` and reads the whole answer.
pub async fn http(port: u16, method: &str, target: &str) -> Answer {
    raw_http(
        port,
        &format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    )
    .await
}

/// Sends `request` as is.
pub async fn raw_http(port: u16, request: &str) -> Answer {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("admin port {port}: {e}"));
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {out:?}"));
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Waits until the admin endpoint accepts connections.
pub async fn wait_until_up(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("admin endpoint on port {port} did not come up");
}
