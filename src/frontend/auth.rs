//! Checking a client's password proof against the configured user, per auth plugin.
//!
//! The proxy knows each user's cleartext password (it is in the server config), so both
//! plugins can be verified from the scramble alone: for caching_sha2_password that is the
//! "fast auth" path, which a real server takes once its cache holds the user. Full auth (the
//! cleartext password over TLS, or RSA) is never needed, and never requested.

use mysql_common::scramble::{scramble_native, scramble_sha256};

use crate::config::server::AuthPlugin;

pub const NATIVE: &str = "mysql_native_password";
pub const CACHING_SHA2: &str = "caching_sha2_password";

pub fn plugin_name(plugin: AuthPlugin) -> &'static str {
    match plugin {
        AuthPlugin::MysqlNativePassword => NATIVE,
        AuthPlugin::CachingSha2Password => CACHING_SHA2,
    }
}

/// True when `proof` is what a client knowing `password` sends for `nonce` under `plugin`.
pub fn verify(plugin: AuthPlugin, nonce: &[u8], password: &str, proof: &[u8]) -> bool {
    // Clients send an empty proof for an empty password, whatever the plugin.
    if password.is_empty() {
        return proof.is_empty();
    }
    let expected: Option<Vec<u8>> = match plugin {
        AuthPlugin::MysqlNativePassword => {
            scramble_native(nonce, password.as_bytes()).map(|s| s.to_vec())
        }
        AuthPlugin::CachingSha2Password => {
            scramble_sha256(nonce, password.as_bytes()).map(|s| s.to_vec())
        }
    };
    match expected {
        Some(e) => constant_time_eq(&e, proof),
        None => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 20 random bytes for the scramble; printable and never NUL, as MySQL's own, since some
/// clients treat the scramble as a C string.
pub fn new_nonce() -> [u8; 20] {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut nonce = [0u8; 20];
    for b in &mut nonce {
        *b = rng.gen_range(0x21..0x7f);
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_and_sha2_proofs_verify_and_wrong_ones_do_not() {
        let nonce = new_nonce();
        let native = scramble_native(&nonce, b"secret").unwrap();
        assert!(verify(
            AuthPlugin::MysqlNativePassword,
            &nonce,
            "secret",
            &native
        ));
        assert!(!verify(
            AuthPlugin::MysqlNativePassword,
            &nonce,
            "other",
            &native
        ));
        let sha = scramble_sha256(&nonce, b"secret").unwrap();
        assert!(verify(
            AuthPlugin::CachingSha2Password,
            &nonce,
            "secret",
            &sha
        ));
        assert!(!verify(
            AuthPlugin::CachingSha2Password,
            &nonce,
            "secret",
            &native
        ));
        assert!(verify(AuthPlugin::MysqlNativePassword, &nonce, "", &[]));
        assert!(!verify(
            AuthPlugin::MysqlNativePassword,
            &nonce,
            "secret",
            &[]
        ));
    }

    #[test]
    fn nonces_differ_and_have_no_nul() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert!(a.iter().all(|&c| c != 0));
    }
}
