//! The one typed configuration of tvarr: defaults, then an optional TOML file, then
//! environment variables, then command-line flags, each overriding the one before.
//!
//! Every setting is one [`Row`] of [`SETTINGS`], the same row as in `docs/configuration.md`
//! (a test holds the two equal): its TOML key, its flag, its environment variables, what it is
//! and its default. The flags are built from the table, the TOML file is checked against it,
//! and [`Settings::load`] reads each setting through it with one layering rule, so a setting
//! cannot have a flag but no variable, or a variable that the documentation does not name.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use tvarr_core::IpNetwork;
use tvarr_ingest::fetch::FetchOptions;
use tvarr_ingest::{IngestSettings, ParserLimits};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human text (the default on a terminal).
    Text,
    /// One JSON object per line (the default otherwise).
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected `text` or `json`".into()),
        }
    }
}

/// Validated settings of a tvarr process.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Where a `tvarr-worker` serves its own `/metrics` and `/livez` (none: it serves nothing;
    /// the server serves both on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Database, outputs and logo cache live here.
    pub data_dir: PathBuf,
    /// The main database.
    pub database_url: String,
    /// The job queue (SQLite file, PostgreSQL or Redis).
    pub queue_url: String,
    /// The public base URL written into playlists, without a trailing slash.
    pub base_url: String,
    /// Whether `base_url` was set (flag, environment or file). When it was not, the outputs
    /// use the origin each request came to instead of the default `http://<listen>`.
    pub base_url_configured: bool,
    /// Reverse proxies whose `X-Forwarded-Proto`/`X-Forwarded-Host` are believed when no base
    /// URL is configured (default none).
    pub trusted_proxies: Vec<IpNetwork>,
    /// Where generated outputs are published (`directory`, the default, or `database` when
    /// workers on other machines generate what this server serves).
    pub output_store: OutputStoreKind,
    /// Quiet time after a source's ingest before the proxies that use it are regenerated, so
    /// that several ingests finishing together cause one generation per proxy (default 10 s).
    pub generation_debounce: Duration,
    /// How long a generation waits for a running ingest of its sources before it uses their
    /// last good data (default 300 s).
    pub generation_ingest_wait: Duration,
    /// Workers run inside the server process (0: none; use `tvarr-worker`).
    pub workers: usize,
    /// Log filter (`info`, `tvarr=debug,info`, …).
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// The admin password to set at start, if any.
    pub admin_password: Option<String>,
    /// OTLP endpoint for traces, if any.
    pub otlp_endpoint: Option<String>,
    /// A running job whose worker sent no heartbeat for this long is run again elsewhere
    /// (default 30 s).
    pub job_stale_after: Duration,
    /// The shortest time allowed between two runs of one source's `update_cron` (default
    /// 300 s; 0 turns the check off).
    pub cron_min_interval: Duration,
    /// Limits and timeouts of every download of an ingest.
    pub fetch: FetchOptions,
    /// Ingest tuning and the shrink guard.
    pub ingest: IngestSettings,
    /// Where the server answers HDHomeRun discovery requests (UDP; none: it does not).
    pub hdhomerun_discovery_listen: Option<SocketAddr>,
    /// Stream delivery in `proxy` and `relay` modes.
    pub relay: RelaySettings,
}

/// Stream delivery in `proxy` and `relay` modes.
#[derive(Clone, Debug, PartialEq)]
pub struct RelaySettings {
    /// The bytes of a channel kept for its viewers (a viewer further behind skips ahead).
    pub buffer_bytes: usize,
    /// How long a channel's upstream stays open after its last viewer left.
    pub idle_grace: Duration,
    /// How long an upstream may send nothing before the next one takes over.
    pub stall_timeout: Duration,
    /// The FFmpeg binary of `relay` mode (none: `ffmpeg` on `PATH`).
    pub ffmpeg_path: Option<PathBuf>,
}

/// Where generated outputs are published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputStoreKind {
    /// Files in `<data-dir>/outputs`: one box, or processes that share the data directory.
    #[default]
    Directory,
    /// The database, with a local cache in each process: workers on other machines.
    Database,
}

impl FromStr for OutputStoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "directory" => Ok(Self::Directory),
            "database" => Ok(Self::Database),
            other => Err(format!("`{other}` is not `directory` or `database`")),
        }
    }
}

/// One setting: a row of the table in `docs/configuration.md`.
#[derive(Debug)]
struct Row {
    /// The TOML key, and the setting's name in messages.
    key: &'static str,
    /// The flag (`--` and this) and the name of its value in `--help`; `None`: no flag (a
    /// command line is visible to every local user, so the admin password has none).
    flag: Option<(&'static str, &'static str)>,
    /// Environment variables, the first set one winning.
    env: &'static [&'static str],
    /// Whether the TOML file may set it.
    toml: bool,
    /// What it is, as the documentation's first column says it.
    about: &'static str,
    /// Its default, as the documentation's last column says it.
    default: &'static str,
}

const LISTEN: Row = Row {
    key: "listen",
    flag: Some(("listen", "ADDRESS")),
    env: &["TVARR_LISTEN"],
    toml: true,
    about: "listen address",
    default: "0.0.0.0:8080",
};
const METRICS_LISTEN: Row = Row {
    key: "metrics_listen",
    flag: Some(("metrics-listen", "ADDRESS")),
    env: &["TVARR_METRICS_LISTEN"],
    toml: true,
    about: "where tvarr-worker serves its own /metrics and /livez (the server serves both on its listen address)",
    default: "none: not served",
};
const DATA_DIR: Row = Row {
    key: "data_dir",
    flag: Some(("data-dir", "DIR")),
    env: &["TVARR_DATA_DIR"],
    toml: true,
    about: "data directory (database, outputs, logo cache)",
    default: "./data",
};
const DATABASE_URL: Row = Row {
    key: "database_url",
    flag: Some(("database-url", "URL")),
    env: &["TVARR_DATABASE_URL"],
    toml: true,
    about: "database URL",
    default: "sqlite://<data-dir>/tvarr.db?mode=rwc",
};
const QUEUE_URL: Row = Row {
    key: "queue_url",
    flag: Some(("queue-url", "URL")),
    env: &["TVARR_QUEUE_URL"],
    toml: true,
    about: "job queue URL",
    default: "sqlite://<data-dir>/queue.db?mode=rwc",
};
const BASE_URL: Row = Row {
    key: "base_url",
    flag: Some(("base-url", "URL")),
    env: &["TVARR_BASE_URL"],
    toml: true,
    about: "public base URL written into playlists",
    default: "none: each request's own origin",
};
const WORKERS: Row = Row {
    key: "workers",
    flag: Some(("workers", "N")),
    env: &["TVARR_WORKERS"],
    toml: true,
    about: "workers in the server process",
    default: "number of cores",
};
const LOG: Row = Row {
    key: "log",
    flag: Some(("log", "FILTER")),
    env: &["TVARR_LOG", "RUST_LOG"],
    toml: true,
    about: "log level or filter",
    default: "info",
};
const JOB_STALE_SECONDS: Row = Row {
    key: "job_stale_seconds",
    flag: Some(("job-stale-seconds", "SECONDS")),
    env: &["TVARR_JOB_STALE_SECONDS"],
    toml: true,
    about: "seconds without a heartbeat after which a running job counts as abandoned and runs again on another worker",
    default: "30",
};
const LOG_FORMAT: Row = Row {
    key: "log_format",
    flag: Some(("log-format", "FORMAT")),
    env: &["TVARR_LOG_FORMAT"],
    toml: true,
    about: "log format",
    default: "text on a terminal, JSON otherwise",
};
const ADMIN_PASSWORD: Row = Row {
    key: "admin_password",
    flag: None,
    env: &["TVARR_ADMIN_PASSWORD"],
    toml: true,
    about: "admin password",
    default: "none: the API is open until set",
};
const OTLP_ENDPOINT: Row = Row {
    key: "otlp_endpoint",
    flag: None,
    env: &["OTEL_EXPORTER_OTLP_ENDPOINT"],
    toml: false,
    about: "OTLP trace endpoint",
    default: "none",
};
const INGEST_MAX_SHRINK: Row = Row {
    key: "ingest_max_shrink",
    flag: Some(("ingest-max-shrink", "FRACTION")),
    env: &["TVARR_INGEST_MAX_SHRINK"],
    toml: true,
    about: "largest shrink of a source accepted, a fraction in 0–1",
    default: "0.5",
};
const INGEST_MAX_VALUE_BYTES: Row = Row {
    key: "ingest_max_value_bytes",
    flag: Some(("ingest-max-value-bytes", "BYTES")),
    env: &["TVARR_INGEST_MAX_VALUE_BYTES"],
    toml: true,
    about: "longest single value a parser keeps, in bytes (an M3U line, an XML text or tag, a JSON string; at least 1024): a record with a longer one is skipped and counted as value_too_long",
    default: "1048576 (1 MiB)",
};
const INGEST_MAX_RECORD_BYTES: Row = Row {
    key: "ingest_max_record_bytes",
    flag: Some(("ingest-max-record-bytes", "BYTES")),
    env: &["TVARR_INGEST_MAX_RECORD_BYTES"],
    toml: true,
    about: "most one record may hold in all, in bytes (an M3U entry with its lines, an XMLTV channel or programme, an Xtream element; at least the value limit): a larger XMLTV or M3U record is skipped and counted as record_too_large, a larger Xtream element fails the ingest",
    default: "4194304 (4 MiB)",
};
const FETCH_MAX_BYTES: Row = Row {
    key: "fetch_max_bytes",
    flag: Some(("fetch-max-bytes", "BYTES")),
    env: &["TVARR_FETCH_MAX_BYTES"],
    toml: true,
    about: "largest download, in bytes (compressed and decompressed)",
    default: "1073741824 (1 GiB)",
};
const FETCH_CONNECT_TIMEOUT_SECONDS: Row = Row {
    key: "fetch_connect_timeout_seconds",
    flag: Some(("fetch-connect-timeout-seconds", "SECONDS")),
    env: &["TVARR_FETCH_CONNECT_TIMEOUT_SECONDS"],
    toml: true,
    about: "time allowed to connect, in seconds",
    default: "15",
};
const FETCH_READ_TIMEOUT_SECONDS: Row = Row {
    key: "fetch_read_timeout_seconds",
    flag: Some(("fetch-read-timeout-seconds", "SECONDS")),
    env: &["TVARR_FETCH_READ_TIMEOUT_SECONDS"],
    toml: true,
    about: "time allowed between two reads of a download, in seconds",
    default: "60",
};
const FETCH_DEADLINE_SECONDS: Row = Row {
    key: "fetch_deadline_seconds",
    flag: Some(("fetch-deadline-seconds", "SECONDS")),
    env: &["TVARR_FETCH_DEADLINE_SECONDS"],
    toml: true,
    about: "time allowed for a whole download, retries included, in seconds",
    default: "1800 (30 minutes)",
};
const FETCH_RETRIES: Row = Row {
    key: "fetch_retries",
    flag: Some(("fetch-retries", "N")),
    env: &["TVARR_FETCH_RETRIES"],
    toml: true,
    about: "retries of a download after a 5xx answer or a timeout (0–10)",
    default: "3",
};
const FETCH_ALLOW_PRIVATE_NETWORKS: Row = Row {
    key: "fetch_allow_private_networks",
    flag: Some(("fetch-allow-private-networks", "BOOL")),
    env: &["TVARR_FETCH_ALLOW_PRIVATE_NETWORKS"],
    toml: true,
    about: "whether sources may be fetched from loopback and private addresses (true/false)",
    default: "true",
};
const IMPORT_DIR: Row = Row {
    key: "import_dir",
    flag: Some(("import-dir", "DIR")),
    env: &["TVARR_IMPORT_DIR"],
    toml: true,
    about: "the only directory local-file sources are read from",
    default: "<data-dir>/imports (created at start)",
};
const CRON_MIN_INTERVAL_SECONDS: Row = Row {
    key: "cron_min_interval_seconds",
    flag: Some(("cron-min-interval-seconds", "SECONDS")),
    env: &["TVARR_CRON_MIN_INTERVAL_SECONDS"],
    toml: true,
    about: "shortest time between two runs of a source's or proxy's update_cron, in seconds (0: no minimum)",
    default: "300 (5 minutes)",
};
const TRUSTED_PROXIES: Row = Row {
    key: "trusted_proxies",
    flag: Some(("trusted-proxies", "NETWORKS")),
    env: &["TVARR_TRUSTED_PROXIES"],
    toml: true,
    about: "reverse proxies whose X-Forwarded-Proto / X-Forwarded-Host are believed (addresses or networks, comma-separated)",
    default: "none",
};
const OUTPUT_STORE: Row = Row {
    key: "output_store",
    flag: Some(("output-store", "STORE")),
    env: &["TVARR_OUTPUT_STORE"],
    toml: true,
    about: "where generated playlists and guides are published: directory (<data-dir>/outputs) or database (every process reaches it: workers on other machines)",
    default: "directory",
};
const GENERATION_DEBOUNCE_SECONDS: Row = Row {
    key: "generation_debounce_seconds",
    flag: Some(("generation-debounce-seconds", "SECONDS")),
    env: &["TVARR_GENERATION_DEBOUNCE_SECONDS"],
    toml: true,
    about: "quiet time after an ingest before the proxies using its source are regenerated, in seconds (ingests finishing within it cause one generation per proxy)",
    default: "10",
};
const GENERATION_INGEST_WAIT_SECONDS: Row = Row {
    key: "generation_ingest_wait_seconds",
    flag: Some(("generation-ingest-wait-seconds", "SECONDS")),
    env: &["TVARR_GENERATION_INGEST_WAIT_SECONDS"],
    toml: true,
    about: "how long a generation waits for a running ingest of its sources before it uses their last good data, in seconds",
    default: "300",
};
const RELAY_BUFFER_MIB: Row = Row {
    key: "relay_buffer_mib",
    flag: Some(("relay-buffer-mib", "MIB")),
    env: &["TVARR_RELAY_BUFFER_MIB"],
    toml: true,
    about: "the stream kept per playing channel for its viewers, in MiB (1 to 256; a viewer further behind skips ahead)",
    default: "8",
};
const RELAY_IDLE_GRACE_SECONDS: Row = Row {
    key: "relay_idle_grace_seconds",
    flag: Some(("relay-idle-grace-seconds", "SECONDS")),
    env: &["TVARR_RELAY_IDLE_GRACE_SECONDS"],
    toml: true,
    about: "how long a channel's provider connection stays open after its last viewer left, in seconds (a viewer zapping back finds it playing)",
    default: "10",
};
const RELAY_STALL_TIMEOUT_SECONDS: Row = Row {
    key: "relay_stall_timeout_seconds",
    flag: Some(("relay-stall-timeout-seconds", "SECONDS")),
    env: &["TVARR_RELAY_STALL_TIMEOUT_SECONDS"],
    toml: true,
    about: "how long a provider's stream may send nothing before the channel's next stream takes over, in seconds",
    default: "10",
};
const FFMPEG_PATH: Row = Row {
    key: "ffmpeg_path",
    flag: Some(("ffmpeg-path", "PATH")),
    env: &["TVARR_FFMPEG_PATH"],
    toml: true,
    about: "the FFmpeg binary of relay mode (ffprobe is looked for beside it)",
    default: "ffmpeg on PATH",
};
const HDHOMERUN_DISCOVERY_LISTEN: Row = Row {
    key: "hdhomerun_discovery_listen",
    flag: Some(("hdhomerun-discovery-listen", "ADDRESS")),
    env: &["TVARR_HDHOMERUN_DISCOVERY_LISTEN"],
    toml: true,
    about: "where the server answers HDHomeRun discovery on UDP, so media servers on the LAN find each proxy's tuner (usually 0.0.0.0:65001; only requests from loopback and private addresses are answered)",
    default: "none: not answered",
};

const SETTINGS: &[&Row] = &[
    &LISTEN,
    &METRICS_LISTEN,
    &DATA_DIR,
    &DATABASE_URL,
    &QUEUE_URL,
    &BASE_URL,
    &WORKERS,
    &LOG,
    &JOB_STALE_SECONDS,
    &LOG_FORMAT,
    &ADMIN_PASSWORD,
    &OTLP_ENDPOINT,
    &INGEST_MAX_SHRINK,
    &INGEST_MAX_VALUE_BYTES,
    &INGEST_MAX_RECORD_BYTES,
    &FETCH_MAX_BYTES,
    &FETCH_CONNECT_TIMEOUT_SECONDS,
    &FETCH_READ_TIMEOUT_SECONDS,
    &FETCH_DEADLINE_SECONDS,
    &FETCH_RETRIES,
    &FETCH_ALLOW_PRIVATE_NETWORKS,
    &IMPORT_DIR,
    &CRON_MIN_INTERVAL_SECONDS,
    &TRUSTED_PROXIES,
    &OUTPUT_STORE,
    &GENERATION_DEBOUNCE_SECONDS,
    &GENERATION_INGEST_WAIT_SECONDS,
    &HDHOMERUN_DISCOVERY_LISTEN,
    &RELAY_BUFFER_MIB,
    &RELAY_IDLE_GRACE_SECONDS,
    &RELAY_STALL_TIMEOUT_SECONDS,
    &FFMPEG_PATH,
];

/// The flag and variable that name the TOML file; not a setting of the file itself.
const CONFIG_FLAG: &str = "config";
const CONFIG_ENV: &str = "TVARR_CONFIG";

/// More retries than this only delay the failure (the delays double up to 15 s each).
const MAX_FETCH_RETRIES: usize = 10;

/// The command line: `--config` and a flag per setting that has one, with its variables and
/// default in its help.
fn command() -> Command {
    let mut command = Command::new("tvarr")
        .version(env!("CARGO_PKG_VERSION"))
        .about("tvarr: IPTV management server")
        .arg(
            Arg::new(CONFIG_FLAG)
                .long(CONFIG_FLAG)
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(format!("TOML settings file [env: {CONFIG_ENV}]")),
        );
    for row in SETTINGS {
        if let Some((long, value_name)) = row.flag {
            command = command.arg(
                Arg::new(row.key)
                    .long(long)
                    .value_name(value_name)
                    .action(ArgAction::Set)
                    .help(format!(
                        "{} [env: {}] [default: {}]",
                        row.about,
                        row.env.join(", "),
                        row.default
                    )),
            );
        }
    }
    command
}

/// Command-line flags, as given: every one is optional, and an unset flag falls back to the
/// environment, the TOML file, then the default. Values are checked by [`Settings::load`].
#[derive(Clone, Debug, Default)]
pub struct Flags {
    config: Option<PathBuf>,
    /// Setting key to the flag's text.
    values: BTreeMap<&'static str, String>,
}

impl Flags {
    /// The flags of this process's command line; prints help or an error and exits as clap
    /// does when they ask for it or do not parse.
    pub fn parse() -> Self {
        Self::from_matches(&command().get_matches())
    }

    /// The flags of `args` (the first is the program's name).
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Ok(Self::from_matches(&command().try_get_matches_from(args)?))
    }

    fn from_matches(matches: &clap::ArgMatches) -> Self {
        let values = SETTINGS
            .iter()
            .filter(|row| row.flag.is_some())
            .filter_map(|row| {
                matches
                    .get_one::<String>(row.key)
                    .map(|value| (row.key, value.clone()))
            })
            .collect();
        Self {
            config: matches.get_one::<PathBuf>(CONFIG_FLAG).cloned(),
            values,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The TOML file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("settings file {path} is invalid: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is invalid.
    #[error("invalid setting `{name}` = `{value}` (from {origin}): {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Where the value came from: the flag, the environment variable or the file.
        origin: String,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// The layers a setting is read through, in order: flags, environment, file.
struct Layers<'a> {
    flags: &'a Flags,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The file's keys and their values as text.
    file: BTreeMap<String, String>,
    file_path: Option<PathBuf>,
}

impl Layers<'_> {
    /// The text of `row` from the first layer that sets it, and where it came from.
    fn text(&self, row: &Row) -> Option<(String, String)> {
        if let Some(value) = self.flags.values.get(row.key) {
            return row
                .flag
                .map(|(long, _)| (value.clone(), format!("--{long}")));
        }
        for name in row.env {
            if let Some(value) = (self.env)(name) {
                return Some((value, (*name).to_string()));
            }
        }
        if row.toml
            && let Some(value) = self.file.get(row.key)
        {
            let file = self
                .file_path
                .as_deref()
                .map_or_else(String::new, |p| format!(" in {}", p.display()));
            return Some((value.clone(), format!("`{}`{file}", row.key)));
        }
        None
    }

    /// The value of `row` parsed from its text (trimmed), when a layer sets it.
    fn get<T>(&self, row: &'static Row) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some((text, origin)) = self.text(row) else {
            return Ok(None);
        };
        text.trim()
            .parse::<T>()
            .map(Some)
            .map_err(|e| SettingsError::Invalid {
                name: row.key,
                origin,
                value: shown(row, &text),
                reason: e.to_string(),
            })
    }

    /// The value of `row`, or `default` when no layer sets it.
    fn get_or<T>(&self, row: &'static Row, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        Ok(self.get(row)?.unwrap_or(default))
    }

    /// The error for `row` set to `value`, which parsed but is out of range.
    fn invalid(
        &self,
        row: &'static Row,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> SettingsError {
        let origin = self
            .text(row)
            .map_or_else(|| "the default".to_string(), |(_, origin)| origin);
        SettingsError::Invalid {
            name: row.key,
            origin,
            value: shown(row, &value.to_string()),
            reason: reason.into(),
        }
    }
}

/// How a value appears in an error: URLs without their password.
fn shown(row: &Row, value: &str) -> String {
    if row.key.ends_with("_url") {
        redact(value)
    } else {
        value.to_string()
    }
}

impl Settings {
    /// Loads settings from `flags`, the environment given by `env`, and the TOML file named by
    /// `--config` (or `TVARR_CONFIG`).
    pub fn load(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
        is_terminal: bool,
    ) -> Result<Settings, SettingsError> {
        let file_path = flags
            .config
            .clone()
            .or_else(|| env(CONFIG_ENV).map(PathBuf::from));
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        let layers = Layers {
            flags: &flags,
            env: &env,
            file,
            file_path,
        };
        let listen: SocketAddr = layers
            .get(&LISTEN)
            .map_err(|e| with_hint(e, "expected host:port such as 0.0.0.0:8080"))?
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8080)));
        let metrics_listen = match layers.text(&METRICS_LISTEN) {
            Some((text, _)) if text.trim().is_empty() => None,
            _ => layers
                .get::<SocketAddr>(&METRICS_LISTEN)
                .map_err(|e| with_hint(e, "expected host:port such as 0.0.0.0:9464"))?,
        };
        let data_dir: PathBuf = layers.get_or(&DATA_DIR, PathBuf::from("./data"))?;
        let database_url: String =
            layers.get_or(&DATABASE_URL, sqlite_url(&data_dir, "tvarr.db"))?;
        layers.check_scheme(
            &DATABASE_URL,
            &database_url,
            &["sqlite", "postgres", "postgresql", "mysql", "mariadb"],
        )?;
        let queue_url: String = layers.get_or(&QUEUE_URL, sqlite_url(&data_dir, "queue.db"))?;
        layers.check_scheme(
            &QUEUE_URL,
            &queue_url,
            &["sqlite", "postgres", "postgresql", "redis", "rediss"],
        )?;
        let configured_base_url: Option<String> = layers.get(&BASE_URL)?;
        let base_url_configured = configured_base_url.is_some();
        let base_url = configured_base_url.unwrap_or_else(|| format!("http://{listen}"));
        layers.check_scheme(&BASE_URL, &base_url, &["http", "https"])?;
        let base_url = base_url.trim_end_matches('/').to_string();
        let workers = match layers.get(&WORKERS)? {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        let log: String = layers.get_or(&LOG, "info".to_string())?;
        let log_format = match layers.get(&LOG_FORMAT)? {
            Some(format) => format,
            None if is_terminal => LogFormat::Text,
            None => LogFormat::Json,
        };
        // Untrimmed: spaces may belong to a password.
        let admin_password = layers
            .text(&ADMIN_PASSWORD)
            .map(|(password, _)| password)
            .filter(|p| !p.is_empty());
        let otlp_endpoint = layers
            .text(&OTLP_ENDPOINT)
            .map(|(endpoint, _)| endpoint.trim().to_string())
            .filter(|e| !e.is_empty());
        let stale_seconds = layers.get_or::<u64>(&JOB_STALE_SECONDS, 30)?.max(1);

        let ingest_defaults = IngestSettings::default();
        let max_shrink: f64 = layers.get_or(&INGEST_MAX_SHRINK, ingest_defaults.max_shrink)?;
        // `contains` is false for NaN too.
        if !(0.0..=1.0).contains(&max_shrink) {
            return Err(layers.invalid(
                &INGEST_MAX_SHRINK,
                max_shrink,
                "expected a fraction from 0 to 1, such as 0.5 (a source may lose up to half \
                 its records)",
            ));
        }
        let max_value_bytes: usize = layers.get_or(
            &INGEST_MAX_VALUE_BYTES,
            ParserLimits::DEFAULT_MAX_VALUE_BYTES,
        )?;
        if max_value_bytes < 1024 {
            return Err(layers.invalid(
                &INGEST_MAX_VALUE_BYTES,
                max_value_bytes,
                "expected at least 1024 bytes",
            ));
        }
        let max_record_bytes: usize = layers.get_or(
            &INGEST_MAX_RECORD_BYTES,
            ParserLimits::DEFAULT_MAX_RECORD_BYTES.max(max_value_bytes),
        )?;
        if max_record_bytes < max_value_bytes {
            return Err(layers.invalid(
                &INGEST_MAX_RECORD_BYTES,
                max_record_bytes,
                format!("expected at least ingest_max_value_bytes ({max_value_bytes})"),
            ));
        }
        let ingest = IngestSettings {
            max_shrink,
            limits: ParserLimits {
                max_value_bytes,
                max_record_bytes,
            },
            ..ingest_defaults
        };

        let defaults = FetchOptions::default();
        let max_bytes: u64 = layers.get_or(&FETCH_MAX_BYTES, defaults.max_bytes)?;
        if max_bytes == 0 {
            return Err(layers.invalid(&FETCH_MAX_BYTES, 0, "expected a number of bytes above 0"));
        }
        let connect_timeout =
            layers.positive_seconds(&FETCH_CONNECT_TIMEOUT_SECONDS, defaults.connect_timeout)?;
        let read_timeout =
            layers.positive_seconds(&FETCH_READ_TIMEOUT_SECONDS, defaults.read_timeout)?;
        let deadline = layers.positive_seconds(&FETCH_DEADLINE_SECONDS, defaults.deadline)?;
        let retries: usize = layers.get_or(&FETCH_RETRIES, defaults.retries)?;
        if retries > MAX_FETCH_RETRIES {
            return Err(layers.invalid(
                &FETCH_RETRIES,
                retries,
                format!("at most {MAX_FETCH_RETRIES}; each retry waits longer than the one before"),
            ));
        }
        let allow_private_networks: bool = layers.get_or(
            &FETCH_ALLOW_PRIVATE_NETWORKS,
            defaults.allow_private_networks,
        )?;
        let import_dir: PathBuf = layers.get_or(&IMPORT_DIR, data_dir.join("imports"))?;
        let fetch = FetchOptions {
            max_bytes,
            connect_timeout,
            read_timeout,
            deadline,
            retries,
            import_dir: Some(import_dir),
            allow_private_networks,
            own_addresses: vec![listen],
            ..defaults
        };

        let cron_min_interval =
            Duration::from_secs(layers.get_or(&CRON_MIN_INTERVAL_SECONDS, 300)?);
        let trusted_proxies = match layers.text(&TRUSTED_PROXIES) {
            Some((text, origin)) => {
                IpNetwork::parse_list(&text).map_err(|e| SettingsError::Invalid {
                    name: TRUSTED_PROXIES.key,
                    origin,
                    value: text.clone(),
                    reason: e.to_string(),
                })?
            }
            None => Vec::new(),
        };
        let output_store = layers.get_or(&OUTPUT_STORE, OutputStoreKind::Directory)?;
        let generation_debounce =
            Duration::from_secs(layers.get_or(&GENERATION_DEBOUNCE_SECONDS, 10)?);
        let generation_ingest_wait =
            Duration::from_secs(layers.get_or(&GENERATION_INGEST_WAIT_SECONDS, 300)?);
        let hdhomerun_discovery_listen = match layers.text(&HDHOMERUN_DISCOVERY_LISTEN) {
            Some((text, _)) if text.trim().is_empty() => None,
            _ => layers
                .get::<SocketAddr>(&HDHOMERUN_DISCOVERY_LISTEN)
                .map_err(|e| with_hint(e, "expected host:port such as 0.0.0.0:65001"))?,
        };
        let buffer_mib: usize = layers.get_or(&RELAY_BUFFER_MIB, 8)?;
        if !(1..=256).contains(&buffer_mib) {
            return Err(layers.invalid(&RELAY_BUFFER_MIB, buffer_mib, "expected 1 to 256"));
        }
        let relay = RelaySettings {
            buffer_bytes: buffer_mib << 20,
            idle_grace: Duration::from_secs(layers.get_or(&RELAY_IDLE_GRACE_SECONDS, 10)?),
            stall_timeout: layers
                .positive_seconds(&RELAY_STALL_TIMEOUT_SECONDS, Duration::from_secs(10))?,
            ffmpeg_path: layers.get::<PathBuf>(&FFMPEG_PATH)?,
        };
        Ok(Settings {
            relay,
            listen,
            metrics_listen,
            data_dir,
            database_url,
            queue_url,
            base_url,
            base_url_configured,
            trusted_proxies,
            output_store,
            generation_debounce,
            generation_ingest_wait,
            workers,
            log,
            log_format,
            admin_password,
            otlp_endpoint,
            job_stale_after: Duration::from_secs(stale_seconds),
            cron_min_interval,
            fetch,
            ingest,
            hdhomerun_discovery_listen,
        })
    }

    /// Loads settings from the real command line and environment.
    pub fn from_process() -> Result<Settings, SettingsError> {
        use std::io::IsTerminal;
        Settings::load(
            Flags::parse(),
            |name| std::env::var(name).ok(),
            std::io::stderr().is_terminal(),
        )
    }
}

impl Layers<'_> {
    /// A number of seconds above 0, `default` when unset.
    fn positive_seconds(
        &self,
        row: &'static Row,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        let seconds: u64 = self.get_or(row, default.as_secs())?;
        if seconds == 0 {
            return Err(self.invalid(row, 0, "expected a number of seconds above 0"));
        }
        Ok(Duration::from_secs(seconds))
    }

    /// Refuses `url` unless its scheme is one of `allowed`.
    fn check_scheme(
        &self,
        row: &'static Row,
        url: &str,
        allowed: &[&str],
    ) -> Result<(), SettingsError> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme {
            Some(s) if allowed.contains(&s.as_str()) => Ok(()),
            _ => Err(self.invalid(
                row,
                url,
                format!("the scheme must be one of {}", allowed.join(", ")),
            )),
        }
    }
}

/// `error` with `hint` after its reason.
fn with_hint(error: SettingsError, hint: &str) -> SettingsError {
    match error {
        SettingsError::Invalid {
            name,
            origin,
            value,
            reason,
        } => SettingsError::Invalid {
            name,
            origin,
            value,
            reason: format!("{reason}; {hint}"),
        },
        other => other,
    }
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

/// Hides a password in a URL's user info, for messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:****@{host}");
    }
    url.to_string()
}

/// The settings of the TOML file at `path`, each value as text. A key that is no setting, or a
/// value that is not a string, number or boolean, is refused, naming the key.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, SettingsError> {
    let parse_error = |message: String| SettingsError::ParseFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if !SETTINGS.iter().any(|row| row.toml && row.key == key) {
            return Err(parse_error(unknown_key(&key)));
        }
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(parse_error(format!(
                    "`{key}` must be a string, a number or a boolean"
                )));
            }
        };
        values.insert(key, text);
    }
    Ok(values)
}

/// The message for an unknown key of the file, with the nearest setting as a suggestion.
fn unknown_key(key: &str) -> String {
    let nearest = SETTINGS
        .iter()
        .filter(|row| row.toml)
        .map(|row| (strsim::levenshtein(key, row.key), row.key))
        .min();
    match nearest {
        Some((distance, known)) if distance <= 3 => {
            format!("unknown key `{key}`; did you mean `{known}`?")
        }
        _ => format!("unknown key `{key}`; the keys are listed in docs/configuration.md"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("tvarr").chain(args.iter().copied())).unwrap()
    }

    fn path(file: &Path) -> &str {
        file.to_str().unwrap()
    }

    fn load(flags: Flags, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(flags, |k| env.get(k).cloned(), false)
    }

    #[test]
    fn defaults_put_everything_under_the_data_directory() {
        let s = load(Flags::default(), &[]).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.database_url, "sqlite://./data/tvarr.db?mode=rwc");
        assert_eq!(s.queue_url, "sqlite://./data/queue.db?mode=rwc");
        assert_eq!(s.base_url, "http://0.0.0.0:8080");
        assert!(
            !s.base_url_configured,
            "the default base is not a configured one"
        );
        assert_eq!(s.output_store, OutputStoreKind::Directory);
        assert_eq!(s.generation_debounce, Duration::from_secs(10));
        assert_eq!(s.generation_ingest_wait, Duration::from_secs(300));
        assert_eq!(s.log, "info");
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(s.workers >= 1);
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tvarr.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nworkers = 7\nlog = \"warn\"\nbase_url = \"https://tv.example/\"\n").unwrap();
        let flags = flags(&["--config", path(&file), "--listen", "127.0.0.1:3"]);
        let s = load(
            flags,
            &[("TVARR_LISTEN", "127.0.0.1:2"), ("TVARR_WORKERS", "3")],
        )
        .unwrap();
        assert_eq!(s.listen.port(), 3);
        assert_eq!(s.workers, 3);
        assert_eq!(s.log, "warn");
        assert_eq!(s.base_url, "https://tv.example");
        assert!(s.base_url_configured);
    }

    #[test]
    fn a_worker_serves_metrics_only_where_it_is_told() {
        assert_eq!(load(Flags::default(), &[]).unwrap().metrics_listen, None);
        let s = load(
            Flags::default(),
            &[("TVARR_METRICS_LISTEN", "127.0.0.1:9464")],
        )
        .unwrap();
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        let flags = flags(&["--metrics-listen", "0.0.0.0:9465"]);
        let s = load(flags, &[("TVARR_METRICS_LISTEN", "127.0.0.1:9464")]).unwrap();
        assert_eq!(s.metrics_listen.unwrap().port(), 9465);
        let err = load(Flags::default(), &[("TVARR_METRICS_LISTEN", "9464")]).unwrap_err();
        assert!(err.to_string().contains("metrics_listen"), "{err}");
    }

    #[test]
    fn the_log_format_and_the_stale_limit_have_flags_too() {
        let s = load(
            flags(&["--log-format", "text", "--job-stale-seconds", "7"]),
            &[
                ("TVARR_LOG_FORMAT", "json"),
                ("TVARR_JOB_STALE_SECONDS", "9"),
            ],
        )
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.job_stale_after, Duration::from_secs(7));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tvarr.toml");
        std::fs::write(&file, "job_stale_seconds = 11\n").unwrap();
        assert_eq!(
            load(flags(&["--config", path(&file)]), &[])
                .unwrap()
                .job_stale_after,
            Duration::from_secs(11)
        );
    }

    #[test]
    fn refuses_bad_values_with_the_setting_named() {
        let err = load(Flags::default(), &[("TVARR_LISTEN", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = load(Flags::default(), &[("TVARR_WORKERS", "many")]).unwrap_err();
        assert!(err.to_string().contains("TVARR_WORKERS"), "{err}");
        let err = load(
            Flags::default(),
            &[("TVARR_DATABASE_URL", "oracle://u:secret@h/db")],
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn ingest_and_fetch_limits_default_to_the_library_defaults() {
        let s = load(Flags::default(), &[]).unwrap();
        assert_eq!(s.ingest, IngestSettings::default());
        // The library reads no local file and knows no listen address; a deployment does.
        assert_eq!(
            s.fetch,
            FetchOptions {
                import_dir: Some(PathBuf::from("./data/imports")),
                own_addresses: vec![s.listen],
                ..FetchOptions::default()
            }
        );
        assert_eq!(s.ingest.max_shrink, 0.5);
        assert_eq!(s.fetch.deadline, Duration::from_secs(1800));
    }

    #[test]
    fn the_import_dir_and_the_private_network_switch_come_from_env_file_and_flags() {
        let s = load(Flags::default(), &[]).unwrap();
        assert!(
            s.fetch.allow_private_networks,
            "LAN providers work by default"
        );
        let s = load(
            Flags::default(),
            &[
                ("TVARR_FETCH_ALLOW_PRIVATE_NETWORKS", "false"),
                ("TVARR_IMPORT_DIR", "/srv/playlists"),
            ],
        )
        .unwrap();
        assert!(!s.fetch.allow_private_networks);
        assert_eq!(s.fetch.import_dir, Some(PathBuf::from("/srv/playlists")));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "fetch_allow_private_networks = false\nimport_dir = \"/srv/m3u\"\n",
        )
        .unwrap();
        let s = load(flags(&["--config", path(&file)]), &[]).unwrap();
        assert!(!s.fetch.allow_private_networks);
        assert_eq!(s.fetch.import_dir, Some(PathBuf::from("/srv/m3u")));
        let s = load(
            flags(&[
                "--config",
                path(&file),
                "--fetch-allow-private-networks",
                "true",
                "--import-dir",
                "/a",
            ]),
            &[],
        )
        .unwrap();
        assert!(s.fetch.allow_private_networks);
        assert_eq!(s.fetch.import_dir, Some(PathBuf::from("/a")));
        let err = load(
            Flags::default(),
            &[("TVARR_FETCH_ALLOW_PRIVATE_NETWORKS", "maybe")],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("TVARR_FETCH_ALLOW_PRIVATE_NETWORKS"),
            "{err}"
        );
    }

    #[test]
    fn ingest_and_fetch_limits_come_from_file_environment_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tvarr.toml");
        std::fs::write(
            &file,
            "ingest_max_shrink = 1\nfetch_max_bytes = 1000\nfetch_connect_timeout_seconds = 2\n\
             fetch_read_timeout_seconds = 3\nfetch_deadline_seconds = 4\nfetch_retries = 5\n",
        )
        .unwrap();
        let from_file = load(flags(&["--config", path(&file)]), &[]).unwrap();
        assert_eq!(from_file.ingest.max_shrink, 1.0);
        assert_eq!(from_file.fetch.max_bytes, 1000);
        assert_eq!(from_file.fetch.connect_timeout, Duration::from_secs(2));
        assert_eq!(from_file.fetch.read_timeout, Duration::from_secs(3));
        assert_eq!(from_file.fetch.deadline, Duration::from_secs(4));
        assert_eq!(from_file.fetch.retries, 5);

        let env = [
            ("TVARR_INGEST_MAX_SHRINK", "0.25"),
            ("TVARR_FETCH_MAX_BYTES", "2000"),
            ("TVARR_FETCH_CONNECT_TIMEOUT_SECONDS", "6"),
            ("TVARR_FETCH_READ_TIMEOUT_SECONDS", "7"),
            ("TVARR_FETCH_DEADLINE_SECONDS", "8"),
            ("TVARR_FETCH_RETRIES", "0"),
        ];
        let from_env = load(flags(&["--config", path(&file)]), &env).unwrap();
        assert_eq!(from_env.ingest.max_shrink, 0.25);
        assert_eq!(from_env.fetch.max_bytes, 2000);
        assert_eq!(from_env.fetch.connect_timeout, Duration::from_secs(6));
        assert_eq!(from_env.fetch.read_timeout, Duration::from_secs(7));
        assert_eq!(from_env.fetch.deadline, Duration::from_secs(8));
        assert_eq!(from_env.fetch.retries, 0);

        let flags = Flags::try_parse_from([
            "tvarr",
            "--config",
            path(&file),
            "--ingest-max-shrink",
            "0.75",
            "--fetch-max-bytes",
            "3000",
            "--fetch-connect-timeout-seconds",
            "9",
            "--fetch-read-timeout-seconds",
            "10",
            "--fetch-deadline-seconds",
            "11",
            "--fetch-retries",
            "1",
        ])
        .unwrap();
        let from_flags = load(flags, &env).unwrap();
        assert_eq!(from_flags.ingest.max_shrink, 0.75);
        assert_eq!(from_flags.fetch.max_bytes, 3000);
        assert_eq!(from_flags.fetch.connect_timeout, Duration::from_secs(9));
        assert_eq!(from_flags.fetch.read_timeout, Duration::from_secs(10));
        assert_eq!(from_flags.fetch.deadline, Duration::from_secs(11));
        assert_eq!(from_flags.fetch.retries, 1);
    }

    #[test]
    fn refuses_a_shrink_outside_zero_to_one_and_zero_limits() {
        for bad in ["1.5", "-0.1", "NaN", "half"] {
            let err = load(Flags::default(), &[("TVARR_INGEST_MAX_SHRINK", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("MAX_SHRINK") || err.to_string().contains("max_shrink"),
                "{bad}: {err}"
            );
        }
        assert!(load(flags(&["--ingest-max-shrink", "2"]), &[]).is_err());
        for (name, value) in [
            ("TVARR_FETCH_MAX_BYTES", "0"),
            ("TVARR_FETCH_CONNECT_TIMEOUT_SECONDS", "0"),
            ("TVARR_FETCH_READ_TIMEOUT_SECONDS", "0"),
            ("TVARR_FETCH_DEADLINE_SECONDS", "0"),
            ("TVARR_FETCH_DEADLINE_SECONDS", "-5"),
            ("TVARR_FETCH_RETRIES", "11"),
        ] {
            let err = load(Flags::default(), &[(name, value)]).unwrap_err();
            let setting = name.trim_start_matches("TVARR_").to_ascii_lowercase();
            assert!(
                err.to_string().contains(name) || err.to_string().contains(&setting),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn parser_limits_are_settings() {
        let s = load(Flags::default(), &[]).unwrap();
        assert_eq!(s.ingest.limits, ParserLimits::default());
        let s = load(
            flags(&["--ingest-max-record-bytes", "9000"]),
            &[("TVARR_INGEST_MAX_VALUE_BYTES", "2048")],
        )
        .unwrap();
        assert_eq!(
            s.ingest.limits,
            ParserLimits {
                max_value_bytes: 2048,
                max_record_bytes: 9_000
            }
        );
        for (name, value) in [
            ("TVARR_INGEST_MAX_VALUE_BYTES", "10"),
            ("TVARR_INGEST_MAX_VALUE_BYTES", "-1"),
            ("TVARR_INGEST_MAX_RECORD_BYTES", "2000"),
        ] {
            let err = load(Flags::default(), &[(name, value)]).unwrap_err();
            let setting = name.trim_start_matches("TVARR_").to_ascii_lowercase();
            assert!(
                err.to_string().contains(name) || err.to_string().contains(&setting),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn refuses_unknown_file_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tvarr.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = load(flags(&["--config", path(&file)]), &[]).unwrap_err();
        assert!(matches!(err, SettingsError::ParseFile { .. }), "{err}");
        assert!(
            err.to_string().contains("did you mean `listen`?"),
            "the nearest key is suggested: {err}"
        );
        std::fs::write(&file, "trusted_proxies = [\"10.0.0.0/8\"]\n").unwrap();
        let err = load(flags(&["--config", path(&file)]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("`trusted_proxies` must be"),
            "{err}"
        );
    }

    #[test]
    fn the_output_store_and_generation_timings_are_settings() {
        let s = load(
            Flags::default(),
            &[
                ("TVARR_OUTPUT_STORE", "Database"),
                ("TVARR_GENERATION_DEBOUNCE_SECONDS", "0"),
                ("TVARR_GENERATION_INGEST_WAIT_SECONDS", "30"),
            ],
        )
        .unwrap();
        assert_eq!(s.output_store, OutputStoreKind::Database);
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.generation_debounce, Duration::ZERO);
        assert_eq!(s.generation_ingest_wait, Duration::from_secs(30));
        let s = load(
            Flags::default(),
            &[("TVARR_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")],
        )
        .unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
        let err = load(
            Flags::default(),
            &[("TVARR_TRUSTED_PROXIES", "10.0.0.0/40")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        let err = load(Flags::default(), &[("TVARR_OUTPUT_STORE", "s3")]).unwrap_err();
        assert!(err.to_string().contains("output_store"), "{err}");
    }

    #[test]
    fn bad_flag_values_are_refused_naming_the_flag() {
        let err = load(flags(&["--workers", "many"]), &[]).unwrap_err();
        assert!(err.to_string().contains("--workers"), "{err}");
        let err = load(flags(&["--fetch-retries", "11"]), &[]).unwrap_err();
        assert!(err.to_string().contains("--fetch-retries"), "{err}");
        assert!(
            Flags::try_parse_from(["tvarr", "--admin-password", "secret"]).is_err(),
            "a command line is visible to every local user: the password has no flag"
        );
    }

    #[test]
    fn the_help_names_each_flag_with_its_variables_and_default() {
        let help = command().render_help().to_string();
        for row in SETTINGS {
            let Some((long, _)) = row.flag else {
                assert!(!help.contains(row.env[0]), "{} has no flag", row.key);
                continue;
            };
            assert!(help.contains(&format!("--{long} ")), "--{long} in {help}");
            for name in row.env {
                assert!(help.contains(name), "{name} in {help}");
            }
        }
    }

    /// The table of `docs/configuration.md`: setting, flag, environment, TOML key, default.
    fn documented_rows() -> Vec<[String; 5]> {
        let page = include_str!("../../../docs/configuration.md");
        let mut lines = page
            .lines()
            .skip_while(|line| !line.starts_with("| setting | flag |"))
            .skip(2);
        let mut rows = Vec::new();
        for line in lines.by_ref() {
            let Some(inner) = line.strip_prefix('|').and_then(|l| l.strip_suffix('|')) else {
                break;
            };
            let cells: Vec<String> = inner.split('|').map(|c| c.trim().to_string()).collect();
            rows.push(cells.try_into().unwrap());
        }
        rows
    }

    /// The backquoted words of a documentation cell.
    fn quoted(cell: &str) -> Vec<&str> {
        cell.split('`').skip(1).step_by(2).collect()
    }

    #[test]
    fn the_documented_table_and_the_settings_table_are_the_same() {
        let rows = documented_rows();
        let documented: Vec<&str> = rows.iter().map(|r| r[3].trim_matches('`')).collect();
        let coded: Vec<&str> = SETTINGS
            .iter()
            .map(|row| if row.toml { row.key } else { "" })
            .collect();
        assert_eq!(documented, coded, "the same settings, in the same order");
        for (doc, row) in rows.iter().zip(SETTINGS) {
            let [about, flag, env, _, default] = doc;
            assert_eq!(about.replace('`', ""), row.about, "{}: what it is", row.key);
            let doc_flag = quoted(flag)
                .first()
                .map(|f| f.split_whitespace().next().unwrap_or_default().to_string());
            let code_flag = row.flag.map(|(long, _)| format!("--{long}"));
            assert_eq!(doc_flag, code_flag, "{}: its flag", row.key);
            if let Some((long, _)) = row.flag {
                assert_eq!(
                    long,
                    row.key.replace('_', "-"),
                    "a flag is its key with dashes"
                );
            }
            let doc_env: Vec<&str> = quoted(env)
                .into_iter()
                .filter(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .collect();
            assert_eq!(doc_env, row.env, "{}: its variables", row.key);
            assert_eq!(
                default.replace('`', ""),
                row.default,
                "{}: its default",
                row.key
            );
        }
    }

    #[test]
    fn every_file_key_is_read() {
        // One file setting every key to a valid value: none is refused as unknown.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tvarr.toml");
        let valid = |key: &str| match key {
            "listen" => "\"127.0.0.1:9\"",
            "hdhomerun_discovery_listen" => "\"127.0.0.1:11\"",
            "metrics_listen" => "\"127.0.0.1:10\"",
            "database_url" | "queue_url" => "\"sqlite://x.db\"",
            "base_url" => "\"http://tv.test\"",
            "log" => "\"debug\"",
            "log_format" => "\"text\"",
            "admin_password" => "\"pw\"",
            "data_dir" | "import_dir" => "\"/srv\"",
            "trusted_proxies" => "\"10.0.0.0/8\"",
            "output_store" => "\"database\"",
            "fetch_allow_private_networks" => "false",
            "ingest_max_shrink" => "0.25",
            "fetch_retries" => "4",
            "relay_buffer_mib" => "16",
            "ffmpeg_path" => "\"/usr/bin/ffmpeg\"",
            _ => "5000",
        };
        let text: String = SETTINGS
            .iter()
            .filter(|row| row.toml)
            .map(|row| format!("{} = {}\n", row.key, valid(row.key)))
            .collect();
        std::fs::write(&file, text).unwrap();
        let s = load(flags(&["--config", path(&file)]), &[]).unwrap();
        assert_eq!(s.listen.port(), 9);
        assert_eq!(s.metrics_listen.unwrap().port(), 10);
        assert_eq!(s.admin_password.as_deref(), Some("pw"));
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.output_store, OutputStoreKind::Database);
        assert_eq!(s.generation_ingest_wait, Duration::from_secs(5000));
        assert_eq!(s.ingest.limits.max_record_bytes, 5000);
        assert!(!s.fetch.allow_private_networks);
        assert_eq!(s.fetch.retries, 4);
        assert_eq!(s.relay.buffer_bytes, 16 << 20);
        assert_eq!(s.relay.idle_grace, Duration::from_secs(5000));
        assert_eq!(
            s.relay.ffmpeg_path.as_deref(),
            Some(Path::new("/usr/bin/ffmpeg"))
        );
    }
}
