//! SHOW DATABASES and SHOW TABLES, answered with logical names: clients must never see
//! `clinical_data_0..3`, and must see `clinical_data` even where no shard of it lives on the
//! default group.

use std::collections::BTreeSet;

use mysql_async::prelude::Queryable;

use crate::config::model::{Database, TableKind};
use crate::error::Error;

use super::like::like_matches;
use super::{Context, Failure, OkInfo, ResultSink, Session};

pub fn databases<S: ResultSink>(
    ctx: &Context<'_>,
    session: &Session,
    like: Option<&str>,
    sink: &mut S,
) {
    sink.synthetic_columns("SCHEMATA", &["Database"]);
    for db in ctx.rules.databases().values() {
        if like.is_none_or(|p| like_matches(p, &db.name)) {
            sink.row_cells(&[Some(db.name.as_bytes())]);
        }
    }
    sink.end_rows(&OkInfo {
        status: session.status,
        ..OkInfo::default()
    });
}

pub async fn tables<S: ResultSink>(
    db: &Database,
    full: bool,
    like: Option<&str>,
    sql: &str,
    ctx: &Context<'_>,
    session: &mut Session,
    sink: &mut S,
) -> Result<(), Failure> {
    let conn = session
        .conns
        .get(ctx.backends, db, db.default_group)
        .await?;
    let physical: Vec<(String, String)> = if full {
        conn.query::<(String, String), _>(sql)
            .await
            .map_err(Error::from)?
    } else {
        conn.query::<String, _>(sql)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|t| (t, "BASE TABLE".to_string()))
            .collect()
    };
    let mut names: BTreeSet<(String, String)> = physical
        .into_iter()
        // The xa decision log is shardgate's own, not the application's.
        .filter(|(name, _)| !is_shard_table(db, name) && name != super::xa::log::TABLE)
        .collect();
    for rule in db.tables.values() {
        if matches!(rule.kind, TableKind::Sharded(_) | TableKind::Broadcast) {
            names.insert((rule.name.clone(), "BASE TABLE".to_string()));
        }
    }
    let header = format!("Tables_in_{}", db.name);
    if full {
        sink.synthetic_columns("TABLE_NAMES", &[&header, "Table_type"]);
    } else {
        sink.synthetic_columns("TABLE_NAMES", &[&header]);
    }
    let mut seen = BTreeSet::new();
    for (name, kind) in &names {
        if !seen.insert(name.to_ascii_lowercase()) || like.is_some_and(|p| !like_matches(p, name)) {
            continue;
        }
        if full {
            sink.row_cells(&[Some(name.as_bytes()), Some(kind.as_bytes())]);
        } else {
            sink.row_cells(&[Some(name.as_bytes())]);
        }
    }
    sink.end_rows(&OkInfo {
        status: session.status,
        ..OkInfo::default()
    });
    Ok(())
}

fn is_shard_table(db: &Database, name: &str) -> bool {
    db.sharded_table_of_physical(name).is_some()
}
