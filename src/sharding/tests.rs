//! Properties every algorithm must keep, and the golden placements that pin `hash` and `ring`.

use proptest::prelude::*;

use super::*;

const ALL: [Algorithm; 3] = [Algorithm::Mod, Algorithm::Hash, Algorithm::Ring];

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(ALL.to_vec())
}

proptest! {
    #[test]
    fn deterministic_and_in_range(alg in algorithm(), shards in 1u32..=64, key in any::<i64>()) {
        let a = Sharder::new(alg, shards);
        let b = Sharder::new(alg, shards);
        let s = a.shard_of(KeyValue::Int(key.into())).unwrap();
        prop_assert!(s < shards);
        prop_assert_eq!(Ok(s), b.shard_of(KeyValue::Int(key.into())));
    }

    #[test]
    fn text_keys_in_range_for_hash_and_ring(shards in 1u32..=64, key in ".*") {
        for alg in [Algorithm::Hash, Algorithm::Ring] {
            let s = Sharder::new(alg, shards).shard_of(KeyValue::Text(&key)).unwrap();
            prop_assert!(s < shards);
        }
    }

    #[test]
    fn an_integer_and_its_quoted_form_land_together(
        alg in algorithm(),
        shards in 1u32..=64,
        key in any::<i128>(),
    ) {
        let sharder = Sharder::new(alg, shards);
        let quoted = key.to_string();
        prop_assert_eq!(
            sharder.shard_of(KeyValue::Int(key)),
            sharder.shard_of(KeyValue::Text(&quoted))
        );
    }

    #[test]
    fn mod_is_the_euclidean_remainder(shards in 1u32..=10_000, key in any::<i128>()) {
        let expected = key.rem_euclid(i128::from(shards)) as u32;
        let sharder = Sharder::new(Algorithm::Mod, shards);
        prop_assert_eq!(sharder.shard_of(KeyValue::Int(key)), Ok(expected));
        let padded = format!("  {key} ");
        prop_assert_eq!(sharder.shard_of(KeyValue::Text(&padded)), Ok(expected));
    }

    #[test]
    fn canonical_text_is_plain_decimal(key in any::<i128>()) {
        let text = canonical_text(KeyValue::Int(key));
        prop_assert_eq!(text.parse::<i128>().unwrap(), key);
        prop_assert!(!text.starts_with('+'));
        let digits = text.trim_start_matches('-');
        prop_assert!(digits == "0" || !digits.starts_with('0'));
        let mut from_buffer = String::new();
        with_canonical_bytes(KeyValue::Int(key), |b| {
            from_buffer = String::from_utf8(b.to_vec()).unwrap()
        });
        prop_assert_eq!(from_buffer, text.into_owned());
    }

    /// Sequential ids and generated text keys spread over all shards. Tolerances are loose
    /// for `ring` (its balance depends on where the vnodes fall) and catch gross skew only.
    #[test]
    fn balanced(alg in algorithm(), shards in 1u32..=32, start in any::<i32>()) {
        const KEYS: i128 = 20_000;
        let sharder = Sharder::new(alg, shards);
        let mut ints = vec![0u32; shards as usize];
        let mut texts = vec![0u32; shards as usize];
        for k in i128::from(start)..i128::from(start) + KEYS {
            ints[sharder.shard_of(KeyValue::Int(k)).unwrap() as usize] += 1;
            if alg != Algorithm::Mod {
                let text = format!("user-{k}");
                texts[sharder.shard_of(KeyValue::Text(&text)).unwrap() as usize] += 1;
            }
        }
        let mean = KEYS as f64 / f64::from(shards);
        let (low, high) = match alg {
            Algorithm::Mod => (0.99, 1.01),
            Algorithm::Hash => (0.8, 1.2),
            Algorithm::Ring => (0.6, 1.55),
        };
        let lists: &[&Vec<u32>] = if alg == Algorithm::Mod { &[&ints] } else { &[&ints, &texts] };
        for counts in lists {
            for (shard, &n) in counts.iter().enumerate() {
                let ratio = f64::from(n) / mean;
                prop_assert!(
                    (low..=high).contains(&ratio) || (alg == Algorithm::Mod && n.abs_diff(mean as u32) <= 1),
                    "{alg} shards={shards} shard {shard} holds {n}, mean {mean}"
                );
            }
        }
    }
}

/// Keys -> shards computed once with consistent_hash_ring 0.8.0 (`ring::RingHasher`, 256 vnodes)
/// and crc32fast.
/// If this fails, rows already written would be looked for on the wrong shard: do not
/// regenerate it, find what changed.
#[test]
fn golden_placements() {
    let keys: Vec<KeyValue<'static>> = golden_keys();
    let hash8 = Sharder::new(Algorithm::Hash, 8);
    let ring8 = Sharder::new(Algorithm::Ring, 8);
    let ring3 = Sharder::new(Algorithm::Ring, 3);
    let got: Vec<(u32, u32, u32)> = keys
        .iter()
        .map(|&k| {
            (
                hash8.shard_of(k).unwrap(),
                ring8.shard_of(k).unwrap(),
                ring3.shard_of(k).unwrap(),
            )
        })
        .collect();
    let expected: Vec<(u32, u32, u32)> = GOLDEN.to_vec();
    for ((key, got), want) in keys.iter().zip(&got).zip(&expected) {
        assert_eq!(got, want, "key {key:?}: (hash/8, ring/8, ring/3)");
    }
    assert_eq!(got.len(), expected.len());
}

fn golden_keys() -> Vec<KeyValue<'static>> {
    vec![
        KeyValue::Int(0),
        KeyValue::Int(1),
        KeyValue::Int(2),
        KeyValue::Int(3),
        KeyValue::Int(42),
        KeyValue::Int(-1),
        KeyValue::Int(1000),
        KeyValue::Int(65535),
        KeyValue::Int(1 << 31),
        KeyValue::Int(i128::from(i64::MAX)),
        KeyValue::Int(i128::from(u64::MAX)),
        KeyValue::Int(i128::MIN),
        KeyValue::Text("42"),
        KeyValue::Text(""),
        KeyValue::Text("a"),
        KeyValue::Text("hello"),
        KeyValue::Text("Hello"),
        KeyValue::Text("hello "),
        KeyValue::Text("user@example.com"),
        KeyValue::Text("é"),
        KeyValue::Text("0042"),
        KeyValue::Text("7f3c9a2e-1b4d-4c8e-9f00-123456789abc"),
    ]
}

/// (hash over 8 shards, ring over 8, ring over 3) for each of `golden_keys()`. The hash column
/// is also what MariaDB answers for `CRC32(key) % 8`.
const GOLDEN: &[(u32, u32, u32)] = &[
    (1, 7, 0),
    (7, 0, 0),
    (5, 0, 0),
    (3, 5, 0),
    (0, 2, 2),
    (2, 1, 1),
    (7, 0, 0),
    (0, 6, 0),
    (1, 5, 2),
    (6, 0, 0),
    (2, 4, 2),
    (5, 4, 0),
    (0, 2, 2),
    (0, 1, 1),
    (3, 6, 1),
    (6, 0, 0),
    (2, 3, 2),
    (6, 0, 0),
    (1, 6, 1),
    (6, 3, 1),
    (2, 5, 2),
    (3, 6, 1),
];

/// A sharder with a key_collation places every spelling of a key where its canonical form
/// goes, refuses text without one, and leaves integers alone.
#[test]
fn key_collation_places_by_the_canonical_form() {
    let ci = KeyCollation::named("utf8mb4_general_ci");
    for alg in [Algorithm::Hash, Algorithm::Ring] {
        let plain = Sharder::new(alg, 16);
        let sharder = Sharder::new(alg, 16).with_collation(ci);
        let want = plain.shard_of(KeyValue::Text("abc")).unwrap();
        for spelling in ["abc", "ABC", "aBc   ", "Abc "] {
            assert_eq!(
                sharder.shard_of(KeyValue::Text(spelling)),
                Ok(want),
                "{alg} {spelling:?}"
            );
        }
        assert_eq!(
            sharder.shard_of(KeyValue::Int(42)),
            plain.shard_of(KeyValue::Int(42))
        );
        assert_eq!(
            sharder.shard_of(KeyValue::Text("42 ")),
            plain.shard_of(KeyValue::Int(42))
        );
        let err = sharder.shard_of(KeyValue::Text("ábc")).unwrap_err();
        assert!(err.to_string().contains("utf8mb4_general_ci"), "{err}");
        assert!(sharder.text_is_ambiguous("ábc"));
        assert!(!plain.text_is_ambiguous("ábc"));
    }
    // Golden: CRC32("abc") = 0x352441C2 = 891568578.
    let hash = Sharder::new(Algorithm::Hash, 7).with_collation(ci);
    assert_eq!(hash.shard_of(KeyValue::Text("ABC  ")), Ok(891568578 % 7));
}
