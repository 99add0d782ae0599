//! Relay profiles: how `relay` mode transcodes (codecs, bitrates, height, hardware
//! acceleration, container, encoder preset and extra FFmpeg options, the latter checked
//! against the relay's allow-list). Proxies reference them, so a profile a proxy uses cannot
//! be deleted (409).

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    FieldError, PageRequest, RelayProfile, RelayProfileId, RelayProfileInput, RepoError,
    VideoContainer, limits,
};
use tvarr_relay::ffmpeg::{Preset as FfmpegPreset, validate_extra_args};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::state::AppState;

/// The video codecs a profile may name.
pub const VIDEO_CODECS: &[&str] = &["copy", "h264", "hevc", "av1"];
/// The audio codecs a profile may name.
pub const AUDIO_CODECS: &[&str] = &["copy", "aac", "ac3", "opus"];
/// The hardware acceleration preferences a profile may name.
pub const HARDWARE_ACCELERATIONS: &[&str] = &["auto", "none", "vaapi", "nvenc", "qsv", "amf"];
/// Video bitrates accepted, in kbit/s.
pub const VIDEO_BITRATE_KBPS: std::ops::RangeInclusive<u32> = 100..=100_000;
/// Audio bitrates accepted, in kbit/s.
pub const AUDIO_BITRATE_KBPS: std::ops::RangeInclusive<u32> = 16..=1_024;
/// Output heights accepted, in pixels.
pub const MAX_HEIGHT: std::ops::RangeInclusive<u32> = 144..=4_320;
/// The most extra FFmpeg arguments a profile may have.
pub const MAX_EXTRA_ARGS: usize = 32;
/// The most characters of one extra FFmpeg argument.
pub const MAX_EXTRA_ARG_CHARS: usize = 200;

/// A video codec: `copy` (pass the provider's video through), `h264`, `hevc` or `av1`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Documents the accepted values; the body carries them as text.
enum VideoCodec {
    Copy,
    H264,
    Hevc,
    Av1,
}

/// An audio codec: `copy` (pass the provider's audio through), `aac`, `ac3` or `opus`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Documents the accepted values; the body carries them as text.
enum AudioCodec {
    Copy,
    Aac,
    Ac3,
    Opus,
}

/// Which hardware encoder to prefer: `auto` (the first that works), `none` (software),
/// `vaapi`, `nvenc`, `qsv` or `amf`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Documents the accepted values; the body carries them as text.
enum HardwareAcceleration {
    Auto,
    None,
    Vaapi,
    Nvenc,
    Qsv,
    Amf,
}

/// An encoding speed, in x264's terms, from `ultrafast` (fastest, largest) to `veryslow`
/// (slowest, smallest); each encoder gets its nearest equivalent (SVT-AV1 and libaom speeds,
/// NVENC `p1` … `p7`, AMF quality), VAAPI has none.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Documents the accepted values; the body carries them as text.
enum Preset {
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
    Slow,
    Slower,
    Veryslow,
}

/// The body that creates or replaces a relay profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayProfileBody {
    /// A name for people (1 to 200 characters, unique among profiles).
    pub name: String,
    /// Video codec (default `copy`).
    #[schema(value_type = Option<VideoCodec>)]
    pub video_codec: Option<String>,
    /// Audio codec (default `copy`).
    #[schema(value_type = Option<AudioCodec>)]
    pub audio_codec: Option<String>,
    /// Video bitrate in kbit/s, 100 to 100000; only with a video codec other than `copy`.
    #[schema(minimum = 100, maximum = 100000)]
    pub video_bitrate_kbps: Option<u32>,
    /// Audio bitrate in kbit/s, 16 to 1024; only with an audio codec other than `copy`.
    #[schema(minimum = 16, maximum = 1024)]
    pub audio_bitrate_kbps: Option<u32>,
    /// Output height in pixels, 144 to 4320 (the width follows the aspect ratio); only with
    /// a video codec other than `copy`.
    #[schema(minimum = 144, maximum = 4320)]
    pub max_height: Option<u32>,
    /// Hardware acceleration preference (default `auto`).
    #[schema(value_type = Option<HardwareAcceleration>)]
    pub hardware_acceleration: Option<String>,
    /// Output container (default `mpeg_ts`).
    pub container: Option<VideoContainer>,
    /// Encoding speed (case-insensitive); none (the default): `veryfast` for software
    /// encoders, the encoder's own default for hardware ones. Only with a video codec other
    /// than `copy`.
    #[schema(value_type = Option<Preset>)]
    pub preset: Option<String>,
    /// Encoder-tuning FFmpeg options, each option followed by its value
    /// (`["-crf", "23", "-tune:v", "zerolatency"]`), placed after the profile's own so that
    /// they override them (default none). At most 32 items of at most 200 characters. Only
    /// the options of the relay's allow-list are accepted (bitrates, GOP, B-frames, quality,
    /// profile, level, tune, pixel format and the like, optionally with a `v`/`a` stream
    /// specifier); inputs, outputs, formats, filters and anything that opens files are
    /// refused.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub extra_args: Vec<String>,
}

/// `value` without control characters, at most `max` characters, for a message.
fn shown(value: &str, max: usize) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// The preset's canonical name, or none; an unknown name is an error for `preset`.
fn preset(value: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())?;
    match FfmpegPreset::from_name(&value) {
        Some(preset) => Some(preset.name().to_string()),
        None => {
            errors.push(FieldError::new(
                "preset",
                format!(
                    "`{}` is not one of {}",
                    shown(&value, 40),
                    FfmpegPreset::ALL.map(FfmpegPreset::name).join(", ")
                ),
            ));
            None
        }
    }
}

/// Checks the extra arguments: their count and length, then the relay's allow-list.
fn check_extra_args(args: &[String], errors: &mut Vec<FieldError>) {
    if args.len() > MAX_EXTRA_ARGS {
        errors.push(FieldError::new(
            "extra_args",
            format!("must have at most {MAX_EXTRA_ARGS} items"),
        ));
    } else if let Some(long) = args
        .iter()
        .find(|a| a.chars().count() > MAX_EXTRA_ARG_CHARS)
    {
        errors.push(FieldError::new(
            "extra_args",
            format!(
                "`{}…` is longer than {MAX_EXTRA_ARG_CHARS} characters",
                shown(long, 40)
            ),
        ));
    } else if let Err(e) = validate_extra_args(args) {
        errors.push(FieldError::new("extra_args", shown(&e.to_string(), 2_000)));
    }
}

/// `value` (trimmed, lower case) when it is one of `allowed`, else an error for `field`.
fn one_of(
    field: &str,
    value: Option<String>,
    default: &str,
    allowed: &[&str],
    errors: &mut Vec<FieldError>,
) -> String {
    let value = value
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    if !allowed.contains(&value.as_str()) {
        let shown: String = value.chars().filter(|c| !c.is_control()).take(40).collect();
        errors.push(FieldError::new(
            field,
            format!("`{shown}` is not one of {}", allowed.join(", ")),
        ));
    }
    value
}

fn in_range(
    field: &str,
    value: Option<u32>,
    range: &std::ops::RangeInclusive<u32>,
    unit: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(value) = value
        && !range.contains(&value)
    {
        errors.push(FieldError::new(
            field,
            format!(
                "must be between {} and {} {unit}",
                range.start(),
                range.end()
            ),
        ));
    }
}

impl RelayProfileBody {
    /// The input to store, or every problem found.
    pub(crate) fn into_input(self) -> ApiResult<RelayProfileInput> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_string();
        limits::check_name("name", &name, &mut errors);
        let video_codec = one_of(
            "video_codec",
            self.video_codec,
            "copy",
            VIDEO_CODECS,
            &mut errors,
        );
        let audio_codec = one_of(
            "audio_codec",
            self.audio_codec,
            "copy",
            AUDIO_CODECS,
            &mut errors,
        );
        let hardware_acceleration = one_of(
            "hardware_acceleration",
            self.hardware_acceleration,
            "auto",
            HARDWARE_ACCELERATIONS,
            &mut errors,
        );
        in_range(
            "video_bitrate_kbps",
            self.video_bitrate_kbps,
            &VIDEO_BITRATE_KBPS,
            "kbit/s",
            &mut errors,
        );
        in_range(
            "audio_bitrate_kbps",
            self.audio_bitrate_kbps,
            &AUDIO_BITRATE_KBPS,
            "kbit/s",
            &mut errors,
        );
        in_range(
            "max_height",
            self.max_height,
            &MAX_HEIGHT,
            "pixels",
            &mut errors,
        );
        // A copied stream is not re-encoded: a bitrate or height would silently do nothing.
        if video_codec == "copy" {
            for (field, set) in [
                ("video_bitrate_kbps", self.video_bitrate_kbps.is_some()),
                ("max_height", self.max_height.is_some()),
            ] {
                if set {
                    errors.push(FieldError::new(
                        field,
                        "has no effect when video_codec is `copy` (the video is passed through); \
                         choose a codec to transcode to, or leave it out",
                    ));
                }
            }
        }
        let preset = preset(self.preset, &mut errors);
        if video_codec == "copy" && preset.is_some() {
            errors.push(FieldError::new(
                "preset",
                "has no effect when video_codec is `copy` (the video is passed through); \
                 choose a codec to transcode to, or leave it out",
            ));
        }
        check_extra_args(&self.extra_args, &mut errors);
        if audio_codec == "copy" && self.audio_bitrate_kbps.is_some() {
            errors.push(FieldError::new(
                "audio_bitrate_kbps",
                "has no effect when audio_codec is `copy` (the audio is passed through); \
                 choose a codec to transcode to, or leave it out",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
        Ok(RelayProfileInput {
            name,
            video_codec,
            audio_codec,
            video_bitrate_kbps: self.video_bitrate_kbps,
            audio_bitrate_kbps: self.audio_bitrate_kbps,
            max_height: self.max_height,
            hardware_acceleration,
            container: self.container.unwrap_or_default(),
            preset,
            extra_args: self.extra_args,
        })
    }
}

/// A relay profile as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelayProfileView {
    /// Id.
    pub id: RelayProfileId,
    /// Name.
    pub name: String,
    /// Video codec.
    #[schema(value_type = VideoCodec)]
    pub video_codec: String,
    /// Audio codec.
    #[schema(value_type = AudioCodec)]
    pub audio_codec: String,
    /// Video bitrate in kbit/s.
    pub video_bitrate_kbps: Option<u32>,
    /// Audio bitrate in kbit/s.
    pub audio_bitrate_kbps: Option<u32>,
    /// Output height in pixels.
    pub max_height: Option<u32>,
    /// Hardware acceleration preference.
    #[schema(value_type = HardwareAcceleration)]
    pub hardware_acceleration: String,
    /// Output container.
    pub container: VideoContainer,
    /// Encoding speed; none: the relay's default.
    #[schema(value_type = Option<Preset>)]
    pub preset: Option<String>,
    /// Encoder-tuning FFmpeg options, placed after the profile's own.
    pub extra_args: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<RelayProfile> for RelayProfileView {
    fn from(p: RelayProfile) -> Self {
        let input = p.input;
        Self {
            id: p.id,
            name: input.name,
            video_codec: input.video_codec,
            audio_codec: input.audio_codec,
            video_bitrate_kbps: input.video_bitrate_kbps,
            audio_bitrate_kbps: input.audio_bitrate_kbps,
            max_height: input.max_height,
            hardware_acceleration: input.hardware_acceleration,
            container: input.container,
            preset: input.preset,
            extra_args: input.extra_args,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Lists relay profiles by name.
#[utoipa::path(tag = "relay-profiles", params(PageParams), responses((status = 200, body = ListResponse<RelayProfileView>)))]
#[get("/relay-profiles")]
pub async fn list_relay_profiles(
    state: web::Data<AppState>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<RelayProfileView>>> {
    let page = state.repos.relay_profiles.list(page.request()?).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        RelayProfileView::from,
    )))
}

/// Creates a relay profile.
#[utoipa::path(tag = "relay-profiles", request_body = RelayProfileBody, responses(
    (status = 201, body = RelayProfileView),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "another profile has this name"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/relay-profiles")]
pub async fn create_relay_profile(
    state: web::Data<AppState>,
    body: web::Json<RelayProfileBody>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner().into_input()?;
    let profile = state.repos.relay_profiles.create(input).await?;
    tracing::info!(relay_profile_id = %profile.id, name = %profile.input.name, "relay profile created");
    Ok(HttpResponse::Created().json(RelayProfileView::from(profile)))
}

/// One relay profile.
#[utoipa::path(tag = "relay-profiles", params(("id" = String, Path, description = "relay profile id")), responses(
    (status = 200, body = RelayProfileView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/relay-profiles/{id}")]
pub async fn get_relay_profile(
    state: web::Data<AppState>,
    id: web::Path<RelayProfileId>,
) -> ApiResult<web::Json<RelayProfileView>> {
    let profile = state.repos.relay_profiles.get(id.into_inner()).await?;
    Ok(web::Json(profile.into()))
}

/// Replaces a relay profile's settings.
#[utoipa::path(tag = "relay-profiles", params(("id" = String, Path, description = "relay profile id")), request_body = RelayProfileBody,
    responses((status = 200, body = RelayProfileView), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "another profile has this name"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/relay-profiles/{id}")]
pub async fn update_relay_profile(
    state: web::Data<AppState>,
    id: web::Path<RelayProfileId>,
    body: web::Json<RelayProfileBody>,
) -> ApiResult<web::Json<RelayProfileView>> {
    let id = id.into_inner();
    let input = body.into_inner().into_input()?;
    let profile = state.repos.relay_profiles.update(id, input).await?;
    Ok(web::Json(profile.into()))
}

/// Deletes a relay profile. Refused with 409 while a proxy uses it: change those proxies
/// first (the answer names them).
#[utoipa::path(tag = "relay-profiles", params(("id" = String, Path, description = "relay profile id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "a proxy uses the profile")))]
#[delete("/relay-profiles/{id}")]
pub async fn delete_relay_profile(
    state: web::Data<AppState>,
    id: web::Path<RelayProfileId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    match state.repos.relay_profiles.delete(id).await {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(RepoError::Conflict(_)) => Err(in_use(&state, id).await),
        Err(other) => Err(other.into()),
    }
}

/// The 409 of deleting profile `id` that a proxy uses, naming the proxies (at most five).
async fn in_use(state: &AppState, id: RelayProfileId) -> ApiError {
    let users: Vec<String> = match state
        .repos
        .proxies
        .list(PageRequest::new(PageRequest::MAX_LIMIT, 0))
        .await
    {
        Ok(page) => page
            .items
            .into_iter()
            .filter(|p| p.input.relay_profile_id == Some(id))
            .map(|p| format!("`{}`", p.input.name))
            .collect(),
        Err(_) => Vec::new(),
    };
    let named = match users.len() {
        0 => "a proxy".to_string(),
        n if n <= 5 => format!("proxy {}", users.join(", ")),
        n => format!("proxy {} and {} more", users[..5].join(", "), n - 5),
    };
    ApiError::Conflict(format!(
        "relay profile {id} is used by {named}; give those proxies another relay profile \
         (or none) first"
    ))
}
