//! Planner tests: the rules fixture, the data-driven route test, split/plan over a long
//! script, and no-panic property tests.

mod fixture;
mod fuzz;
mod routes;
