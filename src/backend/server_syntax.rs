//! What the backends told about how they read SQL text: the lowest server version among
//! them (which executable comments run) and the global sql_mode a new session starts with.
//! The health checker learns both on each connection it opens (at startup, then after every
//! reconnect); sessions read them, per statement, with two atomic loads.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::plan::syntax::{SqlMode, Syntax, ASSUMED_SERVER_VERSION};

#[derive(Debug)]
pub struct ServerSyntax {
    /// `u32::MAX` until a server reported its version.
    lowest_version: AtomicU32,
    /// `SqlMode` bits of the masters' global sql_mode, `UNKNOWN` until one reported it.
    global_mode: AtomicU8,
}

const UNKNOWN: u8 = 0xFF;

impl Default for ServerSyntax {
    fn default() -> Self {
        ServerSyntax {
            lowest_version: AtomicU32::new(u32::MAX),
            global_mode: AtomicU8::new(UNKNOWN),
        }
    }
}

impl ServerSyntax {
    /// A server reported this version (`Conn::server_version()`).
    pub fn saw_version(&self, (major, minor, patch): (u16, u16, u16)) {
        let v = Syntax::version_number(major, minor, patch);
        self.lowest_version.fetch_min(v, Ordering::Relaxed);
    }

    /// A master reported its `@@GLOBAL.sql_mode`. Masters are expected to agree (they serve
    /// one logical database); the last report wins.
    pub fn saw_global_mode(&self, value: &str) {
        self.global_mode
            .store(SqlMode::parse(value).to_bits(), Ordering::Relaxed);
    }

    /// The lowest server version seen, or the assumed one before any server answered.
    pub fn version(&self) -> u32 {
        match self.lowest_version.load(Ordering::Relaxed) {
            u32::MAX => ASSUMED_SERVER_VERSION,
            v => v,
        }
    }

    /// The sql_mode a new backend session starts with (MariaDB's default, which has none
    /// of the flags that matter, until a master said otherwise).
    pub fn global_mode(&self) -> SqlMode {
        match self.global_mode.load(Ordering::Relaxed) {
            UNKNOWN => SqlMode::default(),
            bits => SqlMode::from_bits(bits),
        }
    }

    /// The syntax of a session whose own sql_mode is `session_mode` (`None`: never set, so the
    /// global default).
    pub fn syntax(&self, session_mode: Option<SqlMode>) -> Syntax {
        Syntax {
            version: self.version(),
            mode: session_mode.unwrap_or_else(|| self.global_mode()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_version_and_global_mode() {
        let s = ServerSyntax::default();
        assert_eq!(s.version(), ASSUMED_SERVER_VERSION);
        assert_eq!(s.global_mode(), SqlMode::default());
        s.saw_version((10, 11, 19));
        s.saw_version((11, 4, 2));
        assert_eq!(s.version(), 101119);
        s.saw_global_mode("ANSI_QUOTES,STRICT_TRANS_TABLES");
        assert!(s.global_mode().ansi_quotes);
        let own = SqlMode::parse("NO_BACKSLASH_ESCAPES");
        assert_eq!(s.syntax(Some(own)).mode, own);
        assert!(s.syntax(None).mode.ansi_quotes);
    }
}
