//! Resharding: moving a table family to a new layout, and checking that rows are where the
//! rules say.
//!
//! # Layout
//! - `verify`: compares two layouts of a table row by row, in throttled primary-key chunks.
//! - `audit`: `shardgate audit`: misplaced rows and drifted broadcast copies, read-only.

pub mod audit;
pub mod verify;
