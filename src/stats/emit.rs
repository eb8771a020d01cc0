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
    );
    if let Some(code) = f.error {
        metrics::counter!("shardgate_errors_total", "code" => code.to_string()).increment(1);
    }
    for p in f.parts {
        metrics::histogram!(
            "shardgate_backend_statement_seconds",
            "database" => p.server.database.clone(),
            "group" => p.server.group.clone(),
            "role" => p.server.role.name()
        )
        .record(p.elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::super::kind::RouteKind;

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
        ];
        for (k, n) in RouteKind::ALL.iter().zip(names) {
            assert_eq!(k.name(), n);
        }
    }
}
