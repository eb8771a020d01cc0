//! Test-only fault points: with `SHARDGATE_FAULT=<point>` (or `<point>@<n>`: the n-th time
//! the point is reached) in a debug build, the process kills itself (SIGKILL) at that step of
//! a two-phase commit. Release builds compile the check away.
//!
//! Points: `after_first_prepare` (one branch prepared, the others maybe not),
//! `after_prepare` (all prepared, no decision), `after_decision` (decision committed, no
//! branch committed), `between_commits` (one branch committed, the others not).
//! `slow_decision` does not kill: it waits two seconds between the prepares and the decision.

/// Aborts the process when `SHARDGATE_FAULT` names `point` and its count is reached (debug
/// builds only).
#[inline]
pub fn point(point: &str) {
    #[cfg(debug_assertions)]
    if let Some((_, at)) = armed_as(point) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static REACHED: AtomicU64 = AtomicU64::new(0);
        if REACHED.fetch_add(1, Ordering::SeqCst) + 1 >= at {
            eprintln!("shardgate: fault point {point} reached, aborting (SHARDGATE_FAULT)");
            // SIGKILL, as an operator or the OOM killer would; abort if that fails.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// Waits two seconds when `SHARDGATE_FAULT` names `point` (debug builds only): a coordinator
/// that is slow at that step, not dead.
pub async fn pause(point: &str) {
    if armed(point) {
        eprintln!("shardgate: fault point {point} reached, pausing (SHARDGATE_FAULT)");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Whether `SHARDGATE_FAULT` names `point` (always false in release builds).
pub fn armed(point: &str) -> bool {
    #[cfg(debug_assertions)]
    {
        armed_as(point).is_some()
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = point;
        false
    }
}

#[cfg(debug_assertions)]
fn armed_as(point: &str) -> Option<(&'static str, u64)> {
    static FAULT: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    let (name, at) = FAULT
        .get_or_init(|| {
            let spec = std::env::var("SHARDGATE_FAULT").ok()?;
            Some(match spec.split_once('@') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            })
        })
        .as_ref()?;
    (name == point).then_some((name.as_str(), *at))
}
