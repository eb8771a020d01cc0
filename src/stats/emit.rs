//! The same statement statistics through the `metrics` facade, for whichever recorder the
//! process installs (a Prometheus exporter on `admin_listen`); without one every call is a
//! no-op. Route kinds and results are a closed set, so their series use static keys (no
//! allocation per statement); only error codes and the backend parts carry dynamic labels.

use super::kind::RouteKind;
use super::Finished;

/// Generates the match over every (route kind, result) pair with literal labels, which
/// `metrics` turns into static keys.
macro_rules! per_route {
    ($kind:expr, $ok:expr, $secs:expr; $($variant:ident => $name:literal),* $(,)?) => {
        match ($kind, $ok) {
            $(
                (RouteKind::$variant, true) => {
                    metrics::counter!("shardgate_statements_total", "route" => $name, "result" => "ok")
                        .increment(1);
                    metrics::histogram!("shardgate_statement_seconds", "route" => $name).record($secs);
                }
                (RouteKind::$variant, false) => {
                    metrics::counter!("shardgate_statements_total", "route" => $name, "result" => "error")
                        .increment(1);
                    metrics::histogram!("shardgate_statement_seconds", "route" => $name).record($secs);
                }
            )*
        }
    };
}

pub(super) fn statement(f: &Finished<'_>) {
    let secs = f.elapsed.as_secs_f64();
    per_route!(f.kind, f.error.is_none(), secs;
        Single => "single",
        Several => "several",
        All => "all",
        Broadcast => "broadcast",
        Merged => "merged",
        Session => "session",
        Proxy => "proxy",
        Refused => "refused",
        Cached => "cached",
        Materialized => "materialized",
    );
    if let Some(code) = f.error {
        metrics::counter!("shardgate_errors_total", "code" => code.to_string()).increment(1);
    }
    for p in f.parts {
        p.server.latency.record(p.elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    use super::super::kind::RouteKind;
    use super::super::ShardPart;
    use super::*;

    /// Notes every series registered, as `name{k=v,...}`.
    #[derive(Default)]
    struct Names(Mutex<Vec<String>>);

    impl Names {
        fn note(&self, kind: &str, key: &Key) {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let mut names = self.0.lock().unwrap();
            names.push(format!("{kind} {}{{{}}}", key.name(), labels.join(",")));
        }
    }

    impl Recorder for Names {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.note("counter", key);
            Counter::noop()
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.note("gauge", key);
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.note("histogram", key);
            Histogram::noop()
        }
    }

    #[tokio::test]
    async fn emits_the_documented_series_and_labels() {
        let names = Names::default();
        // A pool registers its latency histogram when it is built.
        let pool = metrics::with_local_recorder(&names, || {
            crate::backend::GroupPool::for_tests("clinical", "g1", "127.0.0.1:1")
        });
        let parts = [ShardPart {
            server: Arc::new(pool),
            shard: Some(2),
            elapsed: Duration::from_millis(2),
            rows: 1,
        }];
        let f = Finished {
            kind: RouteKind::Merged,
            error: Some(1317),
            rows_sent: 0,
            elapsed: Duration::from_millis(3),
            parts: &parts,
            session: 1,
            user: "app",
            database: None,
            sql: "SELECT 1",
            syntax: Default::default(),
        };
        metrics::with_local_recorder(&names, || statement(&f));
        let got = names.0.into_inner().unwrap();
        assert_eq!(
            got,
            [
                "histogram shardgate_backend_statement_seconds{database=clinical,group=g1,role=master}",
                "counter shardgate_statements_total{route=merged,result=error}",
                "histogram shardgate_statement_seconds{route=merged}",
                "counter shardgate_errors_total{code=1317}",
            ]
        );
    }

    /// The literal labels above must spell what `RouteKind::name` says.
    #[test]
    fn labels_match_the_kind_names() {
        let names = [
            "single",
            "several",
            "all",
            "broadcast",
            "merged",
            "session",
            "proxy",
            "refused",
            "cached",
        ];
        for (k, n) in RouteKind::ALL.iter().zip(names) {
            assert_eq!(k.name(), n);
        }
    }
}
