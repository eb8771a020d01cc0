//! COM_FIELD_LIST (deprecated; the mysql CLI completes column names with it): the columns of
//! a table of the current database, as the server lists them. A sharded table is described
//! by its shard 0 (every shard has the same columns), with the logical names shown. Each
//! definition ends with the column's default value, which the proxy does not read: it sends
//! NULL there.

use std::io;

use mysql_async::prelude::Queryable;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::model::TableKind;
use crate::error::{BackendError, Error};
use crate::execute::like::like_matches;
use crate::execute::route::rename_column;
use crate::execute::ResultSink;

use super::connection::Client;
use super::encode::{column_payload, NULL_CELL};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    pub(super) async fn field_list(&mut self, body: &[u8]) -> io::Result<()> {
        match self.list_fields(body).await {
            Ok(()) => self.end_of_field_list(),
            Err(e) => self.sink(false).error(&e),
        }
        Ok(())
    }

    async fn list_fields(&mut self, body: &[u8]) -> Result<(), Error> {
        let (table, wildcard) = match body.iter().position(|&b| b == 0) {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, &[][..]),
        };
        let table = self.session.charset.decode(table)?.into_owned();
        let wildcard = self.session.charset.decode(wildcard)?.into_owned();
        let db = self
            .session
            .current_db
            .clone()
            .ok_or(Error::NoDatabaseSelected)?;
        let (group, physical) = match db.table(&table) {
            Some(rule) => match &rule.kind {
                TableKind::Sharded(spec) => {
                    let group = *spec
                        .placement
                        .first()
                        .ok_or_else(|| no_table(&db.name, &table))?;
                    (group, rule.physical_name(0))
                }
                TableKind::Broadcast => (db.default_group, table.clone()),
            },
            None => (db.default_group, table.clone()),
        };
        let sql = format!("SELECT * FROM `{}` LIMIT 0", physical.replace('`', "``"));
        let wire = self.session.charset.encode(&sql)?.into_owned();
        let conn = self
            .session
            .conns
            .get(&self.shared.backends(), &db, group)
            .await?;
        let result = conn.query_iter(wire.as_slice()).await;
        let cols = match result {
            Ok(mut r) => {
                let cols = r.columns_ref().to_vec();
                drop(r.collect::<mysql_async::Row>().await);
                cols
            }
            Err(mysql_async::Error::Server(e)) if e.code == 1146 => {
                return Err(no_table(&db.name, &table));
            }
            Err(e) => return Err(Error::from(e)),
        };
        let schema = db.groups[group].schema.as_str();
        for col in &cols {
            if !wildcard.is_empty() && !like_matches(&wildcard, &col.name_str()) {
                continue;
            }
            let p = self.writer.begin();
            column_payload(p, col, rename_column(col, &db, schema));
            p.push(NULL_CELL);
            self.writer.finish();
        }
        Ok(())
    }
}

/// The server's error for an unknown table, naming the logical one.
fn no_table(db: &str, table: &str) -> Error {
    Error::Backend(BackendError {
        code: 1146,
        state: "42S02".into(),
        message: format!("Table '{db}.{table}' doesn't exist"),
    })
}
