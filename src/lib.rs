//! shardgate: a hash-sharding proxy that speaks the MySQL protocol.
//!
//! # Layout
//! A query travels left to right through modules with one job each:
//! `frontend` (MySQL server side: handshake, auth, commands, result writing) ->
//! `plan` (parse, find shard-key predicates, route, rewrite) ->
//! `execute` (run a plan on backend connections and stream results back) ->
//! `backend` (per-group connection pools). `protocol` holds the wire-format primitives both
//! ends speak.
//! `config` reads and validates rule files and the server config; `sharding` maps key values
//! to shards; `keygen` makes the ids of `key_generator` columns; `gtid` reads MariaDB GTID
//! positions (replica health, resharding catch-up). A module uses only the ones
//! before it in that flow. `stats` is where every statement is reported once (counters by
//! route kind and error code, the `metrics` facade, the slow query log). `admin` answers the
//! admin SQL (`SHOW SHARDGATE GROUPS | RULES | SESSIONS | STATS`, `SHARDGATE PREVIEW`) from
//! the state and counters it is handed, renders Prometheus metrics and serves the admin HTTP
//! endpoints; `hold` keeps the write holds
//! a resharding cutover asks for; `reload` swaps the rule files in; `reshard` runs the jobs that
//! move a table family to a new layout (`shardgate reshard`, `shardgate audit`).

pub mod admin;
pub mod backend;
pub mod cache;
pub mod config;
pub mod error;
pub mod execute;
pub mod fast_hash;
pub mod frontend;
pub mod gtid;
pub mod hold;
pub mod keygen;
pub mod plan;
pub mod protocol;
pub mod proxy_state;
pub mod reload;
pub mod reshard;
pub mod server;
pub mod sharding;
pub mod stats;
