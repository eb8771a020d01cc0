//! Planner tests: the rules fixture, the data-driven route test, split/plan over a long
//! script, and no-panic property tests.

mod fast_paths;
mod fixture;
mod fuzz;
mod routes;
