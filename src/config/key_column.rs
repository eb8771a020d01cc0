//! What the servers say about a `hash`/`ring` table's key column, and what that allows a
//! lookup by a key value to assume.
//!
//! A text key is placed by the `key_collation` canonical form, or as written without one; a
//! lookup may go to the shard of its value only when every text the column holds equal to
//! that value was placed on the same shard. That holds when the placement follows the
//! column's collation (declared and, where learned, the same as the server's) or when the
//! collation's equality is byte equality (NO PAD binary, variable length). Otherwise a text
//! lookup reads every shard, which is always exact. The column type is learned from
//! `information_schema.COLUMNS` at startup and at every reload (`backend::key_columns`);
//! until then, a table without `key_collation` scatters its text lookups and one with it
//! trusts the declaration.

use std::sync::RwLock;

use super::model::ShardSpec;
use crate::sharding::{Algorithm, KeyCollation};

/// The key column's type as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyColumnType {
    /// An integer: a quoted or unquoted number means the one integer it reads as.
    Integer,
    /// Neither text nor an integer (a date, a decimal, a float, a year, a bit string): the
    /// server compares values of it (`'2024-1-1'`, `20240101`, `1.50`) that are placed by
    /// other written forms, so every lookup by its value reads all shards.
    Other { data_type: String },
    /// A character or binary string (`binary` as the collation of the latter).
    Text {
        collation: String,
        /// CHAR or BINARY: stored padded (CHAR's trailing spaces are stripped on reading,
        /// BINARY's zero bytes kept), so only PAD SPACE placement can follow it.
        fixed_length: bool,
    },
}

/// Set by the learner (again at each reload, which may find the column changed); a reload
/// starts from what the rules it replaces had learned, so routing does not fall back to the
/// cautious default while the servers are asked again.
#[derive(Debug, Default)]
pub struct LearnedKeyColumn(RwLock<Option<KeyColumnType>>);

impl LearnedKeyColumn {
    pub fn get(&self) -> Option<KeyColumnType> {
        self.with(|c| c.cloned())
    }

    /// `f` on what is learned, without copying it (on the per-statement path).
    pub fn with<R>(&self, f: impl FnOnce(Option<&KeyColumnType>) -> R) -> R {
        match self.0.read() {
            Ok(g) => f(g.as_ref()),
            Err(poisoned) => f(poisoned.into_inner().as_ref()),
        }
    }

    /// Back to unknown, for a table the learner no longer finds; true when something was
    /// learned, so plans made with it must be forgotten.
    #[must_use]
    pub fn forget(&self) -> bool {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.take().is_some()
    }

    /// True when this changed what was learned: statements already planned under the rules
    /// holding this spec may plan otherwise now, so the caller forgets their kept plans
    /// (`PlanCache::forget_all`; the learner runs while the rules serve, after a reload has
    /// swapped them in and at startup past its time bound).
    #[must_use]
    pub fn learn(&self, column: KeyColumnType) -> bool {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let changed = g.as_ref() != Some(&column);
        *g = Some(column);
        changed
    }
}

/// How lookups by a text value route on a `hash`/`ring` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLookups {
    /// The key column is not text: quoted values are read as today (as text or number).
    NotText,
    /// Text placed as this collation compares it: a value with a canonical form routes.
    Follow(&'static KeyCollation),
    /// Placement does not follow the column's equality (or it is not known): scatter.
    Scatter,
}

impl ShardSpec {
    /// How text lookups route on this table (`mod` tables: integer keys, `NotText`).
    pub fn text_lookups(&self) -> TextLookups {
        if self.sharder.algorithm() == Algorithm::Mod {
            return TextLookups::NotText;
        }
        let declared = self.sharder.collation();
        self.learned_key.with(|learned| match (learned, declared) {
            (Some(KeyColumnType::Integer), _) => TextLookups::NotText,
            (Some(KeyColumnType::Other { .. }), _) => TextLookups::Scatter,
            (None, Some(d)) => TextLookups::Follow(d),
            (None, None) => TextLookups::Scatter,
            (
                Some(KeyColumnType::Text {
                    collation,
                    fixed_length,
                }),
                declared,
            ) => {
                let actual = KeyCollation::named(collation);
                let follows = match (declared, actual) {
                    (Some(d), Some(a)) if d == a => Some(d),
                    (None, Some(a)) if a.is_identity() => Some(a),
                    _ => None,
                };
                match follows {
                    Some(c) if !fixed_length || c.pads_space() => TextLookups::Follow(c),
                    _ => TextLookups::Scatter,
                }
            }
        })
    }

    /// True when the key column is (or is declared to be) text: an integer literal then
    /// compares as a number with every text that reads as it (`'042'`, `' 42'`), and a
    /// quoted value means only its text.
    pub fn key_is_text(&self) -> bool {
        self.learned_key.with(|learned| match learned {
            Some(KeyColumnType::Text { .. }) => true,
            Some(KeyColumnType::Integer | KeyColumnType::Other { .. }) => false,
            None => self.sharder.collation().is_some(),
        })
    }

    /// False only when the key column is known to be an integer (learned, or a `mod` table's
    /// key): a lookup by an unquoted number routes to the number's shard only then.
    /// Until a `hash`/`ring` key column is learned (a table created on the servers after
    /// the proxy started, a server that did not answer), `code = 42` may be comparing a text
    /// column with a number, which matches '42abc' and '042' wherever those were placed.
    pub fn key_may_be_text(&self) -> bool {
        if self.sharder.algorithm() == Algorithm::Mod {
            return false;
        }
        self.learned_key
            .with(|learned| !matches!(learned, Some(KeyColumnType::Integer)))
    }

    /// Why text lookups of this table scatter, once the column is learned: `None` when they
    /// route (or the column is not text).
    pub fn text_lookup_warning(&self) -> Option<String> {
        if let Some(KeyColumnType::Other { data_type }) = self.learned_key.get() {
            return Some(format!(
                "is {data_type}, neither text nor an integer: values written differently \
                 compare equal ('2024-1-1' and 20240101 for a date), so every lookup by the \
                 key reads all shards; use an integer or text key column to route them"
            ));
        }
        let Some(KeyColumnType::Text {
            collation,
            fixed_length,
        }) = self.learned_key.get()
        else {
            return None;
        };
        if self.text_lookups() != TextLookups::Scatter {
            return None;
        }
        let kind = if fixed_length { "fixed-length " } else { "" };
        Some(match self.sharder.collation() {
            None if KeyCollation::named(&collation).is_none() => format!(
                "is {kind}text with collation {collation}, which compares text other than \
                 byte by byte and which key_collation cannot name (the proxy does not know how \
                 it compares text): every lookup by a text key reads all shards; give the \
                 column a supported collation and declare it as key_collation to route them"
            ),
            None => format!(
                "is {kind}text with collation {collation}, which compares text other than \
                 byte by byte, and the table has no key_collation: every lookup by a text key \
                 reads all shards; declare key_collation = \"{collation}\" to route them (that \
                 changes where text keys are placed: existing rows must be moved by a \
                 resharding job)"
            ),
            Some(d) if d.name().eq_ignore_ascii_case(&collation) => format!(
                "is {kind}text with collation {collation}, NO PAD but fixed-length (stored \
                 padded): every lookup by a text key reads all shards"
            ),
            Some(d) => format!(
                "is {kind}text with collation {collation}, but the rules declare \
                 key_collation = \"{d}\": every lookup by a text key reads all shards until \
                 they agree (changing key_collation moves rows: a resharding job)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ShardSpec;
    use crate::sharding::Sharder;

    fn spec(alg: Algorithm, declared: Option<&str>, learned: Option<KeyColumnType>) -> ShardSpec {
        let spec = ShardSpec {
            shard_key: "code".into(),
            sharder: Sharder::new(alg, 4).with_collation(declared.and_then(KeyCollation::named)),
            placement: vec![0; 4],
            key_generator: None,
            family: "t".into(),
            physical: Default::default(),
            learned_key: Default::default(),
        };
        if let Some(l) = learned {
            let _ = spec.learned_key.learn(l);
        }
        spec
    }

    fn text(collation: &str, fixed_length: bool) -> Option<KeyColumnType> {
        Some(KeyColumnType::Text {
            collation: collation.into(),
            fixed_length,
        })
    }

    #[test]
    fn text_lookups_follow_placement_only_where_it_follows_the_column() {
        use TextLookups::*;
        let ci = KeyCollation::named("utf8mb4_general_ci").unwrap();
        let nopad = KeyCollation::named("utf8mb4_nopad_bin").unwrap();
        let hash = Algorithm::Hash;
        let cases: Vec<(ShardSpec, TextLookups, bool)> = vec![
            // Not learned: no declaration scatters, a declaration is trusted.
            (spec(hash, None, None), Scatter, false),
            (
                spec(hash, Some("utf8mb4_general_ci"), None),
                Follow(ci),
                true,
            ),
            // Learned.
            (
                spec(hash, None, Some(KeyColumnType::Integer)),
                NotText,
                false,
            ),
            (
                spec(hash, None, text("utf8mb4_general_ci", false)),
                Scatter,
                true,
            ),
            (spec(hash, None, text("utf8mb4_bin", false)), Scatter, true),
            (
                spec(hash, None, text("utf8mb4_nopad_bin", false)),
                Follow(nopad),
                true,
            ),
            (
                spec(hash, None, text("utf8mb4_nopad_bin", true)),
                Scatter,
                true,
            ),
            (
                spec(hash, None, text("utf8mb4_swedish_ci", false)),
                Scatter,
                true,
            ),
            (
                spec(
                    hash,
                    Some("utf8mb4_general_ci"),
                    text("UTF8MB4_GENERAL_CI", true),
                ),
                Follow(ci),
                true,
            ),
            (
                spec(
                    hash,
                    Some("utf8mb4_general_ci"),
                    text("utf8mb4_unicode_ci", false),
                ),
                Scatter,
                true,
            ),
            (
                spec(
                    hash,
                    Some("utf8mb4_general_nopad_ci"),
                    text("utf8mb4_general_nopad_ci", true),
                ),
                Scatter,
                true,
            ),
            (spec(Algorithm::Mod, None, None), NotText, false),
            // A date: values written differently compare equal, so every lookup scatters.
            (
                spec(
                    hash,
                    None,
                    Some(KeyColumnType::Other {
                        data_type: "date".into(),
                    }),
                ),
                Scatter,
                false,
            ),
        ];
        for (i, (s, lookups, is_text)) in cases.iter().enumerate() {
            assert_eq!(s.text_lookups(), *lookups, "case {i}");
            assert_eq!(s.key_is_text(), *is_text, "case {i}");
            // Numbers route only on a key known to be an integer.
            let integer = s.sharder.algorithm() == Algorithm::Mod
                || s.learned_key.get() == Some(KeyColumnType::Integer);
            assert_eq!(s.key_may_be_text(), !integer, "case {i}");
            assert_eq!(
                s.text_lookup_warning().is_some(),
                *lookups == Scatter && s.learned_key.get().is_some(),
                "case {i}"
            );
        }
    }
}
