//! Payload encoders for the server's responses: OK, EOF, ERR, column definitions and text
//! rows. mysql_common has no serializer for OK/EOF and its `Column` serializer writes fields
//! out of order (DEPENDENCIES.md), so these are written from the wire format directly.

use mysql_common::packets::Column;

use crate::execute::{ColumnRename, OkInfo};

pub use crate::protocol::{EOF_HEADER, ERR_HEADER, NULL_CELL, OK_HEADER};

pub use crate::protocol::{put_lenenc_int, put_lenenc_str};

/// `header` is 0x00 for an OK, 0xFE for the OK that ends a result set under DEPRECATE_EOF.
pub fn ok_payload(buf: &mut Vec<u8>, header: u8, ok: &OkInfo) {
    buf.push(header);
    put_lenenc_int(buf, ok.affected_rows);
    put_lenenc_int(buf, ok.last_insert_id);
    buf.extend_from_slice(&ok.status.to_le_bytes());
    buf.extend_from_slice(&ok.warnings.to_le_bytes());
    if !ok.info.is_empty() {
        // MariaDB and MySQL send info as a length-encoded string when CLIENT_SESSION_TRACK
        // is off too (the rest of the packet); both readers accept this form.
        put_lenenc_str(buf, &ok.info);
    }
}

/// The pre-4.1-style EOF packet that old-EOF clients expect after columns and rows.
pub fn eof_payload(buf: &mut Vec<u8>, warnings: u16, status: u16) {
    buf.push(EOF_HEADER);
    buf.extend_from_slice(&warnings.to_le_bytes());
    buf.extend_from_slice(&status.to_le_bytes());
}

pub fn err_payload(buf: &mut Vec<u8>, code: u16, sqlstate: &str, message: &str) {
    buf.push(ERR_HEADER);
    buf.extend_from_slice(&code.to_le_bytes());
    buf.push(b'#');
    let mut state = [b'H', b'Y', b'0', b'0', b'0'];
    for (dst, src) in state.iter_mut().zip(sqlstate.bytes()) {
        *dst = src;
    }
    buf.extend_from_slice(&state);
    buf.extend_from_slice(message.as_bytes());
}

/// Writes a column definition (protocol 4.1) from the backend's `Column`, field by field.
pub fn column_payload(buf: &mut Vec<u8>, col: &Column, rename: ColumnRename<'_>) {
    put_lenenc_str(buf, b"def");
    put_lenenc_str(buf, rename.schema.map_or(col.schema_ref(), str::as_bytes));
    put_lenenc_str(buf, rename.table.map_or(col.table_ref(), str::as_bytes));
    put_lenenc_str(
        buf,
        rename.org_table.map_or(col.org_table_ref(), str::as_bytes),
    );
    put_lenenc_str(buf, col.name_ref());
    put_lenenc_str(buf, col.org_name_ref());
    buf.push(0x0C);
    buf.extend_from_slice(&col.character_set().to_le_bytes());
    buf.extend_from_slice(&col.column_length().to_le_bytes());
    buf.push(col.column_type() as u8);
    buf.extend_from_slice(&col.flags().bits().to_le_bytes());
    buf.push(col.decimals());
    buf.extend_from_slice(&[0, 0]);
}

/// A column definition the proxy makes up itself (SHOW DATABASES and the like).
pub fn synthetic_column_payload(buf: &mut Vec<u8>, table: &str, name: &str, charset: u16) {
    put_lenenc_str(buf, b"def");
    put_lenenc_str(buf, b"information_schema");
    put_lenenc_str(buf, table.as_bytes());
    put_lenenc_str(buf, table.as_bytes());
    put_lenenc_str(buf, name.as_bytes());
    put_lenenc_str(buf, name.as_bytes());
    buf.push(0x0C);
    buf.extend_from_slice(&charset.to_le_bytes());
    buf.extend_from_slice(&256u32.to_le_bytes());
    buf.push(mysql_common::constants::ColumnType::MYSQL_TYPE_VAR_STRING as u8);
    buf.extend_from_slice(&1u16.to_le_bytes()); // NOT_NULL
    buf.push(0);
    buf.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_boundaries() {
        let mut b = Vec::new();
        put_lenenc_int(&mut b, 250);
        put_lenenc_int(&mut b, 251);
        put_lenenc_int(&mut b, 65536);
        put_lenenc_int(&mut b, 1 << 24);
        assert_eq!(
            b,
            [250, 0xFC, 251, 0, 0xFD, 0, 0, 1, 0xFE, 0, 0, 0, 1, 0, 0, 0, 0]
        );
    }

    #[test]
    fn err_packet_layout() {
        let mut b = Vec::new();
        err_payload(&mut b, 1235, "42000", "x");
        assert_eq!(
            b,
            [0xFF, 0xD3, 0x04, b'#', b'4', b'2', b'0', b'0', b'0', b'x']
        );
    }
}
