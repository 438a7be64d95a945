//! Running server processes: spawning with a log file, waiting until they
//! answer, and stopping them without leaving orphans.
//!
//! Three mechanisms make sure no server outlives its owner:
//!
//! 1. `Drop` of [`ServerProcess`] signals the process (SIGKILL, or a
//!    server-specific gentler signal first) and reaps it before returning, so
//!    no zombie or orphan stays behind after a test.
//! 2. `kill_on_drop(true)` on the Tokio child as a backstop.
//! 3. `PR_SET_PDEATHSIG`: the kernel signals the server when our process dies,
//!    even by SIGKILL or with the server held in a never-dropped `static`.
//!    The kernel ties that signal to the *thread* that forked the child, so
//!    every server is forked from one dedicated thread that lives as long as
//!    the process (see [`spawn_child`]). Otherwise a server started by one
//!    `#[test]` thread would die when that thread finishes.
//!
//! Waiting is done by polling `try_wait`, not by awaiting the child, so a
//! server stays usable from other Tokio runtimes than the one that started
//! it (each `#[tokio::test]` has its own).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::error::{InfraError, Result};

/// How often we look at a child or retry a probe.
const POLL: Duration = Duration::from_millis(10);

/// How long to wait for a SIGKILLed process to be reapable.
const KILL_REAP: Duration = Duration::from_secs(2);

/// A user to run a child as (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// Signals to send, each followed by how long to wait for the process to
/// exit, before the final SIGKILL.
pub(crate) type Shutdown = &'static [(Signal, Duration)];

/// Everything needed to (re)start a server process.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// "NATS", "Redis", ... for messages.
    pub(crate) what: &'static str,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    /// stdout and stderr are appended here.
    pub(crate) log_path: PathBuf,
    pub(crate) run_as: Option<RunAs>,
    /// Sent by the kernel when our process dies.
    pub(crate) death_signal: Signal,
    /// Used by `stop()`.
    pub(crate) stop: Shutdown,
    /// Used by `Drop`.
    pub(crate) drop: Shutdown,
}

/// A running server child process.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    spec: Spec,
    child: Option<Child>,
    /// Length of the log when this process was spawned.
    log_start: u64,
}

/// Why a start attempt failed, and whether a new port might help.
pub(crate) struct LaunchError {
    pub(crate) error: InfraError,
    pub(crate) port_in_use: bool,
}

impl From<InfraError> for LaunchError {
    fn from(error: InfraError) -> Self {
        LaunchError {
            error,
            port_in_use: false,
        }
    }
}

impl ServerProcess {
    /// Spawns the process described by `spec`, then polls `probe` until it
    /// returns `Ok` or `timeout` passes. `probe` returns a description of
    /// what it saw when the server is not ready yet.
    pub(crate) async fn launch<F, Fut>(
        spec: Spec,
        timeout: Duration,
        probe: F,
    ) -> Result<ServerProcess, LaunchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut process = ServerProcess::spawn(spec).await?;
        match process.wait_ready(timeout, probe).await {
            Ok(()) => Ok(process),
            Err(error) => {
                let port_in_use = process.log_says_port_in_use();
                // Dropping kills and reaps the failed process.
                drop(process);
                Err(LaunchError { error, port_in_use })
            }
        }
    }

    /// Spawns the process with its output appended to the log.
    pub(crate) async fn spawn(spec: Spec) -> Result<ServerProcess> {
        let log = open_log(&spec.log_path)?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| InfraError::io(format!("cloning {}", spec.log_path.display()), e))?;

        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches the launcher, which stops the
            // services first and the servers after them (the death signal covers a crash).
            .process_group(0);
        if let Some(run_as) = spec.run_as {
            cmd.uid(run_as.uid).gid(run_as.gid);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| InfraError::NoRuntime)?;
        let death_signal = spec.death_signal;
        // SAFETY: the closure only makes one async-signal-safe syscall
        // (prctl) and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(death_signal).map_err(std::io::Error::from)
            });
        }
        let child = spawn_child(runtime, cmd)
            .await
            .map_err(|source| InfraError::Spawn {
                what: spec.what,
                program: spec.program.display().to_string(),
                source,
            })?;
        Ok(ServerProcess {
            spec,
            child: Some(child),
            log_start,
        })
    }

    /// Starts the same program with the same arguments again.
    pub(crate) async fn respawn<F, Fut>(&mut self, timeout: Duration, probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        self.stop().await;
        let fresh = ServerProcess::launch(self.spec.clone(), timeout, probe)
            .await
            .map_err(|e| e.error)?;
        *self = fresh;
        Ok(())
    }

    /// Kills the process at once (SIGKILL, as a crash or an OOM kill would) and reaps it.
    pub(crate) async fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = child.start_kill();
        let deadline = Instant::now() + KILL_REAP;
        while !exited(&mut child) && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
    }

    /// The OS process id, while running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.spec.log_path
    }

    /// Errors unless the process is still running.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(InfraError::Stopped {
                what: self.spec.what,
            });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(InfraError::ExitedEarly {
                    what: self.spec.what,
                    status: status.to_string(),
                    log: self.spec.log_path.clone(),
                    tail: log_tail(&self.spec.log_path),
                })
            }
            Err(e) => Err(InfraError::io(format!("checking on {}", self.spec.what), e)),
        }
    }

    /// Polls `probe` until it succeeds, the process dies, or `timeout` passes.
    pub(crate) async fn wait_ready<F, Fut>(&mut self, timeout: Duration, mut probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let last = match probe().await {
                Ok(()) => return Ok(()),
                Err(seen) => seen,
            };
            self.check_alive()?;
            if Instant::now() >= deadline {
                return Err(InfraError::NotReady {
                    what: self.spec.what,
                    timeout,
                    last,
                    log: self.spec.log_path.clone(),
                    tail: log_tail(&self.spec.log_path),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the process gracefully (the spec's stop signals), escalating to
    /// SIGKILL, and reaps it. Does nothing when already stopped.
    pub(crate) async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        for &(signal, grace) in self.spec.stop {
            if exited(&mut child) {
                return;
            }
            send(&child, signal);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if exited(&mut child) {
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
        }
        let _ = child.start_kill();
        let deadline = Instant::now() + KILL_REAP;
        while !exited(&mut child) && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether the server's log (since this spawn) says its port was taken.
    fn log_says_port_in_use(&self) -> bool {
        let text = read_log_from(&self.spec.log_path, self.log_start).to_lowercase();
        text.contains("address already in use") || text.contains("eaddrinuse")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Blocking sleeps are fine here: at most a few seconds, once, at
        // teardown, and they make sure the process is gone (and reaped)
        // before the temp dirs it writes into are removed.
        for &(signal, grace) in self.spec.drop {
            if exited(&mut child) {
                return;
            }
            send(&child, signal);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if exited(&mut child) {
                    return;
                }
                std::thread::sleep(POLL);
            }
        }
        let _ = child.start_kill();
        let deadline = Instant::now() + KILL_REAP;
        while !exited(&mut child) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
}

/// Whether the child has exited (and is reaped). An error means there is no
/// such child any more, which counts as exited.
fn exited(child: &mut Child) -> bool {
    !matches!(child.try_wait(), Ok(None))
}

fn send(child: &Child, signal: Signal) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The long-lived thread that forks all servers (see the module docs).
fn spawner() -> Option<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("localinfra-spawner".to_owned())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Spawns `cmd` on the spawner thread, registered with the caller's runtime.
async fn spawn_child(handle: tokio::runtime::Handle, mut cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _entered = handle.enter();
        // Tokio panics if the runtime has no IO driver; turn that into an error.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd.spawn()))
            .unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "spawning a child needs a Tokio runtime with IO enabled (enable_all())",
                ))
            });
        let _ = tx.send(result);
    });
    match spawner() {
        Some(sender) => {
            if let Err(mpsc::SendError(job)) = sender.send(job) {
                // The spawner thread is gone; fork from this thread instead.
                job();
            }
        }
        None => job(),
    }
    rx.await
        .unwrap_or_else(|_| Err(std::io::Error::other("spawner thread died")))
}

/// Runs a short-lived helper command to completion, appending its output to
/// `log` (when given). Returns its stdout.
pub(crate) async fn run(
    program: &Path,
    args: &[OsString],
    run_as: Option<RunAs>,
    log: Option<&Path>,
) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(run_as) = run_as {
        cmd.uid(run_as.uid).gid(run_as.gid);
    }
    let command_line = std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let output = cmd.output().await.map_err(|e| InfraError::CommandFailed {
        command: command_line.clone(),
        status: "could not run".to_owned(),
        output: e.to_string(),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Some(log) = log {
        use std::io::Write;
        if let Ok(mut file) = open_log(log) {
            let _ = writeln!(file, "$ {command_line}\n{stdout}{stderr}");
        }
    }
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(InfraError::CommandFailed {
            command: command_line,
            status: output.status.to_string(),
            output: format!("{stdout}{stderr}"),
        })
    }
}

/// Opens (creating) a log file for appending.
pub(crate) fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| InfraError::io(format!("opening log {}", path.display()), e))
}

/// The whole log as text (lossy), or a note why it could not be read.
pub(crate) fn read_log(path: &Path) -> String {
    read_log_from(path, 0)
}

fn read_log_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    let result = File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut bytes)
    });
    match result {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(could not read log {}: {e})", path.display()),
    }
}

/// The last lines of a log, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    const LINES: usize = 30;
    let text = read_log(path);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LINES);
    lines[start..].join("\n")
}

/// A fresh private temp dir for one server's log and throwaway data.
pub(crate) fn run_dir(prefix: &str) -> Result<tempfile::TempDir> {
    run_dir_in(prefix, &std::env::temp_dir())
}

/// Like [`run_dir`], inside `base`.
///
/// The dir records our pid in [`OWNER_FILE`]. A process killed before its
/// destructors ran (SIGKILL, or Ctrl-C on `cargo test`) leaves its dirs
/// behind; the first start in a later process removes those whose owner is
/// dead, so RAM-backed scratch space does not fill up over time.
pub(crate) fn run_dir_in(prefix: &str, base: &Path) -> Result<tempfile::TempDir> {
    sweep_stale(base, prefix);
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .map_err(|e| InfraError::io(format!("creating a temp dir in {}", base.display()), e))?;
    let owner = dir.path().join(OWNER_FILE);
    std::fs::write(&owner, std::process::id().to_string())
        .map_err(|e| InfraError::io(format!("writing {}", owner.display()), e))?;
    Ok(dir)
}

/// Names the process that owns a run dir.
pub(crate) const OWNER_FILE: &str = "owner.pid";

/// Removes `base/prefix*` dirs whose owner process is gone (once per process
/// and prefix). Dirs without an owner file are left alone.
fn sweep_stale(base: &Path, prefix: &str) {
    static SWEPT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let key = base.join(prefix);
    {
        let Ok(mut swept) = SWEPT.lock() else {
            return;
        };
        if swept.contains(&key) {
            return;
        }
        swept.push(key);
    }
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(prefix));
        if !is_ours {
            continue;
        }
        let path = entry.path();
        let owner = std::fs::read_to_string(path.join(OWNER_FILE))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        let owner_is_dead = owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if owner_is_dead {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Environment variable that overrides [`scratch_dir`].
pub(crate) const SCRATCH_ENV: &str = "SHOWROOM_LOCALINFRA_TMPDIR";

/// Where data that is copied often and thrown away lives (PostgreSQL's
/// template and throwaway clusters): `$SHOWROOM_LOCALINFRA_TMPDIR` if set,
/// else RAM-backed `/dev/shm` when it is writable and has at least 2 GiB
/// free, else the usual temp dir.
///
/// Why: a cluster is ~1,300 files, and creating files on a disk file system
/// costs ~0.5 ms each on our VMs, so copying the template to /tmp takes over
/// a second, while on tmpfs it takes under 100 ms.
pub(crate) fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(SCRATCH_ENV).filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        let roomy = nix::sys::statvfs::statvfs(shm)
            .map(|stats| {
                stats
                    .blocks_available()
                    .saturating_mul(stats.fragment_size())
                    >= 2 << 30
            })
            .unwrap_or(false);
        let writable = nix::unistd::access(
            shm,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        )
        .is_ok();
        if roomy && writable {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

/// Picks a free port and tries `attempt` with it, moving to a new port when
/// the server reports its port was taken in the meantime (free ports are
/// only free until someone binds them).
pub(crate) async fn with_free_port<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut(u16) -> Fut,
    Fut: Future<Output = Result<T, LaunchError>>,
{
    const ATTEMPTS: usize = 4;
    let mut tries = 0;
    loop {
        tries += 1;
        let port = crate::port::free_port()?;
        match attempt(port).await {
            Ok(value) => return Ok(value),
            Err(LaunchError {
                port_in_use: true, ..
            }) if tries < ATTEMPTS => continue,
            Err(e) => return Err(e.error),
        }
    }
}
