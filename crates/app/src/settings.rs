//! The one typed configuration of tvarr: defaults, then an optional TOML file, then
//! environment variables, then command-line flags, each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
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
    /// URL is configured (`TVARR_TRUSTED_PROXIES`: addresses or networks, comma-separated;
    /// default none).
    pub trusted_proxies: Vec<tvarr_api::IpNetwork>,
    /// Where generated outputs are published (`TVARR_OUTPUT_STORE`: `directory`, the default,
    /// or `database` when workers on other machines generate what this server serves).
    pub output_store: OutputStoreKind,
    /// Quiet time after a source's ingest before the proxies that use it are regenerated, so
    /// that several ingests finishing together cause one generation per proxy
    /// (`TVARR_GENERATION_DEBOUNCE_SECONDS`, default 10).
    pub generation_debounce: std::time::Duration,
    /// How long a generation waits for a running ingest of its sources before it uses their
    /// last good data (`TVARR_GENERATION_INGEST_WAIT_SECONDS`, default 300).
    pub generation_ingest_wait: std::time::Duration,
    /// Workers run inside the server process (0: none; use `tvarr-worker`).
    pub workers: usize,
    /// Log filter (`info`, `tvarr=debug,info`, …).
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// The admin password to set at start, if any.
    pub admin_password: Option<String>,
    /// OTLP endpoint for traces, if any (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub otlp_endpoint: Option<String>,
    /// A running job whose worker sent no heartbeat for this long is run again elsewhere
    /// (`TVARR_JOB_STALE_SECONDS`, default 30).
    pub job_stale_after: std::time::Duration,
    /// The shortest time allowed between two runs of one source's `update_cron`
    /// (`TVARR_CRON_MIN_INTERVAL_SECONDS`, default 300; 0 turns the check off).
    pub cron_min_interval: std::time::Duration,
    /// Limits and timeouts of every download of an ingest (`TVARR_FETCH_*`).
    pub fetch: FetchOptions,
    /// Ingest tuning and the shrink guard (`TVARR_INGEST_MAX_SHRINK`).
    pub ingest: IngestSettings,
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

/// Command-line flags. Every one is optional: unset flags fall back to the environment,
/// the TOML file, then the defaults.
#[derive(Clone, Debug, Default, Parser)]
#[command(version, about = "tvarr: IPTV management server")]
pub struct Flags {
    /// TOML settings file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address [env: TVARR_LISTEN] [default: 0.0.0.0:8080].
    #[arg(long)]
    pub listen: Option<String>,
    /// Where tvarr-worker serves /metrics and /livez, host:port [env: TVARR_METRICS_LISTEN]
    /// [default: not served].
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Data directory [env: TVARR_DATA_DIR] [default: ./data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL [env: TVARR_DATABASE_URL] [default: sqlite://<data-dir>/tvarr.db].
    #[arg(long)]
    pub database_url: Option<String>,
    /// Job queue URL [env: TVARR_QUEUE_URL] [default: sqlite://<data-dir>/queue.db].
    #[arg(long)]
    pub queue_url: Option<String>,
    /// Public base URL for playlists [env: TVARR_BASE_URL] [default: http://<listen>].
    #[arg(long)]
    pub base_url: Option<String>,
    /// Workers in the server process [env: TVARR_WORKERS] [default: number of cores].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Log level or filter [env: TVARR_LOG, RUST_LOG] [default: info].
    #[arg(long)]
    pub log: Option<String>,
    /// Log format, `text` or `json` [env: TVARR_LOG_FORMAT] [default: text on a terminal, JSON
    /// otherwise].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Seconds without a heartbeat after which a running job counts as abandoned and runs
    /// again elsewhere [env: TVARR_JOB_STALE_SECONDS] [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub job_stale_seconds: Option<u64>,
    /// Largest shrink of a source accepted without marking it suspicious, a fraction in 0..=1
    /// [env: TVARR_INGEST_MAX_SHRINK] [default: 0.5].
    #[arg(long, value_name = "FRACTION")]
    pub ingest_max_shrink: Option<f64>,
    /// Longest single value a parser keeps (an M3U line, an XML text or tag, a JSON string),
    /// in bytes; a record with a longer one is skipped and counted
    /// [env: TVARR_INGEST_MAX_VALUE_BYTES] [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    pub ingest_max_value_bytes: Option<usize>,
    /// Most one record (a channel, a programme, an Xtream element) may hold in all, in bytes
    /// [env: TVARR_INGEST_MAX_RECORD_BYTES] [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    pub ingest_max_record_bytes: Option<usize>,
    /// Largest download accepted, in bytes, compressed and decompressed
    /// [env: TVARR_FETCH_MAX_BYTES] [default: 1073741824].
    #[arg(long, value_name = "BYTES")]
    pub fetch_max_bytes: Option<u64>,
    /// Time allowed to connect [env: TVARR_FETCH_CONNECT_TIMEOUT_SECONDS] [default: 15].
    #[arg(long, value_name = "SECONDS")]
    pub fetch_connect_timeout_seconds: Option<u64>,
    /// Time allowed between two reads of a download
    /// [env: TVARR_FETCH_READ_TIMEOUT_SECONDS] [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub fetch_read_timeout_seconds: Option<u64>,
    /// Time allowed for a whole download, retries included
    /// [env: TVARR_FETCH_DEADLINE_SECONDS] [default: 1800].
    #[arg(long, value_name = "SECONDS")]
    pub fetch_deadline_seconds: Option<u64>,
    /// Retries of a download after 5xx answers and timeouts
    /// [env: TVARR_FETCH_RETRIES] [default: 3].
    #[arg(long, value_name = "N")]
    pub fetch_retries: Option<usize>,
    /// Whether sources may be fetched from loopback and private addresses (LAN providers)
    /// [env: TVARR_FETCH_ALLOW_PRIVATE_NETWORKS] [default: true].
    #[arg(long, value_name = "BOOL")]
    pub fetch_allow_private_networks: Option<bool>,
    /// The only directory local-file sources may be read from
    /// [env: TVARR_IMPORT_DIR] [default: <data-dir>/imports].
    #[arg(long, value_name = "DIR")]
    pub import_dir: Option<PathBuf>,
    /// Shortest time between two runs of a source's cron schedule, in seconds (0: no minimum)
    /// [env: TVARR_CRON_MIN_INTERVAL_SECONDS] [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub cron_min_interval_seconds: Option<u64>,
    /// Reverse proxies whose X-Forwarded-* headers are believed, comma-separated addresses or
    /// networks [env: TVARR_TRUSTED_PROXIES] [default: none].
    #[arg(long, value_name = "NETWORKS")]
    pub trusted_proxies: Option<String>,
    /// Where generated outputs are published: `directory` or `database`
    /// [env: TVARR_OUTPUT_STORE] [default: directory].
    #[arg(long, value_name = "STORE")]
    pub output_store: Option<String>,
    /// Quiet time after an ingest before its proxies are regenerated, in seconds
    /// [env: TVARR_GENERATION_DEBOUNCE_SECONDS] [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub generation_debounce_seconds: Option<u64>,
    /// How long a generation waits for a running ingest of its sources, in seconds
    /// [env: TVARR_GENERATION_INGEST_WAIT_SECONDS] [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub generation_ingest_wait_seconds: Option<u64>,
}

/// The TOML file: the same settings as the flags, by the same names with underscores.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    metrics_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    queue_url: Option<String>,
    base_url: Option<String>,
    workers: Option<usize>,
    log: Option<String>,
    log_format: Option<String>,
    job_stale_seconds: Option<u64>,
    admin_password: Option<String>,
    ingest_max_shrink: Option<f64>,
    ingest_max_value_bytes: Option<usize>,
    ingest_max_record_bytes: Option<usize>,
    fetch_max_bytes: Option<u64>,
    fetch_connect_timeout_seconds: Option<u64>,
    fetch_read_timeout_seconds: Option<u64>,
    fetch_deadline_seconds: Option<u64>,
    fetch_retries: Option<usize>,
    fetch_allow_private_networks: Option<bool>,
    import_dir: Option<PathBuf>,
    cron_min_interval_seconds: Option<u64>,
    output_store: Option<String>,
    trusted_proxies: Option<String>,
    generation_debounce_seconds: Option<u64>,
    generation_ingest_wait_seconds: Option<u64>,
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
    #[error("invalid setting `{name}` = `{value}`: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
}

impl Settings {
    /// Loads settings from `flags`, the environment given by `env`, and the TOML file named by
    /// `--config` (or `TVARR_CONFIG`).
    pub fn load(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
        is_terminal: bool,
    ) -> Result<Settings, SettingsError> {
        let config_path = flags
            .config
            .clone()
            .or_else(|| env("TVARR_CONFIG").map(PathBuf::from));
        let file = match &config_path {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let env_usize = |name: &'static str| -> Result<Option<usize>, SettingsError> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|e| SettingsError::Invalid {
                            name,
                            value: v.clone(),
                            reason: e.to_string(),
                        })
                })
                .transpose()
        };

        let listen_text = flags
            .listen
            .or_else(|| env("TVARR_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| "0.0.0.0:8080".to_string());
        let listen: SocketAddr =
            listen_text
                .parse()
                .map_err(|e: std::net::AddrParseError| SettingsError::Invalid {
                    name: "listen",
                    value: listen_text.clone(),
                    reason: format!("{e}; expected host:port such as 0.0.0.0:8080"),
                })?;
        let metrics_listen = flags
            .metrics_listen
            .or_else(|| env("TVARR_METRICS_LISTEN"))
            .or(file.metrics_listen)
            .filter(|text| !text.trim().is_empty())
            .map(|text| {
                text.trim()
                    .parse::<SocketAddr>()
                    .map_err(|e| SettingsError::Invalid {
                        name: "metrics_listen",
                        value: text.clone(),
                        reason: format!("{e}; expected host:port such as 0.0.0.0:9464"),
                    })
            })
            .transpose()?;
        let data_dir = flags
            .data_dir
            .or_else(|| env("TVARR_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = flags
            .database_url
            .or_else(|| env("TVARR_DATABASE_URL"))
            .or(file.database_url)
            .unwrap_or_else(|| sqlite_url(&data_dir, "tvarr.db"));
        check_scheme(
            "database_url",
            &database_url,
            &["sqlite", "postgres", "postgresql", "mysql", "mariadb"],
        )?;
        let queue_url = flags
            .queue_url
            .or_else(|| env("TVARR_QUEUE_URL"))
            .or(file.queue_url)
            .unwrap_or_else(|| sqlite_url(&data_dir, "queue.db"));
        check_scheme(
            "queue_url",
            &queue_url,
            &["sqlite", "postgres", "postgresql", "redis", "rediss"],
        )?;
        let configured_base_url = flags
            .base_url
            .or_else(|| env("TVARR_BASE_URL"))
            .or(file.base_url);
        let base_url_configured = configured_base_url.is_some();
        let base_url = configured_base_url.unwrap_or_else(|| format!("http://{listen}"));
        check_scheme("base_url", &base_url, &["http", "https"])?;
        let base_url = base_url.trim_end_matches('/').to_string();
        let workers = match flags.workers {
            Some(n) => n,
            None => match env_usize("TVARR_WORKERS")? {
                Some(n) => n,
                None => file
                    .workers
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            },
        };
        let log = flags
            .log
            .or_else(|| env("TVARR_LOG"))
            .or_else(|| env("RUST_LOG"))
            .or(file.log)
            .unwrap_or_else(|| "info".to_string());
        let log_format = match flags
            .log_format
            .or_else(|| env("TVARR_LOG_FORMAT"))
            .or(file.log_format)
            .as_deref()
        {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "log_format",
                    value: other.to_string(),
                    reason: "expected `text` or `json`".into(),
                });
            }
            None if is_terminal => LogFormat::Text,
            None => LogFormat::Json,
        };
        let admin_password = env("TVARR_ADMIN_PASSWORD")
            .or(file.admin_password)
            .filter(|p| !p.is_empty());
        let otlp_endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|e| !e.is_empty());
        let stale_seconds = match flags.job_stale_seconds {
            Some(seconds) => Some(seconds),
            None => env_usize("TVARR_JOB_STALE_SECONDS")?.map(|s| s as u64),
        }
        .or(file.job_stale_seconds)
        .unwrap_or(30)
        .max(1);
        let max_shrink = layered(
            flags.ingest_max_shrink,
            &env,
            "TVARR_INGEST_MAX_SHRINK",
            file.ingest_max_shrink,
            IngestSettings::default().max_shrink,
        )?;
        // `contains` is false for NaN too.
        if !(0.0..=1.0).contains(&max_shrink) {
            return Err(SettingsError::Invalid {
                name: "ingest_max_shrink",
                value: max_shrink.to_string(),
                reason: "expected a fraction from 0 to 1, such as 0.5 (a source may lose up \
                         to half its records)"
                    .into(),
            });
        }
        let max_value_bytes = layered(
            flags.ingest_max_value_bytes,
            &env,
            "TVARR_INGEST_MAX_VALUE_BYTES",
            file.ingest_max_value_bytes,
            ParserLimits::DEFAULT_MAX_VALUE_BYTES,
        )?;
        if max_value_bytes < 1024 {
            return Err(SettingsError::Invalid {
                name: "ingest_max_value_bytes",
                value: max_value_bytes.to_string(),
                reason: "expected at least 1024 bytes".into(),
            });
        }
        let max_record_bytes = layered(
            flags.ingest_max_record_bytes,
            &env,
            "TVARR_INGEST_MAX_RECORD_BYTES",
            file.ingest_max_record_bytes,
            ParserLimits::DEFAULT_MAX_RECORD_BYTES.max(max_value_bytes),
        )?;
        if max_record_bytes < max_value_bytes {
            return Err(SettingsError::Invalid {
                name: "ingest_max_record_bytes",
                value: max_record_bytes.to_string(),
                reason: format!("expected at least ingest_max_value_bytes ({max_value_bytes})"),
            });
        }
        let ingest = IngestSettings {
            max_shrink,
            limits: ParserLimits {
                max_value_bytes,
                max_record_bytes,
            },
            ..IngestSettings::default()
        };
        let defaults = FetchOptions::default();
        let max_bytes = layered(
            flags.fetch_max_bytes,
            &env,
            "TVARR_FETCH_MAX_BYTES",
            file.fetch_max_bytes,
            defaults.max_bytes,
        )?;
        if max_bytes == 0 {
            return Err(SettingsError::Invalid {
                name: "fetch_max_bytes",
                value: "0".into(),
                reason: "expected a number of bytes above 0".into(),
            });
        }
        let connect_timeout = positive_seconds(
            "fetch_connect_timeout_seconds",
            layered(
                flags.fetch_connect_timeout_seconds,
                &env,
                "TVARR_FETCH_CONNECT_TIMEOUT_SECONDS",
                file.fetch_connect_timeout_seconds,
                defaults.connect_timeout.as_secs(),
            )?,
        )?;
        let read_timeout = positive_seconds(
            "fetch_read_timeout_seconds",
            layered(
                flags.fetch_read_timeout_seconds,
                &env,
                "TVARR_FETCH_READ_TIMEOUT_SECONDS",
                file.fetch_read_timeout_seconds,
                defaults.read_timeout.as_secs(),
            )?,
        )?;
        let deadline = positive_seconds(
            "fetch_deadline_seconds",
            layered(
                flags.fetch_deadline_seconds,
                &env,
                "TVARR_FETCH_DEADLINE_SECONDS",
                file.fetch_deadline_seconds,
                defaults.deadline.as_secs(),
            )?,
        )?;
        let retries = layered(
            flags.fetch_retries,
            &env,
            "TVARR_FETCH_RETRIES",
            file.fetch_retries,
            defaults.retries,
        )?;
        if retries > MAX_FETCH_RETRIES {
            return Err(SettingsError::Invalid {
                name: "fetch_retries",
                value: retries.to_string(),
                reason: format!(
                    "at most {MAX_FETCH_RETRIES}; each retry waits longer than the one before"
                ),
            });
        }
        let cron_min_interval = Duration::from_secs(layered(
            flags.cron_min_interval_seconds,
            &env,
            "TVARR_CRON_MIN_INTERVAL_SECONDS",
            file.cron_min_interval_seconds,
            300,
        )?);
        let output_store_text = layered(
            flags.output_store,
            &env,
            "TVARR_OUTPUT_STORE",
            file.output_store,
            "directory".to_string(),
        )?;
        let output_store = output_store_text
            .parse::<OutputStoreKind>()
            .map_err(|reason| SettingsError::Invalid {
                name: "output_store",
                value: output_store_text.clone(),
                reason,
            })?;
        let trusted_text = flags
            .trusted_proxies
            .or_else(|| env("TVARR_TRUSTED_PROXIES"))
            .or(file.trusted_proxies)
            .unwrap_or_default();
        let trusted_proxies = tvarr_api::IpNetwork::parse_list(&trusted_text).map_err(|e| {
            SettingsError::Invalid {
                name: "trusted_proxies",
                value: trusted_text.clone(),
                reason: e.to_string(),
            }
        })?;
        let generation_debounce = Duration::from_secs(layered(
            flags.generation_debounce_seconds,
            &env,
            "TVARR_GENERATION_DEBOUNCE_SECONDS",
            file.generation_debounce_seconds,
            10,
        )?);
        let generation_ingest_wait = Duration::from_secs(layered(
            flags.generation_ingest_wait_seconds,
            &env,
            "TVARR_GENERATION_INGEST_WAIT_SECONDS",
            file.generation_ingest_wait_seconds,
            300,
        )?);
        let allow_private_networks = layered(
            flags.fetch_allow_private_networks,
            &env,
            "TVARR_FETCH_ALLOW_PRIVATE_NETWORKS",
            file.fetch_allow_private_networks,
            defaults.allow_private_networks,
        )?;
        let import_dir = flags
            .import_dir
            .or_else(|| env("TVARR_IMPORT_DIR").map(PathBuf::from))
            .or(file.import_dir)
            .unwrap_or_else(|| data_dir.join("imports"));
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
        Ok(Settings {
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
            job_stale_after: std::time::Duration::from_secs(stale_seconds),
            cron_min_interval,
            fetch,
            ingest,
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

/// More retries than this only delay the failure (the delays double up to 15 s each).
const MAX_FETCH_RETRIES: usize = 10;

/// The first of the flag, the environment variable, the file and the default. An environment
/// value that does not parse is an error naming the variable (flags and the file are parsed
/// by clap and serde, which name them).
fn layered<T>(
    flag: Option<T>,
    env: &dyn Fn(&str) -> Option<String>,
    env_name: &'static str,
    file: Option<T>,
    default: T,
) -> Result<T, SettingsError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    if let Some(value) = flag {
        return Ok(value);
    }
    if let Some(text) = env(env_name) {
        return text
            .trim()
            .parse::<T>()
            .map_err(|e| SettingsError::Invalid {
                name: env_name,
                value: text.clone(),
                reason: e.to_string(),
            });
    }
    Ok(file.unwrap_or(default))
}

fn positive_seconds(name: &'static str, seconds: u64) -> Result<Duration, SettingsError> {
    if seconds == 0 {
        return Err(SettingsError::Invalid {
            name,
            value: "0".into(),
            reason: "expected a number of seconds above 0".into(),
        });
    }
    Ok(Duration::from_secs(seconds))
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

fn check_scheme(name: &'static str, url: &str, allowed: &[&str]) -> Result<(), SettingsError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme {
        Some(s) if allowed.contains(&s.as_str()) => Ok(()),
        _ => Err(SettingsError::Invalid {
            name,
            value: redact(url),
            reason: format!("the scheme must be one of {}", allowed.join(", ")),
        }),
    }
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

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| SettingsError::ParseFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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
        let flags = Flags {
            config: Some(file),
            listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
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
        let flags = Flags {
            metrics_listen: Some("0.0.0.0:9465".into()),
            ..Default::default()
        };
        let s = load(flags, &[("TVARR_METRICS_LISTEN", "127.0.0.1:9464")]).unwrap();
        assert_eq!(s.metrics_listen.unwrap().port(), 9465);
        let err = load(Flags::default(), &[("TVARR_METRICS_LISTEN", "9464")]).unwrap_err();
        assert!(err.to_string().contains("metrics_listen"), "{err}");
    }

    #[test]
    fn the_log_format_and_the_stale_limit_have_flags_too() {
        let flags = Flags {
            log_format: Some("text".into()),
            job_stale_seconds: Some(7),
            ..Default::default()
        };
        let s = load(
            flags,
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
        let flags = Flags {
            config: Some(file),
            ..Default::default()
        };
        assert_eq!(
            load(flags, &[]).unwrap().job_stale_after,
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
        let flags = Flags {
            config: Some(file),
            ..Flags::default()
        };
        let s = load(flags.clone(), &[]).unwrap();
        assert!(!s.fetch.allow_private_networks);
        assert_eq!(s.fetch.import_dir, Some(PathBuf::from("/srv/m3u")));
        let s = load(
            Flags {
                fetch_allow_private_networks: Some(true),
                import_dir: Some(PathBuf::from("/a")),
                ..flags
            },
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
        let from_file = load(
            Flags {
                config: Some(file.clone()),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
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
        let from_env = load(
            Flags {
                config: Some(file.clone()),
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        assert_eq!(from_env.ingest.max_shrink, 0.25);
        assert_eq!(from_env.fetch.max_bytes, 2000);
        assert_eq!(from_env.fetch.connect_timeout, Duration::from_secs(6));
        assert_eq!(from_env.fetch.read_timeout, Duration::from_secs(7));
        assert_eq!(from_env.fetch.deadline, Duration::from_secs(8));
        assert_eq!(from_env.fetch.retries, 0);

        let flags = Flags::try_parse_from([
            "tvarr",
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
        let from_flags = load(
            Flags {
                config: Some(file),
                ..flags
            },
            &env,
        )
        .unwrap();
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
        let flags = Flags {
            ingest_max_shrink: Some(2.0),
            ..Default::default()
        };
        assert!(load(flags, &[]).is_err());
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
            Flags {
                ingest_max_record_bytes: Some(9_000),
                ..Default::default()
            },
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
        let flags = Flags {
            config: Some(file),
            ..Default::default()
        };
        assert!(matches!(
            load(flags, &[]),
            Err(SettingsError::ParseFile { .. })
        ));
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
}
