//! TLS for clients (`[tls]`): the greeting offers CLIENT_SSL, a client that answers with an
//! SSLRequest switches the connection to TLS (tokio-rustls) and logs in over it. Plain
//! clients keep the plain path (owned TCP halves, no lock between reader and writer) unless
//! `require_secure_transport` refuses them with 3159.

use std::io;
use std::sync::Arc;

use mysql_common::constants::CapabilityFlags;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::connection::{serve_session, MAX_CLIENT_PACKET};
use super::handshake::{greeting, login, HandshakeOutcome};
use super::login_deadline::{self, within};
use super::packet::{PacketReader, PacketWriter};
use crate::config::server::TlsConfig;
use crate::server::Shared;

/// An SSLRequest is the first 32 bytes of a handshake response: capabilities, max packet,
/// collation and 23 filler bytes, with CLIENT_SSL set.
const SSL_REQUEST_LEN: usize = 32;

/// Largest first packet read before TLS is settled (a handshake response with connect
/// attributes is a few hundred bytes).
const MAX_FIRST_PACKET: usize = 64 * 1024;

/// rustls' server config from the PEM files; errors name the key and the file, for the
/// config loader.
pub fn server_config(t: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert)
        .map_err(|e| format!("tls.cert: cannot read {}: {e}", t.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.cert: {} is not PEM: {e}", t.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("tls.cert: no certificate in {}", t.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key)
        .map_err(|e| format!("tls.key: no private key read from {}: {e}", t.key.display()))?;
    // The crypto provider is the one compiled in (ring, see Cargo.toml).
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "tls.key: {} does not fit {}: {e}",
                t.key.display(),
                t.cert.display()
            )
        })
}

/// A client on a listener with TLS configured: greeting, then either the TLS switch and the
/// login over it, or a plain login.
pub async fn serve_tcp(
    mut stream: TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    connection_id: u32,
    peer_host: String,
) {
    let deadline = login_deadline::deadline();
    let (nonce, hello) = greeting(connection_id, &shared, true);
    if within(deadline, write_first(&mut stream, &hello))
        .await
        .is_err()
    {
        return;
    }
    // Read unbuffered: after an SSLRequest the client's TLS hello follows at once, and
    // those bytes belong to the TLS layer.
    let Ok(Some((seq, first))) = within(deadline, read_first(&mut stream)).await else {
        return;
    };
    if is_ssl_request(&first) {
        let tls = match within(deadline, acceptor.accept(stream)).await {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(connection_id, "TLS handshake failed: {e}");
                return;
            }
        };
        let (r, w) = tokio::io::split(tls);
        let mut reader = PacketReader::new(r, MAX_CLIENT_PACKET);
        let mut writer = PacketWriter::new(w);
        let mut buf = Vec::with_capacity(256);
        let outcome = within(deadline, async {
            match reader.read_packet(&mut buf).await? {
                Some(seq) => {
                    writer.set_seq(seq.wrapping_add(1));
                    login(
                        &mut reader,
                        &mut writer,
                        &buf,
                        nonce,
                        &shared,
                        &peer_host,
                        true,
                    )
                    .await
                }
                None => Ok(HandshakeOutcome::Rejected),
            }
        })
        .await;
        serve_session(reader, writer, outcome, shared, connection_id, peer_host).await;
    } else {
        let (r, w) = stream.into_split();
        let mut reader = PacketReader::new(r, MAX_CLIENT_PACKET);
        let mut writer = PacketWriter::new(w);
        writer.set_seq(seq.wrapping_add(1));
        let outcome = within(
            deadline,
            login(
                &mut reader,
                &mut writer,
                &first,
                nonce,
                &shared,
                &peer_host,
                false,
            ),
        )
        .await;
        serve_session(reader, writer, outcome, shared, connection_id, peer_host).await;
    }
}

fn is_ssl_request(packet: &[u8]) -> bool {
    packet.len() == SSL_REQUEST_LEN
        && CapabilityFlags::from_bits_truncate(u32::from_le_bytes([
            packet[0], packet[1], packet[2], packet[3],
        ]))
        .contains(CapabilityFlags::CLIENT_SSL)
}

async fn write_first(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = payload.len() as u32;
    let mut packet = Vec::with_capacity(payload.len() + 4);
    packet.extend_from_slice(&len.to_le_bytes()[..3]);
    packet.push(0);
    packet.extend_from_slice(payload);
    stream.write_all(&packet).await
}

/// One packet, header and body read exactly; `None` when the client left.
async fn read_first(stream: &mut TcpStream) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 4];
    if let Err(e) = stream.read_exact(&mut header).await {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => Ok(None),
            _ => Err(e),
        };
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    if len > MAX_FIRST_PACKET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a first packet of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(Some((header[3], body)))
}
