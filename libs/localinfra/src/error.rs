//! The one error type of this crate.
//!
//! Every variant says what to do next (install something, read a log),
//! because the people reading these messages are developers whose test or
//! dev launcher just failed to start its infrastructure.

use std::path::PathBuf;
use std::time::Duration;

/// `Result` with [`InfraError`] as the default error.
pub type Result<T, E = InfraError> = std::result::Result<T, E>;

/// Why a local server could not be started, reached or stopped.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// A program this crate runs is not installed.
    #[error("{program} not found on PATH: {hint}")]
    NotInstalled {
        /// The missing program, e.g. `nats-server`.
        program: String,
        /// How to install it.
        hint: String,
    },

    /// maildev's npm package is not installed where we were told to look.
    #[error(
        "maildev is not installed in {}: run `npm ci --prefix deploy` \
         (deploy/install.sh does it) and pass that directory",
        dir.display()
    )]
    MaildevMissing {
        /// The directory that should contain `node_modules/maildev`.
        dir: PathBuf,
    },

    /// The OS would not give us a free loopback port.
    #[error("could not get a free port on 127.0.0.1: {0}")]
    NoFreePort(#[source] std::io::Error),

    /// There is no Tokio runtime to run the child process on.
    #[error("showroom-localinfra must be used from inside a Tokio runtime")]
    NoRuntime,

    /// The server process could not be spawned at all.
    #[error("failed to start {what} ({program}): {source}")]
    Spawn {
        /// Which server, e.g. "NATS".
        what: &'static str,
        /// The program we tried to run.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The server process exited before it became ready.
    #[error("{what} exited during startup ({status}); its log {} ends with:\n{tail}", log.display())]
    ExitedEarly {
        /// Which server.
        what: &'static str,
        /// How it exited.
        status: String,
        /// Its full log.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },

    /// The server process is running but did not answer in time.
    #[error(
        "{what} did not become ready within {timeout:?} (last probe: {last}); its log {} ends with:\n{tail}",
        log.display()
    )]
    NotReady {
        /// Which server.
        what: &'static str,
        /// How long we waited.
        timeout: Duration,
        /// What the last readiness probe saw.
        last: String,
        /// Its full log.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },

    /// A helper command (initdb, cp, ...) failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    CommandFailed {
        /// The command line, for copy-pasting.
        command: String,
        /// How it exited.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },

    /// A file system or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// We run as root, PostgreSQL refuses to, and there is nobody to switch to.
    #[error(
        "running as root, PostgreSQL refuses to run as root, and there is no `postgres` user \
         to run it as: run deploy/install.sh (apt-get install postgresql creates the user) \
         or run as a normal user"
    )]
    NoPostgresUser,

    /// A persistent data directory belongs to another PostgreSQL major version.
    #[error(
        "data directory {} was initialised by PostgreSQL {found}, but the installed server is \
         PostgreSQL {installed}: delete the directory (its data is lost) or install PostgreSQL {found}",
        dir.display()
    )]
    PgVersionMismatch {
        /// The data directory.
        dir: PathBuf,
        /// Major version in its `PG_VERSION`.
        found: String,
        /// Major version of the server on this machine.
        installed: String,
    },

    /// A persistent data directory exists, is not empty, and is not a PostgreSQL cluster.
    #[error(
        "{} is not empty and is not a PostgreSQL data directory (no PG_VERSION): \
         pass an empty or missing directory",
        dir.display()
    )]
    NotADataDir {
        /// The directory.
        dir: PathBuf,
    },

    /// PostgreSQL answered, but not the way a trust-auth local server should.
    #[error("PostgreSQL on port {port}: {message}")]
    Postgres {
        /// The server's port.
        port: u16,
        /// What went wrong.
        message: String,
    },

    /// An HTTP request to a local server failed.
    #[error("HTTP {method} {url} failed: {reason}")]
    Http {
        /// GET, DELETE, ...
        method: &'static str,
        /// The full URL.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// The server was stopped with `stop()` and not restarted.
    #[error("{what} is stopped: call restart() first")]
    Stopped {
        /// Which server.
        what: &'static str,
    },

    /// Waited for something (e.g. e-mails) that did not happen in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        timeout: Duration,
    },
}

impl InfraError {
    /// Wraps an I/O error with what we were doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        InfraError::Io {
            context: context.into(),
            source,
        }
    }
}
