//! `SHOW [FULL] PROCESSLIST`: the proxy's client sessions, in the server's columns. Id is
//! the connection id the client got in its handshake (what KILL takes); Command is `Query`
//! while a statement runs, `Sleep` otherwise; State counts the backend connections the
//! running statement uses, or says it waits for a write hold.

use crate::frontend::sessions::Snapshot;

pub const COLUMNS: &[&str] = &[
    "Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress",
];

/// Info is cut to this many characters without FULL, as the server does.
const SHORT_INFO: usize = 100;

/// `Some(full)` for `SHOW [FULL] PROCESSLIST` (any case and spacing, optional `;`).
pub fn is_show_processlist(sql: &str) -> Option<bool> {
    let mut words = sql.trim().trim_end_matches(';').split_ascii_whitespace();
    let show = words.next()?.eq_ignore_ascii_case("SHOW");
    let (full, list) = match words.next()? {
        w if w.eq_ignore_ascii_case("FULL") => (true, words.next()?),
        w => (false, w),
    };
    (show && list.eq_ignore_ascii_case("PROCESSLIST") && words.next().is_none()).then_some(full)
}

/// The rows as text cells; `None` is SQL NULL. `me` is the asking session, whose own
/// statement is this SHOW.
pub fn rows(
    sessions: impl Iterator<Item = Snapshot>,
    me: u32,
    full: bool,
) -> Vec<Vec<Option<String>>> {
    sessions
        .map(|s| {
            let info = s.info.map(|i| {
                if full {
                    i
                } else {
                    i.chars().take(SHORT_INFO).collect()
                }
            });
            let state = if s.id == me {
                "init".to_string()
            } else if s.held {
                "Waiting for write hold (resharding cutover)".to_string()
            } else if s.running {
                format!("{} backend connection(s)", s.backend_connections)
            } else {
                String::new()
            };
            vec![
                Some(s.id.to_string()),
                Some(s.user),
                Some(s.host),
                s.db,
                Some(if s.running { "Query" } else { "Sleep" }.to_string()),
                Some(s.seconds.to_string()),
                Some(state),
                info,
                Some("0.000".to_string()),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_statement() {
        assert_eq!(is_show_processlist("SHOW PROCESSLIST"), Some(false));
        assert_eq!(is_show_processlist(" show  full processlist ;"), Some(true));
        assert_eq!(is_show_processlist("SHOW PROCESSLIST x"), None);
        assert_eq!(is_show_processlist("SHOW TABLES"), None);
        assert_eq!(is_show_processlist("SHOW FULL TABLES"), None);
    }

    #[test]
    fn rows_cut_info_unless_full() {
        let snap = |id, running| Snapshot {
            id,
            user: "app".into(),
            host: "127.0.0.1".into(),
            db: None,
            running,
            seconds: 3,
            elapsed: std::time::Duration::from_secs(3),
            pinned: 0,
            in_transaction: false,
            info: running.then(|| "x".repeat(150)),
            backend_connections: 2,
            held: false,
        };
        let r = rows([snap(1, false), snap(2, true)].into_iter(), 9, false);
        assert_eq!(r[0][4].as_deref(), Some("Sleep"));
        assert_eq!(r[0][7], None);
        assert_eq!(r[1][4].as_deref(), Some("Query"));
        assert_eq!(r[1][6].as_deref(), Some("2 backend connection(s)"));
        assert_eq!(r[1][7].as_ref().map(String::len), Some(100));
        let r = rows([snap(2, true)].into_iter(), 9, true);
        assert_eq!(r[0][7].as_ref().map(String::len), Some(150));
        let held = Snapshot {
            held: true,
            ..snap(3, true)
        };
        let r = rows([held].into_iter(), 9, false);
        assert_eq!(
            r[0][6].as_deref(),
            Some("Waiting for write hold (resharding cutover)")
        );
    }
}
