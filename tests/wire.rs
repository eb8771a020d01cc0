//! Byte-exactness: for an unsharded table whose logical and physical names agree, every
//! response packet through shardgate must equal the packet MariaDB sends directly — column
//! definitions (charset, length, flags, decimals), rows, NULLs, OK and EOF — for a client
//! with DEPRECATE_EOF and one without.

mod common;

use common::raw::RawClient;
use common::*;

/// Packet `i` is the old-style EOF that ends the column definitions.
fn is_column_eof(packets: &[(u8, Vec<u8>)], i: usize, deprecate_eof: bool) -> bool {
    let first = &packets[0].1;
    !deprecate_eof && first[0] != 0 && first[0] != 0xFF && i == first[0] as usize + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsharded_results_are_byte_identical_to_a_direct_connection() {
    let schema = TestSchema::create("wire").await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE kinds (id INT PRIMARY KEY, d DECIMAL(12,4), f DOUBLE, dt DATETIME(6), \
                 day DATE, t TIME, s VARCHAR(40) CHARACTER SET utf8mb4, b BLOB, vb VARBINARY(16), \
                 u BIGINT UNSIGNED, e ENUM('a','b'), j JSON, bits BIT(5), y YEAR, ts TIMESTAMP NULL)",
                "INSERT INTO kinds VALUES (1, 12.3400, 1.5e10, '2024-01-02 03:04:05.123456', '2024-01-02', \
                 '-12:00:01', 'Zoë é ✓', x'00ff7f', x'0102', 18446744073709551615, 'b', '{\"k\": [1, 2]}', b'10101', 2024, NULL), \
                 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            ],
        )
        .await;
    // The logical database has the physical schema's name, so nothing needs renaming.
    let rules = format!(
        "[database]\nname = \"{name}\"\ndefault_group = \"g0\"\n[groups.g0]\nmaster = \"127.0.0.1:{port}\"\n",
        name = schema.name,
        port = master_port(0)
    );
    let proxy = Proxy::start(&[("wire.toml", rules)]).await;
    let (proxy_port, direct_port, db) = (proxy.port, master_port(0), schema.name.clone());
    tokio::task::spawn_blocking(move || {
        for deprecate_eof in [false, true] {
            let mut via = RawClient::connect(proxy_port, &db, deprecate_eof);
            let mut direct = RawClient::connect(direct_port, &db, deprecate_eof);
            for sql in [
                "SELECT * FROM kinds ORDER BY id",
                "SELECT id, s AS alias_s, d * 2, CONCAT(s, 'x') FROM kinds k WHERE id = 1",
                "UPDATE kinds SET y = y WHERE id = 1",
                "SELECT CAST('12abc' AS SIGNED)",
                "SELECT * FROM no_such_table",
                "INSERT INTO kinds (id) VALUES (1)",
            ] {
                let a = via.query(sql, deprecate_eof);
                let b = direct.query(sql, deprecate_eof);
                assert_eq!(
                    a.len(),
                    b.len(),
                    "{sql}: packet count (deprecate_eof={deprecate_eof})"
                );
                for (i, (pa, pb)) in a.iter().zip(b.iter()).enumerate() {
                    if is_column_eof(&a, i, deprecate_eof) {
                        // The EOF after the column definitions carries the server's status
                        // mid-statement, which the driver does not expose; the proxy sends the
                        // session's status, without the NO_(GOOD_)INDEX_USED hints.
                        let mask = |p: &(u8, Vec<u8>)| {
                            let mut p = p.clone();
                            p.1[3] &= !0x30;
                            p
                        };
                        assert_eq!(mask(pa), mask(pb), "{sql}: column EOF differs");
                        continue;
                    }
                    assert_eq!(
                        pa, pb,
                        "{sql}: packet {i} differs (deprecate_eof={deprecate_eof})"
                    );
                }
            }
        }
    })
    .await
    .unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_results_are_byte_identical_to_a_direct_connection() {
    let schema = TestSchema::create("wire_ps").await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE kinds (id INT PRIMARY KEY, d DECIMAL(12,4), f DOUBLE, dt DATETIME(6), \
                 day DATE, t TIME, s VARCHAR(40) CHARACTER SET utf8mb4, b BLOB, vb VARBINARY(16), \
                 u BIGINT UNSIGNED, e ENUM('a','b'), j JSON, bits BIT(5), y YEAR, ts TIMESTAMP NULL, \
                 ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, fl FLOAT)",
                "INSERT INTO kinds VALUES (1, 12.3400, 1.5e10, '2024-01-02 03:04:05.123456', '2024-01-02', \
                 '-12:00:01', 'Zoë é ✓', x'00ff7f', x'0102', 18446744073709551615, 'b', '{\"k\": [1, 2]}', b'10101', 2024, NULL, \
                 -128, 65535, -8388608, 0.1), \
                 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                 NULL, NULL, NULL, NULL)",
            ],
        )
        .await;
    let rules = format!(
        "[database]\nname = \"{name}\"\ndefault_group = \"g0\"\n[groups.g0]\nmaster = \"127.0.0.1:{port}\"\n",
        name = schema.name,
        port = master_port(0)
    );
    let proxy = Proxy::start(&[("wire.toml", rules)]).await;
    let (proxy_port, direct_port, db) = (proxy.port, master_port(0), schema.name.clone());
    tokio::task::spawn_blocking(move || {
        for deprecate_eof in [false, true] {
            let mut via = RawClient::connect(proxy_port, &db, deprecate_eof);
            let mut direct = RawClient::connect(direct_port, &db, deprecate_eof);
            for sql in [
                "SELECT * FROM kinds WHERE id = ?",
                "SELECT id, s AS alias_s, d * 2, CONCAT(s, 'x') FROM kinds k WHERE id = ?",
                "UPDATE kinds SET y = y WHERE id = ?",
                "INSERT INTO kinds (id) VALUES (?)",
            ] {
                let a = via.prepare(sql, deprecate_eof);
                let b = direct.prepare(sql, deprecate_eof);
                assert_eq!(a.len(), b.len(), "PREPARE {sql}: packet count");
                // Statement ids are each server's own.
                let id = |p: &[(u8, Vec<u8>)]| u32::from_le_bytes(p[0].1[1..5].try_into().unwrap());
                let (ida, idb) = (id(&a), id(&b));
                for (i, (pa, pb)) in a.iter().zip(b.iter()).enumerate() {
                    let (mut pa, mut pb) = (pa.clone(), pb.clone());
                    if i == 0 {
                        pa.1[1..5].fill(0);
                        pb.1[1..5].fill(0);
                    }
                    assert_eq!(pa, pb, "PREPARE {sql}: packet {i} (deprecate_eof={deprecate_eof})");
                }
                // Keys 1 and 2 exist (the INSERT gets the same 1062 both ways), 3 does not.
                let keys: &[i32] = if sql.starts_with("INSERT") { &[1, 2] } else { &[1, 2, 3] };
                for &key in keys {
                    let a = via.execute_int(ida, key, deprecate_eof);
                    let b = direct.execute_int(idb, key, deprecate_eof);
                    assert_eq!(a.len(), b.len(), "EXECUTE {sql} ({key}): packet count");
                    for (i, (pa, pb)) in a.iter().zip(b.iter()).enumerate() {
                        if is_column_eof(&a, i, deprecate_eof) {
                            let mask = |p: &(u8, Vec<u8>)| {
                                let mut p = p.clone();
                                p.1[3] &= !0x30;
                                p
                            };
                            assert_eq!(mask(pa), mask(pb), "{sql}: column EOF differs");
                            continue;
                        }
                        assert_eq!(
                            pa, pb,
                            "EXECUTE {sql} ({key}): packet {i} differs (deprecate_eof={deprecate_eof})"
                        );
                    }
                }
            }
            // Commands around EXECUTE, and bad input, on the proxy alone.
            let id = id_of(&via.prepare("SELECT s FROM kinds WHERE id = ?", deprecate_eof));
            let command = |c: &mut RawClient, payload: &[u8]| {
                c.write_packet(0, payload);
                c.read_packet().1
            };
            let code = |p: &[u8]| (p[0] == 0xFF).then(|| u16::from_le_bytes([p[1], p[2]]));
            let mut reset = vec![0x1a];
            reset.extend_from_slice(&id.to_le_bytes());
            assert_eq!(command(&mut via, &reset)[0], 0x00, "COM_STMT_RESET");
            assert_eq!(code(&command(&mut via, &[0x1a, 9, 9, 9, 9])), Some(1243));
            let mut fetch = vec![0x1c];
            fetch.extend_from_slice(&id.to_le_bytes());
            fetch.extend_from_slice(&1u32.to_le_bytes());
            assert_eq!(code(&command(&mut via, &fetch)), Some(1235));
            let mut short = vec![0x17];
            short.extend_from_slice(&id.to_le_bytes());
            short.push(0);
            assert_eq!(code(&command(&mut via, &short)), Some(1835));
            assert_eq!(code(&command(&mut via, &[0x17, 1])), Some(1835));
            // Long data then execute: the chunks are the parameter's value.
            let mut long = vec![0x18];
            long.extend_from_slice(&id.to_le_bytes());
            long.extend_from_slice(&0u16.to_le_bytes());
            long.extend_from_slice(b"1");
            via.write_packet(0, &long);
            let mut exec = vec![0x17];
            exec.extend_from_slice(&id.to_le_bytes());
            exec.push(0);
            exec.extend_from_slice(&1u32.to_le_bytes());
            exec.extend_from_slice(&[0, 1, 253, 0]); // VAR_STRING, its value sent as long data
            via.write_packet(0, &exec);
            let rows = via.read_result(deprecate_eof);
            let row = &rows[rows.len() - 2].1;
            assert!(row.ends_with("Zoë é ✓".as_bytes()), "long data row {row:?}");
            let ok = via.query("SELECT 1", deprecate_eof);
            assert_ne!(ok[0].1[0], 0xFF, "connection still usable");
        }
    })
    .await
    .unwrap();
    schema.drop().await;
}

fn id_of(prepare: &[(u8, Vec<u8>)]) -> u32 {
    u32::from_le_bytes(prepare[0].1[1..5].try_into().unwrap())
}
