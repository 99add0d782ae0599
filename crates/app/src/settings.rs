//! The one typed configuration of tvarr: defaults, then an optional TOML file, then
//! environment variables, then command-line flags, each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

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
    /// Database, outputs and logo cache live here.
    pub data_dir: PathBuf,
    /// The main database.
    pub database_url: String,
    /// The job queue (SQLite file, PostgreSQL or Redis).
    pub queue_url: String,
    /// The public base URL written into playlists, without a trailing slash.
    pub base_url: String,
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
}

/// The TOML file: the same settings as the flags, by the same names with underscores.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    queue_url: Option<String>,
    base_url: Option<String>,
    workers: Option<usize>,
    log: Option<String>,
    log_format: Option<String>,
    admin_password: Option<String>,
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
        let base_url = flags
            .base_url
            .or_else(|| env("TVARR_BASE_URL"))
            .or(file.base_url)
            .unwrap_or_else(|| format!("http://{listen}"));
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
        let log_format = match env("TVARR_LOG_FORMAT").or(file.log_format).as_deref() {
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
        let stale_seconds = env_usize("TVARR_JOB_STALE_SECONDS")?.unwrap_or(30).max(1);
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            queue_url,
            base_url,
            workers,
            log,
            log_format,
            admin_password,
            otlp_endpoint,
            job_stale_after: std::time::Duration::from_secs(stale_seconds as u64),
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
}
