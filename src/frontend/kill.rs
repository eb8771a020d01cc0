//! Carrying out `KILL [QUERY | CONNECTION] <id>` (and COM_PROCESS_KILL) on the process's
//! sessions. The killer only signals; the target session stops its own statement (see
//! `interrupt`), because only it holds that statement's connections, on its own worker.

use crate::error::Error;
use crate::plan::kill::{Kill, KillId, KillWhat};

use super::sessions::{LiveSession, Sessions};

/// Signals the target session. `Err` is the KILL's answer to its own client: 1094 for an
/// unknown id, 1095 for another user's session without `admin`, and, as on the server,
/// 1317 for KILL QUERY of oneself and 1927 for KILL CONNECTION of oneself.
pub fn kill(k: &Kill, me: &LiveSession, admin: bool, sessions: &Sessions) -> Result<(), Error> {
    let id = match k.id {
        KillId::Own => u64::from(me.id),
        KillId::Session(n) => n,
    };
    let target = u32::try_from(id)
        .ok()
        .and_then(|i| sessions.get(i))
        .ok_or(Error::UnknownThread(id))?;
    if target.user() != me.user() && !admin {
        return Err(Error::NotOwner(id));
    }
    let own = target.id == me.id;
    match k.what {
        KillWhat::Query if own => return Err(Error::Interrupted(String::new())),
        KillWhat::Query => target.kill_query(),
        KillWhat::Connection => {
            target.kill_connection();
            if own {
                return Err(Error::ConnectionKilled);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn k(what: KillWhat, id: KillId) -> Kill {
        Kill { what, id }
    }

    #[test]
    fn owner_admin_and_unknown_ids() {
        let s = Arc::new(Sessions::default());
        let app = s.register(1, "app", "h");
        let other = s.register(2, "other", "h");
        let victim = s.register(3, "app", "h");
        let me = app.session();
        let q = |n| k(KillWhat::Query, KillId::Session(n));
        assert_eq!(kill(&q(99), me, false, &s), Err(Error::UnknownThread(99)));
        assert_eq!(
            kill(&q(1 << 40), me, true, &s),
            Err(Error::UnknownThread(1 << 40))
        );
        assert_eq!(
            kill(&q(3), other.session(), false, &s),
            Err(Error::NotOwner(3))
        );
        assert_eq!(kill(&q(3), other.session(), true, &s), Ok(()));
        let t = victim.session().begin_statement("SELECT SLEEP(5)", None);
        assert_eq!(kill(&q(3), me, false, &s), Ok(()));
        assert!(t.is_cancelled());
        assert!(!victim.session().ended().is_cancelled());
        assert_eq!(
            kill(&k(KillWhat::Connection, KillId::Session(3)), me, false, &s),
            Ok(())
        );
        assert!(victim.session().ended().is_cancelled());
    }

    #[test]
    fn killing_oneself_answers_like_the_server() {
        let s = Arc::new(Sessions::default());
        let g = s.register(5, "app", "h");
        let me = g.session();
        assert_eq!(
            kill(&k(KillWhat::Query, KillId::Own), me, false, &s),
            Err(Error::Interrupted(String::new()))
        );
        assert!(!me.ended().is_cancelled());
        assert_eq!(
            kill(&k(KillWhat::Connection, KillId::Session(5)), me, false, &s),
            Err(Error::ConnectionKilled)
        );
        assert!(me.ended().is_cancelled());
    }
}
