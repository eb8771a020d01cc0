//! Planner tests: the rules fixture, the data-driven route test, split/plan over a long
//! script, and no-panic property tests.

mod column_orders;
mod fast_paths;
pub(crate) mod fixture;
mod fuzz;
mod generated_keys;
mod routes;

/// Property-test cases: `PLAN_FUZZ_CASES=100000` for a long campaign.
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("PLAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
