//! Binary-protocol prepared statements (COM_STMT_*).
//!
//! # Design
//! PREPARE plans the statement once with a marker literal in every placeholder: a refusal
//! that does not depend on the values (a scatter query) comes back at PREPARE, and the
//! planned shard query, markers turned back into `?`, is prepared on a backend that is up
//! (other markers are tried when a key lands on a group that is down) and closed there, only
//! to answer with the backend's parameter and column definitions. The statement keeps the
//! database it was prepared in. EXECUTE substitutes the bound values as SQL literals that
//! mean exactly the binary values (`literal`) and runs the text planner (whose fast paths
//! make point statements cheap), so routing, renaming and session handling are the text
//! path's, with no second implementation to drift. Each planned shard query that only
//! renamed tables then runs as a backend prepared statement with the client's values bound
//! (`bound`): strings in the client's charset, blobs without hex, rows in the binary
//! protocol. Other shard queries run with the literals, their text rows re-encoded in the
//! binary protocol by the column definitions the client gets (`binary_row`, `sink`); a
//! result with FLOAT or fixed-decimal DOUBLE columns is read in the binary protocol there
//! too, because the text protocol prints them with 6 digits.
//!
//! A statement over unsharded tables only is planned once, at PREPARE (`fixed_route`).
//!
//! # Layout
//! `registry`: the connection's statements and their limit; `template`: placeholder
//! positions; `fixed_route`: statements over unsharded tables, planned once;
//! `execute_packet`: decoding COM_STMT_EXECUTE; `literal`: values as SQL; `bound`: values
//! bound to backend prepared statements;
//! `binary_row` and `sink`: rows out; `commands`: the COM_STMT_* handlers.

pub mod binary_row;
mod bound;
mod commands;
pub(super) mod execute_packet;
mod fixed_route;
mod literal;
pub mod registry;
mod sink;
mod template;
