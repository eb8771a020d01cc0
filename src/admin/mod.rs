//! Admin views of the running proxy: `SHOW SHARDGATE GROUPS` over the MySQL protocol and
//! the same numbers as Prometheus text on `admin_listen`.

pub mod groups;
pub mod metrics;
pub mod processlist;
pub mod reload;
