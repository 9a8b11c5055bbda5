//! Pulse's configuration: one typed struct, layered as built-in defaults < `pulse.toml` (or
//! `--config FILE`) < `PULSE__SECTION__KEY` environment variables < command-line flags.
//! Durations are written like `"60s"` or `"5m"`. Unknown keys are errors, so a typo is caught.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use pulse_ingest::twitch::TwitchConfig;
use pulse_lake::S3Config;
use serde::{Deserialize, Serialize};

/// Where the lake is.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeSection {
    /// A path, `file://` or `s3://bucket/prefix` URL.
    pub url: String,
}

impl Default for LakeSection {
    fn default() -> Self {
        LakeSection {
            url: "./pulse-lake".into(),
        }
    }
}

/// Flush and framing settings shared by the ingest workers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// Flush at least this often.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Flush when this many records are buffered.
    pub flush_rows: usize,
    /// Largest socket frame, in bytes.
    pub max_frame: usize,
    /// Sync a socket worker's write-ahead log at least this often while frames arrive.
    #[serde(with = "humantime_serde")]
    pub wal_sync_interval: Duration,
    /// Sync the write-ahead log after this many bytes.
    pub wal_sync_bytes: u64,
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            flush_interval: Duration::from_secs(60),
            flush_rows: 500_000,
            max_frame: 1 << 20,
            wal_sync_interval: Duration::from_millis(100),
            wal_sync_bytes: 4 << 20,
        }
    }
}

/// How the cluster hands out tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scheduling {
    /// Executors poll the scheduler for work.
    #[default]
    Pull,
    /// The scheduler sends work to executors' gRPC ports.
    Push,
}

impl Scheduling {
    /// Its name as `--scheduling` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Scheduling::Pull => "pull",
            Scheduling::Push => "push",
        }
    }
}

/// `[cluster]`: where clients send work (`--cluster` and `PULSE_CLUSTER` override).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// `df://HOST:PORT` of the scheduler; none runs embedded.
    pub url: Option<String>,
    /// The cluster's user: the scheduler requires it (with the password in
    /// `PULSE_CLUSTER_PASSWORD`) from every client, and clients send it.
    pub user: Option<String>,
}

impl ClusterSection {
    /// The user and password, when a user is set; the password comes from
    /// `PULSE_CLUSTER_PASSWORD` only, never from a file or a flag.
    pub fn login(&self, user: Option<&str>) -> anyhow::Result<Option<(String, String)>> {
        login(user.or(self.user.as_deref()), "cluster", PASSWORD_VAR)
    }
}

/// `user` with its password from the environment variable `var` (never a file or a flag).
fn login(user: Option<&str>, what: &str, var: &str) -> anyhow::Result<Option<(String, String)>> {
    let Some(user) = user else {
        return Ok(None);
    };
    let password = std::env::var(var)
        .with_context(|| format!("{what} user {user:?} needs its password in {var}"))?;
    Ok(Some((user.to_string(), password)))
}

/// The environment variable that holds the cluster password.
pub const PASSWORD_VAR: &str = "PULSE_CLUSTER_PASSWORD";

/// `[serve]`: `pulse serve` settings (flags override).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// HOST:PORT to listen on.
    pub listen: String,
    /// The viewer every request must present beyond loopback, with the password in
    /// `PULSE_SERVE_PASSWORD` (read-only: the app only reads the lake).
    pub user: Option<String>,
    /// Serve beyond loopback without credentials (logged as a warning).
    pub insecure: bool,
    /// How often the app looks for new tables.
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            listen: "127.0.0.1:8080".into(),
            user: None,
            insecure: false,
            refresh: Duration::from_secs(5),
        }
    }
}

impl ServeSection {
    /// The viewer's user and password, when a user is set; the password comes from
    /// `PULSE_SERVE_PASSWORD` only.
    pub fn login(&self, user: Option<&str>) -> anyhow::Result<Option<(String, String)>> {
        login(user.or(self.user.as_deref()), "serve", SERVE_PASSWORD_VAR)
    }
}

/// The environment variable that holds the web app's viewer password.
pub const SERVE_PASSWORD_VAR: &str = "PULSE_SERVE_PASSWORD";

/// `[scheduler]`: `pulse scheduler` settings (flags override).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSection {
    /// Address to bind.
    pub bind_host: String,
    /// gRPC, REST and Flight SQL port.
    pub port: u16,
    /// Host executors and clients reach the scheduler at.
    pub external_host: String,
    /// An executor silent this long is lost.
    #[serde(with = "humantime_serde")]
    pub executor_timeout: Duration,
    /// Serve Flight SQL (read-only).
    pub flight_sql: bool,
    /// Serve beyond loopback without credentials (logged as a warning).
    pub insecure: bool,
    /// Also serve every client route over TLS here (`HOST:PORT`).
    pub tls_listen: Option<String>,
    /// The TLS certificate chain (PEM).
    pub tls_cert: Option<std::path::PathBuf>,
    /// The TLS private key (PEM).
    pub tls_key: Option<std::path::PathBuf>,
    /// Push or pull.
    pub scheduling: Scheduling,
}

impl Default for SchedulerSection {
    fn default() -> Self {
        SchedulerSection {
            bind_host: "127.0.0.1".into(),
            port: 50050,
            external_host: "localhost".into(),
            executor_timeout: Duration::from_secs(180),
            flight_sql: false,
            insecure: false,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            scheduling: Scheduling::Pull,
        }
    }
}

/// `[schedule]`: the nightly runs of `pulse schedule`, `pulse nightly` and `pulse backfill`
/// (flags override).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// When to run, a cron expression in UTC (5 fields, or 6 with seconds first).
    pub cron: String,
    /// Which date a firing runs: this many days before the firing's date (1: yesterday).
    pub lag_days: u32,
    /// On start, run the dates whose firings were missed while the daemon was down.
    pub catch_up: bool,
    /// How far back catch-up looks.
    pub catch_up_days: u32,
    /// Tasks running at once.
    pub max_concurrent: usize,
    /// Tries of a job failing with a transient error.
    pub attempts: u32,
    /// Wait before the second try (doubled for each further one).
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    /// Lease time to live (renewed every third of it while a job runs).
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Job parameters for the nightly runs, e.g. `bots = ["min_channels=4"]`.
    pub set: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        ScheduleSection {
            cron: "0 2 * * *".into(),
            lag_days: 1,
            catch_up: false,
            catch_up_days: 7,
            max_concurrent: 1,
            attempts: 3,
            backoff: Duration::from_secs(2),
            lease_ttl: Duration::from_secs(60),
            set: Default::default(),
        }
    }
}

/// `[executor]`: `pulse executor` settings (flags override).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorSection {
    /// Address to bind.
    pub bind_host: String,
    /// Flight port.
    pub port: u16,
    /// gRPC port.
    pub grpc_port: u16,
    /// Host the scheduler and clients reach the executor at.
    pub external_host: String,
    /// The scheduler, `HOST:PORT`.
    pub scheduler: String,
    /// Concurrent tasks; 0 means one per core.
    pub vcores: usize,
    /// Shuffle and spill directory; a temp dir when unset.
    pub work_dir: Option<std::path::PathBuf>,
    /// Memory pool in bytes; Ballista's default fraction of RAM when unset.
    pub memory_limit: Option<u64>,
    /// How long to wait for the scheduler at start.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time between heartbeats.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Push or pull, as the scheduler's.
    pub scheduling: Scheduling,
}

impl Default for ExecutorSection {
    fn default() -> Self {
        ExecutorSection {
            bind_host: "127.0.0.1".into(),
            port: 50051,
            grpc_port: 50052,
            external_host: "localhost".into(),
            scheduler: "localhost:50050".into(),
            vcores: 0,
            work_dir: None,
            memory_limit: None,
            connect_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(60),
            scheduling: Scheduling::Pull,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[lake]`
    pub lake: LakeSection,
    /// `[s3]`: endpoint, region, credentials, allow_http (the `AWS_*` variables fill gaps).
    pub s3: S3Config,
    /// `[ingest]`
    pub ingest: IngestSection,
    /// `[twitch]`
    pub twitch: TwitchConfig,
    /// `[cluster]`
    pub cluster: ClusterSection,
    /// `[serve]`
    pub serve: ServeSection,
    /// `[scheduler]`
    pub scheduler: SchedulerSection,
    /// `[executor]`
    pub executor: ExecutorSection,
    /// `[schedule]`
    pub schedule: ScheduleSection,
    /// `[jobs]`
    pub jobs: JobsSection,
}

/// `[jobs]`: folders of user jobs (`--jobs DIR` adds to them).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSection {
    /// Each a job's folder (with `job.toml`) or a folder of such folders.
    pub dirs: Vec<std::path::PathBuf>,
}

/// The command-line flags given, as the configuration's top layer: each sets its key
/// (`scheduler.port`); a flag not given sets nothing, so the layers below show through.
#[derive(Debug, Clone, Default)]
pub struct Flags(serde_json::Map<String, serde_json::Value>);

impl Flags {
    /// Sets `key` (`section.name`) to `value`, unless it is `None`.
    pub fn set<T: Serialize>(&mut self, key: &str, value: Option<T>) -> &mut Self {
        let Some(v) = value.and_then(|v| serde_json::to_value(v).ok()) else {
            return self;
        };
        let mut map = &mut self.0;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                map.insert(part.to_string(), v);
                break;
            }
            let entry = map
                .entry(part.to_string())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(Default::default());
            }
            match entry {
                serde_json::Value::Object(m) => map = m,
                _ => break,
            }
        }
        self
    }

    /// Sets a switch: `true` when given, nothing otherwise.
    pub fn switch(&mut self, key: &str, on: bool) -> &mut Self {
        self.set(key, on.then_some(true))
    }

    /// Sets a duration, written as the files write it (`90s`).
    pub fn duration(&mut self, key: &str, d: Option<Duration>) -> &mut Self {
        self.set(key, d.map(|d| humantime::format_duration(d).to_string()))
    }
}

impl Config {
    /// Loads every layer: defaults < the file < `PULSE__` variables < `flags`. `file` is
    /// `--config`; without it `pulse.toml` in the working directory is read if present.
    /// Lists given as flags (`--jobs`) add to the file's.
    pub fn load_with(file: Option<&Path>, flags: &Flags) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                anyhow::ensure!(f.exists(), "config file {} does not exist", f.display());
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("pulse.toml")),
        }
        fig = fig.merge(Env::prefixed("PULSE__").split("__"));
        fig = fig.admerge(Serialized::defaults(serde_json::Value::Object(
            flags.0.clone(),
        )));
        let mut cfg: Config = fig.extract().context("invalid configuration")?;
        // Secrets are not serialised, so take them from the layers directly.
        let secret = |key: &str| fig.extract_inner::<String>(key).ok();
        cfg.twitch.client_secret = secret("twitch.client_secret");
        cfg.twitch.user_token = secret("twitch.user_token");
        // The standard Twitch variables fill what the config leaves unset.
        if cfg.twitch.client_id.is_none() {
            cfg.twitch.client_id = std::env::var("TWITCH_CLIENT_ID").ok();
        }
        if cfg.twitch.client_secret.is_none() {
            cfg.twitch.client_secret = std::env::var("TWITCH_CLIENT_SECRET").ok();
        }
        Ok(cfg)
    }
}

/// A size, or a percentage of this machine's memory (its cgroup limit when lower).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    match s.trim().strip_suffix('%') {
        Some(p) => {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("not a percentage: {s:?}"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!("{s:?} is not between 0 and 100%"));
            }
            Ok((total_memory() as f64 * p / 100.0) as u64)
        }
        None => parse_bytes(s),
    }
}

/// Physical memory, or the cgroup's limit when lower (containers).
fn total_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    cgroup.map_or(meminfo, |c| c.min(meminfo))
}

/// A size: bytes, or with a unit (KiB, MiB, GiB).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        u => return Err(format!("unknown size unit {u:?}")),
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn layers_apply_in_order_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pulse.toml",
                "[lake]\nurl = \"from-file\"\n[ingest]\nflush_rows = 7\nflush_interval = \"5s\"\n",
            )?;
            let c = Config::load_with(None, &Flags::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.lake.url, "from-file");
            assert_eq!(c.ingest.flush_rows, 7);
            assert_eq!(c.ingest.flush_interval, Duration::from_secs(5));
            assert_eq!(c.ingest.max_frame, 1 << 20);
            jail.set_env("PULSE__LAKE__URL", "from-env");
            jail.set_env("PULSE__TWITCH__CLIENT_SECRET", "s3cr3t");
            let c = Config::load_with(None, &Flags::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.lake.url, "from-env");
            assert_eq!(c.twitch.client_secret.as_deref(), Some("s3cr3t"));
            jail.create_file(
                "cluster.toml",
                "[cluster]\nurl = \"df://h:1\"\n[scheduler]\nport = 6000\nscheduling = \"push\"\n[executor]\nheartbeat = \"2s\"\nmemory_limit = 1024\n",
            )?;
            let c = Config::load_with(Some(Path::new("cluster.toml")), &Flags::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(c.cluster.url.as_deref(), Some("df://h:1"));
            assert_eq!(
                (c.scheduler.port, c.scheduler.scheduling),
                (6000, Scheduling::Push)
            );
            assert_eq!(c.scheduler.executor_timeout, Duration::from_secs(180));
            assert_eq!(
                (c.executor.heartbeat, c.executor.memory_limit),
                (Duration::from_secs(2), Some(1024))
            );
            jail.create_file("bad.toml", "[ingest]\nflush_rowz = 1\n")?;
            let err =
                Config::load_with(Some(Path::new("bad.toml")), &Flags::default()).unwrap_err();
            assert!(format!("{err:#}").contains("flush_rowz"), "{err:#}");
            // Flags are the top layer; a flag not given leaves the layers below; a list
            // given as flags adds to the file's.
            jail.create_file(
                "flags.toml",
                "[scheduler]\nport = 6000\nbind_host = \"0.0.0.0\"\n[jobs]\ndirs = [\"a\"]\n",
            )?;
            jail.set_env("PULSE__SCHEDULER__EXTERNAL_HOST", "env-host");
            let mut f = Flags::default();
            f.set("scheduler.port", Some(7000u16))
                .set("scheduler.external_host", None::<String>)
                .duration("scheduler.executor_timeout", Some(Duration::from_secs(90)))
                .switch("scheduler.insecure", true)
                .switch("scheduler.flight_sql", false)
                .set("jobs.dirs", Some(vec!["b"]));
            let c =
                Config::load_with(Some(Path::new("flags.toml")), &f).map_err(|e| e.to_string())?;
            assert_eq!(c.scheduler.port, 7000);
            assert_eq!(c.scheduler.bind_host, "0.0.0.0");
            assert_eq!(c.scheduler.external_host, "env-host");
            assert_eq!(c.scheduler.executor_timeout, Duration::from_secs(90));
            assert!(c.scheduler.insecure && !c.scheduler.flight_sql);
            assert_eq!(c.jobs.dirs, vec![std::path::PathBuf::from("a"), "b".into()]);
            Ok(())
        });
    }
}

#[cfg(test)]
mod fuzz {
    //! Property test of the config file (the fuzz target): any text built from real
    //! sections, keys and values, or random bytes, loads or fails with an error; never a panic.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn toml_text() -> impl Strategy<Value = String> {
        let section = prop_oneof![
            Just("[lake]"),
            Just("[s3]"),
            Just("[ingest]"),
            Just("[twitch]"),
            Just("[cluster]"),
            Just("[scheduler]"),
            Just("[executor]"),
            Just("[schedule]"),
            Just("[schedule.set]"),
            Just("[nope]"),
        ];
        let key = prop_oneof![
            Just("url"),
            Just("flush_interval"),
            Just("flush_rows"),
            Just("max_frame"),
            Just("wal_sync_interval"),
            Just("port"),
            Just("bind_host"),
            Just("cron"),
            Just("tls_listen"),
            Just("user"),
            Just("top"),
            Just("tracked_channels"),
            Just("memory_limit"),
            Just("scheduling"),
            Just("bogus"),
        ];
        let value = prop_oneof![
            Just("\"60s\"".to_string()),
            Just("\"push\"".to_string()),
            Just("-1".to_string()),
            Just("99999999999999999999".to_string()),
            Just("[\"a\", 1]".to_string()),
            Just("{ x = 1 }".to_string()),
            Just("true".to_string()),
            Just("\"\\u00e9\"".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            "\"[ -~]{0,8}\"",
            "[ -~]{0,8}",
        ];
        proptest::collection::vec(
            (section, proptest::collection::vec((key, value), 0..4)),
            0..5,
        )
        .prop_map(|sections| {
            let mut out = String::new();
            for (s, kvs) in sections {
                out.push_str(s);
                out.push('\n');
                for (k, v) in kvs {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_config_file_loads_or_fails_with_an_error(
            text in toml_text(),
            noise in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("pulse.toml");
            std::fs::write(&f, &text).unwrap();
            if let Err(e) = Config::load_with(Some(&f), &Flags::default()) {
                let message = format!("{e:#}");
                prop_assert!(message.starts_with("invalid configuration"), "{}", message);
            }
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&noise);
            std::fs::write(&f, &bytes).unwrap();
            let _ = Config::load_with(Some(&f), &Flags::default());
        }
    }
}
