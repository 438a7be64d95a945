//! What the launcher prints once everything is up.

use std::fmt::Write;
use std::time::Duration;

use showroom_rest::demo::{DEMO_AGENTS, DEMO_PASSWORD};

use crate::infra::Infra;
use crate::layout::Layout;
use crate::services::Running;

/// Everything the banner shows.
pub struct Banner<'a> {
    /// `http://127.0.0.1:8080`.
    pub base_url: &'a str,
    /// The servers.
    pub infra: &'a Infra,
    /// Paths.
    pub layout: &'a Layout,
    /// The services, in start order.
    pub services: &'a [Running],
    /// How long the start took.
    pub took: Duration,
}

impl Banner<'_> {
    /// The banner text.
    pub fn render(&self) -> String {
        let Banner {
            base_url,
            infra,
            layout,
            services,
            took,
        } = self;
        let mut s = String::new();
        let rule = "=".repeat(78);
        let _ = writeln!(s, "\n{rule}");
        let _ = writeln!(
            s,
            "Showroom is running: {} services, started in {:.1} s.\n",
            services.len(),
            took.as_secs_f64()
        );
        let _ = writeln!(s, "  Demo dealership page  {base_url}/demo");
        let _ = writeln!(s, "  Agent console         {base_url}/console");
        let _ = writeln!(s, "  Demo logins (password: {DEMO_PASSWORD})");
        for (email, _, role, covers) in DEMO_AGENTS {
            let _ = writeln!(s, "    {email:<28} {role:<8} {covers}");
        }
        let _ = writeln!(
            s,
            "  Caught e-mails        {}  (SMTP on 127.0.0.1:{})",
            infra.smtp.web_url, infra.smtp.smtp_port
        );
        let _ = writeln!(s, "  API                   {base_url}/api/openapi.json");
        let _ = writeln!(s, "                        {base_url}/api/v1/system");
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  NATS                  {}  (monitoring {})",
            infra.nats.url, infra.nats.monitor_url
        );
        let _ = writeln!(
            s,
            "                        credentials in {}: `nats --creds {} ...`",
            layout.show(&infra.auth_dir),
            layout.show(&infra.creds("operator"))
        );
        let _ = writeln!(s, "  Redis                 {}", infra.redis.url);
        let _ = writeln!(
            s,
            "  PostgreSQL            {}  (data in {})",
            infra.pg.url,
            layout.show(infra.pg.data_dir())
        );
        let _ = writeln!(
            s,
            "  Service logs          {}/<service>.log",
            layout.logs_dir.display()
        );
        let _ = writeln!(
            s,
            "  Probes                http://127.0.0.1:<port>/healthz, /readyz: {}",
            services
                .iter()
                .map(|r| format!("{} {}", r.service.name, r.service.admin_addr.port()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "  Server logs (removed on exit)\n                        {}\n                        {}\n                        {}\n                        {}",
            infra.nats.log_path().display(),
            infra.redis.log_path().display(),
            infra.pg.log_path().display(),
            infra.smtp.log_path().display()
        );
        let _ = writeln!(s, "\nCtrl-C stops everything.");
        let _ = write!(s, "{rule}");
        s
    }
}
