//! The clinical proxy on small multiplexed pools, for the tests that attack waits for a pool
//! slot, idle holds and KILL.

use std::time::Duration;

use shardgate::config::server::ServerConfig;

use super::raw::RawClient;
use super::{Proxy, TestSchema};

/// The clinical tables with two patients of hospital 1 on g0: `(1, 'a')` and `(2, 'b')`.
pub async fn clinical(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL), (2, 1, 'b', NULL, NULL)"],
        )
        .await;
    schema
}

/// The clinical proxy, multiplexed over pools of `pool_max` connections per server, with the
/// case's hold (`None`: the default 2 ms) and connect timeout (`None`: the tests' default).
pub async fn pooled(
    schema: &TestSchema,
    pool_max: usize,
    idle_hold: Option<Duration>,
    connect_timeout: Option<Duration>,
) -> Proxy {
    start(schema, pool_max, None, idle_hold, connect_timeout).await
}

/// `pooled` with `wire_reads` set, so the case means the same whatever the suite's default
/// (`SHARDGATE_TEST_WIRE_READS`) is.
pub async fn pooled_wire(
    schema: &TestSchema,
    pool_max: usize,
    wire_reads: bool,
    idle_hold: Option<Duration>,
    connect_timeout: Option<Duration>,
) -> Proxy {
    start(
        schema,
        pool_max,
        Some(wire_reads),
        idle_hold,
        connect_timeout,
    )
    .await
}

/// Multiplexing over pools of `pool_max`, with what the case sets of `wire_reads`, the idle
/// hold and the connect timeout (`None`: the tests' default).
pub fn tune(
    c: &mut ServerConfig,
    pool_max: usize,
    wire_reads: Option<bool>,
    idle_hold: Option<Duration>,
    connect_timeout: Option<Duration>,
) {
    c.backend.pool_min = 1;
    c.backend.pool_max = pool_max;
    c.backend.multiplex = true;
    if let Some(wire) = wire_reads {
        c.backend.wire_reads = wire;
    }
    if let Some(hold) = idle_hold {
        c.backend.idle_hold = hold;
    }
    if let Some(timeout) = connect_timeout {
        c.backend.connect_timeout = timeout;
    }
}

async fn start(
    schema: &TestSchema,
    pool_max: usize,
    wire_reads: Option<bool>,
    idle_hold: Option<Duration>,
    connect_timeout: Option<Duration>,
) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| tune(c, pool_max, wire_reads, idle_hold, connect_timeout),
    )
    .await
}

/// A client that sends 200 copies of `sql` without reading an answer. With answers of
/// 60 kB that is more than the sockets buffer, so the proxy's flush of an answer to it
/// blocks, holding whatever the session holds.
pub async fn client_not_reading(port: u16, sql: &'static str) -> RawClient {
    tokio::task::spawn_blocking(move || {
        let mut c = RawClient::connect(port, "clinical", true);
        for _ in 0..200 {
            let mut payload = vec![0x03];
            payload.extend_from_slice(sql.as_bytes());
            c.write_packet(0, &payload);
        }
        c
    })
    .await
    .unwrap()
}
