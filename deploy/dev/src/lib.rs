//! The dev launcher: all of Showroom on this machine, with one command (`./deploy/dev.sh`).
//!
//! It starts real servers on loopback with `showroom-localinfra` (NATS with JetStream, its
//! store in `.dev/nats`; Redis; PostgreSQL, its durable cluster in `.dev/pg`; maildev from
//! `deploy/node_modules`), applies the migrations, seeds the demo dealer group (once: a second
//! run finds it), then starts the seven services as separate child processes from the binaries
//! `cargo build --bins` made, each waited for until its `/readyz` answers 200, and prints where
//! everything is. Ctrl-C or SIGTERM stops the services in reverse order (SIGTERM, SIGKILL after
//! 15 s), then the servers, and exits 0. A service or server that dies on its own stops
//! everything with its log's tail and a non-zero exit.
//!
//! Data that lasts lives in `.dev/` (gitignored): `nats/`, `pg/`, `visitor-secret` (the
//! gateway's token key, mode 0600) and `logs/<service>.log`.
//!
//! # Layout
//! - [`run`]: the whole sequence; `main` only builds the runtime.
//! - `layout`: the repository, `.dev/`, the service binaries.
//! - `infra`: the four servers.
//! - `services`: the service processes (spawn, readiness, stop) and their ports.
//! - `secret`: the visitor token key.
//! - `banner`: what is printed once everything runs.

mod banner;
mod infra;
mod layout;
mod secret;
mod services;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::signal::unix::{Signal, SignalKind, signal};

use banner::Banner;
use infra::Infra;
use layout::Layout;
use services::{Running, Service};

/// Runs the system until Ctrl-C or SIGTERM (exit 0) or until something fails (exit 1).
pub async fn run() -> ExitCode {
    let mut signals = match Signals::listen() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("showroom-dev: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stack = Stack::default();
    let started = tokio::select! {
        result = stack.start() => Started::Done(result),
        name = signals.recv() => Started::Interrupted(name),
    };
    let code = match started {
        Started::Done(Ok(())) => stack.supervise(&mut signals).await,
        Started::Done(Err(e)) => {
            eprintln!("showroom-dev: error: {e:#}");
            ExitCode::FAILURE
        }
        Started::Interrupted(name) => {
            say(&format!("{name} during startup: stopping what has started"));
            ExitCode::SUCCESS
        }
    };
    stack.stop(&mut signals).await;
    code
}

enum Started {
    Done(anyhow::Result<()>),
    Interrupted(&'static str),
}

/// What has been started so far, so that whatever happens it can be stopped.
#[derive(Default)]
struct Stack {
    infra: Option<Infra>,
    services: Vec<Running>,
}

impl Stack {
    async fn start(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let layout = Layout::discover()?;
        let gateway =
            showroom_gateway::Config::from_env().context("reading SHOWROOM_* variables")?;
        let http_addr = gateway.http_addr;
        let secure_cookies =
            std::env::var_os("SHOWROOM_SECURE_COOKIES").is_some() && gateway.secure_cookies;
        if http_addr.port() == 0 {
            bail!(
                "SHOWROOM_HTTP_ADDR={http_addr}: the dev stack needs a fixed port, e.g. 127.0.0.1:8080"
            );
        }
        let all = services::all();
        services::ensure_free(
            http_addr,
            "the gateway's HTTP port",
            "Stop it, or run the gateway on another address: \
             SHOWROOM_HTTP_ADDR=127.0.0.1:8081 ./deploy/dev.sh",
        )?;
        for service in &all {
            services::ensure_free(
                service.admin_addr,
                &format!("the {} service's admin port", service.name),
                "Stop that program first (a showroom-* left from an earlier run? `pgrep -a showroom-`).",
            )?;
        }
        let visitor_secret = if gateway.visitor_token_secret.is_empty() {
            secret::visitor_secret(&layout.dev_dir.join("visitor-secret"))?
        } else {
            gateway.visitor_token_secret.expose().to_owned()
        };

        say("starting NATS, Redis, PostgreSQL and maildev ...");
        let infra: &Infra = self.infra.insert(Infra::start(&layout).await?);
        let base_url = base_url(http_addr);
        prepare_database(infra, &base_url, http_addr).await?;

        let rust_log = std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "info".to_owned());
        let shared = [
            ("SHOWROOM_NATS_URL", infra.nats.url.clone()),
            ("SHOWROOM_DATABASE_URL", infra.pg.url.clone()),
            ("SHOWROOM_RUN_MIGRATIONS", "false".to_owned()),
            ("RUST_LOG", rust_log),
        ];
        let env_of = |service: &Service| {
            let mut env = services::environment(service, &shared);
            let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
            set(
                "SHOWROOM_NATS_CREDS",
                infra.creds(service.name).display().to_string(),
            );
            match service.name {
                showroom_presence::NAME => set("SHOWROOM_REDIS_URL", infra.redis.url.clone()),
                showroom_gateway::NAME => {
                    set("SHOWROOM_HTTP_ADDR", http_addr.to_string());
                    set("SHOWROOM_VISITOR_TOKEN_SECRET", visitor_secret.clone());
                    // The dev stack serves plain http: the session cookie is `Secure` (the
                    // gateway's default) only when SHOWROOM_SECURE_COOKIES asks for it.
                    set("SHOWROOM_SECURE_COOKIES", secure_cookies.to_string());
                    // The limits every gateway shares (failed logins, conversations, uploads).
                    set("SHOWROOM_REDIS_URL", infra.redis.url.clone());
                    // Passkeys need a host name, not an IP address, as their relying party:
                    // on this machine they work from http://localhost:<port>/console (a
                    // secure context for browsers), unless SHOWROOM_PUBLIC_URL says otherwise.
                    set(
                        "SHOWROOM_PUBLIC_URL",
                        std::env::var("SHOWROOM_PUBLIC_URL")
                            .ok()
                            .filter(|u| !u.trim().is_empty())
                            .unwrap_or_else(|| format!("http://localhost:{}", http_addr.port())),
                    );
                }
                // Notices and ADF leads go to the local SMTP catcher; transcript links in
                // e-mails and leads point at this gateway's console; desktop notices'
                // coalescing marks are in Redis.
                showroom_notification::NAME => {
                    set("SHOWROOM_SMTP_URL", infra.smtp_url());
                    set("SHOWROOM_REDIS_URL", infra.redis.url.clone());
                    set("SHOWROOM_CONSOLE_URL", format!("{base_url}/console"));
                }
                // It issues and revokes integrators' NATS credentials.
                showroom_crm_export::NAME => {
                    set("SHOWROOM_SMTP_URL", infra.smtp_url());
                    set(
                        "SHOWROOM_NATS_ISSUER",
                        infra.auth_dir.join("issuer.json").display().to_string(),
                    );
                    set(
                        "SHOWROOM_NATS_SYSTEM_CREDS",
                        infra.creds("system").display().to_string(),
                    );
                }
                showroom_lead_capture::NAME => {
                    set("SHOWROOM_CONSOLE_URL", format!("{base_url}/console"))
                }
                _ => {}
            }
            env
        };

        // presence, router, gateway one by one; then the rest together.
        let (in_order, together) = all.split_at(services::IN_ORDER);
        for service in in_order {
            self.services
                .push(Running::spawn(*service, &layout, &env_of(service))?);
            let index = self.services.len() - 1;
            ready(&mut self.services[index]).await?;
        }
        let first = self.services.len();
        for service in together {
            self.services
                .push(Running::spawn(*service, &layout, &env_of(service))?);
        }
        for running in &mut self.services[first..] {
            ready(running).await?;
        }

        let banner = Banner {
            base_url: &base_url,
            infra,
            layout: &layout,
            services: &self.services,
            took: started.elapsed(),
        };
        println!("{}", banner.render());
        Ok(())
    }

    /// Watches until a signal (exit 0) or until a service or server dies (exit 1).
    async fn supervise(&mut self, signals: &mut Signals) -> ExitCode {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                name = signals.recv() => {
                    println!();
                    say(&format!("{name}: stopping everything"));
                    return ExitCode::SUCCESS;
                }
                _ = tick.tick() => {}
            }
            for running in &mut self.services {
                if let Some(status) = running.exited() {
                    eprintln!(
                        "showroom-dev: {} exited unexpectedly ({status}); {}\nshowroom-dev: stopping everything",
                        running.service.name,
                        running.log_tail()
                    );
                    return ExitCode::FAILURE;
                }
            }
            if let Some((what, log)) = self.infra.as_ref().and_then(Infra::dead) {
                eprintln!(
                    "showroom-dev: {what} exited unexpectedly; its log {} ends with:\n{}\nshowroom-dev: stopping everything",
                    log.display(),
                    layout::tail(&log, 0, services::TAIL_LINES)
                );
                return ExitCode::FAILURE;
            }
        }
    }

    /// Stops the services in reverse start order, then the servers. Another signal meanwhile
    /// kills the remaining services at once instead of waiting for them to drain.
    async fn stop(&mut self, signals: &mut Signals) {
        let started = Instant::now();
        let mut hurry = false;
        while let Some(mut running) = self.services.pop() {
            let name = running.service.name;
            if running.exited().is_some() {
                continue;
            }
            if hurry {
                running.kill().await;
                say(&format!("{name} killed"));
                continue;
            }
            let t = Instant::now();
            running.terminate().await;
            let exited = tokio::select! {
                exited = running.wait_exit(services::STOP_GRACE) => Some(exited),
                _ = signals.recv() => None,
            };
            match exited {
                Some(true) => say(&format!(
                    "{name} stopped ({:.1} s)",
                    t.elapsed().as_secs_f64()
                )),
                Some(false) => {
                    running.kill().await;
                    say(&format!(
                        "{name} killed: still running {} s after SIGTERM",
                        services::STOP_GRACE.as_secs()
                    ));
                }
                None => {
                    hurry = true;
                    running.kill().await;
                    say(&format!("{name} killed (second signal)"));
                }
            }
        }
        if let Some(infra) = self.infra.take() {
            say("stopping NATS, Redis, PostgreSQL and maildev ...");
            infra.stop().await;
            say(&format!(
                "stopped everything ({:.1} s)",
                started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// Waits until a service is ready, and says so.
async fn ready(running: &mut Running) -> anyhow::Result<()> {
    let took = running.wait_ready().await?;
    say(&format!(
        "{} ready ({:.1} s)",
        running.service.name,
        took.as_secs_f64()
    ));
    Ok(())
}

/// Migrates and seeds the demo group, whose website accepts the gateway's origins.
async fn prepare_database(
    infra: &Infra,
    base_url: &str,
    http_addr: SocketAddr,
) -> anyhow::Result<()> {
    let pool = showroom_store::connect(&infra.pg.url, 2)
        .await
        .context("connecting to PostgreSQL")?;
    showroom_store::migrate(&pool)
        .await
        .context("applying the migrations")?;
    let port = http_addr.port();
    let mut origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    if !origins.iter().any(|o| o == base_url) {
        origins.push(base_url.to_owned());
    }
    let seeded = showroom_rest::demo::seed(&pool, &origins)
        .await
        .context("seeding the demo group")?;
    pool.close().await;
    say(if seeded.is_some() {
        "migrations applied; demo group seeded"
    } else {
        "migrations applied; demo group already there"
    });
    Ok(())
}

/// The URL a browser on this machine uses to reach the gateway.
fn base_url(http_addr: SocketAddr) -> String {
    let ip = match http_addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, http_addr.port()))
}

fn say(line: &str) {
    println!("showroom-dev: {line}");
}

/// SIGINT (Ctrl-C) and SIGTERM, both meaning "stop everything".
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "Ctrl-C",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_reachable_from_this_machine() {
        assert_eq!(
            base_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url("127.0.0.1:8081".parse().unwrap()),
            "http://127.0.0.1:8081"
        );
        assert_eq!(base_url("[::1]:8080".parse().unwrap()), "http://[::1]:8080");
    }
}
