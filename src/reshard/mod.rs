//! Resharding jobs: move a table family to a new layout under write load, with no downtime
//! and no loss (`shardgate reshard plan|run|status|verify|cancel|rollback|cleanup`).
//!
//! # How a job moves rows
//! 1. `job` reads the job file and builds the rule file the cutover will write.
//! 2. `copy` creates the target tables and copies every source shard from a consistent
//!    snapshot per source group, recording the snapshot's GTID position.
//! 3. `catchup` streams each source master's binlog from that position (`binlog`) and
//!    applies the moving rows' changes to the targets (`apply`), idempotently.
//! 4. `verify` compares source and target rows per target shard.
//! 5. `cutover` holds writes at every proxy, proves catch-up against the masters' GTID
//!    positions, writes the new rule file and switches the proxies, then releases.
//!
//! `state` keeps what a second `run` needs after a crash. `audit` (`shardgate audit`) finds
//! rows a layout does not put where they are, with the same machinery as `verify`.

pub mod apply;
pub mod audit;
pub mod binlog;
pub mod catchup;
pub mod copy;
pub mod cutover;
pub mod job;
pub mod literal;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod proxy_admin;
pub mod replica_lag;
pub mod rule_edit;
pub mod run;
pub mod servers;
pub mod state;
pub mod table_info;
pub mod verify;
pub mod verify_job;
