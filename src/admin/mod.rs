//! Admin views and controls of the running proxy. Over the MySQL protocol, for users with
//! `admin = true` (`statements` recognises them): `SHOW SHARDGATE GROUPS | RULES | SESSIONS
//! | STATS`, `SHARDGATE PREVIEW <statement>` (`preview`), `SHARDGATE RELOAD`; on
//! `admin_listen` (`http`) Prometheus metrics, the write holds of a resharding cutover
//! (`hold`) and reloads (`reload`).

pub mod groups;
pub mod hold;
pub mod http;
pub mod metrics;
pub mod preview;
pub mod processlist;
pub mod reload;
pub mod rules;
pub mod sessions;
pub mod statements;
pub mod stats;
