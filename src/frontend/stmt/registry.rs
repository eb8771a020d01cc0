//! The statements one client connection has prepared. It lives in the connection's task, so
//! it needs no lock; dropping the connection drops every statement with it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::model::Database;
use crate::error::Error;

use super::execute_packet::ParamType;
use super::fixed_route::FixedRoute;
use super::template::Template;

/// Per connection, like the server's max_prepared_stmt_count default, so a client that
/// prepares without closing runs into an error and not the proxy's memory.
pub const MAX_STATEMENTS: usize = 16382;

pub struct Prepared {
    pub template: Template,
    /// The logical database current at PREPARE: the statement runs there, as on the server,
    /// whatever database a later USE selects.
    pub db: Option<Arc<Database>>,
    /// The result has FLOAT or fixed-decimal DOUBLE columns, whose text form loses digits:
    /// shard queries that cannot bind the values then run as a
    /// backend prepared statement, whose binary rows keep them.
    pub binary_backend: bool,
    /// Result column names from the backend's PREPARE: an expression column is named after
    /// its text, which has `?` where EXECUTE's query has a literal.
    pub column_names: Arc<[Vec<u8>]>,
    /// The plan reused by every EXECUTE, when the values cannot change it.
    pub fixed_route: Option<FixedRoute>,
    /// Types the client declared at the last execute that sent them.
    pub param_types: Vec<ParamType>,
    /// COM_STMT_SEND_LONG_DATA chunks per parameter, until the next execute or reset.
    pub long_data: Vec<Option<Vec<u8>>>,
    /// Long data went over max_allowed_packet: every execute fails with this until
    /// COM_STMT_RESET, as on the server.
    pub long_data_error: Option<Error>,
    /// `execute::session::multiplexed_use` of the template, for connections given back
    /// ([0]) and kept ([1]): it reads only the text (by the syntax the statement was
    /// prepared under, which EXECUTE insists on), which every EXECUTE would scan again.
    pub multiplexed_use: [Option<MultiplexedUse>; 2],
    /// `SessionConns::reading_fingerprint` at PREPARE: the server keeps a statement as it
    /// read it then, and the proxy sends its text again at every EXECUTE, so an EXECUTE
    /// after sql_mode changed is refused, and after the character set changed when the
    /// statement has a string literal (whose charset the server took at PREPARE).
    pub reading: crate::backend::session_conns::Reading,
}

impl Prepared {
    pub fn multiplexed_use(
        &mut self,
        connections_kept: bool,
        read_only_functions: &[String],
    ) -> MultiplexedUse {
        let template = &self.template;
        self.multiplexed_use[usize::from(connections_kept)]
            .get_or_insert_with(|| {
                let _syntax = template.syntax().scope();
                crate::execute::session::multiplexed_use(
                    template.sql(),
                    connections_kept,
                    read_only_functions,
                )
            })
            .clone()
    }
}

/// What `execute::session::multiplexed_use` says of a statement.
pub type MultiplexedUse = Result<Option<&'static str>, Error>;

#[derive(Default)]
pub struct Registry {
    statements: HashMap<u32, Prepared, crate::fast_hash::FastBuild>,
    last_id: u32,
}

impl Registry {
    pub fn insert(&mut self, stmt: Prepared) -> Result<u32, Error> {
        if self.statements.len() >= MAX_STATEMENTS {
            return Err(Error::TooManyStatements(MAX_STATEMENTS));
        }
        loop {
            self.last_id = self.last_id.wrapping_add(1);
            if self.last_id != 0 && !self.statements.contains_key(&self.last_id) {
                break;
            }
        }
        self.statements.insert(self.last_id, stmt);
        Ok(self.last_id)
    }

    pub fn get_mut(&mut self, id: u32, command: &'static str) -> Result<&mut Prepared, Error> {
        self.statements
            .get_mut(&id)
            .ok_or(Error::UnknownStatement { id, command })
    }

    pub fn remove(&mut self, id: u32) {
        self.statements.remove(&id);
    }

    pub fn clear(&mut self) {
        self.statements.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt() -> Prepared {
        Prepared {
            template: Template::new("SELECT 1", Default::default()),
            db: None,
            long_data_error: None,
            binary_backend: false,
            column_names: Arc::new([]),
            fixed_route: None,
            param_types: Vec::new(),
            long_data: Vec::new(),
            multiplexed_use: [None, None],
            reading: Default::default(),
        }
    }

    #[test]
    fn caps_and_frees() {
        let mut r = Registry::default();
        let ids: Vec<u32> = (0..MAX_STATEMENTS)
            .map(|_| r.insert(stmt()).unwrap())
            .collect();
        assert_eq!(ids[0], 1);
        assert_eq!(r.insert(stmt()).unwrap_err().code(), 1461);
        r.remove(ids[5]);
        assert!(r.insert(stmt()).is_ok());
        assert_eq!(
            r.get_mut(ids[5], "mysqld_stmt_execute")
                .err()
                .unwrap()
                .code(),
            1243
        );
    }
}
