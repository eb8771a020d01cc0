//! One `run` (or `rollback`) of a job at a time: two would copy and apply side by side and
//! overwrite each other's state file. A lock file holds the running process's id; one left
//! behind by a killed run names a process that is gone (or is not a shardgate), and is taken
//! over.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    pub fn take(job_file: &Path) -> Result<RunLock> {
        let path = job_file.with_extension("lock");
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                if pid != std::process::id() && is_shardgate(pid) {
                    bail!(
                        "another shardgate (pid {pid}) is running this job ({} exists); wait \
                         for it or stop it first",
                        path.display()
                    );
                }
            }
        }
        super::state::write_atomically(&path, std::process::id().to_string().as_bytes())
            .with_context(|| format!("cannot take the job lock {}", path.display()))?;
        Ok(RunLock { path })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn is_shardgate(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("shardgate"))
        .unwrap_or(false)
}
