//! What a running job shows and keeps: its state file after each step, and on a terminal a
//! progress bar, otherwise a line every few seconds (logs of a job run from cron or CI).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::state::{self, JobState};

const LINE_EVERY: Duration = Duration::from_secs(3);

pub struct Progress {
    state_path: PathBuf,
    bar: Option<ProgressBar>,
    total_rows: u64,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    pub fn new(state_path: PathBuf, total_rows: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_rows.max(1));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>12} [{bar:40}] {pos}/{len} rows {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message("copy");
            bar
        });
        Progress {
            state_path,
            bar,
            total_rows,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    pub fn save(&self, state: &JobState) -> Result<()> {
        state::save(&self.state_path, state)
    }

    pub fn copied(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows);
            return;
        }
        let rate = rows as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        self.line(|| format!("copy: {rows}/{} rows, {rate:.0} rows/s", self.total_rows));
    }

    /// A phase message: on the bar, or as a line (always printed).
    pub fn phase(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    pub fn catching_up(&self, events: u64, behind: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message("catch-up");
            bar.set_position(bar.length().unwrap_or(0));
            bar.set_message(format!("catch-up {events} events; {behind}"));
            return;
        }
        self.line(|| format!("catch-up: {events} events applied; {behind}"));
    }

    fn line(&self, text: impl FnOnce() -> String) {
        let Ok(mut last) = self.last_line.lock() else {
            return;
        };
        if last.elapsed() >= LINE_EVERY {
            *last = Instant::now();
            eprintln!("{}", text());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
