//! CPU time by process over a phase of a benchmark, per unit of work: Postgres (the postmaster
//! and every backend it forked), nats-server, Redis, and this process (the load generator with
//! every in-process service). On two shared cores throughput swings with the machine, while the
//! CPU a unit of work costs each process holds still, so this shows where a change saved.

use anyhow::Context;

/// The processes to count, by pid.
#[derive(Debug, Clone, Copy)]
pub struct Processes {
    /// The postmaster; its children are counted with it.
    pub postgres: u32,
    /// nats-server.
    pub nats: u32,
    /// redis-server.
    pub redis: u32,
}

impl Processes {
    /// The test stack's servers.
    pub fn of(stack: &showroom_testkit::Stack) -> anyhow::Result<Self> {
        Ok(Self {
            postgres: stack.pg.pid().context("Postgres is not running")?,
            nats: stack.nats.pid().context("nats-server is not running")?,
            redis: stack.redis.pid().context("Redis is not running")?,
        })
    }

    /// CPU time so far (user and system), in ticks.
    pub fn sample(&self) -> anyhow::Result<Sample> {
        let mut postgres = 0;
        for entry in std::fs::read_dir("/proc")? {
            let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // A process that ended meanwhile is skipped.
            if let Ok((ppid, ticks)) = stat(pid)
                && (pid == self.postgres || ppid == self.postgres)
            {
                postgres += ticks;
            }
        }
        Ok(Sample {
            postgres,
            nats: stat(self.nats)?.1,
            redis: stat(self.redis)?.1,
            own: stat(std::process::id())?.1,
        })
    }
}

/// A process's parent and CPU time (user and system, in ticks) from `/proc/<pid>/stat`.
fn stat(pid: u32) -> anyhow::Result<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The name, in parentheses, may hold spaces: the fields after its last `)` start with the
    // state (field 3), so the parent (4) is 1, utime (14) is 11 and stime (15) is 12.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .context("no ) in stat")?
        .1
        .split_whitespace()
        .collect();
    let field =
        |i: usize| -> anyhow::Result<u64> { Ok(fields.get(i).context("short stat")?.parse()?) };
    Ok((field(1)? as u32, field(11)? + field(12)?))
}

/// CPU times by process, in ticks (`USER_HZ`, 100 a second on Linux).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    postgres: u64,
    nats: u64,
    redis: u64,
    own: u64,
}

const MS_PER_TICK: f64 = 10.0;

impl Sample {
    /// What each process spent from `self` to `later` in all, added to `into`.
    pub fn add_until(&self, later: &Sample, into: &mut Sample) {
        into.postgres += later.postgres.saturating_sub(self.postgres);
        into.nats += later.nats.saturating_sub(self.nats);
        into.redis += later.redis.saturating_sub(self.redis);
        into.own += later.own.saturating_sub(self.own);
    }

    /// The table row of these ticks spread over `units`: milliseconds per unit for Postgres,
    /// NATS, Redis, this process, and all of them.
    pub fn row(&self, name: &str, units: usize) -> String {
        let per = |ticks: u64| ticks as f64 * MS_PER_TICK / units.max(1) as f64;
        let all = self.postgres + self.nats + self.redis + self.own;
        format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            per(self.postgres),
            per(self.nats),
            per(self.redis),
            per(self.own),
            per(all)
        )
    }
}
