//! The admin HTTP endpoint on `admin_listen`: a tiny HTTP/1.1 responder, one request per
//! connection, then close. It has no authentication, like other proxies' admin ports: it
//! must listen on a trusted address (127.0.0.1).
//!
//! - `GET /metrics`: Prometheus text (`metrics`);
//! - `POST /hold`, `POST /release`, `GET /hold`: write holds for a resharding cutover (`hold`);
//! - `POST /reload[?allow_layout=db.table,...]`: reload the rule files (`reload`).
//!
//! Parameters come in the query string; unknown ones are refused (400), so a typo in a job
//! never turns into a hold of nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::proxy_state::ProxyState;

/// Longest request head read, and longest body read (and ignored).
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The endpoints and their methods, for 404 and 405 answers.
const ENDPOINTS: &[(&str, &str)] = &[
    ("/metrics", "GET"),
    ("/hold", "GET, POST"),
    ("/release", "POST"),
    ("/reload", "POST"),
];

pub async fn serve(listener: TcpListener, state: Arc<ProxyState>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, &state).await;
                });
            }
            Err(e) => {
                tracing::warn!("admin accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// An answer: status, content type and body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    allow: Option<&'static str>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
            allow: None,
        }
    }

    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body + "\n",
            allow: None,
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            _ => "Error",
        }
    }
}

async fn answer(mut stream: TcpStream, state: &Arc<ProxyState>) -> std::io::Result<()> {
    let response = match read_request(&mut stream).await? {
        Ok(request) => route(&request, state).await,
        Err(bad) => bad,
    };
    let allow = response
        .allow
        .map(|a| format!("Allow: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        response.status,
        response.reason(),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(response.body.as_bytes()).await?;
    stream.shutdown().await
}

async fn route(req: &Request, state: &Arc<ProxyState>) -> Response {
    let p = &req.params;
    match (req.method.as_str(), req.path.as_str()) {
        // Scrapers may add parameters of their own: ignored.
        ("GET", "/metrics") => Response {
            content_type: "text/plain; version=0.0.4",
            ..Response::text(200, super::metrics::render(state))
        },
        ("GET", "/hold") => super::hold::list(state, p),
        ("POST", "/hold") => super::hold::hold(state, p).await,
        ("POST", "/release") => super::hold::release(state, p),
        ("POST", "/reload") => super::reload::reload_endpoint(state, p),
        (_, path) => match ENDPOINTS.iter().find(|(p, _)| *p == path) {
            Some((_, methods)) => Response {
                allow: Some(methods),
                ..Response::text(405, format!("{path} takes {methods}"))
            },
            None => Response::text(
                404,
                format!(
                    "no endpoint {path}; there are: {}",
                    ENDPOINTS
                        .iter()
                        .map(|(p, m)| format!("{m} {p}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        },
    }
}

/// A parsed request line.
struct Request {
    method: String,
    path: String,
    params: Params,
}

/// Reads the request head (and any body, which is ignored). `Ok(Err)` is a 400 to send.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Result<Request, Response>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= MAX_HEAD {
            return Ok(Err(Response::text(400, "request head too long")));
        }
        let n = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            break buf.len();
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    // Closing with unread bytes would reset the connection before the client reads the
    // answer: read the body (bounded) and drop it.
    let mut body_left = content_length(&head)
        .min(MAX_BODY)
        .saturating_sub(buf.len() - head_end);
    while body_left > 0 {
        let read = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await;
        match read {
            Ok(Ok(n)) if n > 0 => body_left = body_left.saturating_sub(n),
            _ => break,
        }
    }
    Ok(parse_request_line(head.lines().next().unwrap_or_default()))
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

fn parse_request_line(line: &str) -> Result<Request, Response> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(Response::text(400, "malformed request line"));
    };
    if method.is_empty() || !target.starts_with('/') {
        return Err(Response::text(400, "malformed request line"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        params: Params::parse(query)?,
    })
}

/// Query-string parameters, percent-decoded.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Params, Response> {
        let mut out = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
                return Err(Response::text(
                    400,
                    format!("bad percent-encoding in `{pair}`"),
                ));
            };
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(Response::text(400, format!("parameter `{k}` given twice")));
            }
            out.push((k, v));
        }
        Ok(Params(out))
    }

    /// Refuses parameters other than `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), Response> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((k, _)) if known.is_empty() => Err(Response::text(
                400,
                format!("unknown parameter `{k}`: this endpoint takes none"),
            )),
            Some((k, _)) => Err(Response::text(
                400,
                format!("unknown parameter `{k}`; known: {}", known.join(", ")),
            )),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &str) -> Result<&str, Response> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim()),
            _ => Err(Response::text(400, format!("missing parameter `{name}`"))),
        }
    }

    /// A duration in milliseconds: `default` when absent, at most `max`.
    pub fn millis(&self, name: &str, default: u64, max: u64) -> Result<Duration, Response> {
        let Some(v) = self.get(name) else {
            return Ok(Duration::from_millis(default));
        };
        match v.trim().parse::<u64>() {
            Ok(ms) if ms <= max => Ok(Duration::from_millis(ms)),
            _ => Err(Response::text(
                400,
                format!("`{name}` must be a whole number of milliseconds up to {max}, not `{v}`"),
            )),
        }
    }
}

/// `%XX` decoded; None when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `s` as a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_and_parameters() {
        let r = parse_request_line("POST /hold?database=clinical&tables=a%2Cb HTTP/1.1")
            .unwrap_or_else(|_| panic!("parses"));
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hold"));
        assert_eq!(r.params.get("tables"), Some("a,b"));
        assert!(r.params.only(&["database", "tables"]).is_ok());
        assert_eq!(r.params.only(&["database"]).unwrap_err().status, 400);
        for bad in [
            "",
            "GET",
            "GET metrics HTTP/1.1",
            "GET /x?a=%zz HTTP/1.1",
            "GET /x?a=1&a=2 HTTP/1.1",
            "GET /x?a=%ff HTTP/1.1",
        ] {
            assert!(parse_request_line(bad).is_err(), "{bad}");
        }
        let p = Params::parse("drain_ms=20&lease_ms=x").unwrap_or_default();
        assert_eq!(
            p.millis("drain_ms", 5, 100).ok(),
            Some(Duration::from_millis(20))
        );
        assert_eq!(p.millis("lease_ms", 5, 100).unwrap_err().status, 400);
        assert_eq!(
            p.millis("other", 5, 100).ok(),
            Some(Duration::from_millis(5))
        );
        assert_eq!(p.millis("drain_ms", 5, 10).unwrap_err().status, 400);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
