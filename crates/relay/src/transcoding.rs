//! FFmpeg as `relay` mode uses it: the binary found when the server started, the hardware
//! encoders that work on this machine, and the turning of a relay profile into a
//! [`Delivery::Transcode`].

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tvarr_core::{RelayProfile, VideoContainer};

use crate::Delivery;
use crate::ffmpeg::{Ffmpeg, FfmpegInfo, HardwareReport, TranscodeProfile};

/// FFmpeg for `relay` mode, or why there is none. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Transcoding {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ffmpeg: Result<Ffmpeg, String>,
    hardware: RwLock<Option<HardwareReport>>,
}

/// FFmpeg as `relay` mode finds it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscodingStatus {
    /// Whether `relay` mode can run.
    pub available: bool,
    /// Why it cannot, when it cannot.
    pub error: Option<String>,
    /// The binary found.
    pub ffmpeg: Option<FfmpegInfo>,
    /// The hardware encoders tried and which work; none until the probe (run once, when the
    /// server starts) has ended. Without a usable one every profile encodes in software.
    pub hardware: Option<HardwareReport>,
}

impl Transcoding {
    /// Finds FFmpeg (the `configured` binary, else `ffmpeg` on `PATH`); when it cannot be
    /// used, every relay profile is refused with the reason.
    pub async fn detect(configured: Option<&Path>) -> Self {
        Self::from_result(Ffmpeg::detect(configured).await.map_err(|e| e.to_string()))
    }

    /// No FFmpeg, for `reason`: every relay profile is refused with it.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::from_result(Err(reason.into()))
    }

    fn from_result(ffmpeg: Result<Ffmpeg, String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                ffmpeg,
                hardware: RwLock::new(None),
            }),
        }
    }

    /// The FFmpeg found, if any.
    pub fn ffmpeg(&self) -> Option<&Ffmpeg> {
        self.inner.ffmpeg.as_ref().ok()
    }

    /// Tries the hardware encoders (seconds per candidate the machine has) and keeps what it
    /// found for every later profile. Until it has run, profiles encode in software.
    pub async fn probe_hardware(&self) {
        let Some(ffmpeg) = self.ffmpeg() else {
            return;
        };
        let report = ffmpeg.probe_hardware().await;
        let usable: Vec<_> = report.usable().map(|hw| hw.name()).collect();
        tracing::info!(?usable, "hardware encoders probed");
        *self
            .inner
            .hardware
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    /// The delivery of `profile`, or why it cannot be delivered: FFmpeg is missing, a field
    /// is out of bounds, or its container is HLS, which this build does not serve.
    pub fn delivery(&self, profile: &RelayProfile) -> Result<Delivery, String> {
        let ffmpeg = self
            .inner
            .ffmpeg
            .as_ref()
            .map_err(|e| format!("relay profile `{}` needs FFmpeg: {e}", profile.input.name))?;
        if profile.input.container != VideoContainer::MpegTs {
            return Err(format!(
                "relay profile `{}` asks for HLS output, which this build does not serve; \
                 use the mpeg_ts container",
                profile.input.name
            ));
        }
        let transcode = TranscodeProfile::from_input(
            &profile.input,
            profile.input.preset.as_deref(),
            &profile.input.extra_args,
        )
        .map_err(|e| format!("relay profile `{}`: {e}", profile.input.name))?;
        let hardware = self
            .inner
            .hardware
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|report| report.chosen(&transcode.hardware_acceleration));
        let args = transcode
            .args(ffmpeg, hardware, None)
            .map_err(|e| format!("relay profile `{}`: {e}", profile.input.name))?;
        Ok(Delivery::Transcode {
            profile: profile.id,
            args,
        })
    }

    /// What was found, for the API.
    pub fn status(&self) -> TranscodingStatus {
        let hardware = self
            .inner
            .hardware
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match &self.inner.ffmpeg {
            Ok(ffmpeg) => TranscodingStatus {
                available: true,
                error: None,
                ffmpeg: Some(ffmpeg.info()),
                hardware,
            },
            Err(e) => TranscodingStatus {
                available: false,
                error: Some(e.clone()),
                ffmpeg: None,
                hardware: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tvarr_core::{RelayProfileId, RelayProfileInput};

    fn profile(preset: Option<&str>, extra_args: &[&str]) -> RelayProfile {
        let at = chrono::Utc::now();
        RelayProfile {
            id: RelayProfileId::new(),
            input: RelayProfileInput {
                name: "tuned".into(),
                video_codec: "h264".into(),
                audio_codec: "copy".into(),
                video_bitrate_kbps: None,
                audio_bitrate_kbps: None,
                max_height: None,
                hardware_acceleration: "none".into(),
                container: VideoContainer::MpegTs,
                preset: preset.map(str::to_owned),
                extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            },
            created_at: at,
            updated_at: at,
        }
    }

    fn has_seq(args: &[String], needle: &[&str]) -> bool {
        args.windows(needle.len())
            .any(|w| w.iter().zip(needle).all(|(a, b)| a == b))
    }

    /// The installed FFmpeg (the relay's tests need one).
    async fn transcoding() -> Transcoding {
        let transcoding = Transcoding::detect(None).await;
        assert!(transcoding.ffmpeg().is_some(), "FFmpeg is installed");
        transcoding
    }

    #[tokio::test]
    async fn the_delivery_uses_the_profile_preset_and_extra_args() {
        let transcoding = transcoding().await;
        let Delivery::Transcode { args, .. } = transcoding
            .delivery(&profile(
                Some("slow"),
                &["-crf", "21", "-tune:v", "zerolatency"],
            ))
            .unwrap()
        else {
            panic!("a transcode");
        };
        assert!(has_seq(&args, &["-c:v", "libx264"]), "{args:?}");
        assert!(has_seq(&args, &["-preset", "slow"]), "{args:?}");
        assert!(!has_seq(&args, &["-preset", "veryfast"]), "{args:?}");
        assert!(
            has_seq(&args, &["-crf", "21", "-tune:v", "zerolatency"]),
            "{args:?}"
        );
    }

    #[tokio::test]
    async fn a_stored_profile_with_a_refused_argument_or_unknown_preset_is_not_delivered() {
        let transcoding = transcoding().await;
        let e = transcoding
            .delivery(&profile(None, &["-i", "/etc/passwd"]))
            .unwrap_err();
        assert!(e.contains("refused"), "{e}");
        let e = transcoding
            .delivery(&profile(Some("ludicrous"), &[]))
            .unwrap_err();
        assert!(e.contains("preset"), "{e}");
    }
}
