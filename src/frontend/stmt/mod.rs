//! Binary-protocol prepared statements (COM_STMT_*).
//!
//! # Design
//! PREPARE plans the statement once with a marker literal in every placeholder: a refusal
//! that does not depend on the values (a scatter query) comes back at PREPARE, and the
//! planned shard query, markers turned back into `?`, is prepared once on its backend and
//! closed there, only to answer with the backend's parameter and column definitions. EXECUTE
//! substitutes the bound values as SQL literals that mean exactly the binary values
//! (`literal`), runs the text planner (whose fast paths make point statements cheap) and the
//! text protocol to the backend, and re-encodes the rows in the binary protocol by the
//! column definitions the client gets (`binary_row`, `sink`). So routing, renaming and
//! session handling are the text path's, with no second implementation to drift.
//!
//! Two exceptions: a statement over unsharded tables only is planned once, at PREPARE
//! (`fixed_route`), and a statement whose result has FLOAT columns runs as a backend prepared
//! statement, because the text protocol prints FLOAT with 6 significant digits.
//!
//! # Layout
//! `registry`: the connection's statements and their limit; `template`: placeholder
//! positions; `fixed_route`: statements over unsharded tables, planned once; `execute_packet`: decoding COM_STMT_EXECUTE; `literal`: values as SQL;
//! `binary_row` and `sink`: rows out; `commands`: the COM_STMT_* handlers.

mod binary_row;
mod bound;
mod commands;
mod execute_packet;
mod fixed_route;
mod literal;
pub mod registry;
mod sink;
mod template;
