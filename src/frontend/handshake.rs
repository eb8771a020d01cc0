//! Connection phase: the server greeting, the client's login, plugin switch, and the verdict.

use std::io;

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{HandshakePacket, HandshakeResponse};
use mysql_common::proto::MySerialize;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::server::AuthPlugin;
use crate::error::Error;
use crate::server::Shared;

use super::auth::{self, plugin_name};
use super::encode::{err_payload, ok_payload};
use super::packet::{PacketReader, PacketWriter};
use crate::execute::OkInfo;

/// What we offer. CLIENT_LONG_PASSWORD must be set or MariaDB clients read MariaDB-only
/// capability bytes; FOUND_ROWS is not offered because the backend connections are opened
/// without it and affected-row counts would silently change meaning.
pub fn server_capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
        | CapabilityFlags::CLIENT_IGNORE_SPACE
        | CapabilityFlags::CLIENT_INTERACTIVE
        | CapabilityFlags::CLIENT_IGNORE_SIGPIPE
}

/// utf8mb4_general_ci: what mysql_async opens backend connections with.
pub const DEFAULT_COLLATION: u8 = 45;

/// The outcome of a successful login.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub capabilities: CapabilityFlags,
    pub collation: u16,
    pub database: Option<String>,
    /// The connection's scramble: COM_CHANGE_USER proofs are computed with it.
    pub nonce: [u8; 20],
    /// The client switched to TLS before logging in.
    pub secure: bool,
}

pub enum HandshakeOutcome {
    Accepted(Login),
    /// The client was told why (an ERR packet was sent) or simply went away.
    Rejected,
}

/// The greeting (protocol 10) and the scramble it carries; `offer_tls` adds CLIENT_SSL.
pub fn greeting(connection_id: u32, shared: &Shared, offer_tls: bool) -> ([u8; 20], Vec<u8>) {
    let nonce = auth::new_nonce();
    let mut scramble_1 = [0u8; 8];
    scramble_1.copy_from_slice(&nonce[..8]);
    // The second part carries a trailing NUL, or pymysql misreads the plugin name.
    let mut scramble_2 = nonce[8..].to_vec();
    scramble_2.push(0);
    let mut caps = server_capabilities();
    if offer_tls {
        caps |= CapabilityFlags::CLIENT_SSL;
    }
    let greeting = HandshakePacket::new(
        10,
        shared.server_version.as_bytes(),
        connection_id,
        scramble_1,
        Some(scramble_2),
        caps,
        DEFAULT_COLLATION,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(auth::NATIVE.as_bytes()),
    );
    let mut payload = Vec::with_capacity(128);
    greeting.serialize(&mut payload);
    (nonce, payload)
}

/// The connection phase on a stream that stays plain: greeting, response, verdict.
pub async fn handshake<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    connection_id: u32,
    shared: &Shared,
    peer_host: &str,
) -> io::Result<HandshakeOutcome>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (nonce, payload) = greeting(connection_id, shared, false);
    writer.set_seq(0);
    writer.write_packet(&payload);
    writer.flush().await?;

    let mut buf = Vec::with_capacity(256);
    let Some(seq) = reader.read_packet(&mut buf).await? else {
        return Ok(HandshakeOutcome::Rejected);
    };
    writer.set_seq(seq.wrapping_add(1));
    login(reader, writer, &buf, nonce, shared, peer_host, false).await
}

/// The client's handshake response `buf` (read after the greeting, or after the switch to
/// TLS when `secure`), checked against `[[users]]`.
pub async fn login<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    buf: &[u8],
    nonce: [u8; 20],
    shared: &Shared,
    peer_host: &str,
    secure: bool,
) -> io::Result<HandshakeOutcome>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let response = match ParseBuf(buf).parse::<HandshakeResponse>(()) {
        Ok(r) => r,
        Err(e) => {
            send_error(
                writer,
                &Error::MalformedPacket(format!("handshake response: {e}")),
            )
            .await?;
            return Ok(HandshakeOutcome::Rejected);
        }
    };
    let client_caps = response.capabilities();
    if !client_caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        send_error(
            writer,
            &Error::MalformedPacket("clients before protocol 4.1 are not supported".into()),
        )
        .await?;
        return Ok(HandshakeOutcome::Rejected);
    }
    let tls_required = shared
        .config
        .tls
        .as_ref()
        .is_some_and(|t| t.require_secure_transport);
    if tls_required && !secure {
        send_error(writer, &Error::InsecureTransport).await?;
        return Ok(HandshakeOutcome::Rejected);
    }
    let user_name = String::from_utf8_lossy(response.user()).into_owned();
    let database = response
        .db_name()
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let collation = response.collation() as u16;
    let client_plugin = response.auth_plugin().map(|p| p.as_bytes().to_vec());
    let proof = response.scramble_buf().to_vec();
    drop(response);

    let proof = ClientProof {
        user: &user_name,
        plugin: client_plugin.as_deref(),
        data: proof,
        plugin_auth: client_caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH),
        secure,
    };
    match authenticate(reader, writer, shared, &nonce, proof, peer_host).await? {
        Verdict::Accepted => {}
        Verdict::Refused | Verdict::Left => return Ok(HandshakeOutcome::Rejected),
    }
    let capabilities = client_caps & server_capabilities();
    Ok(HandshakeOutcome::Accepted(Login {
        user: user_name,
        capabilities,
        collation,
        database,
        nonce,
        secure,
    }))
}

/// What a client sent to log in as `user` (handshake response or COM_CHANGE_USER).
pub(super) struct ClientProof<'a> {
    pub user: &'a str,
    /// The plugin the client computed `data` with, if it said.
    pub plugin: Option<&'a [u8]>,
    pub data: Vec<u8>,
    /// The client understands an auth switch request.
    pub plugin_auth: bool,
    /// The connection is encrypted: caching_sha2_password may take the password in clear.
    pub secure: bool,
}

pub(super) enum Verdict {
    Accepted,
    /// The client got the ERR (access denied) already.
    Refused,
    /// The client went away mid-exchange.
    Left,
}

/// Checks a login against `[[users]]`: switches the client to the user's plugin (with the
/// connection's `nonce`) when it used another, then caching_sha2_password's fast or full
/// authentication; a refusal is answered with 1045 here.
pub(super) async fn authenticate<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    shared: &Shared,
    nonce: &[u8; 20],
    client: ClientProof<'_>,
    peer_host: &str,
) -> io::Result<Verdict>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let user_name = client.user;
    let mut proof = client.data;
    let mut buf = Vec::with_capacity(256);
    let user = shared.config.users.iter().find(|u| u.name == user_name);
    // Unknown users still go through the plugin exchange, so a probe cannot tell them from
    // wrong passwords.
    let plugin = user
        .map(|u| u.auth_plugin)
        .unwrap_or(AuthPlugin::MysqlNativePassword);
    let wanted = plugin_name(plugin);
    if client.plugin != Some(wanted.as_bytes()) && client.plugin_auth {
        let mut switch = Vec::with_capacity(64);
        switch.push(0xFE);
        switch.extend_from_slice(wanted.as_bytes());
        switch.push(0);
        switch.extend_from_slice(nonce);
        switch.push(0);
        writer.write_packet(&switch);
        writer.flush().await?;
        let Some(seq) = reader.read_packet(&mut buf).await? else {
            return Ok(Verdict::Left);
        };
        writer.set_seq(seq.wrapping_add(1));
        proof = buf.clone();
    }

    let mut accepted = user.is_some_and(|u| auth::verify(plugin, nonce, &u.password, &proof));
    if plugin == AuthPlugin::CachingSha2Password {
        if let Some(u) = user.filter(|u| !u.password.is_empty()) {
            let cache = shared.sha2_cache();
            if accepted && cache.is_verified(&u.name) {
                // fast_auth_success; the OK follows.
                writer.write_packet(&[0x01, 0x03]);
            } else if accepted {
                // Like a server whose cache lacks the user: full authentication first.
                accepted =
                    match full_auth(reader, writer, shared, nonce, &u.password, client.secure)
                        .await?
                    {
                        Some(ok) => ok,
                        None => return Ok(Verdict::Left),
                    };
                if accepted {
                    cache.mark_verified(&u.name);
                }
            }
        }
    }
    if !accepted {
        let err = Error::AccessDenied {
            user: user_name.to_owned(),
            host: peer_host.to_string(),
            using_password: !proof.is_empty(),
        };
        send_error(writer, &err).await?;
        return Ok(Verdict::Refused);
    }
    Ok(Verdict::Accepted)
}

/// caching_sha2_password full authentication. Over TLS the client sends its password in
/// clear (NUL-terminated); over a plain connection it asks for the public key (0x02) and
/// answers with its password encrypted to it, and a cleartext password is refused unread.
/// Returns `Some(verified)`, or `None` when the client went away.
async fn full_auth<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    shared: &Shared,
    nonce: &[u8],
    password: &str,
    secure: bool,
) -> io::Result<Option<bool>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    writer.write_packet(&[0x01, 0x04]); // perform_full_authentication
    writer.flush().await?;
    let mut buf = Vec::with_capacity(512);
    let Some(seq) = reader.read_packet(&mut buf).await? else {
        return Ok(None);
    };
    writer.set_seq(seq.wrapping_add(1));
    if secure && buf.as_slice() != [0x02] {
        let clear = buf.strip_suffix(&[0]).unwrap_or(&buf);
        return Ok(Some(clear == password.as_bytes()));
    }
    if buf.as_slice() != [0x02] {
        // A cleartext password on an unencrypted connection: refuse rather than read it.
        return Ok(Some(false));
    }
    let key = match shared.sha2_cache().key().await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!("cannot make the RSA key for caching_sha2_password: {e}");
            return Ok(Some(false));
        }
    };
    let mut more = Vec::with_capacity(key.public_pem().len() + 1);
    more.push(0x01);
    more.extend_from_slice(key.public_pem().as_bytes());
    writer.write_packet(&more);
    writer.flush().await?;
    let Some(seq) = reader.read_packet(&mut buf).await? else {
        return Ok(None);
    };
    writer.set_seq(seq.wrapping_add(1));
    Ok(Some(
        key.decrypt_password(&buf, nonce)
            .is_some_and(|p| p == password.as_bytes()),
    ))
}

/// The OK that ends the connection phase (sent after the database was checked).
pub fn write_login_ok<W: AsyncWrite + Unpin>(writer: &mut PacketWriter<W>, status: u16) {
    let mut p = Vec::with_capacity(16);
    ok_payload(
        &mut p,
        0x00,
        &OkInfo {
            status,
            ..OkInfo::default()
        },
    );
    writer.write_packet(&p);
}

pub async fn send_error<W: AsyncWrite + Unpin>(
    writer: &mut PacketWriter<W>,
    err: &Error,
) -> io::Result<()> {
    let mut p = Vec::with_capacity(64);
    err_payload(&mut p, err.code(), err.sqlstate(), &err.to_string());
    writer.write_packet(&p);
    writer.flush().await
}
