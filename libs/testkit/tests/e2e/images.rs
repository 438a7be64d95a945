//! The container images hold what production runs. For each of the eight images
//! `deploy/image.sh` built (the seven services and `showroom-migrate`), its binary is started
//! from the image's own filesystem: `chroot` into the mounted image, as the image's user, with
//! its environment, its root read-only and a writable `/tmp` (as `k8s/base` runs it: a
//! read-only root filesystem, an `emptyDir` on `/tmp`), against real servers on loopback. Its
//! libraries resolve inside the image (the image's own dynamic loader lists them), migrate
//! applies the schema, every service answers `/healthz` and `/readyz` (NATS, Postgres and, for
//! presence, Redis connected), the gateway serves its pages from `/usr/share/showroom/assets`,
//! and SIGTERM ends each one cleanly.
//!
//! Run `deploy/image.sh` first: it builds the images, mounts their filesystems
//! (`podman image mount`) and lists them in `target/images/manifest.json`
//! (`$SHOWROOM_IMAGES_MANIFEST` to read another). Needs root (chroot, mounts), as image.sh does.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis, SmtpCatcher, free_port};
use showroom_natsauth::Trust;
use showroom_testkit::Service;
use tokio::process::{Child, Command};

/// What image.sh builds: the services, then the migrate step.
const MIGRATE: &str = "migrate";

/// Where the services find their NATS credentials inside the image: the bind-mounted `/tmp`.
const SECRETS: &str = "/tmp/secrets";

/// Where the gateway's pages are in the image (`SHOWROOM_ASSETS_DIR` in k8s/base/gateway.yaml).
const ASSETS: &str = "/usr/share/showroom/assets";

/// One image from the manifest.
#[derive(Debug, Clone)]
struct Image {
    service: String,
    image: String,
    /// `uid:gid` the image runs as (its `USER`).
    user: String,
    /// The binary's path inside the image.
    binary: String,
    /// The image's root filesystem, mounted.
    rootfs: PathBuf,
    /// The image's `ENV`.
    env: Vec<(String, String)>,
}

fn repo_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit
        .parent()
        .and_then(Path::parent)
        .unwrap_or(testkit)
        .to_path_buf()
}

fn manifest_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOWROOM_IMAGES_MANIFEST") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("images/manifest.json")
}

/// The images image.sh built, each checked to be there (mounted, with its binary).
fn images() -> anyhow::Result<BTreeMap<String, Image>> {
    let path = manifest_path();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "no image manifest at {} ({e}): run deploy/image.sh first (it builds the images, \
             mounts their filesystems and writes the manifest)",
            path.display()
        )
    })?;
    let manifest: Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    for entry in manifest["images"].as_array().context("manifest: images")? {
        let field = |k: &str| -> anyhow::Result<String> {
            Ok(entry[k]
                .as_str()
                .with_context(|| format!("manifest entry without {k}: {entry}"))?
                .to_string())
        };
        let env = entry["env"]
            .as_array()
            .map(|vars| {
                vars.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let image = Image {
            service: field("service")?,
            image: field("image")?,
            user: field("user")?,
            binary: field("binary")?,
            rootfs: PathBuf::from(field("rootfs")?),
            env,
        };
        let binary = image.host_path(&image.binary);
        ensure!(
            binary.is_file(),
            "{}'s filesystem is not mounted at {} (no {}): run deploy/image.sh first",
            image.image,
            image.rootfs.display(),
            binary.display()
        );
        out.insert(image.service.clone(), image);
    }
    let mut want: Vec<String> = Service::ALL.iter().map(|s| s.name().to_string()).collect();
    want.push(MIGRATE.to_string());
    want.sort();
    let have: Vec<String> = out.keys().cloned().collect();
    ensure!(
        have == want,
        "{} lists images of {have:?}, not of {want:?}: run deploy/image.sh again",
        path.display()
    );
    Ok(out)
}

impl Image {
    /// `path` inside the image, as seen from the host.
    fn host_path(&self, path: &str) -> PathBuf {
        self.rootfs.join(path.trim_start_matches('/'))
    }

    fn uid_gid(&self) -> anyhow::Result<(u32, u32)> {
        let (u, g) = self
            .user
            .split_once(':')
            .unwrap_or((&self.user, &self.user));
        Ok((
            u.parse()
                .with_context(|| format!("{}: user {}", self.image, self.user))?,
            g.parse()
                .with_context(|| format!("{}: user {}", self.image, self.user))?,
        ))
    }

    /// The command that runs `args` inside the image as its user, in a mount namespace of its
    /// own where `tmp` is bind-mounted on the image's `/tmp` (the image's root stays read-only),
    /// with only the image's `ENV` and `env`. Its output goes to `log`.
    fn command(
        &self,
        args: &[&str],
        tmp: &Path,
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Command> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        // unshare, sh, mount and chroot are the host's; after chroot everything is the image's.
        let mut cmd = Command::new(program("unshare")?);
        cmd.args(["--mount", "--propagation", "private", "--"])
            .arg(program("sh")?)
            .arg("-c")
            .arg(r#"mount=$1 chroot=$2 tmp=$3 root=$4 user=$5; shift 5
                "$mount" --bind "$tmp" "$root/tmp" && exec "$chroot" --userspec="$user" "$root" "$@""#)
            .arg("sh")
            .arg(program("mount")?)
            .arg(program("chroot")?)
            .arg(tmp)
            .arg(&self.rootfs)
            .arg(&self.user)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        Ok(cmd)
    }
}

/// A host program, by absolute path (the children run with the image's environment only).
fn program(name: &str) -> anyhow::Result<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found in /usr/sbin, /usr/bin, /sbin or /bin"))
}

/// The ELF interpreter (`PT_INTERP`) a 64-bit little-endian executable names.
fn elf_interpreter(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)?;
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    ensure!(
        bytes.len() > 64 && &bytes[..4] == b"\x7fELF" && bytes[4] == 2 && bytes[5] == 1,
        "{} is not a 64-bit little-endian ELF file",
        path.display()
    );
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32::from_le_bytes(bytes[ph..ph + 4].try_into().unwrap()) == 3 {
            let (offset, size) = (u64_at(ph + 8), u64_at(ph + 32));
            let name = &bytes[offset..offset + size];
            return Ok(String::from_utf8_lossy(name)
                .trim_end_matches('\0')
                .to_string());
        }
    }
    bail!("{} is statically linked (no PT_INTERP)", path.display())
}

/// A host directory bind-mounted as one image's `/tmp`, holding `files` (the service's NATS
/// credentials) under `/tmp/secrets`, readable by the image's user only.
fn image_tmp(
    image: &Image,
    auth_dir: &Path,
    files: &[&str],
    under: &Path,
) -> anyhow::Result<PathBuf> {
    let (uid, gid) = image.uid_gid()?;
    let tmp = under.join(format!("{}-tmp", image.service));
    let secrets = tmp.join(SECRETS.trim_start_matches("/tmp/"));
    std::fs::create_dir_all(&secrets)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))?;
    std::os::unix::fs::chown(&secrets, Some(uid), Some(gid))?;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o500))?;
    for name in files {
        let to = secrets.join(name);
        std::fs::copy(auth_dir.join(name), &to)?;
        std::os::unix::fs::chown(&to, Some(uid), Some(gid))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o400))?;
    }
    Ok(tmp)
}

/// The last lines of a log.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Where the servers are.
struct Servers {
    nats: Nats,
    redis: Redis,
    pg: Postgres,
    smtp: SmtpCatcher,
}

/// The environment of `service` (what its Deployment sets, on this machine's servers), with the
/// credentials at their place inside the image.
fn service_env(
    service: Service,
    s: &Servers,
    admin_port: u16,
    http_port: u16,
) -> Vec<(String, String)> {
    let name = service.name();
    let smtp = format!("smtp://127.0.0.1:{}", s.smtp.smtp_port);
    let mut env: Vec<(&str, String)> = vec![
        ("SHOWROOM_NATS_URL", s.nats.url.clone()),
        ("SHOWROOM_NATS_CREDS", format!("{SECRETS}/{name}.creds")),
        ("SHOWROOM_DATABASE_URL", s.pg.url.clone()),
        ("SHOWROOM_ADMIN_ADDR", format!("127.0.0.1:{admin_port}")),
        ("SHOWROOM_RUN_MIGRATIONS", "false".into()),
        ("SHOWROOM_MAX_DB_CONNECTIONS", "3".into()),
        ("SHOWROOM_STREAM_REPLICAS", "1".into()),
        ("RUST_LOG", "warn".into()),
    ];
    match service {
        Service::Gateway => env.extend([
            ("SHOWROOM_HTTP_ADDR", format!("127.0.0.1:{http_port}")),
            ("SHOWROOM_ASSETS_DIR", ASSETS.into()),
            (
                "SHOWROOM_VISITOR_TOKEN_SECRET",
                "image-test-visitor-secret-0123456789".into(),
            ),
        ]),
        Service::Presence => env.push(("SHOWROOM_REDIS_URL", s.redis.url.clone())),
        Service::Notification => env.extend([
            ("SHOWROOM_SMTP_URL", smtp),
            ("SHOWROOM_REDIS_URL", s.redis.url.clone()),
        ]),
        Service::CrmExport => env.extend([
            ("SHOWROOM_SMTP_URL", smtp),
            ("SHOWROOM_NATS_ISSUER", format!("{SECRETS}/issuer.json")),
            (
                "SHOWROOM_NATS_SYSTEM_CREDS",
                format!("{SECRETS}/system.creds"),
            ),
        ]),
        Service::Router | Service::Bot | Service::LeadCapture => {}
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Waits for `child` to end, at most `limit`.
async fn exit_within(child: &mut Child, limit: Duration) -> anyhow::Result<ExitStatus> {
    tokio::time::timeout(limit, child.wait())
        .await
        .map_err(|_| anyhow::anyhow!("still running after {limit:?}"))?
        .map_err(Into::into)
}

/// Checks that `image`'s binary finds every library it needs inside the image: the image's own
/// dynamic loader (the one the binary names) lists them, run inside the image.
async fn libraries_resolve(image: &Image, scratch: &Path) -> anyhow::Result<()> {
    let interpreter = elf_interpreter(&image.host_path(&image.binary))?;
    ensure!(
        image.host_path(&interpreter).exists(),
        "{}: the dynamic loader {interpreter} is not in the image",
        image.image
    );
    let tmp = scratch.join(format!("{}-ldd", image.service));
    std::fs::create_dir_all(&tmp)?;
    let log = scratch.join(format!("{}-ldd.log", image.service));
    let status = image
        .command(&[&interpreter, "--list", &image.binary], &tmp, &[], &log)?
        .status()
        .await?;
    let listed = std::fs::read_to_string(&log)?;
    ensure!(
        status.success() && !listed.contains("not found"),
        "{}: {interpreter} --list {} inside the image: {status}\n{listed}",
        image.image,
        image.binary
    );
    for line in listed.lines() {
        if let Some((_, right)) = line.split_once("=>") {
            let path = right.split_whitespace().next().unwrap_or_default();
            ensure!(
                path.starts_with('/') && image.host_path(path).exists(),
                "{}: {line:?} does not resolve inside the image",
                image.image
            );
        }
    }
    ensure!(
        listed.contains("libc.so.6"),
        "{}: the loader's list names no libc: {listed}",
        image.image
    );
    Ok(())
}

/// One service started from its image.
struct Running {
    service: Service,
    admin: String,
    log: PathBuf,
    child: Child,
}

/// Waits until the service's `/readyz` answers 200, and checks `/healthz`.
async fn ready(r: &mut Running) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::from("no answer");
    loop {
        if let Some(status) = r.child.try_wait()? {
            bail!(
                "{} (from its image) exited at start ({status}):\n{}",
                r.service.name(),
                tail(&r.log)
            );
        }
        if let Ok(resp) = client.get(format!("{}/readyz", r.admin)).send().await {
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                let health = client.get(format!("{}/healthz", r.admin)).send().await?;
                ensure!(
                    health.status().is_success(),
                    "{} answers /readyz but /healthz says {}",
                    r.service.name(),
                    health.status()
                );
                return Ok(body);
            }
            last = format!("{status} {body}");
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{} (from its image) not ready within 60 s (last /readyz: {last}):\n{}",
            r.service.name(),
            tail(&r.log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_image_runs_its_binary_from_its_own_filesystem() -> anyhow::Result<()> {
    let images = images()?;
    ensure!(
        is_root(),
        "this test chroots into the images and bind-mounts their /tmp: run it as root (as \
         deploy/test.sh does)"
    );
    let scratch = tempfile::Builder::new()
        .prefix("showroom-images-")
        .tempdir()?;
    // Readable by the images' user (their /tmp lives in here).
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))?;

    // Each image: its user is production's, and its binary's libraries are all in the image.
    for image in images.values() {
        assert_eq!(image.user, "10001:10001", "{} runs as", image.image);
        libraries_resolve(image, scratch.path()).await?;
    }
    eprintln!("libraries: all resolve inside each image (its own loader lists them)");

    // Real servers, NATS in operator mode with every service's credentials.
    let trust = Trust::generate();
    let auth_dir = scratch.path().join("auth");
    let nats_config = trust.write_local(&auth_dir)?;
    let maildev = std::env::var_os("SHOWROOM_MAILDEV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("deploy"));
    let (nats, redis, pg, smtp) = tokio::try_join!(
        Nats::start_with(None, Some(&nats_config)),
        Redis::start(),
        Postgres::start(PostgresOptions::throwaway()),
        SmtpCatcher::start(&maildev),
    )
    .context("starting real servers (run deploy/install.sh if one is missing)")?;
    let servers = Servers {
        nats,
        redis,
        pg,
        smtp,
    };

    // The migrate image applies the schema (the services are told not to).
    let migrate = &images[MIGRATE];
    let tmp = image_tmp(migrate, &auth_dir, &[], scratch.path())?;
    let log = scratch.path().join("migrate.log");
    let env = vec![
        ("SHOWROOM_DATABASE_URL".to_string(), servers.pg.url.clone()),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ];
    let mut child = migrate
        .command(&[&migrate.binary], &tmp, &env, &log)?
        .spawn()?;
    let status = exit_within(&mut child, Duration::from_secs(60)).await?;
    ensure!(
        status.success(),
        "showroom-migrate (from its image) failed ({status}):\n{}",
        tail(&log)
    );
    let pool = showroom_store::connect(&servers.pg.url, 2).await?;
    let (applied,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await?;
    ensure!(
        applied > 0,
        "showroom-migrate applied nothing:\n{}",
        tail(&log)
    );
    pool.close().await;
    eprintln!(
        "migrate: applied {applied} migrations, from {}",
        migrate.image
    );

    // Every service from its image, stream owners first, each ready before the next.
    let mut running = Vec::new();
    let mut gateway_http = None;
    for service in Service::ALL {
        let image = &images[service.name()];
        let creds = format!("{}.creds", service.name());
        let mut files = vec![creds.as_str()];
        if service == Service::CrmExport {
            files.extend(["system.creds", "issuer.json"]);
        }
        let tmp = image_tmp(image, &auth_dir, &files, scratch.path())?;
        let (admin_port, http_port) = (free_port()?, free_port()?);
        if service == Service::Gateway {
            gateway_http = Some(format!("http://127.0.0.1:{http_port}"));
        }
        let env = service_env(service, &servers, admin_port, http_port);
        let log = scratch.path().join(format!("{}.log", service.name()));
        let child = image
            .command(&[&image.binary], &tmp, &env, &log)?
            .spawn()
            .with_context(|| format!("starting {}", image.image))?;
        let mut r = Running {
            service,
            admin: format!("http://127.0.0.1:{admin_port}"),
            log,
            child,
        };
        let started = std::time::Instant::now();
        let readiness = ready(&mut r).await?;
        eprintln!(
            "{}: ready in {} ms, from {} ({})",
            service.name(),
            started.elapsed().as_millis(),
            image.image,
            image.rootfs.display()
        );
        assert_eq!(
            readiness["checks"]["nats"], "ok",
            "{}: {readiness}",
            image.image
        );
        assert_eq!(
            readiness["checks"]["postgres"], "ok",
            "{}: {readiness}",
            image.image
        );
        if service == Service::Presence {
            assert_eq!(readiness["checks"]["redis"], "ok", "{readiness}");
        }
        // It is the image's binary, in the image's root, as the image's user.
        let pid = r.child.id().context("a running child has a pid")?;
        let root = std::fs::read_link(format!("/proc/{pid}/root"))?;
        assert_eq!(root, image.rootfs, "{}: the process's root", image.image);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap_or_default();
        assert!(
            uid.split_whitespace().skip(1).all(|id| id == "10001"),
            "{}: {uid}",
            image.image
        );
        running.push(r);
    }

    // The gateway serves its pages from the image (the repo's copies are out of its reach).
    let http = reqwest::Client::new();
    let base = gateway_http.context("the gateway ran")?;
    let assets = repo_root().join("services/gateway/assets");
    for (path, file) in [
        ("/demo", "demo.html"),
        ("/console", "console.html"),
        ("/widget.js", "widget.js"),
        // The console's modules sit in subfolders, which the image must carry too.
        ("/console/main.js", "console/main.js"),
        ("/console/admin/tab.js", "console/admin/tab.js"),
    ] {
        let gateway_log = || {
            running
                .iter()
                .find(|r| r.service == Service::Gateway)
                .map(|r| tail(&r.log))
                .unwrap_or_default()
        };
        let resp = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .with_context(|| {
                format!(
                    "GET {path} from the gateway's image; its log:\n{}",
                    gateway_log()
                )
            })?;
        assert_eq!(
            resp.status(),
            200,
            "GET {path} from the gateway's image; its log:\n{}",
            gateway_log()
        );
        let body = resp.bytes().await?;
        let in_image = std::fs::read(images["gateway"].host_path(&format!("{ASSETS}/{file}")))?;
        assert_eq!(body.as_ref(), in_image.as_slice(), "GET {path}");
        assert_eq!(
            in_image,
            std::fs::read(assets.join(file))?,
            "{ASSETS}/{file} in the image is the repo's"
        );
    }

    // SIGTERM, as Kubernetes sends: each drains and exits 0.
    for r in running.iter_mut().rev() {
        let pid = r.child.id().context("running")?;
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        ensure!(killed.success(), "kill -TERM {pid}");
        let status = exit_within(&mut r.child, Duration::from_secs(30))
            .await
            .with_context(|| format!("{} after SIGTERM", r.service.name()))?;
        assert!(
            status.success(),
            "{} (from its image) exited with {status} after SIGTERM:\n{}",
            r.service.name(),
            tail(&r.log)
        );
    }
    Ok(())
}
