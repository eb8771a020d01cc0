//! Which shard a stored row belongs to, asked of the server where it can answer (`mod`,
//! `hash`: rows are filtered where they are, not shipped) and of [`Sharder`] otherwise
//! (`ring`, which has no SQL form).
//!
//! A resharding job's copy selects the rows of one target shard with the same expressions.
//!
//! The SQL forms must agree with `Sharder::shard_of` on every key; a test against a real
//! server proves it on negative, zero, huge, unsigned-maximum and multi-byte text keys.
//! - `mod`: `MOD(MOD(k, n) + n, n)`, the Euclidean remainder (`-1` -> `n - 1`); `MOD(k, n)`
//!   lies in `(-n, n)`, so adding `n` cannot overflow, BIGINT UNSIGNED included.
//! - `hash`: `CRC32(text) % n`, where the text is what [`canonical_text`] gives: an integer in
//!   plain decimal (`CAST(CAST(k AS SIGNED|UNSIGNED) AS CHAR)`: `CAST(k AS CHAR)` alone keeps a
//!   ZEROFILL column's zeros, `00042`), a string as UTF-8 (`CONVERT(k USING utf8mb4)`: the
//!   proxy hashes the key as the client wrote it, in UTF-8, whatever the column's charset).
//!
//! - a text key of a table with a `key_collation` that is not NO PAD binary has no SQL form:
//!   its canonical form is computed here.
//!
//! [`canonical_text`]: crate::sharding::canonical_text

use anyhow::bail;
use mysql_async::Value;

use super::shape::ColumnInfo;
use super::sql::ident;
use crate::sharding::{Algorithm, KeyValue, Sharder};

/// How a key column's values reach the sharding function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    SignedInt,
    UnsignedInt,
    /// Character strings, in any charset.
    Text,
    /// BINARY, VARBINARY, BLOB: hashed as their bytes.
    Binary,
}

impl KeyKind {
    /// `None` for types whose shard the proxy has no exact rule for (DECIMAL, dates, ...).
    pub(crate) fn of(column: &ColumnInfo) -> Option<Self> {
        Self::of_type(
            &column.data_type,
            column.is_unsigned(),
            column.collation.is_some(),
        )
    }

    /// From `information_schema.COLUMNS`: `DATA_TYPE`, whether `COLUMN_TYPE` says
    /// `unsigned`, whether `COLLATION_NAME` is set (character, not binary, strings).
    pub fn of_type(data_type: &str, unsigned: bool, has_collation: bool) -> Option<Self> {
        let data_type = data_type.to_ascii_lowercase();
        let integer = matches!(
            data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        );
        let string = matches!(
            data_type.as_str(),
            "char"
                | "varchar"
                | "tinytext"
                | "text"
                | "mediumtext"
                | "longtext"
                | "binary"
                | "varbinary"
                | "tinyblob"
                | "blob"
                | "mediumblob"
                | "longblob"
        );
        if integer {
            Some(if unsigned {
                KeyKind::UnsignedInt
            } else {
                KeyKind::SignedInt
            })
        } else if string && has_collation {
            Some(KeyKind::Text)
        } else if string {
            Some(KeyKind::Binary)
        } else {
            None
        }
    }
}

/// The shard function of one layout, applied to one key column.
#[derive(Debug, Clone)]
pub struct Placer {
    sharder: Sharder,
    column: String,
    kind: KeyKind,
}

impl Placer {
    /// From explicit parts; the caller vouches that `kind` suits `sharder` (`mod` needs an
    /// integer).
    pub fn with_kind(sharder: &Sharder, column: &str, kind: KeyKind) -> Self {
        Placer {
            sharder: sharder.clone(),
            column: column.to_owned(),
            kind,
        }
    }

    /// Refuses, naming `table`, a key column that does not exist or whose type the
    /// algorithm cannot place (`mod` needs an integer, as `shardgate check` says).
    pub(crate) fn new(
        sharder: &Sharder,
        key: Option<&ColumnInfo>,
        table: &str,
    ) -> anyhow::Result<Self> {
        let Some(key) = key else {
            bail!("{table} has no shard key column");
        };
        let Some(kind) = KeyKind::of(key) else {
            bail!(
                "the shard key `{}` of {table} is {}: no exact shard for keys of that type",
                key.name,
                key.column_type
            );
        };
        let integer = matches!(kind, KeyKind::SignedInt | KeyKind::UnsignedInt);
        if sharder.algorithm() == Algorithm::Mod && !integer {
            bail!(
                "algorithm mod needs an integer key column, but `{}` of {table} is {}",
                key.name,
                key.column_type
            );
        }
        Ok(Placer {
            sharder: sharder.clone(),
            column: key.name.clone(),
            kind,
        })
    }

    pub fn column(&self) -> &str {
        &self.column
    }

    /// The shard of a row as SQL over its key column, where the server can compute it.
    pub fn server_expr(&self) -> Option<String> {
        let k = ident(&self.column);
        let n = self.sharder.shards();
        match self.sharder.algorithm() {
            Algorithm::Mod => Some(format!("MOD(MOD({k}, {n}) + {n}, {n})")),
            // A collation's canonical form has no exact SQL form (LOWER folds beyond ASCII):
            // such keys are placed here, as `ring` keys are.
            Algorithm::Hash
                if matches!(self.kind, KeyKind::Text | KeyKind::Binary)
                    && !self.sharder.collation().is_none_or(|c| c.is_identity()) =>
            {
                None
            }
            Algorithm::Hash => {
                let text = match self.kind {
                    KeyKind::SignedInt => format!("CAST(CAST({k} AS SIGNED) AS CHAR)"),
                    KeyKind::UnsignedInt => format!("CAST(CAST({k} AS UNSIGNED) AS CHAR)"),
                    KeyKind::Text => format!("CONVERT({k} USING utf8mb4)"),
                    KeyKind::Binary => k,
                };
                Some(format!("CRC32({text}) % {n}"))
            }
            Algorithm::Ring => None,
        }
    }

    /// SQL true exactly for rows that belong in `shard` (NULL keys belong nowhere).
    pub fn server_belongs(&self, shard: u32) -> Option<String> {
        self.server_expr().map(|e| format!("({e}) <=> {shard}"))
    }

    /// The shard of a stored key value; `None` when it has none (NULL, or text the proxy
    /// could not have written, such as bytes that are not UTF-8).
    pub fn shard_of(&self, key: &Value) -> Option<u32> {
        let key = match key {
            Value::NULL => return None,
            Value::Int(n) => KeyValue::Int(i128::from(*n)),
            Value::UInt(n) => KeyValue::Int(i128::from(*n)),
            Value::Bytes(b) => KeyValue::Text(std::str::from_utf8(b).ok()?),
            _ => return None,
        };
        self.sharder.shard_of(key).ok()
    }
}
