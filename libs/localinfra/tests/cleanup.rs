//! Servers must not outlive the process that started them, even when that
//! process is SIGKILLed, and must not die with the thread that started them.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis};

const CHILD_ENV: &str = "SHOWROOM_LOCALINFRA_CLEANUP_CHILD";

fn redis_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reply = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// Not a test of its own: the body of the child process that
/// `servers_die_with_a_killed_process` runs. Does nothing unless that test
/// set the environment variable.
#[test]
#[ignore = "helper process for servers_die_with_a_killed_process"]
fn cleanup_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // Start the servers on a thread (with its own runtime) that then exits,
    // the way a test thread holding a shared server would.
    let servers = std::thread::spawn(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let nats = Nats::start(None).await.expect("nats");
            let redis = Redis::start().await.expect("redis");
            let pg = Postgres::start(PostgresOptions::throwaway())
                .await
                .expect("postgres");
            (nats, redis, pg)
        })
    })
    .join()
    .expect("starter thread");
    let (nats, redis, pg) = &servers;
    std::thread::sleep(Duration::from_millis(500));
    assert!(redis_ping(redis.port), "redis survived its starting thread");
    let mut pids = vec![
        nats.pid().expect("nats pid"),
        redis.pid().expect("redis pid"),
        pg.pid().expect("postgres pid"),
    ];
    pids.extend(common::children(pg.pid().expect("postgres pid")));
    for log in [nats.log_path(), redis.log_path(), pg.log_path()] {
        let run_dir = log.parent().expect("log lives in the run dir");
        println!("\nDIR {}", run_dir.display());
    }
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("\nPIDS {}", list.join(" "));
    std::io::stdout().flush().expect("flush");
    // Wait to be killed (bounded, in case the parent is gone).
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn servers_die_with_a_killed_process() {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "cleanup_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test process");
    let stdout = child.stdout.take().expect("stdout");
    let mut pids: Vec<u32> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        if let Some(dir) = line.strip_prefix("DIR ") {
            dirs.push(PathBuf::from(dir));
        }
        // libtest may have printed "test cleanup_child ... " on the same line.
        if let Some((_, rest)) = line.split_once("PIDS ") {
            pids = rest
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            break;
        }
    }
    assert!(pids.len() >= 4, "child reported its servers: {pids:?}");
    assert!(
        pids.iter().all(|&pid| common::alive(pid)),
        "servers running"
    );

    child.kill().expect("SIGKILL the child"); // no Drop runs in there
    child.wait().expect("reap child");
    common::assert_all_gone(&pids);

    // Nothing could delete the killed process' temp dirs; the next start of
    // each kind of server does (here, or in any test process running beside
    // this one, which may get there first).
    assert_eq!(dirs.len(), 3, "child reported its run dirs");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let _nats = Nats::start(None).await.expect("nats");
        let _redis = Redis::start().await.expect("redis");
        let _pg = Postgres::start(PostgresOptions::throwaway())
            .await
            .expect("postgres");
        for dir in &dirs {
            assert!(!dir.exists(), "stale dir swept: {}", dir.display());
        }
    });
}
