//! Logging in to a backend: the server's greeting, our handshake response, and the auth
//! exchange that may follow (a plugin switch, caching_sha2_password's fast-auth answer).

use mysql_common::constants::CapabilityFlags;
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, AuthSwitchRequest, HandshakePacket, HandshakeResponse};
use mysql_common::proto::MySerialize;
use tokio::io::{AsyncRead, AsyncWrite};

use super::frames::Frames;
use crate::protocol::{EOF_HEADER, ERR_HEADER, OK_HEADER};

use super::packets;
use super::WireError;

/// What the server told us at login that later commands need.
#[derive(Debug, Clone)]
pub struct Greeting {
    pub connection_id: u32,
    pub server_version: (u16, u16, u16),
}

pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub database: Option<&'a str>,
    pub max_packet: u32,
}

/// The capabilities we ask for: those of mysql_async's connections that change how a
/// statement behaves (so it behaves the same on either), minus what the wire path does not
/// implement (LOCAL INFILE, multi-statements, compression, TLS), plus two that change only
/// framing (long column flags, length-encoded auth data).
fn requested_capabilities(database: bool) -> CapabilityFlags {
    let mut c = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    if database {
        c |= CapabilityFlags::CLIENT_CONNECT_WITH_DB;
    }
    c
}

pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    frames: &mut Frames<S>,
    who: &Credentials<'_>,
) -> Result<Greeting, WireError> {
    let payload = frames.next().await?;
    if payload.first() == Some(&ERR_HEADER) {
        return Err(WireError::Server(packets::parse_err(payload)?));
    }
    check_auth_data_len(payload)?;
    let hello: HandshakePacket<'_> = ParseBuf(payload)
        .parse(())
        .map_err(|e| WireError::Protocol(format!("the server's greeting: {e}")))?;
    let server_caps = hello.capabilities();
    let mut capabilities = requested_capabilities(who.database.is_some()) & server_caps;
    for needed in [
        CapabilityFlags::CLIENT_PROTOCOL_41,
        CapabilityFlags::CLIENT_SECURE_CONNECTION,
        CapabilityFlags::CLIENT_PLUGIN_AUTH,
        // The reader of results relies on it (reply.rs).
        CapabilityFlags::CLIENT_DEPRECATE_EOF,
    ] {
        if !server_caps.contains(needed) {
            return Err(WireError::Unsupported(format!(
                "a server without {needed:?}"
            )));
        }
    }
    if who.database.is_none() {
        capabilities.remove(CapabilityFlags::CLIENT_CONNECT_WITH_DB);
    }
    let greeting = Greeting {
        connection_id: hello.connection_id(),
        server_version: hello
            .maria_db_server_version_parsed()
            .or_else(|| hello.server_version_parsed())
            .unwrap_or((0, 0, 0)),
    };
    let nonce = hello.nonce();
    let plugin = hello
        .auth_plugin()
        .map(|p| p.into_owned())
        .unwrap_or(AuthPlugin::MysqlNativePassword);
    let plugin = supported(plugin)?;
    let data = plugin.gen_data(Some(who.password), &nonce);
    let response = HandshakeResponse::new(
        data.as_ref().map(|d| {
            let mut v = Vec::new();
            d.serialize(&mut v);
            v
        }),
        greeting.server_version,
        Some(who.user.as_bytes()),
        who.database.map(str::as_bytes),
        Some(plugin.clone()),
        capabilities,
        None,
        who.max_packet,
    );
    // mysql_common writes utf8mb4_general_ci (45) as the collation, as mysql_async's
    // connections start with.
    let mut out = Vec::new();
    response.serialize(&mut out);
    frames.send(1, &out).await?;
    auth_exchange(frames, who, plugin).await?;
    Ok(greeting)
}

/// mysql_common computes the scramble's second part as `len as i8 - 8`, which overflows
/// (a panic where overflow checks are on) for lengths 0x80-0x87. No server sends a length
/// of 0x80 or more, so such a greeting is refused before it is parsed.
fn check_auth_data_len(greeting: &[u8]) -> Result<(), WireError> {
    // Protocol version, the NUL-terminated server version, then connection id (4), scramble
    // (8), filler (1), capabilities (2), collation (1), status (2), capabilities (2).
    let Some(nul) = greeting.iter().skip(1).position(|&b| b == 0) else {
        return Ok(());
    };
    match greeting.get(1 + nul + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2) {
        Some(&len) if len >= 0x80 => Err(WireError::Protocol(format!(
            "a greeting with an auth data length of {len}"
        ))),
        _ => Ok(()),
    }
}

/// Only plugins whose answer needs no TLS or RSA exchange.
fn supported(plugin: AuthPlugin<'static>) -> Result<AuthPlugin<'static>, WireError> {
    match plugin {
        AuthPlugin::MysqlNativePassword | AuthPlugin::CachingSha2Password => Ok(plugin),
        other => Err(WireError::Unsupported(format!(
            "authentication plugin {}",
            String::from_utf8_lossy(other.as_bytes())
        ))),
    }
}

async fn auth_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    frames: &mut Frames<S>,
    who: &Credentials<'_>,
    mut plugin: AuthPlugin<'static>,
) -> Result<(), WireError> {
    // A server asks at most for one switch and one fast-auth answer; more is a loop.
    for _ in 0..4 {
        let payload = frames.next().await?;
        match payload.first() {
            Some(&OK_HEADER) => return Ok(()),
            Some(&ERR_HEADER) => return Err(WireError::Server(packets::parse_err(payload)?)),
            Some(&EOF_HEADER) => {
                let switch: AuthSwitchRequest<'_> = ParseBuf(payload)
                    .parse(())
                    .map_err(|e| WireError::Protocol(format!("an auth switch: {e}")))?;
                plugin = supported(switch.auth_plugin().into_owned())?;
                // mysql_common strips the nonce's trailing NUL already.
                let mut answer = Vec::new();
                if let Some(d) = plugin.gen_data(Some(who.password), switch.plugin_data()) {
                    d.serialize(&mut answer);
                }
                let seq = frames.next_seq();
                frames.send(seq, &answer).await?;
            }
            Some(&0x01) if plugin == AuthPlugin::CachingSha2Password => match payload.get(1) {
                // Fast auth succeeded: the OK follows.
                Some(3) => continue,
                _ => {
                    return Err(WireError::Unsupported(
                        "caching_sha2_password full authentication (needs TLS or RSA)".into(),
                    ))
                }
            },
            _ => {
                return Err(WireError::Protocol(
                    "an unexpected packet during login".into(),
                ))
            }
        }
    }
    Err(WireError::Protocol("login did not finish".into()))
}
