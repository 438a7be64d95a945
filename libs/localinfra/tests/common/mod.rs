//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a process with this pid exists (zombies count: we must reap).
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Direct children of `pid`, via `pgrep -P`.
pub fn children(pid: u32) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep runs (apt-get install procps)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Waits up to 10 s for all `pids` to disappear; panics naming survivors.
pub fn assert_all_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let survivors: Vec<u32> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
        if survivors.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let listing = Command::new("ps")
                .args(["-o", "pid,ppid,stat,args", "-p"])
                .arg(
                    survivors
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!("processes left behind: {survivors:?}\n{listing}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `psql` from PATH or PostgreSQL's bin dir.
pub fn psql() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("psql"))
            .find(|candidate| candidate.is_file())
    });
    on_path
        .or_else(|| {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .flatten()
                .map(|entry| entry.path().join("bin/psql"))
                .filter(|candidate| candidate.is_file())
                .collect();
            dirs.sort();
            dirs.pop()
        })
        .expect("psql is installed (apt-get install postgresql-client)")
}

/// Runs one statement with `psql` against `url`; returns its unaligned output.
pub fn psql_query(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new(psql())
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
