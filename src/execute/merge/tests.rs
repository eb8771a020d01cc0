//! Properties of the merge: a k-way merge of sorted shard results equals a sort of their
//! concatenation (numbers with mixed scales, NULLs, descending), and exact decimal sums and
//! averages agree with integer arithmetic.

use std::sync::Arc;

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use proptest::prelude::*;

use super::decimal::Dec;
use super::{pick, Cells, Layout};
use crate::plan::merge::{Col, SortKey};

/// `v / 100` written with a random number of fraction digits (2 or more), as MySQL might
/// send the same value from columns of different scale.
fn text(v: i64, extra: usize) -> Vec<u8> {
    let neg = v < 0;
    let a = v.unsigned_abs();
    let mut s = format!("{}{}.{:02}", if neg { "-" } else { "" }, a / 100, a % 100);
    s.push_str(&"0".repeat(extra));
    s.into_bytes()
}

fn layout() -> Layout {
    let cols: Arc<[Column]> = Arc::from(vec![
        Column::new(ColumnType::MYSQL_TYPE_NEWDECIMAL),
        Column::new(ColumnType::MYSQL_TYPE_LONGLONG),
    ]);
    Layout::new(cols, 0)
}

fn value(c: &Cells) -> Option<i64> {
    c[0].as_ref().map(|b| {
        let d = Dec::parse(b).expect("decimal");
        (d.rescale(12).expect("scale").units / 10i128.pow(10)) as i64
    })
}

proptest! {
    #[test]
    fn k_way_merge_equals_sorting_the_concatenation(
        shards in prop::collection::vec(
            prop::collection::vec((prop::option::weighted(0.9, -100_000i64..100_000), 0usize..3), 0..20),
            1..6,
        ),
        desc in any::<bool>(),
    ) {
        let lay = layout();
        let keys = [
            SortKey { col: Col::Visible(0), weight: None, desc },
            SortKey { col: Col::Visible(1), weight: None, desc: false },
        ];
        // Each shard sorted by the keys, as the shard's ORDER BY returns it.
        let mut seq = 0i64;
        let mut streams: Vec<std::collections::VecDeque<Cells>> = shards
            .iter()
            .map(|rows| {
                let mut v: Vec<Cells> = rows
                    .iter()
                    .map(|(x, extra)| {
                        seq += 1;
                        vec![x.map(|x| text(x, *extra)), Some(seq.to_string().into_bytes())]
                    })
                    .collect();
                v.sort_by(|a, b| lay.cmp(&keys, a, b));
                v.into()
            })
            .collect();
        let mut all: Vec<Cells> = streams.iter().flatten().cloned().collect();
        all.sort_by(|a, b| lay.cmp(&keys, a, b));

        let mut heads: Vec<Option<Cells>> = streams.iter_mut().map(|s| s.pop_front()).collect();
        let mut merged = Vec::new();
        while let Some(i) = pick(&lay, &keys, &heads) {
            merged.push(heads[i].take().expect("head"));
            heads[i] = streams[i].pop_front();
        }
        let got: Vec<(Option<i64>, Option<Vec<u8>>)> =
            merged.iter().map(|c| (value(c), c[1].clone())).collect();
        let want: Vec<(Option<i64>, Option<Vec<u8>>)> =
            all.iter().map(|c| (value(c), c[1].clone())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn decimal_sums_and_averages_are_exact(
        xs in prop::collection::vec((-10_000_000i64..10_000_000, 0usize..3), 1..30),
        scale in 4u32..9,
    ) {
        let mut sum = Dec { units: 0, scale: 0 };
        for (x, extra) in &xs {
            sum = sum.checked_add(Dec::parse(&text(*x, *extra)).expect("parse")).expect("add");
        }
        let exact: i128 = xs.iter().map(|(x, _)| i128::from(*x)).sum();
        prop_assert_eq!(sum.rescale(12).unwrap().units, exact * 10i128.pow(10));
        // AVG at `scale` digits, rounded half away from zero.
        let n = xs.len() as i128;
        let avg = sum.div_int(n, scale).expect("avg");
        let num = exact * 10i128.pow(scale) * 10 / 100; // (exact / 100) * 10^(scale+1)
        let q = num / n;
        let want = if q >= 0 { (q + 5) / 10 } else { (q - 5) / 10 };
        prop_assert_eq!(avg.units, want);
        prop_assert_eq!(avg.scale, scale);
    }
}
