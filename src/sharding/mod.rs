//! Key value -> shard index. Pure functions; the one place where a row's placement is decided.
//!
//! Every algorithm sees a key through one canonical form ([`canonical_text`]), so a key written
//! as `42` and as `'42'` lands on the same shard whichever algorithm a table uses; a table
//! with a `key_collation` hashes text in that collation's canonical form (`collation`).

mod collation;
mod hash;
mod modulo;
mod ring;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

pub use collation::KeyCollation;

/// Which function maps a key to a shard (RULES.md, "Meaning").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Mod,
    Hash,
    Ring,
}

impl Algorithm {
    /// The spelling used in rule files, so messages quote what the user wrote.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Mod => "mod",
            Algorithm::Hash => "hash",
            Algorithm::Ring => "ring",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A shard key value in the forms SQL literals can take. Quoted numbers arrive as `Text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValue<'a> {
    Int(i128),
    Text(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardingError {
    #[error("the mod algorithm needs an integer key, got {0}")]
    NotAnInteger(String),
    #[error(
        "'{text}' has no single shard under collation {collation}: text outside printable \
         ASCII can equal other text (accents, widths, ignorable characters)"
    )]
    Ambiguous {
        text: String,
        collation: &'static str,
    },
}

/// The text `hash` and `ring` digest: integers in plain decimal (what MySQL's `CAST(n AS CHAR)`
/// gives, so `CRC32(col) % n` on the server agrees with us), text exactly as written.
///
/// Text is not normalised: `'042'` stays `042`, because on a string column that is a different
/// key from `42`. A caller that knows the column is an integer should pass `KeyValue::Int`.
pub fn canonical_text(key: KeyValue<'_>) -> Cow<'_, str> {
    match key {
        KeyValue::Int(n) => Cow::Owned(n.to_string()),
        KeyValue::Text(s) => Cow::Borrowed(s),
    }
}

/// Runs `f` on the canonical bytes of `key` without allocating: this is on the per-row path.
fn with_canonical_bytes<R>(key: KeyValue<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    match key {
        KeyValue::Int(n) => {
            use std::io::Write;
            // i128::MIN is 39 digits and a sign.
            let mut buf = [0u8; 40];
            let mut rest = &mut buf[..];
            write!(rest, "{n}").expect("40 bytes hold any i128");
            let len = 40 - rest.len();
            f(&buf[..len])
        }
        KeyValue::Text(s) => f(s.as_bytes()),
    }
}

/// A built sharding function for one table. Cheap to clone: tables bound to one another share
/// the ring, which is built once (building it is quadratic in shards x vnodes).
#[derive(Clone)]
pub struct Sharder {
    function: Function,
    shards: u32,
    /// `key_collation`: text keys are hashed in its canonical form.
    collation: Option<&'static KeyCollation>,
}

/// The algorithm together with whatever it precomputes.
#[derive(Clone)]
enum Function {
    Mod,
    Hash,
    Ring(Arc<ring::ShardRing>),
}

impl fmt::Debug for Sharder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sharder")
            .field("algorithm", &self.algorithm())
            .field("shards", &self.shards)
            .field("collation", &self.collation.map(KeyCollation::name))
            .finish()
    }
}

impl Sharder {
    /// Panics when `shards` is 0: rule validation never lets that through.
    pub fn new(algorithm: Algorithm, shards: u32) -> Self {
        assert!(shards >= 1, "a sharded table needs at least one shard");
        let function = match algorithm {
            Algorithm::Mod => Function::Mod,
            Algorithm::Hash => Function::Hash,
            Algorithm::Ring => Function::Ring(Arc::new(ring::ShardRing::new(shards))),
        };
        Sharder {
            function,
            shards,
            collation: None,
        }
    }

    /// Places text keys by `collation`'s canonical form (`key_collation`); `mod` keys are
    /// integers and rule validation never gives it one.
    pub fn with_collation(mut self, collation: Option<&'static KeyCollation>) -> Self {
        self.collation = collation;
        self
    }

    /// The declared `key_collation`, if any.
    pub fn collation(&self) -> Option<&'static KeyCollation> {
        self.collation
    }

    /// True when both hash every text key they place as the same text: the same
    /// `key_collation`, or none (or a NO PAD binary one: the text as written) on both.
    pub fn hashes_text_as(&self, other: &Sharder) -> bool {
        let rewrites = |s: &Sharder| s.collation.filter(|c| !c.is_identity());
        rewrites(self) == rewrites(other)
    }

    /// True when text `s` has no shard: outside printable ASCII under a collation whose
    /// equality the proxy cannot decide there.
    pub fn text_is_ambiguous(&self, s: &str) -> bool {
        self.collation.is_some_and(|c| c.canonical(s).is_none())
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.function {
            Function::Mod => Algorithm::Mod,
            Function::Hash => Algorithm::Hash,
            Function::Ring(_) => Algorithm::Ring,
        }
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// Shard index in `0..shards`.
    pub fn shard_of(&self, key: KeyValue<'_>) -> Result<u32, ShardingError> {
        if let (KeyValue::Text(text), Some(collation)) = (key, self.collation) {
            let Some(canonical) = collation.canonical(text) else {
                return Err(ShardingError::Ambiguous {
                    text: text.to_owned(),
                    collation: collation.name(),
                });
            };
            return self.place(KeyValue::Text(&canonical));
        }
        self.place(key)
    }

    fn place(&self, key: KeyValue<'_>) -> Result<u32, ShardingError> {
        match &self.function {
            Function::Mod => modulo::shard(key, self.shards),
            Function::Hash => Ok(with_canonical_bytes(key, |b| hash::shard(b, self.shards))),
            Function::Ring(ring) => Ok(with_canonical_bytes(key, |b| ring.shard(b))),
        }
    }
}
