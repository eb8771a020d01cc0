//! `GET /metrics` on the admin endpoint (issue 14, point 2): the page is Prometheus text from
//! the `metrics` exporter, with every backend server's health and pool use, write holds and
//! reloads, and it follows what really happened (statements sent, pool waits, a refused
//! reload) on the real cluster.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use shardgate::config::server::UserConfig;

use common::admin::http;
use common::*;

fn ops() -> UserConfig {
    admin_user("ops", "ops-pass")
}

/// Every sample of the page, by its name with labels (`name{k="v",...}`).
async fn samples(proxy: &Proxy) -> (String, HashMap<String, f64>) {
    let page = http(proxy.admin_port(), "GET", "/metrics").await;
    assert_eq!(page.status, 200, "{page:?}");
    let mut out = HashMap::new();
    for line in page.body.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(
            out.insert(series.to_owned(), value).is_none(),
            "{series} twice in\n{}",
            page.body
        );
    }
    (page.body, out)
}

fn server_series(name: &str, database: &str, group: &str, role: &str, port: u16) -> String {
    format!(
        "{name}{{database=\"{database}\",group=\"{group}\",role=\"{role}\",address=\"127.0.0.1:{port}\"}}"
    )
}

fn value(page: &(String, HashMap<String, f64>), series: &str) -> f64 {
    *page
        .1
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in\n{}", page.0))
}

#[tokio::test]
async fn metrics_page_follows_statements_servers_and_reloads() {
    let schema = TestSchema::create("metrics_page").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| c.users.push(ops()),
    )
    .await;

    let before = samples(&proxy).await;
    // Every series carries HELP and TYPE, as scrapers and promtool expect.
    for name in [
        "shardgate_server_up",
        "shardgate_server_in_rotation",
        "shardgate_server_circuit_open",
        "shardgate_server_breaker_rejected_total",
        "shardgate_server_breaker_reject_probability",
        "shardgate_pool_connections_in_use",
        "shardgate_server_queries_total",
        "shardgate_reloads_total",
        "shardgate_write_holds",
    ] {
        assert!(
            before.0.contains(&format!("# HELP {name} ")),
            "{name}:\n{}",
            before.0
        );
        assert!(
            before.0.contains(&format!("# TYPE {name} ")),
            "{name}:\n{}",
            before.0
        );
    }
    for g in 0..2 {
        let up = server_series(
            "shardgate_server_up",
            "clinical",
            &format!("g{g}"),
            "master",
            master_port(g),
        );
        assert_eq!(value(&before, &up), 1.0, "{up}");
        let open = server_series(
            "shardgate_server_circuit_open",
            "clinical",
            &format!("g{g}"),
            "master",
            master_port(g),
        );
        assert_eq!(value(&before, &open), 0.0, "{open}");
    }

    // Ten point reads of hospital 2 (shard 2, on g1; no replicas in this layout).
    let mut c = proxy.connect(Some("clinical")).await;
    for _ in 0..10 {
        let _: Vec<i64> = c
            .query("SELECT id FROM clinical_data WHERE hospital_id = 2")
            .await
            .unwrap();
    }
    let queries = |p: &(String, HashMap<String, f64>), g: usize| {
        value(
            p,
            &server_series(
                "shardgate_server_queries_total",
                "clinical",
                &format!("g{g}"),
                "master",
                master_port(g),
            ),
        )
    };
    // g1 saw exactly ten more (the health checker's SELECT 1 is not a statement sent for a
    // client; a driver's statements at login go to the default group, g0). The session keeps
    // its connection for `idle_hold_ms` (2) after its last read: past that it is idle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = samples(&proxy).await;
    assert_eq!(
        queries(&after, 1) - queries(&before, 1),
        10.0,
        "{}",
        after.0
    );
    // The pools' own counts: g1's pool holds the connection the reads used, idle now.
    let g1 = |name: &str| server_series(name, "clinical", "g1", "master", master_port(1));
    assert!(
        value(&after, &g1("shardgate_pool_connections_open")) >= 1.0,
        "{}",
        after.0
    );
    assert!(
        value(&after, &g1("shardgate_pool_connections_idle")) >= 1.0,
        "{}",
        after.0
    );

    // A reload that takes effect and one that is refused are counted apart.
    let ok = "shardgate_reloads_total{result=\"ok\"}";
    let failed = "shardgate_reloads_total{result=\"failed\"}";
    let mut ops_conn = Conn::new(
        OptsBuilder::from_opts(proxy.opts(Some("clinical")))
            .user(Some("ops"))
            .pass(Some("ops-pass")),
    )
    .await
    .unwrap();
    ops_conn.query_drop("SHARDGATE RELOAD").await.unwrap();
    std::fs::write(proxy.rules_dir().join("broken.toml"), "[[tables]\nname=").unwrap();
    expect_code(ops_conn.query_drop("SHARDGATE RELOAD").await, 1105);
    let reloaded = samples(&proxy).await;
    assert_eq!(
        value(&reloaded, ok) - value(&before, ok),
        1.0,
        "{}",
        reloaded.0
    );
    assert_eq!(
        value(&reloaded, failed) - value(&before, failed),
        1.0,
        "{}",
        reloaded.0
    );
    c.disconnect().await.unwrap();
    ops_conn.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test]
async fn pool_waits_and_exhaustion_are_counted_per_server() {
    let schema = TestSchema::create("metrics_pool").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_max = 1;
            c.backend.pool_min = 1;
            c.backend.connect_timeout = Duration::from_millis(300);
        },
    )
    .await;
    let series = |name: &str, g: usize| {
        server_series(name, "clinical", &format!("g{g}"), "master", master_port(g))
    };
    let before = samples(&proxy).await;

    // One client holds g0's only connection in a transaction; another's read of g0 waits
    // for it and gives up after connect_timeout with 1040.
    // The waiter logs in first: a driver's own statements at login would wait too.
    let mut waiter = proxy.connect(Some("clinical")).await;
    // Past the hold of the waiter's login statements' connection (`idle_hold_ms`, 2): the
    // holder would otherwise wait a moment for it, a second wait in the count.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut holder = proxy.connect(Some("clinical")).await;
    holder.query_drop("BEGIN").await.unwrap();
    let _: Vec<i64> = holder
        .query("SELECT id FROM clinical_data WHERE hospital_id = 0")
        .await
        .unwrap();
    let during = samples(&proxy).await;
    let g = (0..2)
        .find(|&g| value(&during, &series("shardgate_pool_connections_in_use", g)) == 1.0)
        .unwrap_or_else(|| panic!("no server with the held connection:\n{}", during.0));
    let r: Result<Vec<i64>, _> = waiter
        .query("SELECT id FROM clinical_data WHERE hospital_id = 0")
        .await;
    expect_code(r, 1040);

    let after = samples(&proxy).await;
    let delta = |name: &str| value(&after, &series(name, g)) - value(&before, &series(name, g));
    assert_eq!(delta("shardgate_pool_waits_total"), 1.0, "{}", after.0);
    assert_eq!(delta("shardgate_pool_exhausted_total"), 1.0, "{}", after.0);
    assert_eq!(value(&after, &series("shardgate_pool_waiting", g)), 0.0);
    assert!(
        after.0.contains("shardgate_pool_wait_seconds_bucket{"),
        "the wait is in the histogram:\n{}",
        after.0
    );
    holder.query_drop("COMMIT").await.unwrap();
    holder.disconnect().await.unwrap();
    waiter.disconnect().await.unwrap();
    schema.drop().await;
}

/// Every series the Grafana dashboard in deploy/ queries is one the page serves (after a
/// statement of each kind it shows: a point read, a scatter, an error).
#[tokio::test]
async fn every_metric_the_dashboard_queries_is_served() {
    let schema = TestSchema::create("metrics_dashboard").await;
    schema.create_clinical_tables().await;
    // With the cluster's replicas, so the replica series exist.
    let mut rules = schema.clinical_rules("clinical");
    for g in 0..2 {
        let master = format!("master = \"127.0.0.1:{}\"", master_port(g));
        rules = rules.replace(
            &master,
            &format!("{master}\nreplicas = [\"127.0.0.1:{}\"]", replica_port(g)),
        );
    }
    let proxy = Proxy::start_with_admin(&[("clinical.toml", rules)], |c| c.users.push(ops())).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let _: Vec<i64> = c
        .query("SELECT id FROM clinical_data WHERE hospital_id = 2")
        .await
        .unwrap();
    let _: Vec<i64> = c.query("SELECT COUNT(*) FROM clinical_data").await.unwrap();
    expect_code(c.query_drop("SELECT * FROM no_such_table").await, 1146);
    let page = samples(&proxy).await.0;
    let served = |name: &str| {
        page.lines().any(|l| {
            !l.starts_with('#')
                && (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        })
    };
    let dashboard =
        std::fs::read_to_string(repo_root().join("deploy/grafana-shardgate.json")).unwrap();
    let mut names: Vec<&str> = dashboard
        .match_indices("shardgate_")
        .map(|(at, _)| {
            let rest = &dashboard[at..];
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| !n.starts_with("shardgate-"))
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 15, "{names:?}");
    let missing: Vec<&&str> = names.iter().filter(|n| !served(n)).collect();
    assert!(missing.is_empty(), "not on /metrics: {missing:?}\n{page}");
    c.disconnect().await.unwrap();
    schema.drop().await;
}
