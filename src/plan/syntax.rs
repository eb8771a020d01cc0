//! How the backend will read a statement's text: the server version (which executable
//! comments run) and the session's sql_mode flags that change tokens and operators.
//!
//! Planning must read a text exactly as the server will, or it routes a different statement
//! than the one that runs: `WHERE k = 7 /*M! OR k = 8 */` is an OR on MariaDB, `'\'` is a whole
//! string under NO_BACKSLASH_ESCAPES, `"t"` is a table under ANSI_QUOTES, and `a || b` is an OR
//! unless PIPES_AS_CONCAT makes it a concatenation.
//!
//! One statement is planned synchronously on one thread, so `plan` installs the session's
//! `Syntax` for the duration (`Syntax::scope`) and every recogniser of the planner (the lexer,
//! the fast paths, sqlparser's dialect) reads it from there, rather than each of them taking
//! one more argument.

use std::cell::Cell;

/// The server version assumed until a backend connection told the real one: MariaDB 10.11.0,
/// the oldest release the project supports. Guessing low means an executable comment gated on
/// a newer version is read as a comment; a backend that runs it after all is newer than this,
/// and the proxy learns its version from the health checker's first connection at startup.
pub const ASSUMED_SERVER_VERSION: u32 = 101100;

/// The sql_mode flags that change how a statement's text reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SqlMode {
    /// `\` is an ordinary character inside strings.
    pub no_backslash_escapes: bool,
    /// `"x"` is an identifier, not a string.
    pub ansi_quotes: bool,
    /// `||` concatenates instead of meaning OR.
    pub pipes_as_concat: bool,
    /// A mode whose grammar the planner does not know (MariaDB's `ORACLE` switches to a PL/SQL
    /// parser): every statement but SET is refused while it is on.
    pub unplannable: Option<&'static str>,
}

impl SqlMode {
    /// The flags of a `@@sql_mode` value (`'STRICT_TRANS_TABLES,ANSI_QUOTES,...'`). The server
    /// expands combination modes when it reports them, but `ANSI` (and the others) are read
    /// here too, in case a value comes from elsewhere.
    pub fn parse(value: &str) -> SqlMode {
        let mut m = SqlMode::default();
        for flag in value.split(',').map(str::trim) {
            let flag = flag.to_ascii_uppercase();
            match flag.as_str() {
                "NO_BACKSLASH_ESCAPES" => m.no_backslash_escapes = true,
                "ANSI_QUOTES" => m.ansi_quotes = true,
                "PIPES_AS_CONCAT" => m.pipes_as_concat = true,
                "ANSI" | "DB2" | "MAXDB" | "MSSQL" | "POSTGRESQL" => {
                    m.ansi_quotes = true;
                    m.pipes_as_concat = true;
                }
                "ORACLE" => {
                    m.ansi_quotes = true;
                    m.pipes_as_concat = true;
                    m.unplannable = Some("ORACLE");
                }
                _ => {}
            }
        }
        m
    }

    /// The flags in one byte (for an atomic); `from_bits` reverses it.
    pub fn to_bits(self) -> u8 {
        u8::from(self.no_backslash_escapes)
            | u8::from(self.ansi_quotes) << 1
            | u8::from(self.pipes_as_concat) << 2
            | u8::from(self.unplannable.is_some()) << 3
    }

    pub fn from_bits(bits: u8) -> SqlMode {
        SqlMode {
            no_backslash_escapes: bits & 1 != 0,
            ansi_quotes: bits & 2 != 0,
            pipes_as_concat: bits & 4 != 0,
            unplannable: (bits & 8 != 0).then_some("ORACLE"),
        }
    }
}

/// Everything about the server and session that decides how a text reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Syntax {
    /// The server version as MariaDB compares it in `/*!NNNNNN ... */`: 10.11.6 is 101106.
    /// With servers of several versions, the lowest (see `backend::server_version`).
    pub version: u32,
    pub mode: SqlMode,
}

impl Default for Syntax {
    fn default() -> Self {
        Syntax {
            version: ASSUMED_SERVER_VERSION,
            mode: SqlMode::default(),
        }
    }
}

thread_local! {
    static CURRENT: Cell<Syntax> = Cell::new(Syntax::default());
}

impl Syntax {
    /// The version number of a server version string (`10.11.6-MariaDB-0+deb12u1` -> 101106).
    pub fn version_number(major: u16, minor: u16, patch: u16) -> u32 {
        u32::from(major) * 10_000 + u32::from(minor) * 100 + u32::from(patch)
    }

    /// The syntax installed by the innermost `scope` on this thread (the default outside one).
    pub fn current() -> Syntax {
        CURRENT.with(Cell::get)
    }

    /// Installs `self` as the thread's syntax until the guard drops (also on unwind).
    pub fn scope(self) -> SyntaxScope {
        let previous = CURRENT.with(|c| c.replace(self));
        SyntaxScope {
            previous,
            not_send: std::marker::PhantomData,
        }
    }
}

/// Restores the previous syntax when dropped. Not `Send`: a scope held across an `.await`
/// would leak into whichever task runs next on the thread, and this makes such a future
/// fail to compile where tasks must be `Send`.
#[must_use = "the syntax is in force only while the scope lives"]
pub struct SyntaxScope {
    previous: Syntax,
    not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for SyntaxScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_flags_of_a_sql_mode() {
        let m = SqlMode::parse("STRICT_TRANS_TABLES,no_backslash_escapes");
        assert!(m.no_backslash_escapes && !m.ansi_quotes && !m.pipes_as_concat);
        let ansi = SqlMode::parse(
            "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY,ANSI",
        );
        assert!(ansi.ansi_quotes && ansi.pipes_as_concat && !ansi.no_backslash_escapes);
        assert_eq!(SqlMode::parse("ANSI"), ansi);
        assert_eq!(SqlMode::parse("ORACLE").unplannable, Some("ORACLE"));
        assert_eq!(SqlMode::parse(""), SqlMode::default());
        for m in [ansi, SqlMode::parse("ORACLE,NO_BACKSLASH_ESCAPES")] {
            assert_eq!(SqlMode::from_bits(m.to_bits()), m);
        }
    }

    #[test]
    fn scopes_nest_and_restore() {
        let nbe = Syntax {
            version: 100600,
            mode: SqlMode::parse("NO_BACKSLASH_ESCAPES"),
        };
        assert_eq!(Syntax::current(), Syntax::default());
        {
            let _outer = nbe.scope();
            assert_eq!(Syntax::current(), nbe);
            {
                let _inner = Syntax::default().scope();
                assert_eq!(Syntax::current(), Syntax::default());
            }
            assert_eq!(Syntax::current(), nbe);
        }
        assert_eq!(Syntax::current(), Syntax::default());
        assert_eq!(Syntax::version_number(10, 11, 6), 101106);
    }
}
