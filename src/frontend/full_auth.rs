//! caching_sha2_password "full authentication" without TLS: the RSA key exchange.
//!
//! A MySQL server asks for full auth when a user is not yet in its cache of verified
//! password hashes; the client then gets the server's RSA public key and sends
//! RSA(password XOR nonce). shardgate keeps the same cache, so the first login of each user
//! after a start goes this way and later ones take the fast path, as they do against MySQL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey};

/// The process's RSA key pair, made on first use (a 2048-bit key takes a moment).
pub struct ServerKey {
    private: RsaPrivateKey,
    public_pem: String,
}

impl ServerKey {
    pub fn generate() -> Result<ServerKey, String> {
        let mut rng = rand::thread_rng();
        let private = RsaPrivateKey::new(&mut rng, 2048).map_err(|e| e.to_string())?;
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?;
        Ok(ServerKey {
            private,
            public_pem,
        })
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The cleartext password from the client's encrypted answer, or None when it does not
    /// decrypt. Clients pad with OAEP, or with PKCS#1 v1.5 when they take the server for one
    /// older than MySQL 8.0.5 (as they do with a MariaDB-style version), so both are tried.
    pub fn decrypt_password(&self, data: &[u8], nonce: &[u8]) -> Option<Vec<u8>> {
        let plain = self
            .private
            .decrypt(Oaep::new::<sha1::Sha1>(), data)
            .or_else(|_| self.private.decrypt(Pkcs1v15Encrypt, data))
            .ok()?;
        let mut password: Vec<u8> = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ nonce[i % nonce.len()])
            .collect();
        if password.last() == Some(&0) {
            password.pop();
        }
        Some(password)
    }
}

/// Process-wide: the key, made once, and the users whose password was fully verified.
#[derive(Default)]
pub struct Sha2Cache {
    key: tokio::sync::OnceCell<Arc<ServerKey>>,
    verified: Mutex<HashSet<String>>,
}

impl Sha2Cache {
    pub async fn key(&self) -> Result<Arc<ServerKey>, String> {
        self.key
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(ServerKey::generate)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    pub fn is_verified(&self, user: &str) -> bool {
        self.verified
            .lock()
            .map(|s| s.contains(user))
            .unwrap_or(false)
    }

    pub fn mark_verified(&self, user: &str) {
        if let Ok(mut s) = self.verified.lock() {
            s.insert(user.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_encrypted_like_clients_do_decrypts() {
        let key = ServerKey::generate().unwrap();
        let nonce = b"abcdefghijklmnopqrst";
        let mut pass = b"secret-pass".to_vec();
        pass.push(0);
        for (i, b) in pass.iter_mut().enumerate() {
            *b ^= nonce[i % nonce.len()];
        }
        // mysql_common's client-side encryption, as mysql_async uses it.
        let encrypted = mysql_common::crypto::encrypt(&pass, key.public_pem().as_bytes());
        assert_eq!(
            key.decrypt_password(&encrypted, nonce).unwrap(),
            b"secret-pass"
        );
        assert!(key.decrypt_password(b"garbage", nonce).is_none());
    }
}
