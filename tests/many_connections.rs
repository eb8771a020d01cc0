//! The client side of `deploy/bench-connections.sh`: many client connections open at once,
//! each doing an occasional point query through a running shardgate. Ignored by default (it
//! needs the proxy the script starts and a raised `ulimit -n`).
//!
//! Environment: SHARDGATE_BENCH_PORT (proxy port), BENCH_CLIENTS (10000), BENCH_SECONDS
//! (30, how long every client stays connected after all are open), BENCH_DB (conn_bench).
//! Prints one line per phase and a final `errors N queries M` line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tokio::sync::Semaphore;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by deploy/bench-connections.sh against a proxy it starts"]
async fn many_idle_clients_doing_occasional_point_queries() {
    let port = env("SHARDGATE_BENCH_PORT", 4990) as u16;
    let clients = env("BENCH_CLIENTS", 10_000);
    let seconds = env("BENCH_SECONDS", 30);
    let db = std::env::var("BENCH_DB").unwrap_or_else(|_| "conn_bench".into());
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some("app-pass"))
        .db_name(Some(db))
        .prefer_socket(false);

    let connect_errors = Arc::new(AtomicU64::new(0));
    let query_errors = Arc::new(AtomicU64::new(0));
    let queries = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    // Opening is throttled (a connect storm would only measure the accept queue).
    let opening = Arc::new(Semaphore::new(200));
    let all_open = Arc::new(tokio::sync::Barrier::new(clients as usize + 1));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients as usize);
    for i in 0..clients {
        let opts = opts.clone();
        let (connect_errors, query_errors, queries, opened, first_error) = (
            connect_errors.clone(),
            query_errors.clone(),
            queries.clone(),
            opened.clone(),
            first_error.clone(),
        );
        let opening = opening.clone();
        let all_open = all_open.clone();
        tasks.push(tokio::spawn(async move {
            let note = |e: String| {
                let mut f = first_error.lock().unwrap();
                if f.is_none() {
                    *f = Some(e);
                }
            };
            let permit = opening.acquire_owned().await.unwrap();
            let conn = Conn::new(opts).await;
            drop(permit);
            let mut conn = match conn {
                Ok(c) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    Some(c)
                }
                Err(e) => {
                    connect_errors.fetch_add(1, Ordering::Relaxed);
                    note(format!("connect: {e}"));
                    None
                }
            };
            all_open.wait().await;
            let Some(c) = conn.as_mut() else { return };
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut n = i;
            while Instant::now() < deadline {
                // Every client about every 5 s, spread out.
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                tokio::time::sleep(Duration::from_millis(2500 + (n >> 33) % 5000)).await;
                let id = (n >> 20) % 1000 + 1;
                match c
                    .query_first::<i64, _>(format!("SELECT v FROM bench WHERE id = {id}"))
                    .await
                {
                    Ok(Some(_)) => {
                        queries.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) => {
                        query_errors.fetch_add(1, Ordering::Relaxed);
                        note(format!("no row for id {id}"));
                    }
                    Err(e) => {
                        query_errors.fetch_add(1, Ordering::Relaxed);
                        note(format!("query: {e}"));
                    }
                }
            }
            if let Some(c) = conn {
                let _ = c.disconnect().await;
            }
        }));
    }
    all_open.wait().await;
    println!(
        "opened {} of {clients} connections in {:.1}s ({} connect errors)",
        opened.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        connect_errors.load(Ordering::Relaxed)
    );
    // The script samples the proxy's memory now.
    std::fs::write(
        std::env::temp_dir().join(format!("bench-connections-{port}.open")),
        b"open",
    )
    .unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let errors = connect_errors.load(Ordering::Relaxed) + query_errors.load(Ordering::Relaxed);
    println!(
        "errors {errors} queries {} (first error: {})",
        queries.load(Ordering::Relaxed),
        first_error
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "none".into())
    );
}
