//! Stream sources and EPG sources: where channels and guides come from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::id::{EpgSourceId, StreamSourceId};
use crate::limits;
use crate::secret::Secret;

/// The kind of a stream source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StreamSourceType {
    /// An M3U playlist at a URL or a local path.
    M3u,
    /// An Xtream Codes server (`player_api.php`).
    Xtream,
}

/// The kind of an EPG source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EpgSourceType {
    /// An XMLTV document (plain or gzip) at a URL or a local path.
    Xmltv,
    /// An Xtream Codes server's `xmltv.php`.
    Xtream,
}

/// How the last ingest of a source went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IngestState {
    /// Never ingested.
    #[default]
    Never,
    /// The last ingest succeeded.
    Ok,
    /// The last ingest failed (fetch error, HTTP error, empty result); the previous data is kept.
    Failed,
    /// The last ingest looked wrong (the result shrank too much); the previous data is kept.
    Suspicious,
}

impl IngestState {
    /// The stored name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestState::Never => "never",
            IngestState::Ok => "ok",
            IngestState::Failed => "failed",
            IngestState::Suspicious => "suspicious",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "never" => IngestState::Never,
            "ok" => IngestState::Ok,
            "failed" => IngestState::Failed,
            "suspicious" => IngestState::Suspicious,
            _ => return None,
        })
    }
}

/// The result of one ingest of a source, recorded on the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// The new state.
    pub state: IngestState,
    /// When the ingest ended.
    pub at: DateTime<Utc>,
    /// Records now current (unchanged from before when the ingest did not succeed).
    pub record_count: u64,
    /// Lines or elements skipped as malformed by the ingest that produced the current records.
    /// Like `record_count`, unchanged from before when the ingest did not succeed (what a
    /// failed or suspicious attempt skipped is told in `error`).
    pub skipped_count: u64,
    /// Why the ingest failed or looks suspicious.
    pub error: Option<String>,
}

/// A provider of channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSource {
    /// Id.
    pub id: StreamSourceId,
    /// A name for people.
    pub name: String,
    /// M3U or Xtream.
    pub source_type: StreamSourceType,
    /// Playlist URL or path (M3U), or server base URL (Xtream).
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Xtream password. Never logged nor returned in clear.
    pub password: Option<Secret>,
    /// Cron expression for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether scheduled ingests run and proxies use the source.
    pub enabled: bool,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra HTTP headers sent to the provider.
    pub headers: Vec<(String, String)>,
    /// How many connections the provider account allows at once; `None`: no limit.
    pub max_connections: Option<u32>,
    /// State of the last ingest.
    pub state: IngestState,
    /// When the last ingest ended.
    pub last_ingested_at: Option<DateTime<Utc>>,
    /// When the last successful ingest ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Channels currently stored.
    pub channel_count: u64,
    /// Lines skipped by the last ingest.
    pub skipped_count: u64,
    /// Why the last ingest failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed by a person.
    pub updated_at: DateTime<Utc>,
}

/// The fields a person sets on a stream source (create and update).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSourceInput {
    /// A name for people.
    pub name: String,
    /// M3U or Xtream.
    pub source_type: StreamSourceType,
    /// Playlist URL or path (M3U), or server base URL (Xtream).
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Xtream password.
    pub password: Option<Secret>,
    /// Cron expression for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether the source is used.
    pub enabled: bool,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra HTTP headers sent to the provider.
    pub headers: Vec<(String, String)>,
    /// How many connections the provider account allows at once (1 to
    /// [`StreamSourceInput::MAX_CONNECTIONS`]); `None`: no limit.
    pub max_connections: Option<u32>,
}

impl StreamSourceInput {
    /// The largest `max_connections` accepted.
    pub const MAX_CONNECTIONS: u32 = 1000;

    /// Checks the fields that need no outside knowledge; returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        limits::check_name("name", &self.name, &mut errors);
        let allow_path = self.source_type == StreamSourceType::M3u;
        limits::check_location("url", &self.url, allow_path, &mut errors);
        check_common(
            (self.username.as_deref(), self.password.as_ref()),
            self.update_cron.as_deref(),
            self.user_agent.as_deref(),
            &self.headers,
            &mut errors,
        );
        if self.source_type == StreamSourceType::Xtream {
            check_credentials(
                self.username.as_deref(),
                self.password.as_ref(),
                &mut errors,
            );
        }
        if let Some(limit) = self.max_connections
            && !(1..=Self::MAX_CONNECTIONS).contains(&limit)
        {
            errors.push(FieldError::new(
                "max_connections",
                format!("must be between 1 and {}", Self::MAX_CONNECTIONS),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A provider of programme guide data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpgSource {
    /// Id.
    pub id: EpgSourceId,
    /// A name for people.
    pub name: String,
    /// XMLTV or Xtream.
    pub source_type: EpgSourceType,
    /// Guide URL or path (XMLTV), or server base URL (Xtream).
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Xtream password. Never logged nor returned in clear.
    pub password: Option<Secret>,
    /// Cron expression for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether scheduled ingests run and proxies use the source.
    pub enabled: bool,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra HTTP headers sent to the provider.
    pub headers: Vec<(String, String)>,
    /// Minutes added to every programme time (a provider whose clock is off).
    pub time_offset_minutes: i32,
    /// IANA time zone for programme times that carry no offset (default UTC).
    pub timezone: Option<String>,
    /// State of the last ingest.
    pub state: IngestState,
    /// When the last ingest ended.
    pub last_ingested_at: Option<DateTime<Utc>>,
    /// When the last successful ingest ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Programmes currently stored.
    pub programme_count: u64,
    /// Elements skipped by the last ingest.
    pub skipped_count: u64,
    /// Why the last ingest failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed by a person.
    pub updated_at: DateTime<Utc>,
}

/// The fields a person sets on an EPG source (create and update).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpgSourceInput {
    /// A name for people.
    pub name: String,
    /// XMLTV or Xtream.
    pub source_type: EpgSourceType,
    /// Guide URL or path (XMLTV), or server base URL (Xtream).
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Xtream password.
    pub password: Option<Secret>,
    /// Cron expression for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether the source is used.
    pub enabled: bool,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra HTTP headers sent to the provider.
    pub headers: Vec<(String, String)>,
    /// Minutes added to every programme time.
    pub time_offset_minutes: i32,
    /// IANA time zone for programme times that carry no offset.
    pub timezone: Option<String>,
}

impl EpgSourceInput {
    /// Checks the fields that need no outside knowledge; returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        limits::check_name("name", &self.name, &mut errors);
        let allow_path = self.source_type == EpgSourceType::Xmltv;
        limits::check_location("url", &self.url, allow_path, &mut errors);
        check_common(
            (self.username.as_deref(), self.password.as_ref()),
            self.update_cron.as_deref(),
            self.user_agent.as_deref(),
            &self.headers,
            &mut errors,
        );
        if self.source_type == EpgSourceType::Xtream {
            check_credentials(
                self.username.as_deref(),
                self.password.as_ref(),
                &mut errors,
            );
        }
        if let Some(timezone) = &self.timezone {
            limits::check_line("timezone", timezone, 64, &mut errors);
        }
        if !(-24 * 60..=24 * 60).contains(&self.time_offset_minutes) {
            errors.push(FieldError::new(
                "time_offset_minutes",
                "must be between -1440 and 1440 minutes",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn check_credentials(
    username: Option<&str>,
    password: Option<&Secret>,
    errors: &mut Vec<FieldError>,
) {
    if username.is_none_or(|u| u.trim().is_empty()) {
        errors.push(FieldError::new(
            "username",
            "is required for an Xtream source",
        ));
    }
    if password.is_none_or(Secret::is_empty) {
        errors.push(FieldError::new(
            "password",
            "is required for an Xtream source",
        ));
    }
}

/// The limits shared by stream and EPG sources beside name and location: credentials,
/// schedule, user agent and headers.
fn check_common(
    credentials: (Option<&str>, Option<&Secret>),
    update_cron: Option<&str>,
    user_agent: Option<&str>,
    headers: &[(String, String)],
    errors: &mut Vec<FieldError>,
) {
    if let Some(username) = credentials.0 {
        limits::check_line("username", username, limits::CREDENTIAL_MAX_BYTES, errors);
    }
    if let Some(password) = credentials.1 {
        limits::check_line(
            "password",
            password.expose(),
            limits::CREDENTIAL_MAX_BYTES,
            errors,
        );
    }
    if let Some(cron) = update_cron {
        limits::check_line("update_cron", cron, limits::CRON_MAX_BYTES, errors);
    }
    if let Some(user_agent) = user_agent {
        limits::check_header_value("user_agent", user_agent, errors);
    }
    limits::check_headers("headers", headers, errors);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(source_type: StreamSourceType, url: &str) -> StreamSourceInput {
        StreamSourceInput {
            name: "Provider".into(),
            source_type,
            url: url.into(),
            username: None,
            password: None,
            update_cron: None,
            enabled: true,
            user_agent: None,
            headers: vec![],
            max_connections: None,
        }
    }

    #[test]
    fn max_connections_is_1_to_1000_when_given() {
        let mut input = stream(StreamSourceType::M3u, "http://example.com/a.m3u");
        for ok in [None, Some(1), Some(1000)] {
            input.max_connections = ok;
            assert!(input.validate().is_ok(), "{ok:?}");
        }
        for bad in [0, 1001] {
            input.max_connections = Some(bad);
            let errors = input.validate().unwrap_err();
            assert_eq!(errors[0].field, "max_connections", "{bad}");
        }
    }

    #[test]
    fn accepts_urls_and_paths_for_m3u() {
        assert!(
            stream(StreamSourceType::M3u, "http://example.com/a.m3u")
                .validate()
                .is_ok()
        );
        assert!(
            stream(StreamSourceType::M3u, "/srv/a.m3u")
                .validate()
                .is_ok()
        );
        assert!(
            stream(StreamSourceType::M3u, "file:///srv/a.m3u")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for url in [
            "",
            "ftp://x/a",
            "http://",
            "example.com/a.m3u",
            "http:// bad host/",
        ] {
            let errors = stream(StreamSourceType::M3u, url).validate().unwrap_err();
            assert_eq!(errors[0].field, "url", "{url}");
        }
    }

    #[test]
    fn xtream_needs_credentials_and_an_http_url() {
        let errors = stream(StreamSourceType::Xtream, "/srv/x")
            .validate()
            .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "username", "password"]);
        let mut ok = stream(StreamSourceType::Xtream, "http://panel.example:8080");
        ok.username = Some("u".into());
        ok.password = Some(Secret::new("p"));
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn refuses_header_injection() {
        let mut input = stream(StreamSourceType::M3u, "http://a/b");
        input.headers = vec![
            ("X-Ok".into(), "a\r\nEvil: 1".into()),
            ("bad name".into(), "v".into()),
        ];
        assert_eq!(input.validate().unwrap_err().len(), 2);
    }
}
