//! `max_rows_per_second`: the walks read chunk after chunk and pause whenever they are ahead
//! of the allowed rate, so a check on a live database costs it a bounded share of its I/O.

use std::time::{Duration, Instant};

pub(crate) struct Throttle {
    /// 0 = no limit.
    rows_per_second: u64,
    start: Instant,
    rows: u64,
}

impl Throttle {
    pub fn new(rows_per_second: u64) -> Self {
        Throttle {
            rows_per_second,
            start: Instant::now(),
            rows: 0,
        }
    }

    /// Counts `rows` just read and sleeps until the average rate is back within the limit.
    pub async fn pace(&mut self, rows: u64) {
        self.rows += rows;
        if self.rows_per_second == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.rows as f64 / self.rows_per_second as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_limit_never_sleeps() {
        let mut t = Throttle::new(0);
        let start = Instant::now();
        t.pace(1_000_000).await;
        assert!(start.elapsed() < Duration::from_millis(50));
        assert_eq!(t.rows(), 1_000_000);
    }

    #[tokio::test]
    async fn a_limit_makes_reading_take_its_time() {
        let mut t = Throttle::new(1000);
        let start = Instant::now();
        for _ in 0..5 {
            t.pace(40).await;
        }
        // 200 rows at 1000/s: at least 0.2 s.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }
}
