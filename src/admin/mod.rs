//! Admin views and controls of the running proxy: `SHOW SHARDGATE GROUPS` over the MySQL
//! protocol, and on `admin_listen` (`http`) Prometheus metrics, the write holds of a
//! resharding cutover (`hold`) and reloads (`reload`).

pub mod groups;
pub mod hold;
pub mod http;
pub mod metrics;
pub mod processlist;
pub mod reload;
