//! One `shardgate reshard` at a time per job: two runs of one job would both copy, stream and
//! cut over, racing on the state file, and a `cancel` beside a running `run` would drop the
//! tables the run is filling. An advisory lock on a file beside the job file, which the
//! system lifts when the holder ends, even by SIGKILL, so a crash never blocks a rerun.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Held while the job is worked on; dropping it releases the lock.
pub struct JobLock {
    _file: File,
}

pub fn lock_path_of(job_file: &Path) -> PathBuf {
    job_file.with_extension("lock")
}

/// Takes the job's lock, or says another process has it.
pub fn acquire(job_file: &Path) -> Result<JobLock> {
    let path = lock_path_of(job_file);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the job's lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(JobLock { _file: file }),
        Err(TryLockError::WouldBlock) => bail!(
            "another `shardgate reshard` is working on {} (it holds {}); wait for it to end or \
             stop it first",
            job_file.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
