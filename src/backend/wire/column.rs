//! A column definition payload taken apart in place: the names a proxy may have to change
//! (schema, table, original table) and the rest, which it hands on byte for byte.

use super::WireError;
use crate::protocol::{put_lenenc_str, Cursor};

/// The fields of a protocol-4.1 column definition, as slices of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnFields<'a> {
    pub schema: &'a [u8],
    pub table: &'a [u8],
    pub org_table: &'a [u8],
    pub name: &'a [u8],
    pub org_name: &'a [u8],
    /// From the length of the fixed-size fields (0x0C) to the end: character set, length,
    /// type, flags, decimals, filler, and a default value if the server sent one.
    pub tail: &'a [u8],
}

impl ColumnFields<'_> {
    /// The column's type byte (`ColumnType`), which the binary protocol's rows depend on.
    pub fn column_type(&self) -> Option<u8> {
        self.tail.get(7).copied()
    }

    /// Appends the definition with the given names in place of the server's.
    pub fn write_renamed(
        &self,
        out: &mut Vec<u8>,
        schema: Option<&[u8]>,
        table: Option<&[u8]>,
        org_table: Option<&[u8]>,
    ) {
        self.write_named(out, schema, table, org_table, None);
    }

    /// `write_renamed`, with the column's own name replaced too.
    pub fn write_named(
        &self,
        out: &mut Vec<u8>,
        schema: Option<&[u8]>,
        table: Option<&[u8]>,
        org_table: Option<&[u8]>,
        name: Option<&[u8]>,
    ) {
        put_lenenc_str(out, b"def");
        put_lenenc_str(out, schema.unwrap_or(self.schema));
        put_lenenc_str(out, table.unwrap_or(self.table));
        put_lenenc_str(out, org_table.unwrap_or(self.org_table));
        put_lenenc_str(out, name.unwrap_or(self.name));
        put_lenenc_str(out, self.org_name);
        out.extend_from_slice(self.tail);
    }
}

pub fn column_fields(payload: &[u8]) -> Result<ColumnFields<'_>, WireError> {
    let mut c = Cursor::new(payload);
    let _catalog = c.lenenc_str()?;
    let schema = c.lenenc_str()?;
    let table = c.lenenc_str()?;
    let org_table = c.lenenc_str()?;
    let name = c.lenenc_str()?;
    let org_name = c.lenenc_str()?;
    let tail = c.rest();
    if tail.len() < 13 {
        return Err(WireError::Protocol(format!(
            "a column definition of {} bytes",
            payload.len()
        )));
    }
    Ok(ColumnFields {
        schema,
        table,
        org_table,
        name,
        org_name,
        tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(schema: &[u8], table: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        for s in [b"def".as_slice(), schema, table, table, b"id", b"id"] {
            put_lenenc_str(&mut p, s);
        }
        p.extend_from_slice(&[0x0C, 0x3F, 0, 11, 0, 0, 0, 3, 0x03, 0x42, 0, 0, 0]);
        p
    }

    #[test]
    fn renames_only_what_it_is_asked_to() {
        let p = definition(b"clinical", b"patients_3");
        let f = column_fields(&p).unwrap();
        assert_eq!(f.column_type(), Some(3));
        let mut out = Vec::new();
        f.write_renamed(&mut out, None, Some(b"patients"), Some(b"patients"));
        assert_eq!(out, definition(b"clinical", b"patients"));
        let mut same = Vec::new();
        f.write_renamed(&mut same, None, None, None);
        assert_eq!(same, p);
    }

    #[test]
    fn a_short_definition_is_an_error() {
        let p = definition(b"s", b"t");
        for cut in 0..p.len() {
            assert!(column_fields(&p[..cut]).is_err(), "cut at {cut}");
        }
    }
}
