//! `hash`: CRC32 of the canonical text, mod shards. CRC32 because MySQL has it built in: a
//! resharding job can select the rows of one shard on the server with `CRC32(col) % n`.

pub(super) fn shard(canonical: &[u8], shards: u32) -> u32 {
    crc32fast::hash(canonical) % shards
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from MariaDB 10/11 on utf8mb4: `SELECT CRC32('42'), CRC32(42), CRC32('hello'),
    /// CRC32(-1), CRC32('é'), CRC32(0), CRC32(18446744073709551615)`.
    #[test]
    fn matches_mysql_crc32() {
        assert_eq!(crc32fast::hash(b"42"), 841265288);
        assert_eq!(crc32fast::hash(b"hello"), 907060870);
        assert_eq!(crc32fast::hash(b"-1"), 808273962);
        assert_eq!(crc32fast::hash("é".as_bytes()), 235179326);
        assert_eq!(crc32fast::hash(b"0"), 4108050209);
        assert_eq!(crc32fast::hash(b"18446744073709551615"), 3221115162);
        assert_eq!(shard(b"42", 4), 841265288 % 4);
    }
}
