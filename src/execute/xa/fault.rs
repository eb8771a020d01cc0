//! Test-only fault points: with `SHARDGATE_FAULT=<point>` in a debug build the process
//! aborts at that step of a two-phase commit, as a crash or SIGKILL would stop it there.
//! Release builds compile the check away.

/// Aborts the process when `SHARDGATE_FAULT` names `point` (debug builds only).
#[inline]
pub fn point(point: &str) {
    if armed(point) {
        eprintln!("shardgate: fault point {point} reached, aborting (SHARDGATE_FAULT)");
        std::process::abort();
    }
}

/// Whether `SHARDGATE_FAULT` names `point` (always false in release builds).
pub fn armed(point: &str) -> bool {
    #[cfg(debug_assertions)]
    {
        static FAULT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        FAULT
            .get_or_init(|| std::env::var("SHARDGATE_FAULT").ok())
            .as_deref()
            == Some(point)
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = point;
        false
    }
}
