//! Prometheus text metrics over plain HTTP (`GET /metrics` on `admin_listen`). A tiny
//! HTTP/1.0-style responder: one request per connection, then close; nothing else is served.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::backend::health::{HealthRegistry, Role, LAG_UNKNOWN};
use crate::server::Counters;

pub async fn serve(listener: TcpListener, counters: Arc<Counters>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let counters = counters.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, &counters).await;
                });
            }
            Err(e) => {
                tracing::warn!("admin accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, counters: &Counters) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // The request line and headers; a request body is never expected.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, content_type, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => (
            "200 OK",
            "text/plain; version=0.0.4",
            render(counters.health(), counters),
        ),
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try GET /metrics\n".into()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET /metrics\n".into(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The metrics text, one series per (database, group, role, address).
pub fn render(registry: &HealthRegistry, counters: &Counters) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP shardgate_client_connections Client connections open now.\n\
         # TYPE shardgate_client_connections gauge\n\
         shardgate_client_connections {}",
        counters.open_connections()
    );
    let _ = writeln!(
        out,
        "# HELP shardgate_uptime_seconds Seconds since the proxy started.\n\
         # TYPE shardgate_uptime_seconds counter\n\
         shardgate_uptime_seconds {}",
        registry.uptime_secs()
    );
    let entries = registry.entries();
    let series: [(&str, &str, &str); 7] = [
        (
            "shardgate_server_up",
            "gauge",
            "1 if the server answered its last health check.",
        ),
        (
            "shardgate_server_in_rotation",
            "gauge",
            "1 if the server takes statements now (replica: reads; master: circuit closed).",
        ),
        (
            "shardgate_replica_replicating",
            "gauge",
            "1 if both replication threads run (replicas only).",
        ),
        (
            "shardgate_replica_lag_seconds",
            "gauge",
            "Seconds_Behind_Master (replicas only; absent when unknown).",
        ),
        (
            "shardgate_server_check_latency_microseconds",
            "gauge",
            "Moving average of the health check round trip.",
        ),
        (
            "shardgate_server_open_connections",
            "gauge",
            "Backend connections client sessions hold.",
        ),
        (
            "shardgate_server_queries_total",
            "counter",
            "Statements sent to the server.",
        ),
    ];
    for (i, (name, kind, help)) in series.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for e in &entries {
            let h = &e.health;
            let replica = e.role == Role::Replica;
            let value: Option<i64> = match i {
                0 => Some(h.is_up() as i64),
                1 => Some(h.in_rotation() as i64),
                2 => replica.then(|| h.is_replicating() as i64),
                3 => (replica && h.lag_s() != LAG_UNKNOWN).then(|| h.lag_s()),
                4 => Some(h.latency_us() as i64),
                5 => Some(e.stats.open_conns.load(Ordering::Relaxed)),
                _ => Some(e.stats.queries.load(Ordering::Relaxed) as i64),
            };
            if let Some(v) = value {
                let _ = writeln!(
                    out,
                    "{name}{{database=\"{}\",group=\"{}\",role=\"{}\",address=\"{}\"}} {v}",
                    escape(&e.database),
                    escape(&e.group),
                    e.role.name(),
                    escape(&e.addr)
                );
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
