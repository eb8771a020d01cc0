//! `SHARDGATE RELOAD`: the SQL twin of SIGHUP, for operators who reach the proxy only over
//! the MySQL protocol. Admin users only; the answer says which rules generation now serves,
//! or why the files were refused (the running rules then stay).

/// True for `SHARDGATE RELOAD` (any case, an optional `;`).
pub fn is_reload(sql: &str) -> bool {
    let mut words = sql.trim().trim_end_matches(';').split_ascii_whitespace();
    matches!(
        (words.next(), words.next(), words.next()),
        (Some(a), Some(b), None)
            if a.eq_ignore_ascii_case("SHARDGATE") && b.eq_ignore_ascii_case("RELOAD")
    )
}

#[cfg(test)]
mod tests {
    use super::is_reload;

    #[test]
    fn recognises_the_statement_only() {
        assert!(is_reload("SHARDGATE RELOAD"));
        assert!(is_reload("  shardgate   reload ; "));
        assert!(!is_reload("SHARDGATE RELOAD NOW"));
        assert!(!is_reload("SELECT 'SHARDGATE RELOAD'"));
    }
}
