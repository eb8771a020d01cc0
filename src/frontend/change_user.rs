//! COM_CHANGE_USER: a pooled client connection handed to another user (MariaDB Connector/J,
//! mysql-connector's `cmd_change_user`, mysql_async's `change_user`). The proxy
//! re-authenticates against `[[users]]` and resets the session as MariaDB does (transaction
//! rolled back, prepared statements closed, session variables and temporary tables gone,
//! database and character set from the packet), keeping the client's connection.

use mysql_common::constants::CapabilityFlags;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Error;
use crate::execute::{self, Session};
use crate::plan::charset::ClientCharset;

use super::connection::Client;
use super::handshake::{authenticate, send_error, write_login_ok, ClientProof, Verdict};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    /// COM_CHANGE_USER. `Ok(false)` ends the connection: the new user was refused (the
    /// client has the error), and the old user's session is not carried on by a failed
    /// attempt to leave it.
    pub(super) async fn change_user(&mut self, body: &[u8]) -> std::io::Result<bool> {
        let request = match parse(body, self.login.capabilities) {
            Ok(r) => r,
            Err(e) => {
                send_error(&mut self.writer, &e).await?;
                return Ok(false);
            }
        };
        let proof = ClientProof {
            user: &request.user,
            plugin: request.plugin.as_deref(),
            data: request.auth_data.clone(),
            plugin_auth: self
                .login
                .capabilities
                .contains(CapabilityFlags::CLIENT_PLUGIN_AUTH),
            secure: self.login.secure,
        };
        let nonce = self.login.nonce;
        // Authenticating may wait for the client (an auth plugin switch) as long as it likes:
        // the previous statement's held connections go back first.
        self.session.conns.release_spares();
        let verdict = authenticate(
            &mut self.reader,
            &mut self.writer,
            &self.shared,
            &nonce,
            proof,
            &self.peer_host,
        )
        .await?;
        // The old session ends whatever the verdict: its transaction is rolled back and its
        // connections reset before they go back to the pool.
        self.stmts.clear();
        let reset = self.shared.config.backend.multiplex;
        execute::txn::close(&mut self.session, reset).await;
        self.session = Session::default();
        self.session.conns.in_use = self.live.in_use.clone();
        self.user_session = None;
        if !matches!(verdict, Verdict::Accepted) {
            return Ok(false);
        }
        match self.shared.user_limits().admit(&request.user) {
            Ok(s) => self.user_session = s,
            Err(e) => {
                send_error(&mut self.writer, &e).await?;
                return Ok(false);
            }
        }
        self.live.set_user(&request.user);
        self.admin = self
            .shared
            .config
            .users
            .iter()
            .any(|u| u.name == request.user && u.admin);
        if let Some(db) = &request.database {
            let rules = self.shared.rules();
            if let Err(e) = execute::session::select_database(db, &rules, &mut self.session) {
                send_error(&mut self.writer, &e).await?;
                return Ok(false);
            }
        }
        let collation = request.collation.unwrap_or(self.login.collation);
        self.session.charset = ClientCharset::of_collation(collation);
        if let Some(set_names) = super::connection::set_names_for(collation) {
            if collation != u16::from(super::handshake::DEFAULT_COLLATION) {
                self.session.conns.remember_keyed(&set_names, Some("names"));
            }
        }
        self.login.user = request.user;
        self.login.collation = collation;
        write_login_ok(&mut self.writer, self.session.status);
        Ok(true)
    }
}

/// The fields of a COM_CHANGE_USER body (after the command byte).
#[derive(Debug, PartialEq, Eq)]
pub struct ChangeUser {
    pub user: String,
    pub auth_data: Vec<u8>,
    pub database: Option<String>,
    /// Absent in packets of old clients: the connection's collation stays.
    pub collation: Option<u16>,
    pub plugin: Option<Vec<u8>>,
}

/// Parses the body by hand: mysql_common's packet has no getters. Connect attributes at the
/// end are ignored.
pub fn parse(body: &[u8], caps: CapabilityFlags) -> Result<ChangeUser, Error> {
    let bad = |what: &str| Error::MalformedPacket(format!("COM_CHANGE_USER: {what}"));
    let mut rest = body;
    let user = take_nul(&mut rest).ok_or_else(|| bad("the user name is not terminated"))?;
    let auth_data = if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        let (&len, tail) = rest
            .split_first()
            .ok_or_else(|| bad("the auth data is missing"))?;
        let len = usize::from(len);
        if tail.len() < len {
            return Err(bad("the auth data is cut short"));
        }
        let (data, tail) = tail.split_at(len);
        rest = tail;
        data.to_vec()
    } else {
        take_nul(&mut rest)
            .ok_or_else(|| bad("the auth data is not terminated"))?
            .to_vec()
    };
    let database = take_nul(&mut rest).ok_or_else(|| bad("the database is not terminated"))?;
    let mut collation = None;
    let mut plugin = None;
    if rest.len() >= 2 {
        collation = Some(u16::from_le_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && !rest.is_empty() {
            plugin = take_nul(&mut rest).map(<[u8]>::to_vec);
        }
    }
    Ok(ChangeUser {
        user: String::from_utf8_lossy(user).into_owned(),
        auth_data,
        database: (!database.is_empty()).then(|| String::from_utf8_lossy(database).into_owned()),
        collation,
        plugin,
    })
}

/// The bytes up to a NUL, moving `rest` past it.
fn take_nul<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let at = rest.iter().position(|&b| b == 0)?;
    let (field, tail) = rest.split_at(at);
    *rest = &tail[1..];
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> CapabilityFlags {
        CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_PLUGIN_AUTH
            | CapabilityFlags::CLIENT_PROTOCOL_41
    }

    #[test]
    fn reads_every_field_of_a_modern_client() {
        let mut body = b"ops\0".to_vec();
        body.push(3);
        body.extend_from_slice(b"abc");
        body.extend_from_slice(b"clinical\0");
        body.extend_from_slice(&45u16.to_le_bytes());
        body.extend_from_slice(b"mysql_native_password\0");
        assert_eq!(
            parse(&body, caps()).unwrap(),
            ChangeUser {
                user: "ops".into(),
                auth_data: b"abc".to_vec(),
                database: Some("clinical".into()),
                collation: Some(45),
                plugin: Some(b"mysql_native_password".to_vec()),
            }
        );
    }

    #[test]
    fn an_old_client_without_charset_or_plugin_and_no_database() {
        let body = b"app\0\0\0".to_vec();
        let got = parse(&body, CapabilityFlags::CLIENT_PROTOCOL_41).unwrap();
        assert_eq!(got.user, "app");
        assert!(got.auth_data.is_empty() && got.database.is_none() && got.collation.is_none());
    }

    #[test]
    fn truncated_packets_are_errors_not_panics() {
        for body in [&b""[..], b"ops", b"ops\0", b"ops\0\x05ab", b"ops\0\x00clin"] {
            let e = parse(body, caps()).unwrap_err();
            assert_eq!(e.code(), 1835, "{body:?}");
        }
    }
}
