//! FFmpeg: detection, hardware acceleration, relay profile arguments, transcoders.
//!
//! `relay` mode puts an FFmpeg process between a channel's upstream and its viewers. This
//! module knows the binary and runs it; the session decides when.
//!
//! - **Detection** ([`Ffmpeg::detect`]). The configured binary, or `ffmpeg` found on `PATH`.
//!   Its version comes from `ffmpeg -version`: releases (`5.1.6-0+deb12u1`, `7.0.2-static`),
//!   release tags (`n6.1`), and git builds (`N-112345-g…`), which name no release and are
//!   placed by their libavutil major version instead. Versions below 4.0 are refused: the
//!   options used here (`-max_muxing_queue_size`, `-force_key_frames expr:`, the HLS muxer's
//!   flags) are all there from 4.0 on. The encoders the build has (`ffmpeg -encoders`) are read
//!   once, so a profile picks an encoder the binary really has (`libsvtav1` or `libaom-av1`,
//!   `libopus` or the native `opus`). `ffprobe` is looked for beside the binary, then on
//!   `PATH`; without it only [`Ffmpeg::probe`] fails. Every run of this module is bounded in
//!   time and in the output it keeps: a binary that hangs is an error, never a stuck server.
//! - **Hardware acceleration** ([`Ffmpeg::probe_hardware`]). A build lists every method it was
//!   compiled with (`ffmpeg -hwaccels`), whether or not the machine has the device and the
//!   driver, so being listed proves nothing. Each candidate (VAAPI, NVENC, QSV, AMF) is tried
//!   with a one-second test encode instead, and the [`HardwareReport`] says which work and why
//!   the others failed. [`HardwareReport::chosen`] turns a profile's preference into the
//!   method to use; a preference that is not usable falls back to software encoding, since a
//!   relay that costs more CPU beats one that does not start.
//! - **Arguments** ([`TranscodeProfile`]). A relay profile becomes an argument list for exec
//!   (never a shell command line): input from standard input, video copied or encoded
//!   (keyframes forced every two seconds, so that joining viewers and HLS segments never wait
//!   long for one), scaled down to the profile's height, audio copied or encoded, MPEG-TS to
//!   standard output or an HLS playlist into a directory. A user's extra arguments pass an
//!   allow-list of encoder-tuning options whose values are checked one by one
//!   ([`validate_extra_args`]): nothing a user sets can make FFmpeg read or write a file or
//!   reach the network.
//! - **Progress** ([`TranscodeProgress`]). FFmpeg runs with `-loglevel error -stats`: its
//!   standard error carries the periodic stats line (`frame= … time= … speed=…`, separated by
//!   carriage returns) and error messages only. Both are parsed as they come; the last few
//!   error lines are kept, bounded in count and in length, to explain an exit.
//! - **Transcoders** ([`Transcoder`]). FFmpeg reads the channel from its standard input and
//!   writes the result to its standard output; it never opens the provider's URL itself. The
//!   relay fetches the upstream, so its outbound policy, the source's credentials and
//!   headers, HLS collapsing, the circuit breaker and failover between upstreams all apply
//!   unchanged to relayed channels. And the process cannot outlive the server: when the server
//!   exits, even killed with SIGKILL, the kernel closes its ends of the pipes, FFmpeg reads end
//!   of file on its input (it finishes and exits) and its next write to its output fails with
//!   `EPIPE` (FFmpeg ignores `SIGPIPE`), after which it exits too; no orphaned FFmpeg keeps a
//!   provider connection (and an account's only slot) open. `-nostdin` only turns off FFmpeg's interactive keys on the
//!   terminal; an input named `pipe:0` is still read from standard input. The child also runs
//!   in its own process group, so a Ctrl-C in the server's terminal reaches the server, which
//!   stops its transcoders in order, and not FFmpeg directly. [`Transcoder::stop`] closes the
//!   input, gives FFmpeg two seconds to finish, kills it otherwise, and always reaps it;
//!   dropping a [`Transcoder`] kills the process.
//! - **ffprobe** ([`Ffmpeg::probe`]) describes a sample of a stream fed on standard input, for
//!   the same reason.
//! - **Slate** ([`Ffmpeg::slate`]): a few seconds of MPEG-TS showing a message, for a viewer
//!   whose channel cannot play. The message is drawn with `drawtext` when the build and a font
//!   allow it, else the slate is a plain dark picture.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::io::ReaderStream;
use tvarr_core::{RelayProfileInput, VideoContainer};

/// The oldest FFmpeg accepted, as (major, minor).
pub const MIN_VERSION: (u32, u32) = (4, 0);
/// How long `ffmpeg -version` and `ffmpeg -encoders` may take.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one hardware test encode may take.
pub const HARDWARE_TEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long ffprobe may take over a sample.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long rendering a slate may take.
pub const SLATE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Transcoder::stop`] waits for FFmpeg to exit after closing its input.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// The VAAPI render node used for VAAPI encoding.
pub const VAAPI_DEVICE: &str = "/dev/dri/renderD128";
/// How much of the input FFmpeg analyses before it starts writing, in microseconds (2 s).
///
/// MPEG-TS has no header, so FFmpeg reads its input for `-analyzeduration` (5 s by default)
/// before it writes anything, and on a live channel those seconds are seconds of waiting for
/// the first viewer. Two seconds hold several keyframes, audio frames and PAT/PMT repetitions,
/// which is what the codec parameters need.
pub const ANALYZE_DURATION_US: u32 = 2_000_000;
/// The playlist FFmpeg writes in an HLS output directory.
pub const HLS_PLAYLIST: &str = "index.m3u8";
/// The target duration of an HLS segment, in seconds (also the forced keyframe interval).
pub const HLS_SEGMENT_SECONDS: u32 = 2;
/// The segments an HLS playlist lists.
pub const HLS_LIST_SIZE: u32 = 6;
/// The error lines a [`TranscodeProgress`] keeps.
pub const MAX_ERROR_LINES: usize = 8;
/// The characters kept of one error line.
pub const MAX_ERROR_LINE_CHARS: usize = 300;
/// The most extra arguments a profile may have.
pub const MAX_EXTRA_ARGS: usize = 64;

/// The width and height of a slate.
const SLATE_SIZE: &str = "1280x720";
/// The seconds a slate lasts.
const SLATE_SECONDS: u32 = 3;
/// The background colour of a slate.
const SLATE_COLOUR: &str = "0x101820";
/// The characters of a slate's message per line, and its lines.
const SLATE_LINE_CHARS: usize = 40;
const SLATE_MAX_LINES: usize = 4;
/// Fonts tried for a slate's text, before fontconfig's default.
const SLATE_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];
/// The most bytes kept of a short run's standard output.
const VERSION_OUTPUT_LIMIT: usize = 512 * 1024;
const PROBE_OUTPUT_LIMIT: usize = 4 * 1024 * 1024;
const SLATE_OUTPUT_LIMIT: usize = 32 * 1024 * 1024;
/// The bytes kept of a short run's standard error (its end).
const STDERR_TAIL: usize = 64 * 1024;
/// The longest line read from a transcoder's standard error; the rest of a line is dropped.
const MAX_STDERR_LINE: usize = 4096;
/// How long a finished transcoder's standard error may take to drain.
const STDERR_DRAIN: Duration = Duration::from_secs(1);
/// The read size of a transcoder's output stream.
const OUTPUT_CHUNK: usize = 64 * 1024;

/// What can go wrong with FFmpeg.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FfmpegError {
    /// The configured binary does not exist.
    #[error("the configured FFmpeg binary {} does not exist", .path.display())]
    Missing {
        /// The configured path.
        path: PathBuf,
    },
    /// No binary of that name on `PATH`.
    #[error(
        "no `{name}` binary was found on PATH; install FFmpeg (4.0 or newer) or configure the \
         path of its binary (ffmpeg_path)"
    )]
    NotOnPath {
        /// The name looked for.
        name: String,
    },
    /// The binary could not be started.
    #[error("{} could not be started: {source}", .program.display())]
    Spawn {
        /// The binary.
        program: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A run did not finish in time (it was killed).
    #[error("{what} did not finish within {seconds} s")]
    Timeout {
        /// What was run.
        what: String,
        /// The bound.
        seconds: u64,
    },
    /// A run ended unsuccessfully.
    #[error("{what} failed ({reason}){}", error_suffix(.last_error))]
    Failed {
        /// What was run.
        what: String,
        /// How it ended.
        reason: ExitReason,
        /// Its last error line, if it wrote one.
        last_error: Option<String>,
    },
    /// The version could not be read from `ffmpeg -version`.
    #[error(
        "{} does not look like FFmpeg: cannot read a version from its -version output \
         (which starts with {first_line:?})",
        .path.display()
    )]
    UnknownVersion {
        /// The binary.
        path: PathBuf,
        /// The first line of its output.
        first_line: String,
    },
    /// The version is below [`MIN_VERSION`].
    #[error("FFmpeg {version} at {} is too old: tvarr needs FFmpeg 4.0 or newer", .path.display())]
    TooOld {
        /// The binary.
        path: PathBuf,
        /// Its version.
        version: String,
    },
    /// No ffprobe was found.
    #[error("ffprobe was found neither next to {} nor on PATH", .ffmpeg.display())]
    FfprobeMissing {
        /// The FFmpeg binary it was looked for beside.
        ffmpeg: PathBuf,
    },
    /// A relay profile's field is not valid.
    #[error("relay profile: {field} {reason}")]
    InvalidProfile {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An extra argument is refused.
    #[error("the extra FFmpeg argument `{argument}` is refused: {reason}")]
    RefusedArgument {
        /// The argument (an option, shortened when long).
        argument: String,
        /// Why.
        reason: String,
    },
    /// The build has no encoder for a codec.
    #[error("this FFmpeg has no encoder for {codec} (it has none of {candidates})")]
    NoEncoder {
        /// The codec.
        codec: String,
        /// The encoders looked for.
        candidates: String,
    },
    /// A run wrote more than its bound.
    #[error("{what} wrote more than the limit of {limit} bytes")]
    OutputTooLarge {
        /// What was run.
        what: String,
        /// The bound.
        limit: usize,
    },
    /// ffprobe's output is not what was expected.
    #[error("ffprobe's output is not the expected JSON: {reason}")]
    ProbeOutput {
        /// Why.
        reason: String,
    },
    /// Waiting for a run failed.
    #[error("{what}: {source}")]
    Io {
        /// What was run.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn error_suffix(last_error: &Option<String>) -> String {
    match last_error {
        Some(line) => format!(": {line}"),
        None => String::new(),
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Exit code 0.
    Success,
    /// A non-zero exit code.
    Code(i32),
    /// Killed by a signal (Unix).
    Signal(i32),
    /// Not known (waiting for it failed).
    Unknown,
}

impl ExitReason {
    fn from_status(status: ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return if code == 0 {
                ExitReason::Success
            } else {
                ExitReason::Code(code)
            };
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return ExitReason::Signal(signal);
            }
        }
        ExitReason::Unknown
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Success => f.write_str("exit code 0"),
            ExitReason::Code(code) => write!(f, "exit code {code}"),
            ExitReason::Signal(signal) => match signal_name(*signal) {
                Some(name) => write!(f, "signal {signal} ({name})"),
                None => write!(f, "signal {signal}"),
            },
            ExitReason::Unknown => f.write_str("unknown exit status"),
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------------

/// A detected FFmpeg binary: its path, version, encoders, and the `ffprobe` beside it.
#[derive(Clone, Debug)]
pub struct Ffmpeg {
    path: PathBuf,
    ffprobe: Option<PathBuf>,
    version: String,
    version_number: (u32, u32),
    encoders: Arc<BTreeSet<String>>,
}

/// What [`Ffmpeg`] found, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FfmpegInfo {
    /// The binary.
    pub path: String,
    /// The ffprobe binary, if one was found.
    pub ffprobe_path: Option<String>,
    /// The version as the binary prints it (`5.1.6-0+deb12u1`, `N-112345-g…`).
    pub version: String,
    /// The release series: major version.
    pub major: u32,
    /// The release series: minor version (0 for a git build).
    pub minor: u32,
}

impl Ffmpeg {
    /// Finds FFmpeg and checks it: the `configured` binary (a bare name such as `ffmpeg-7` is
    /// looked for on `PATH`), else `ffmpeg` on `PATH`. Runs `ffmpeg -hide_banner -version` and
    /// `ffmpeg -hide_banner -encoders` (each within [`DETECT_TIMEOUT`]), refuses versions below
    /// [`MIN_VERSION`], and looks for `ffprobe` in the same directory (a binary named
    /// `ffmpeg7` looks for `ffprobe7` first), then on `PATH`.
    pub async fn detect(configured: Option<&Path>) -> Result<Ffmpeg, FfmpegError> {
        let path = match configured {
            Some(path) if is_bare_name(path) => {
                let name = path.to_string_lossy().into_owned();
                find_on_path(&name).ok_or(FfmpegError::NotOnPath { name })?
            }
            Some(path) => {
                if !path.exists() {
                    return Err(FfmpegError::Missing {
                        path: path.to_path_buf(),
                    });
                }
                path.to_path_buf()
            }
            None => find_on_path("ffmpeg").ok_or_else(|| FfmpegError::NotOnPath {
                name: "ffmpeg".to_owned(),
            })?,
        };

        let output = run_bounded(
            &path,
            &strings(&["-hide_banner", "-version"]),
            None,
            DETECT_TIMEOUT,
            VERSION_OUTPUT_LIMIT,
            "ffmpeg -version",
        )
        .await?;
        output.check("ffmpeg -version")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let Some((version, version_number)) = parse_version(&text) else {
            return Err(FfmpegError::UnknownVersion {
                path,
                first_line: truncate_chars(text.lines().next().unwrap_or(""), 120),
            });
        };
        if version_number < MIN_VERSION {
            return Err(FfmpegError::TooOld { path, version });
        }

        let output = run_bounded(
            &path,
            &strings(&["-hide_banner", "-encoders"]),
            None,
            DETECT_TIMEOUT,
            VERSION_OUTPUT_LIMIT,
            "ffmpeg -encoders",
        )
        .await?;
        output.check("ffmpeg -encoders")?;
        let encoders = parse_encoders(&String::from_utf8_lossy(&output.stdout));

        let ffprobe = find_ffprobe(&path);
        tracing::info!(
            ffmpeg = %path.display(),
            ffprobe = ?ffprobe.as_ref().map(|p| p.display().to_string()),
            %version,
            encoders = encoders.len(),
            "FFmpeg detected"
        );
        Ok(Ffmpeg {
            path,
            ffprobe,
            version,
            version_number,
            encoders: Arc::new(encoders),
        })
    }

    /// The FFmpeg binary.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ffprobe binary, if one was found.
    pub fn ffprobe_path(&self) -> Option<&Path> {
        self.ffprobe.as_deref()
    }

    /// The version as the binary prints it (`5.1.6-0+deb12u1`, `n6.1`, `N-112345-g…`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The release series (major, minor); a git build's comes from its libavutil (minor 0).
    pub fn version_number(&self) -> (u32, u32) {
        self.version_number
    }

    /// Whether the build has an encoder of that name (`libx264`, `h264_nvenc`).
    pub fn has_encoder(&self, name: &str) -> bool {
        self.encoders.contains(name)
    }

    /// The build's encoders, by name.
    pub fn encoders(&self) -> impl Iterator<Item = &str> {
        self.encoders.iter().map(String::as_str)
    }

    /// What was found, for the API.
    pub fn info(&self) -> FfmpegInfo {
        FfmpegInfo {
            path: self.path.display().to_string(),
            ffprobe_path: self.ffprobe.as_ref().map(|p| p.display().to_string()),
            version: self.version.clone(),
            major: self.version_number.0,
            minor: self.version_number.1,
        }
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn is_bare_name(path: &Path) -> bool {
    let mut components = path.components();
    matches!(
        (components.next(), components.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) && !path
        .as_os_str()
        .to_string_lossy()
        .contains(std::path::MAIN_SEPARATOR)
}

/// The first executable file called `name` in a directory of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&file))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn find_ffprobe(ffmpeg: &Path) -> Option<PathBuf> {
    let exe = std::env::consts::EXE_SUFFIX;
    if let Some(dir) = ffmpeg.parent() {
        let mut names = Vec::new();
        if let Some(file) = ffmpeg.file_name().and_then(OsStr::to_str) {
            let stem = file.strip_suffix(exe).unwrap_or(file);
            if stem.contains("ffmpeg") && stem != "ffmpeg" {
                names.push(format!("{}{exe}", stem.replacen("ffmpeg", "ffprobe", 1)));
            }
        }
        names.push(format!("ffprobe{exe}"));
        for name in names {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Some(candidate);
            }
        }
    }
    find_on_path("ffprobe")
}

/// The version text and its release series, from `ffmpeg -version`'s output.
///
/// `ffmpeg version 5.1.6-0+deb12u1 Copyright…` gives `("5.1.6-0+deb12u1", (5, 1))`; a tag
/// such as `n6.1` gives `(6, 1)`; a build whose version names no release (`N-112345-g…`,
/// `git-2024-01-01-…`) is placed by its `libavutil` line (libavutil 58 is FFmpeg 6, minor 0).
fn parse_version(output: &str) -> Option<(String, (u32, u32))> {
    let line = output.lines().find(|l| l.contains("version "))?;
    let after = &line[line.find("version ")? + "version ".len()..];
    let text = after.split_whitespace().next()?.to_owned();
    if let Some(number) = release_number(&text) {
        return Some((text, number));
    }
    let lavu_major = output.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("libavutil")?;
        let major = rest.trim_start().split('.').next()?.trim();
        major.parse::<u32>().ok()
    })?;
    // libavutil 56 shipped with FFmpeg 4, 57 with 5, 58 with 6, 59 with 7, 60 with 8.
    Some((text, (lavu_major.checked_sub(52)?, 0)))
}

/// `5.1.6-0+deb12u1` → (5, 1); `n6.1` → (6, 1); `7.0.2-static` → (7, 0); `N-1234-g…` → None.
fn release_number(text: &str) -> Option<(u32, u32)> {
    let text = match text.strip_prefix('n') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => text,
    };
    let major_end = text.find(|c: char| !c.is_ascii_digit())?;
    if major_end == 0 || major_end > 2 || !text[major_end..].starts_with('.') {
        return None;
    }
    let major = text[..major_end].parse().ok()?;
    let rest = &text[major_end + 1..];
    let minor_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if minor_end == 0 {
        return None;
    }
    let minor = rest[..minor_end].parse().ok()?;
    Some((major, minor))
}

/// The encoder names of `ffmpeg -encoders`' output (the lines after the `------` one).
fn parse_encoders(output: &str) -> BTreeSet<String> {
    let mut encoders = BTreeSet::new();
    let mut listing = false;
    for line in output.lines() {
        let line = line.trim();
        if line.starts_with("------") {
            listing = true;
            continue;
        }
        if !listing {
            continue;
        }
        let mut words = line.split_whitespace();
        if let (Some(flags), Some(name)) = (words.next(), words.next())
            && flags.len() == 6
            && flags.chars().all(|c| "VASFXBD.".contains(c))
        {
            encoders.insert(name.to_owned());
        }
    }
    encoders
}

// ---------------------------------------------------------------------------------------------
// Hardware acceleration
// ---------------------------------------------------------------------------------------------

/// A hardware encoding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum HwAccel {
    /// VA-API (Intel and AMD on Linux), through [`VAAPI_DEVICE`].
    Vaapi,
    /// NVIDIA NVENC.
    Nvenc,
    /// Intel Quick Sync Video.
    Qsv,
    /// AMD AMF.
    Amf,
}

impl HwAccel {
    /// Every method, in the order `auto` prefers them.
    pub const ALL: [HwAccel; 4] = [HwAccel::Vaapi, HwAccel::Nvenc, HwAccel::Qsv, HwAccel::Amf];

    /// Its name in a profile (`vaapi`, `nvenc`, `qsv`, `amf`).
    pub fn name(self) -> &'static str {
        match self {
            HwAccel::Vaapi => "vaapi",
            HwAccel::Nvenc => "nvenc",
            HwAccel::Qsv => "qsv",
            HwAccel::Amf => "amf",
        }
    }

    /// The method of that name (case-insensitive).
    pub fn from_name(name: &str) -> Option<HwAccel> {
        let name = name.trim();
        HwAccel::ALL
            .into_iter()
            .find(|hw| hw.name().eq_ignore_ascii_case(name))
    }

    /// Its encoder for a codec (`h264_vaapi`, `hevc_nvenc`, `av1_qsv`); `None` for `copy`.
    pub fn encoder(self, codec: VideoCodec) -> Option<&'static str> {
        Some(match (self, codec) {
            (_, VideoCodec::Copy) => return None,
            (HwAccel::Vaapi, VideoCodec::H264) => "h264_vaapi",
            (HwAccel::Vaapi, VideoCodec::Hevc) => "hevc_vaapi",
            (HwAccel::Vaapi, VideoCodec::Av1) => "av1_vaapi",
            (HwAccel::Nvenc, VideoCodec::H264) => "h264_nvenc",
            (HwAccel::Nvenc, VideoCodec::Hevc) => "hevc_nvenc",
            (HwAccel::Nvenc, VideoCodec::Av1) => "av1_nvenc",
            (HwAccel::Qsv, VideoCodec::H264) => "h264_qsv",
            (HwAccel::Qsv, VideoCodec::Hevc) => "hevc_qsv",
            (HwAccel::Qsv, VideoCodec::Av1) => "av1_qsv",
            (HwAccel::Amf, VideoCodec::H264) => "h264_amf",
            (HwAccel::Amf, VideoCodec::Hevc) => "hevc_amf",
            (HwAccel::Amf, VideoCodec::Av1) => "av1_amf",
        })
    }

    /// The names `ffmpeg -hwaccels` lists the method under.
    fn hwaccel_names(self) -> &'static [&'static str] {
        match self {
            HwAccel::Vaapi => &["vaapi"],
            HwAccel::Nvenc => &["cuda", "nvdec"],
            HwAccel::Qsv => &["qsv"],
            HwAccel::Amf => &["amf", "d3d11va"],
        }
    }

    /// The filters that bring software frames to the encoder.
    fn upload_filters(self) -> &'static [&'static str] {
        match self {
            HwAccel::Vaapi => &["format=nv12", "hwupload"],
            HwAccel::Qsv => &["format=nv12"],
            HwAccel::Nvenc | HwAccel::Amf => &[],
        }
    }
}

impl fmt::Display for HwAccel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One hardware method as [`Ffmpeg::probe_hardware`] found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HwCandidate {
    /// The method.
    pub kind: HwAccel,
    /// The H.264 encoder tried.
    pub encoder: String,
    /// Whether `ffmpeg -hwaccels` lists the method (the build has it; the machine may not).
    pub listed: bool,
    /// Whether the test encode worked.
    pub usable: bool,
    /// Why the test encode failed (FFmpeg's most telling error line).
    pub error: Option<String>,
}

/// The hardware acceleration FFmpeg can use on this machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HardwareReport {
    /// The methods `ffmpeg -hwaccels` lists.
    pub hwaccels: Vec<String>,
    /// Each candidate, in the order `auto` prefers them.
    pub candidates: Vec<HwCandidate>,
}

impl HardwareReport {
    /// The method for a profile's `hardware_acceleration`: `auto` the first usable one, `none`
    /// (or an empty or unknown preference) none, a named method itself when it is usable and
    /// else none, which means software encoding.
    pub fn chosen(&self, preference: &str) -> Option<HwAccel> {
        let preference = preference.trim();
        if preference.eq_ignore_ascii_case("auto") {
            return self.usable().next();
        }
        let wanted = HwAccel::from_name(preference)?;
        self.usable().find(|hw| *hw == wanted)
    }

    /// The usable methods, in preference order.
    pub fn usable(&self) -> impl Iterator<Item = HwAccel> + '_ {
        self.candidates.iter().filter(|c| c.usable).map(|c| c.kind)
    }
}

impl Ffmpeg {
    /// Which hardware encoders work here: lists `ffmpeg -hide_banner -hwaccels`, then tries
    /// each candidate's H.264 encoder with a one-second encode of a test picture (each within
    /// [`HARDWARE_TEST_TIMEOUT`]). VAAPI is tried through [`VAAPI_DEVICE`] and reported
    /// unusable without running when that device does not exist; a candidate whose encoder the
    /// build lacks is reported unusable without running too.
    pub async fn probe_hardware(&self) -> HardwareReport {
        let hwaccels = match run_bounded(
            &self.path,
            &strings(&["-hide_banner", "-hwaccels"]),
            None,
            DETECT_TIMEOUT,
            VERSION_OUTPUT_LIMIT,
            "ffmpeg -hwaccels",
        )
        .await
        {
            Ok(output) if output.status.success() => {
                parse_hwaccels(&String::from_utf8_lossy(&output.stdout))
            }
            Ok(output) => {
                tracing::warn!(status = %output.status, "ffmpeg -hwaccels failed");
                Vec::new()
            }
            Err(error) => {
                tracing::warn!(%error, "ffmpeg -hwaccels failed");
                Vec::new()
            }
        };
        let mut candidates = Vec::new();
        for kind in HwAccel::ALL {
            let encoder = kind
                .encoder(VideoCodec::H264)
                .unwrap_or_default()
                .to_owned();
            let listed = kind
                .hwaccel_names()
                .iter()
                .any(|name| hwaccels.iter().any(|h| h == name));
            let result = self.test_encode(kind, &encoder).await;
            let (usable, error) = match result {
                Ok(()) => (true, None),
                Err(message) => (false, Some(message)),
            };
            tracing::debug!(%kind, listed, usable, error = error.as_deref(), "hardware encoder tested");
            candidates.push(HwCandidate {
                kind,
                encoder,
                listed,
                usable,
                error,
            });
        }
        HardwareReport {
            hwaccels,
            candidates,
        }
    }

    async fn test_encode(&self, kind: HwAccel, encoder: &str) -> Result<(), String> {
        if !self.has_encoder(encoder) {
            return Err(format!("this FFmpeg build has no {encoder} encoder"));
        }
        let mut args = strings(&["-hide_banner", "-nostdin", "-loglevel", "error"]);
        if kind == HwAccel::Vaapi {
            if !Path::new(VAAPI_DEVICE).exists() {
                return Err(format!("no VAAPI render device at {VAAPI_DEVICE}"));
            }
            args.extend(strings(&["-vaapi_device", VAAPI_DEVICE]));
        }
        args.extend(strings(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
        ]));
        let filters = kind.upload_filters();
        if !filters.is_empty() {
            args.push("-vf".to_owned());
            args.push(filters.join(","));
        }
        args.extend(strings(&["-c:v", encoder, "-f", "null", "-"]));
        let what = format!("the {kind} test encode");
        match run_bounded(
            &self.path,
            &args,
            None,
            HARDWARE_TEST_TIMEOUT,
            STDERR_TAIL,
            &what,
        )
        .await
        {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => {
                let lines = error_lines(&String::from_utf8_lossy(&output.stderr));
                let prefix = format!("{encoder}: ");
                let telling = lines
                    .iter()
                    .find(|line| line.starts_with(&prefix))
                    .or(lines.last())
                    .cloned();
                Err(telling.unwrap_or_else(|| {
                    format!(
                        "{} without an error message",
                        ExitReason::from_status(output.status)
                    )
                }))
            }
            Err(error) => Err(error.to_string()),
        }
    }
}

fn parse_hwaccels(output: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut listing = false;
    for line in output.lines() {
        let line = line.trim();
        if line.starts_with("Hardware acceleration methods") {
            listing = true;
        } else if listing && !line.is_empty() {
            names.push(line.to_owned());
        }
    }
    names
}

// ---------------------------------------------------------------------------------------------
// Profile arguments
// ---------------------------------------------------------------------------------------------

/// A relay profile's video codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// The source's video as it is.
    Copy,
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    Hevc,
    /// AV1.
    Av1,
}

impl VideoCodec {
    /// The codec of a profile's `video_codec` (`copy`, `h264`, `hevc` or `h265`, `av1`;
    /// case-insensitive).
    pub fn from_name(name: &str) -> Option<VideoCodec> {
        match name.trim().to_ascii_lowercase().as_str() {
            "copy" => Some(VideoCodec::Copy),
            "h264" | "avc" => Some(VideoCodec::H264),
            "hevc" | "h265" => Some(VideoCodec::Hevc),
            "av1" => Some(VideoCodec::Av1),
            _ => None,
        }
    }

    /// Its name in a profile.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Copy => "copy",
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
            VideoCodec::Av1 => "av1",
        }
    }

    /// The software encoders for it, best first.
    fn software_encoders(self) -> &'static [&'static str] {
        match self {
            VideoCodec::Copy => &[],
            VideoCodec::H264 => &["libx264"],
            VideoCodec::Hevc => &["libx265"],
            VideoCodec::Av1 => &["libsvtav1", "libaom-av1"],
        }
    }
}

/// A relay profile's audio codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// The source's audio as it is.
    Copy,
    /// AAC (FFmpeg's native encoder).
    Aac,
    /// AC-3.
    Ac3,
    /// Opus (`libopus`, else FFmpeg's experimental native encoder).
    Opus,
}

impl AudioCodec {
    /// The codec of a profile's `audio_codec` (`copy`, `aac`, `ac3`, `opus`; case-insensitive).
    pub fn from_name(name: &str) -> Option<AudioCodec> {
        match name.trim().to_ascii_lowercase().as_str() {
            "copy" => Some(AudioCodec::Copy),
            "aac" => Some(AudioCodec::Aac),
            "ac3" => Some(AudioCodec::Ac3),
            "opus" => Some(AudioCodec::Opus),
            _ => None,
        }
    }

    /// Its name in a profile.
    pub fn name(self) -> &'static str {
        match self {
            AudioCodec::Copy => "copy",
            AudioCodec::Aac => "aac",
            AudioCodec::Ac3 => "ac3",
            AudioCodec::Opus => "opus",
        }
    }
}

/// An encoding speed, in x264's terms; each encoder gets its nearest equivalent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Preset {
    /// Fastest, largest.
    Ultrafast,
    /// `superfast`.
    Superfast,
    /// `veryfast`, the default of software encoding in relay mode.
    Veryfast,
    /// `faster`.
    Faster,
    /// `fast`.
    Fast,
    /// `medium`, x264's own default.
    Medium,
    /// `slow`.
    Slow,
    /// `slower`.
    Slower,
    /// Slowest, smallest.
    Veryslow,
}

impl Preset {
    /// Every preset, fastest first.
    pub const ALL: [Preset; 9] = [
        Preset::Ultrafast,
        Preset::Superfast,
        Preset::Veryfast,
        Preset::Faster,
        Preset::Fast,
        Preset::Medium,
        Preset::Slow,
        Preset::Slower,
        Preset::Veryslow,
    ];

    /// The preset used when a profile sets none, for software encoders: a live channel must
    /// encode at least in real time on modest hardware.
    pub const DEFAULT_SOFTWARE: Preset = Preset::Veryfast;

    /// Its name (`ultrafast` … `veryslow`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Ultrafast => "ultrafast",
            Preset::Superfast => "superfast",
            Preset::Veryfast => "veryfast",
            Preset::Faster => "faster",
            Preset::Fast => "fast",
            Preset::Medium => "medium",
            Preset::Slow => "slow",
            Preset::Slower => "slower",
            Preset::Veryslow => "veryslow",
        }
    }

    /// The preset of that name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Preset> {
        let name = name.trim();
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The encoder's options for it.
    fn encoder_args(self, encoder: &str, version: (u32, u32)) -> Vec<String> {
        let i = self.index();
        match encoder {
            "libx264" | "libx265" => vec!["-preset".into(), self.name().into()],
            // SVT-AV1 presets run from 13 (fastest) to 0.
            "libsvtav1" => {
                let n = [12, 11, 10, 9, 8, 7, 5, 4, 2][i];
                vec!["-preset".into(), n.to_string()]
            }
            // libaom's speed runs from 8 (fastest) to 0.
            "libaom-av1" => {
                let n = [8, 8, 7, 6, 5, 4, 3, 2, 1][i];
                vec!["-cpu-used".into(), n.to_string()]
            }
            e if e.ends_with("_nvenc") => {
                let name = if version >= (4, 3) {
                    ["p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7"][i]
                } else {
                    [
                        "fast", "fast", "fast", "fast", "fast", "medium", "slow", "slow", "slow",
                    ][i]
                };
                vec!["-preset".into(), name.into()]
            }
            e if e.ends_with("_qsv") => {
                let name = self.max(Preset::Veryfast).name();
                vec!["-preset".into(), name.into()]
            }
            e if e.ends_with("_amf") => {
                let quality = match self {
                    Preset::Ultrafast | Preset::Superfast | Preset::Veryfast | Preset::Faster => {
                        "speed"
                    }
                    Preset::Fast | Preset::Medium => "balanced",
                    Preset::Slow | Preset::Slower | Preset::Veryslow => "quality",
                };
                vec!["-quality".into(), quality.into()]
            }
            // VAAPI has no preset.
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A relay profile, checked, from which FFmpeg's arguments are built.
///
/// Built from a stored profile with [`TranscodeProfile::from_input`], which checks every field;
/// [`TranscodeProfile::args`] checks them again, so a value built by hand cannot bypass the
/// checks either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscodeProfile {
    /// Video codec.
    pub video: VideoCodec,
    /// Audio codec.
    pub audio: AudioCodec,
    /// Video bitrate in kbit/s (also the peak rate, with a buffer of two seconds of it); none:
    /// the encoder's quality default.
    pub video_bitrate_kbps: Option<u32>,
    /// Audio bitrate in kbit/s; none: the encoder's default.
    pub audio_bitrate_kbps: Option<u32>,
    /// The most lines of the output picture (never scaled up, width following the aspect
    /// ratio, rounded down to an even number); used only when video is encoded.
    pub max_height: Option<u32>,
    /// The encoding speed; none: [`Preset::DEFAULT_SOFTWARE`] for software encoders, the
    /// encoder's default for hardware ones.
    pub preset: Option<Preset>,
    /// The hardware acceleration preference (`auto`, `none`, `vaapi`, `nvenc`, `qsv`, `amf`),
    /// for [`HardwareReport::chosen`].
    pub hardware_acceleration: String,
    /// The output container.
    pub container: VideoContainer,
    /// A user's encoder-tuning options (see [`validate_extra_args`]), placed after the
    /// profile's own so that they override them.
    pub extra_args: Vec<String>,
}

/// The highest video bitrate accepted, in kbit/s.
pub const MAX_VIDEO_BITRATE_KBPS: u32 = 200_000;
/// The highest audio bitrate accepted, in kbit/s.
pub const MAX_AUDIO_BITRATE_KBPS: u32 = 1_536;
/// The lowest and highest `max_height` accepted.
pub const MAX_HEIGHT_RANGE: (u32, u32) = (16, 4320);

impl TranscodeProfile {
    /// The profile of a stored relay profile, with its preset and extra arguments, checked:
    /// codecs, hardware preference and preset must be known names, bitrates and height within
    /// bounds (0 means unset), extra arguments within the allow-list.
    pub fn from_input(
        input: &RelayProfileInput,
        preset: Option<&str>,
        extra_args: &[String],
    ) -> Result<TranscodeProfile, FfmpegError> {
        let video = VideoCodec::from_name(&input.video_codec).ok_or_else(|| {
            FfmpegError::InvalidProfile {
                field: "video_codec",
                reason: format!(
                    "`{}` is not one of copy, h264, hevc, av1",
                    truncate_chars(&input.video_codec, 32)
                ),
            }
        })?;
        let audio = AudioCodec::from_name(&input.audio_codec).ok_or_else(|| {
            FfmpegError::InvalidProfile {
                field: "audio_codec",
                reason: format!(
                    "`{}` is not one of copy, aac, ac3, opus",
                    truncate_chars(&input.audio_codec, 32)
                ),
            }
        })?;
        let preset = match preset.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(name) => {
                Some(
                    Preset::from_name(name).ok_or_else(|| FfmpegError::InvalidProfile {
                        field: "preset",
                        reason: format!(
                            "`{}` is not one of {}",
                            truncate_chars(name, 32),
                            Preset::ALL.map(Preset::name).join(", ")
                        ),
                    })?,
                )
            }
        };
        let profile = TranscodeProfile {
            video,
            audio,
            video_bitrate_kbps: input.video_bitrate_kbps.filter(|b| *b > 0),
            audio_bitrate_kbps: input.audio_bitrate_kbps.filter(|b| *b > 0),
            max_height: input.max_height.filter(|h| *h > 0),
            preset,
            hardware_acceleration: input.hardware_acceleration.trim().to_ascii_lowercase(),
            container: input.container,
            extra_args: extra_args.to_vec(),
        };
        profile.validate()?;
        Ok(profile)
    }

    /// Checks every field (as [`TranscodeProfile::from_input`] does).
    pub fn validate(&self) -> Result<(), FfmpegError> {
        let invalid = |field, reason: String| Err(FfmpegError::InvalidProfile { field, reason });
        if let Some(b) = self.video_bitrate_kbps
            && (b == 0 || b > MAX_VIDEO_BITRATE_KBPS)
        {
            return invalid(
                "video_bitrate_kbps",
                format!("{b} is not between 1 and {MAX_VIDEO_BITRATE_KBPS}"),
            );
        }
        if let Some(b) = self.audio_bitrate_kbps
            && (b == 0 || b > MAX_AUDIO_BITRATE_KBPS)
        {
            return invalid(
                "audio_bitrate_kbps",
                format!("{b} is not between 1 and {MAX_AUDIO_BITRATE_KBPS}"),
            );
        }
        if let Some(h) = self.max_height
            && !(MAX_HEIGHT_RANGE.0..=MAX_HEIGHT_RANGE.1).contains(&h)
        {
            return invalid(
                "max_height",
                format!(
                    "{h} is not between {} and {}",
                    MAX_HEIGHT_RANGE.0, MAX_HEIGHT_RANGE.1
                ),
            );
        }
        let hw = self.hardware_acceleration.as_str();
        if !(hw.is_empty()
            || hw.eq_ignore_ascii_case("auto")
            || hw.eq_ignore_ascii_case("none")
            || HwAccel::from_name(hw).is_some())
        {
            return invalid(
                "hardware_acceleration",
                format!(
                    "`{}` is not one of auto, none, vaapi, nvenc, qsv, amf",
                    truncate_chars(hw, 32)
                ),
            );
        }
        validate_extra_args(&self.extra_args)
    }

    /// FFmpeg's arguments (without the program) for this profile, encoding with `hw` when it is
    /// given and the build has its encoder for the codec (else in software). The input is
    /// standard input (`-i pipe:0`, with `-fflags +genpts+discardcorrupt`, analysed for
    /// [`ANALYZE_DURATION_US`]); the first video
    /// stream and every audio stream are kept (subtitle and data streams are not). The output
    /// is MPEG-TS on standard output for [`VideoContainer::MpegTs`], and an HLS playlist
    /// ([`HLS_PLAYLIST`]) with its segments in `hls_dir` (an absolute path) for the HLS
    /// containers, which need it; HLS with fMP4 segments encodes `copy` audio to AAC, since
    /// the filter that moves ADTS AAC into MP4 refuses every other codec and the source's codec
    /// is not known yet.
    pub fn args(
        &self,
        ffmpeg: &Ffmpeg,
        hw: Option<HwAccel>,
        hls_dir: Option<&Path>,
    ) -> Result<Vec<String>, FfmpegError> {
        self.validate()?;
        let mut args = strings(&["-hide_banner", "-nostdin", "-loglevel", "error", "-stats"]);

        let video_encoder = match self.video {
            VideoCodec::Copy => None,
            codec => Some(select_video_encoder(ffmpeg, codec, hw)?),
        };
        if let Some((_, Some(HwAccel::Vaapi))) = video_encoder {
            args.extend(strings(&["-vaapi_device", VAAPI_DEVICE]));
        }
        args.extend([
            "-analyzeduration".to_owned(),
            ANALYZE_DURATION_US.to_string(),
        ]);
        args.extend(strings(&[
            "-fflags",
            "+genpts+discardcorrupt",
            "-i",
            "pipe:0",
            "-map",
            "0:v:0?",
            "-map",
            "0:a?",
        ]));

        match video_encoder {
            None => args.extend(strings(&["-c:v", "copy"])),
            Some((encoder, hw)) => {
                args.extend(strings(&["-c:v", encoder]));
                let mut filters = Vec::new();
                if let Some(height) = self.max_height {
                    let height = height & !1;
                    filters.push(format!("scale=-2:min({height}\\,ih)"));
                }
                if let Some(hw) = hw {
                    filters.extend(hw.upload_filters().iter().map(|f| (*f).to_owned()));
                }
                if !filters.is_empty() {
                    args.push("-vf".into());
                    args.push(filters.join(","));
                }
                if encoder == "libx264" {
                    // A 10-bit source would otherwise become High 10, which few players decode.
                    args.extend(strings(&["-pix_fmt", "yuv420p"]));
                }
                let preset = match (self.preset, hw) {
                    (Some(preset), _) => Some(preset),
                    (None, None) => Some(Preset::DEFAULT_SOFTWARE),
                    (None, Some(_)) => None,
                };
                if let Some(preset) = preset {
                    args.extend(preset.encoder_args(encoder, ffmpeg.version_number));
                }
                if encoder == "libaom-av1" {
                    args.extend(strings(&["-row-mt", "1"]));
                }
                if let Some(kbps) = self.video_bitrate_kbps {
                    args.extend([
                        "-b:v".to_owned(),
                        format!("{kbps}k"),
                        "-maxrate:v".to_owned(),
                        format!("{kbps}k"),
                        "-bufsize:v".to_owned(),
                        format!("{}k", u64::from(kbps) * 2),
                    ]);
                }
                args.push("-force_key_frames".into());
                args.push(format!("expr:gte(t,n_forced*{HLS_SEGMENT_SECONDS})"));
                if hw == Some(HwAccel::Nvenc) {
                    args.extend(strings(&["-forced-idr", "1"]));
                }
                if self.video == VideoCodec::Hevc && self.container == VideoContainer::HlsFmp4 {
                    // Apple's players want HEVC in MP4 tagged hvc1.
                    args.extend(strings(&["-tag:v", "hvc1"]));
                }
            }
        }

        // Copying ADTS AAC into fMP4 needs the aac_adtstoasc filter, which refuses every other
        // codec, and the source's codec is not known yet: fMP4 output encodes its audio.
        let audio = match (self.audio, self.container) {
            (AudioCodec::Copy, VideoContainer::HlsFmp4) => AudioCodec::Aac,
            (audio, _) => audio,
        };
        match audio {
            AudioCodec::Copy => args.extend(strings(&["-c:a", "copy"])),
            AudioCodec::Aac => args.extend(strings(&["-c:a", "aac"])),
            AudioCodec::Ac3 => args.extend(strings(&["-c:a", "ac3"])),
            AudioCodec::Opus if ffmpeg.has_encoder("libopus") => {
                args.extend(strings(&["-c:a", "libopus"]))
            }
            AudioCodec::Opus => args.extend(strings(&["-c:a", "opus", "-strict", "-2"])),
        }
        if audio != AudioCodec::Copy
            && let Some(kbps) = self.audio_bitrate_kbps
        {
            args.push("-b:a".into());
            args.push(format!("{kbps}k"));
        }

        args.extend(self.extra_args.iter().cloned());
        args.extend(strings(&["-max_muxing_queue_size", "1024"]));

        match self.container {
            VideoContainer::MpegTs => args.extend(strings(&[
                "-f",
                "mpegts",
                "-mpegts_flags",
                "+resend_headers",
                "pipe:1",
            ])),
            container => {
                let dir = hls_dir.ok_or(FfmpegError::InvalidProfile {
                    field: "container",
                    reason: "HLS output needs a directory to write to".to_owned(),
                })?;
                let dir_text = dir.to_str().ok_or_else(|| FfmpegError::InvalidProfile {
                    field: "container",
                    reason: format!("the HLS directory {} is not valid UTF-8", dir.display()),
                })?;
                if dir_text.contains('%') || !dir.is_absolute() {
                    return Err(FfmpegError::InvalidProfile {
                        field: "container",
                        reason: format!(
                            "the HLS directory {dir_text} must be an absolute path without `%`"
                        ),
                    });
                }
                let (segment_type, extension) = match container {
                    VideoContainer::HlsFmp4 => ("fmp4", "m4s"),
                    _ => ("mpegts", "ts"),
                };
                args.extend([
                    "-f".to_owned(),
                    "hls".to_owned(),
                    "-hls_time".to_owned(),
                    HLS_SEGMENT_SECONDS.to_string(),
                    "-hls_list_size".to_owned(),
                    HLS_LIST_SIZE.to_string(),
                    "-hls_flags".to_owned(),
                    "delete_segments+independent_segments+temp_file".to_owned(),
                    "-hls_segment_type".to_owned(),
                    segment_type.to_owned(),
                ]);
                if container == VideoContainer::HlsFmp4 {
                    args.extend(strings(&["-hls_fmp4_init_filename", "init.mp4"]));
                }
                args.push("-hls_segment_filename".into());
                args.push(
                    dir.join(format!("segment_%05d.{extension}"))
                        .display()
                        .to_string(),
                );
                args.push(dir.join(HLS_PLAYLIST).display().to_string());
            }
        }
        Ok(args)
    }
}

/// The encoder for a codec: `hw`'s when the build has it, else the best software one.
fn select_video_encoder(
    ffmpeg: &Ffmpeg,
    codec: VideoCodec,
    hw: Option<HwAccel>,
) -> Result<(&'static str, Option<HwAccel>), FfmpegError> {
    if let Some(hw) = hw
        && let Some(encoder) = hw.encoder(codec)
    {
        if ffmpeg.has_encoder(encoder) {
            return Ok((encoder, Some(hw)));
        }
        tracing::debug!(%hw, encoder, "no such hardware encoder; encoding in software");
    }
    let candidates = codec.software_encoders();
    candidates
        .iter()
        .copied()
        .find(|e| ffmpeg.has_encoder(e))
        .map(|e| (e, None))
        .ok_or_else(|| FfmpegError::NoEncoder {
            codec: codec.name().to_owned(),
            candidates: candidates.join(", "),
        })
}

/// How an allowed option's value is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueKind {
    /// An integer, optionally negative.
    Int,
    /// A decimal number, optionally negative.
    Number,
    /// A bitrate: a number with an optional `k`, `M` or `G`.
    Bitrate,
    /// A frame rate: a number or a ratio (`30000/1001`).
    Rate,
    /// A word: letters, digits, `_ . + -`, starting with a letter or digit.
    Name,
    /// Codec flags: `+flag-flag`.
    Flags,
    /// An encoder's own `key=value:key=value` list, with keys that name files refused.
    Params,
}

/// The encoder-tuning options extra arguments may use (each also with a stream specifier
/// such as `:v` or `:a:0`).
const ALLOWED_OPTIONS: &[(&str, ValueKind)] = &[
    ("-b", ValueKind::Bitrate),
    ("-maxrate", ValueKind::Bitrate),
    ("-minrate", ValueKind::Bitrate),
    ("-bufsize", ValueKind::Bitrate),
    ("-g", ValueKind::Int),
    ("-bf", ValueKind::Int),
    ("-keyint_min", ValueKind::Int),
    ("-sc_threshold", ValueKind::Int),
    ("-refs", ValueKind::Int),
    ("-qmin", ValueKind::Int),
    ("-qmax", ValueKind::Int),
    ("-rc-lookahead", ValueKind::Int),
    ("-threads", ValueKind::Int),
    ("-compression_level", ValueKind::Int),
    ("-aq-mode", ValueKind::Int),
    ("-spatial-aq", ValueKind::Int),
    ("-temporal-aq", ValueKind::Int),
    ("-zerolatency", ValueKind::Int),
    ("-forced-idr", ValueKind::Int),
    ("-ac", ValueKind::Int),
    ("-ar", ValueKind::Int),
    ("-cutoff", ValueKind::Int),
    ("-crf", ValueKind::Number),
    ("-qp", ValueKind::Number),
    ("-cq", ValueKind::Number),
    ("-global_quality", ValueKind::Number),
    ("-r", ValueKind::Rate),
    ("-profile", ValueKind::Name),
    ("-level", ValueKind::Name),
    ("-tune", ValueKind::Name),
    ("-pix_fmt", ValueKind::Name),
    ("-preset", ValueKind::Name),
    ("-rc", ValueKind::Name),
    ("-coder", ValueKind::Name),
    ("-tier", ValueKind::Name),
    ("-quality", ValueKind::Name),
    ("-usage", ValueKind::Name),
    ("-fps_mode", ValueKind::Name),
    ("-aac_coder", ValueKind::Name),
    ("-flags", ValueKind::Flags),
    ("-x264-params", ValueKind::Params),
    ("-x264opts", ValueKind::Params),
    ("-x265-params", ValueKind::Params),
    ("-svtav1-params", ValueKind::Params),
];

/// Options refused with a reason of their own (the others are refused as not allowed).
const REFUSED_OPTIONS: &[(&[&str], &str)] = &[
    (
        &["-i"],
        "it adds an input; in relay mode FFmpeg reads the channel from standard input only",
    ),
    (
        &["-f"],
        "it sets a format; the output format comes from the profile's container",
    ),
    (
        &["-y", "-n"],
        "it concerns overwriting output files; the relay chooses the output",
    ),
    (
        &[
            "-vf",
            "-af",
            "-filter",
            "-filter_complex",
            "-lavfi",
            "-filter_script",
            "-filter_complex_script",
        ],
        "filtergraphs can open files and network resources (movie, amovie and other sources); \
         scaling comes from the profile's max_height",
    ),
    (
        &["-dump_attachment", "-attach"],
        "it reads or writes attachment files",
    ),
    (
        &["-metadata", "-map_metadata", "-map_chapters"],
        "metadata can be read from other inputs and files; the relay sets none",
    ),
    (
        &["-map"],
        "the relay maps the first video stream and every audio stream of its one input",
    ),
    (
        &["-c", "-codec", "-vcodec", "-acodec", "-scodec", "-dcodec"],
        "the codecs are the profile's video and audio codecs",
    ),
    (&["-progress"], "it writes progress to a file or a URL"),
    (
        &[
            "-vstats",
            "-vstats_file",
            "-report",
            "-passlogfile",
            "-pass",
            "-sdp_file",
            "-fpre",
            "-vpre",
            "-apre",
            "-spre",
        ],
        "it reads or writes a file",
    ),
    (
        &[
            "-loglevel",
            "-v",
            "-stats",
            "-nostats",
            "-stats_period",
            "-hide_banner",
            "-nostdin",
            "-stdin",
        ],
        "the relay reads FFmpeg's log and progress itself",
    ),
    (
        &[
            "-protocol_whitelist",
            "-protocol_blacklist",
            "-safe",
            "-headers",
            "-user_agent",
            "-cookies",
            "-http_proxy",
            "-rtsp_transport",
        ],
        "it concerns network protocols; FFmpeg opens no URL in relay mode",
    ),
    (
        &[
            "-hwaccel",
            "-hwaccel_device",
            "-hwaccel_output_format",
            "-init_hw_device",
            "-filter_hw_device",
            "-vaapi_device",
            "-qsv_device",
        ],
        "the hardware acceleration is the profile's hardware_acceleration",
    ),
    (
        &[
            "-t",
            "-to",
            "-ss",
            "-sseof",
            "-fs",
            "-frames",
            "-vframes",
            "-aframes",
            "-timelimit",
        ],
        "it would cut or end a live stream",
    ),
];

/// Keys of an encoder's parameter list (`-x264-params` and the like) that are refused: they
/// read or write files (statistics, quantiser and zone files, analysis and reconstruction
/// dumps) or start a multi-pass encode, which writes a statistics file.
const REFUSED_PARAM_KEYS: &[&str] = &[
    "file",
    "stats",
    "csv",
    "analysis",
    "dump",
    "pass",
    "recon",
    "scaling-list",
    "dhdr10",
    "input",
    "output",
    "load",
    "save",
    "table",
];

/// Checks a profile's extra arguments: each must be an option of the allow-list of
/// encoder-tuning options (`-g`, `-bf`, `-crf`, `-maxrate`, `-bufsize`, `-profile:v`, `-level`,
/// `-tune`, `-pix_fmt`, `-ac`, `-ar`, `-threads`, `-sc_threshold`, `-keyint_min`,
/// `-x264-params`, …) followed by a value of the expected form: a number, a bitrate, a word, or
/// an encoder's `key=value` list. Values never contain a path separator, a URL, a protocol
/// prefix or a filtergraph, and are bounded in length; an encoder's parameter keys that read
/// or write files (`stats`, `qpfile`, `pass`, `csv`, …) are refused. Everything else,
/// notably anything that could read or write a file or reach the network (`-i`, `-f`, `-y`,
/// filters, `-dump_attachment`, `-attach`, `-metadata`, `-progress`, bare output names, …),
/// is refused with an error that names the argument and says why.
pub fn validate_extra_args(args: &[String]) -> Result<(), FfmpegError> {
    if args.len() > MAX_EXTRA_ARGS {
        return Err(FfmpegError::RefusedArgument {
            argument: truncate_chars(&args[MAX_EXTRA_ARGS], 48),
            reason: format!("a profile has at most {MAX_EXTRA_ARGS} extra arguments"),
        });
    }
    let mut i = 0;
    while i < args.len() {
        let option = args[i].as_str();
        let refuse = |reason: String| FfmpegError::RefusedArgument {
            argument: truncate_chars(option, 48),
            reason,
        };
        if !option.starts_with('-') || option == "-" || option.len() < 2 {
            return Err(refuse(
                "it is not an option, and FFmpeg would take a bare word as the name of an \
                 output file (and `-` as standard output)"
                    .to_owned(),
            ));
        }
        if option.starts_with("-/") {
            return Err(refuse(
                "options in the `-/option file` form read their value from a file".to_owned(),
            ));
        }
        let (base, specifier) = match option.split_once(':') {
            Some((base, specifier)) => (base, Some(specifier)),
            None => (option, None),
        };
        if let Some((_, reason)) = REFUSED_OPTIONS
            .iter()
            .find(|(names, _)| names.contains(&base))
        {
            return Err(refuse((*reason).to_owned()));
        }
        if base.starts_with("-hls") || base.starts_with("-segment") {
            return Err(refuse("the relay sets the HLS output itself".to_owned()));
        }
        let Some((_, kind)) = ALLOWED_OPTIONS.iter().find(|(name, _)| *name == base) else {
            return Err(refuse(format!(
                "it is not one of the encoder-tuning options tvarr allows ({})",
                ALLOWED_OPTIONS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        };
        if let Some(specifier) = specifier
            && !valid_specifier(specifier)
        {
            return Err(refuse(format!(
                "the stream specifier `{}` is not one of v, a, v:N, a:N",
                truncate_chars(specifier, 16)
            )));
        }
        let Some(value) = args.get(i + 1) else {
            return Err(refuse("it needs a value".to_owned()));
        };
        check_value(*kind, value)
            .map_err(|why| refuse(format!("its value `{}` {why}", truncate_chars(value, 48))))?;
        i += 2;
    }
    Ok(())
}

fn valid_specifier(specifier: &str) -> bool {
    let (kind, index) = match specifier.split_once(':') {
        Some((kind, index)) => (kind, Some(index)),
        None => (specifier, None),
    };
    matches!(kind, "v" | "a")
        && index.is_none_or(|i| (1..=2).contains(&i.len()) && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Why a value does not fit its kind.
fn check_value(kind: ValueKind, value: &str) -> Result<(), String> {
    let limit = if kind == ValueKind::Params { 256 } else { 32 };
    if value.is_empty() {
        return Err("is empty".to_owned());
    }
    if value.chars().count() > limit {
        return Err(format!("is longer than {limit} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("contains a control character".to_owned());
    }
    if value.contains("://") {
        return Err("looks like a URL; extra arguments cannot reach the network".to_owned());
    }
    if value.contains('\\') || (value.contains('/') && kind != ValueKind::Rate) {
        return Err("contains a path separator; extra arguments cannot name files".to_owned());
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let decimal = |s: &str| match s.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(s),
    };
    let signed = |s: &str| s.strip_prefix('-').unwrap_or(s).to_owned();
    let ok = match kind {
        ValueKind::Int => digits(&signed(value)),
        ValueKind::Number => decimal(&signed(value)),
        ValueKind::Bitrate => {
            let number = value
                .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G'])
                .unwrap_or(value);
            decimal(number)
        }
        ValueKind::Rate => match value.split_once('/') {
            Some((num, den)) => digits(num) && digits(den),
            None => decimal(value),
        },
        ValueKind::Name => {
            value.starts_with(|c: char| c.is_ascii_alphanumeric())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c))
        }
        ValueKind::Flags => value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c)),
        ValueKind::Params => return check_params(value),
    };
    if ok {
        Ok(())
    } else {
        Err(match kind {
            ValueKind::Int => "is not a whole number",
            ValueKind::Number => "is not a number",
            ValueKind::Bitrate => "is not a bitrate (such as 4000k or 4M)",
            ValueKind::Rate => "is not a frame rate (such as 25 or 30000/1001)",
            ValueKind::Name => "is not a plain word (letters, digits, _ . + -)",
            ValueKind::Flags => "is not a list of flags (such as +cgop)",
            ValueKind::Params => "is not a key=value list",
        }
        .to_owned())
    }
}

/// Checks an encoder's `key=value:key=value` list.
fn check_params(value: &str) -> Result<(), String> {
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.,+-=:".contains(*c)))
    {
        return Err(format!(
            "contains `{c}`; an encoder's parameters are letters, digits and _ . , + - = :"
        ));
    }
    for pair in value.split(':').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(key, _)| key);
        let lower = key.to_ascii_lowercase();
        if let Some(word) = REFUSED_PARAM_KEYS.iter().find(|w| lower.contains(*w)) {
            return Err(format!(
                "sets `{key}`, and parameters about `{word}` read or write files"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/// One stats line of FFmpeg's (`frame=  123 fps= 25 q=28.0 size=     512kB
/// time=00:00:05.00 bitrate= 838.9kbits/s speed=1.0x`), parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsLine {
    /// Frames written (`frame=`; absent for audio only).
    pub frames: Option<u64>,
    /// Frames per second (`fps=`).
    pub fps: Option<f64>,
    /// Output written, in KiB (`size=` or `Lsize=`; none for `N/A`).
    pub size_kib: Option<u64>,
    /// Media time written (`time=`; a negative time is zero, `N/A` none).
    pub out_time: Option<Duration>,
    /// Output bitrate in kbit/s (`bitrate=`; none for `N/A`).
    pub bitrate_kbps: Option<f64>,
    /// Speed relative to real time (`speed=`; none for `N/A`).
    pub speed: Option<f64>,
}

impl StatsLine {
    /// The stats of one line of FFmpeg's standard error; `None` when it is not a stats line
    /// (it starts with neither `frame=`, `size=` nor `Lsize=`, or has no `time=`).
    pub fn parse(line: &str) -> Option<StatsLine> {
        let line = line.trim();
        if !(line.starts_with("frame=") || line.starts_with("size=") || line.starts_with("Lsize="))
        {
            return None;
        }
        // `fps= 25`, `size=     512kB`: the padding after `=` belongs to the value.
        let mut normalized = String::with_capacity(line.len());
        let mut after_equals = false;
        for c in line.chars() {
            if after_equals && c.is_whitespace() {
                continue;
            }
            after_equals = c == '=';
            normalized.push(c);
        }
        let mut stats = StatsLine::default();
        let mut has_time = false;
        for token in normalized.split_whitespace() {
            let Some((key, value)) = token.split_once('=') else {
                continue;
            };
            let value = if value == "N/A" { "" } else { value };
            match key {
                "frame" => stats.frames = value.parse().ok(),
                "fps" => stats.fps = parse_finite(value),
                "size" | "Lsize" => {
                    stats.size_kib = value
                        .strip_suffix("KiB")
                        .or_else(|| value.strip_suffix("kB"))
                        .and_then(|n| n.parse().ok())
                }
                "time" => {
                    has_time = true;
                    stats.out_time = parse_clock(value);
                }
                "bitrate" => {
                    stats.bitrate_kbps = value.strip_suffix("kbits/s").and_then(parse_finite)
                }
                "speed" => stats.speed = value.strip_suffix('x').and_then(parse_finite),
                _ => {}
            }
        }
        has_time.then_some(stats)
    }
}

fn parse_finite(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `00:00:05.00` → 5 s; `-00:00:00.00` → 0; hours may exceed 99.
fn parse_clock(value: &str) -> Option<Duration> {
    let (negative, value) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let mut parts = value.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !seconds.is_finite() || seconds < 0.0 || minutes >= 60 {
        return None;
    }
    if negative {
        return Some(Duration::ZERO);
    }
    let whole = hours.checked_mul(3600)?.checked_add(minutes * 60)?;
    Some(Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}

/// A transcoder's progress: its latest stats and its last error lines.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscodeProgress {
    /// Frames written.
    pub frames: Option<u64>,
    /// Frames per second.
    pub fps: Option<f64>,
    /// Media time written, in seconds.
    #[serde(rename = "out_time_secs", serialize_with = "serialize_secs")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub out_time: Option<Duration>,
    /// Output bitrate in kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Speed relative to real time (1.0: keeping up with a live channel).
    pub speed: Option<f64>,
    /// Output written, in KiB.
    pub size_kib: Option<u64>,
    /// Stats lines seen.
    pub updates: u64,
    /// The last error lines, oldest first (at most [`MAX_ERROR_LINES`], each at most
    /// [`MAX_ERROR_LINE_CHARS`] characters; `[h264 @ 0x…] message` reads `h264: message`).
    pub errors: Vec<String>,
}

fn serialize_secs<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_some(&duration.as_secs_f64()),
        None => serializer.serialize_none(),
    }
}

impl TranscodeProgress {
    /// Takes in one line of FFmpeg's standard error: a stats line updates the stats, any other
    /// non-blank line is kept as an error line.
    pub fn apply_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if let Some(stats) = StatsLine::parse(line) {
            self.frames = stats.frames.or(self.frames);
            self.fps = stats.fps;
            self.out_time = stats.out_time;
            self.bitrate_kbps = stats.bitrate_kbps;
            self.speed = stats.speed;
            self.size_kib = stats.size_kib;
            self.updates += 1;
            return;
        }
        if self.errors.len() >= MAX_ERROR_LINES {
            self.errors.remove(0);
        }
        self.errors.push(normalize_error_line(line));
    }

    /// Takes in a piece of standard error made of whole lines, split at `\r` and `\n`.
    pub fn apply_text(&mut self, text: &str) {
        for line in text.split(['\r', '\n']) {
            self.apply_line(line);
        }
    }

    /// The last error line.
    pub fn last_error(&self) -> Option<&str> {
        self.errors.last().map(String::as_str)
    }
}

/// `[h264_nvenc @ 0x55c6ec9417c0] Cannot load libcuda.so.1` → `h264_nvenc: Cannot load
/// libcuda.so.1` (the address changes with every run), shortened to
/// [`MAX_ERROR_LINE_CHARS`].
fn normalize_error_line(line: &str) -> String {
    let line = line.trim();
    let cleaned = line
        .strip_prefix('[')
        .and_then(|rest| {
            let (context, message) = rest.split_once("] ")?;
            let (name, address) = context.split_once(" @ ")?;
            address
                .starts_with("0x")
                .then(|| format!("{name}: {}", message.trim()))
        })
        .unwrap_or_else(|| line.to_owned());
    truncate_chars(&cleaned, MAX_ERROR_LINE_CHARS)
}

/// The error lines of a finished run's standard error (its stats lines left out).
fn error_lines(stderr: &str) -> Vec<String> {
    stderr
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|line| !line.is_empty() && StatsLine::parse(line).is_none())
        .map(normalize_error_line)
        .collect()
}

/// `text`, cut to at most `max` characters (the last one `…` when it was cut).
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Splits a byte stream into lines at `\r` and `\n`, each cut at [`MAX_STDERR_LINE`] bytes.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, bytes: &[u8], mut line: impl FnMut(&str)) {
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                self.flush(&mut line);
            } else if self.partial.len() < MAX_STDERR_LINE {
                self.partial.push(b);
            }
        }
    }

    fn flush(&mut self, mut line: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            line(&String::from_utf8_lossy(&self.partial));
            self.partial.clear();
        }
    }
}

/// A transcoder's progress, readable from any task while it runs.
#[derive(Clone, Debug, Default)]
pub struct ProgressHandle(Arc<Mutex<TranscodeProgress>>);

impl ProgressHandle {
    /// The progress now.
    pub fn get(&self) -> TranscodeProgress {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, TranscodeProgress> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn read_stderr(mut stderr: ChildStderr, progress: ProgressHandle) {
    let mut splitter = LineSplitter::default();
    let mut buffer = vec![0u8; 8192];
    loop {
        match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut state = progress.lock();
                splitter.push(&buffer[..n], |line| state.apply_line(line));
            }
        }
    }
    let mut state = progress.lock();
    splitter.flush(|line| state.apply_line(line));
}

// ---------------------------------------------------------------------------------------------
// Transcoder
// ---------------------------------------------------------------------------------------------

/// How a transcoder ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscodeExit {
    /// Its exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Whether it ended because [`Transcoder::stop`] asked.
    pub stopped: bool,
    /// Whether it had to be killed (it did not exit within [`STOP_GRACE`] of being stopped).
    pub killed: bool,
    /// Its last error line.
    pub last_error: Option<String>,
}

impl TranscodeExit {
    /// How it ended.
    pub fn reason(&self) -> ExitReason {
        match (self.code, self.signal) {
            (Some(0), _) => ExitReason::Success,
            (Some(code), _) => ExitReason::Code(code),
            (None, Some(signal)) => ExitReason::Signal(signal),
            (None, None) => ExitReason::Unknown,
        }
    }

    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for TranscodeExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.stopped, self.killed, self.reason()) {
            (true, true, _) => write!(
                f,
                "FFmpeg was stopped, and killed after not exiting within {} s",
                STOP_GRACE.as_secs()
            )?,
            (true, false, reason) => write!(f, "FFmpeg was stopped ({reason})")?,
            (false, _, ExitReason::Success) => f.write_str("FFmpeg exited normally")?,
            (false, _, ExitReason::Code(code)) => write!(f, "FFmpeg exited with code {code}")?,
            (false, _, reason @ ExitReason::Signal(13)) => {
                write!(f, "FFmpeg's output was closed ({reason})")?
            }
            (false, _, reason @ ExitReason::Signal(_)) => {
                write!(f, "FFmpeg crashed with {reason}")?
            }
            (false, _, ExitReason::Unknown) => f.write_str("FFmpeg ended (status unknown)")?,
        }
        if !self.success()
            && let Some(line) = &self.last_error
        {
            write!(f, ": {line}")?;
        }
        Ok(())
    }
}

/// A transcoder's output: FFmpeg's standard output as a stream of byte chunks.
pub type TranscodeOutput = ReaderStream<ChildStdout>;

/// A running FFmpeg, fed on standard input, read from standard output.
///
/// Spawned with [`Transcoder::spawn`] (within a Tokio runtime); the feeder takes the input
/// with [`Transcoder::take_stdin`] and writes the channel's bytes to it; the reader takes the
/// output with [`Transcoder::take_stdout`]. Its standard error is read by a task of its own
/// into the [`TranscodeProgress`]. See the [module documentation](self) for why FFmpeg is fed
/// rather than given the provider's URL.
///
/// The process runs in a process group of its own and is killed when the value is dropped;
/// [`Transcoder::stop`] ends it in order and reaps it.
#[derive(Debug)]
pub struct Transcoder {
    child: Child,
    pid: Option<u32>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    progress: ProgressHandle,
    stderr_task: Option<JoinHandle<()>>,
    status: Option<io::Result<ExitStatus>>,
    exit: Option<TranscodeExit>,
    stopped: bool,
    killed: bool,
}

impl Transcoder {
    /// Starts FFmpeg with `args` (as built by [`TranscodeProfile::args`]), its standard input
    /// and output piped.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn<I, S>(ffmpeg: &Ffmpeg, args: I) -> Result<Transcoder, FfmpegError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(ffmpeg.path());
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| FfmpegError::Spawn {
            program: ffmpeg.path().to_path_buf(),
            source,
        })?;
        let pid = child.id();
        let progress = ProgressHandle::default();
        let stderr_task = child
            .stderr
            .take()
            .map(|stderr| tokio::spawn(read_stderr(stderr, progress.clone())));
        tracing::debug!(pid, "FFmpeg transcoder started");
        Ok(Transcoder {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
            pid,
            progress,
            stderr_task,
            status: None,
            exit: None,
            stopped: false,
            killed: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// FFmpeg's standard input, for the feeder (once). Dropping it is end of input: FFmpeg
    /// finishes what it has and exits.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// FFmpeg's standard output as a byte stream (once); empty for an HLS output.
    pub fn take_stdout(&mut self) -> Option<TranscodeOutput> {
        self.stdout
            .take()
            .map(|stdout| ReaderStream::with_capacity(stdout, OUTPUT_CHUNK))
    }

    /// The progress now.
    pub fn progress(&self) -> TranscodeProgress {
        self.progress.get()
    }

    /// A handle that reads the progress from elsewhere.
    pub fn progress_handle(&self) -> ProgressHandle {
        self.progress.clone()
    }

    /// How it ended, once [`Transcoder::wait`] or [`Transcoder::stop`] saw it end.
    pub fn exit(&self) -> Option<&TranscodeExit> {
        self.exit.as_ref()
    }

    /// Whether the process has ended (without waiting).
    pub fn has_exited(&mut self) -> bool {
        if self.exit.is_some() || self.status.is_some() {
            return true;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(Ok(status));
                true
            }
            Ok(None) => false,
            Err(error) => {
                self.status = Some(Err(error));
                true
            }
        }
    }

    /// Waits for FFmpeg to end by itself (end of input, an error), reaps it, and says how it
    /// ended. Cancel-safe.
    pub async fn wait(&mut self) -> TranscodeExit {
        if let Some(exit) = &self.exit {
            return exit.clone();
        }
        if self.status.is_none() {
            self.status = Some(self.child.wait().await);
        }
        self.finish().await
    }

    /// Stops FFmpeg: closes its standard input (when the feeder has not taken it) and its
    /// standard output (when not taken), waits up to [`STOP_GRACE`] for it to exit, kills it
    /// otherwise, and reaps it. A feeder holding the input should drop it first: FFmpeg then
    /// finishes in order rather than being killed.
    pub async fn stop(&mut self) -> TranscodeExit {
        if let Some(exit) = &self.exit {
            return exit.clone();
        }
        self.stopped = true;
        drop(self.stdin.take());
        drop(self.stdout.take());
        if self.status.is_none() {
            let status = match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    tracing::debug!(pid = self.pid, "FFmpeg did not stop in time; killing it");
                    self.killed = true;
                    if let Err(error) = self.child.start_kill() {
                        tracing::warn!(pid = self.pid, %error, "killing FFmpeg failed");
                    }
                    self.child.wait().await
                }
            };
            self.status = Some(status);
        }
        self.finish().await
    }

    /// Drains standard error (bounded in time) and records the exit.
    async fn finish(&mut self) -> TranscodeExit {
        if let Some(task) = self.stderr_task.as_mut() {
            if tokio::time::timeout(STDERR_DRAIN, task).await.is_err() {
                tracing::debug!(pid = self.pid, "FFmpeg's standard error did not close");
            }
            self.stderr_task = None;
        }
        let reason = match &self.status {
            Some(Ok(status)) => ExitReason::from_status(*status),
            _ => ExitReason::Unknown,
        };
        let (code, signal) = match reason {
            ExitReason::Success => (Some(0), None),
            ExitReason::Code(code) => (Some(code), None),
            ExitReason::Signal(signal) => (None, Some(signal)),
            ExitReason::Unknown => (None, None),
        };
        let exit = TranscodeExit {
            code,
            signal,
            stopped: self.stopped,
            killed: self.killed,
            last_error: self.progress.get().last_error().map(str::to_owned),
        };
        tracing::debug!(pid = self.pid, exit = %exit, "FFmpeg transcoder ended");
        self.exit = Some(exit.clone());
        exit
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded runs: version, hardware tests, ffprobe, slate
// ---------------------------------------------------------------------------------------------

struct RunOutput {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl RunOutput {
    /// `Failed` unless it exited with code 0.
    fn check(&self, what: &str) -> Result<(), FfmpegError> {
        if self.status.success() {
            return Ok(());
        }
        Err(FfmpegError::Failed {
            what: what.to_owned(),
            reason: ExitReason::from_status(self.status),
            last_error: error_lines(&String::from_utf8_lossy(&self.stderr)).pop(),
        })
    }
}

/// Runs `program` with `args`, feeding `input` (else a null standard input), within `limit`
/// (killed and reaped after it), keeping at most `stdout_limit` bytes of standard output and
/// the end of standard error.
async fn run_bounded(
    program: &Path,
    args: &[String],
    input: Option<Bytes>,
    limit: Duration,
    stdout_limit: usize,
    what: &str,
) -> Result<RunOutput, FfmpegError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn().map_err(|source| FfmpegError::Spawn {
        program: program.to_path_buf(),
        source,
    })?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let run = async {
        let feed = async move {
            if let (Some(mut pipe), Some(data)) = (stdin, input) {
                // The reader may stop early (ffprobe does, once it knows enough).
                let _ = pipe.write_all(&data).await;
                let _ = pipe.shutdown().await;
            }
        };
        let (_, (out, overflow), (err, _)) = tokio::join!(
            feed,
            read_capped(stdout, stdout_limit),
            read_capped_tail(stderr, STDERR_TAIL)
        );
        let status = child.wait().await;
        (out, overflow, err, status)
    };
    let result = tokio::time::timeout(limit, run).await;
    let Ok((stdout, overflow, stderr, status)) = result else {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(FfmpegError::Timeout {
            what: what.to_owned(),
            seconds: limit.as_secs(),
        });
    };
    if overflow {
        return Err(FfmpegError::OutputTooLarge {
            what: what.to_owned(),
            limit: stdout_limit,
        });
    }
    let status = status.map_err(|source| FfmpegError::Io {
        what: what.to_owned(),
        source,
    })?;
    Ok(RunOutput {
        status,
        stdout,
        stderr,
    })
}

/// Reads up to `limit` bytes; `true` when there was more (the pipe is then closed).
async fn read_capped<R: AsyncRead + Unpin>(reader: Option<R>, limit: usize) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let Some(reader) = reader else {
        return (data, false);
    };
    let mut limited = reader.take(limit as u64 + 1);
    let _ = limited.read_to_end(&mut data).await;
    if data.len() > limit {
        data.truncate(limit);
        return (data, true);
    }
    (data, false)
}

/// Reads to the end, keeping the last `keep` bytes.
async fn read_capped_tail<R: AsyncRead + Unpin>(reader: Option<R>, keep: usize) -> (Vec<u8>, ()) {
    let mut tail: VecDeque<u8> = VecDeque::new();
    let Some(mut reader) = reader else {
        return (Vec::new(), ());
    };
    let mut buffer = vec![0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend(&buffer[..n]);
                let excess = tail.len().saturating_sub(keep);
                tail.drain(..excess);
            }
        }
    }
    (tail.into_iter().collect(), ())
}

// ---------------------------------------------------------------------------------------------
// ffprobe
// ---------------------------------------------------------------------------------------------

/// What ffprobe found in a stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaInfo {
    /// The container (`mpegts`).
    pub format: Option<String>,
    /// The overall bitrate in kbit/s, when known.
    pub bitrate_kbps: Option<u64>,
    /// Video streams.
    pub video: Vec<VideoStreamInfo>,
    /// Audio streams.
    pub audio: Vec<AudioStreamInfo>,
}

/// A video stream ffprobe found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoStreamInfo {
    /// The codec (`h264`, `hevc`, `mpeg2video`).
    pub codec: String,
    /// The codec profile (`High`, `Main 10`).
    pub profile: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// Pixel format (`yuv420p`).
    pub pix_fmt: Option<String>,
}

/// An audio stream ffprobe found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudioStreamInfo {
    /// The codec (`aac`, `ac3`, `mp2`).
    pub codec: String,
    /// Channels.
    pub channels: Option<u32>,
    /// Channel layout (`stereo`, `5.1(side)`).
    pub channel_layout: Option<String>,
    /// Sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// Language tag.
    pub language: Option<String>,
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    profile: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    pix_fmt: Option<String>,
    channels: Option<u32>,
    channel_layout: Option<String>,
    sample_rate: Option<String>,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    bit_rate: Option<String>,
}

/// `25/1` → 25.0; `0/0` → none.
fn parse_rate(rate: &str) -> Option<f64> {
    let (num, den) = rate.split_once('/')?;
    let (num, den) = (num.parse::<f64>().ok()?, den.parse::<f64>().ok()?);
    (num > 0.0 && den > 0.0).then(|| num / den)
}

impl MediaInfo {
    fn from_json(json: &[u8]) -> Result<MediaInfo, FfmpegError> {
        let probe: ProbeJson =
            serde_json::from_slice(json).map_err(|error| FfmpegError::ProbeOutput {
                reason: error.to_string(),
            })?;
        let mut info = MediaInfo {
            format: probe.format.as_ref().and_then(|f| f.format_name.clone()),
            bitrate_kbps: probe
                .format
                .as_ref()
                .and_then(|f| f.bit_rate.as_deref())
                .and_then(|b| b.parse::<u64>().ok())
                .map(|b| b / 1000),
            ..MediaInfo::default()
        };
        for stream in probe.streams {
            let codec = stream.codec_name.clone().unwrap_or_default();
            match stream.codec_type.as_deref() {
                Some("video") => info.video.push(VideoStreamInfo {
                    codec,
                    profile: stream.profile,
                    width: stream.width.filter(|w| *w > 0),
                    height: stream.height.filter(|h| *h > 0),
                    frame_rate: stream
                        .avg_frame_rate
                        .as_deref()
                        .and_then(parse_rate)
                        .or_else(|| stream.r_frame_rate.as_deref().and_then(parse_rate)),
                    pix_fmt: stream.pix_fmt,
                }),
                Some("audio") => info.audio.push(AudioStreamInfo {
                    codec,
                    channels: stream.channels,
                    channel_layout: stream.channel_layout,
                    sample_rate: stream.sample_rate.and_then(|r| r.parse().ok()),
                    language: stream
                        .tags
                        .get("language")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                }),
                _ => {}
            }
        }
        Ok(info)
    }
}

impl Ffmpeg {
    /// Describes a sample of a stream (its first few hundred kilobytes, say): runs
    /// `ffprobe -v error -show_streams -show_format -of json -i pipe:0` with the sample on
    /// standard input, within [`PROBE_TIMEOUT`] and with its output bounded.
    pub async fn probe(&self, sample: Bytes) -> Result<MediaInfo, FfmpegError> {
        let ffprobe = self
            .ffprobe
            .as_deref()
            .ok_or_else(|| FfmpegError::FfprobeMissing {
                ffmpeg: self.path.clone(),
            })?;
        let args = strings(&[
            "-hide_banner",
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            "-i",
            "pipe:0",
        ]);
        let output = run_bounded(
            ffprobe,
            &args,
            Some(sample),
            PROBE_TIMEOUT,
            PROBE_OUTPUT_LIMIT,
            "ffprobe",
        )
        .await?;
        output.check("ffprobe")?;
        MediaInfo::from_json(&output.stdout)
    }
}

// ---------------------------------------------------------------------------------------------
// Slate
// ---------------------------------------------------------------------------------------------

/// Escapes text for a `drawtext` option inside a filtergraph: first for the option value
/// (`\`, `'`, `:`), then for the filtergraph (`\`, `'`, `,`, `;`, `[`, `]`). `%` needs
/// nothing, since the filter runs with `expansion=none`.
fn escape_drawtext(text: &str) -> String {
    let escape = |text: &str, special: &[char]| {
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if special.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let option = escape(text, &['\\', '\'', ':']);
    escape(&option, &['\\', '\'', ',', ';', '[', ']'])
}

/// The message in lines of at most [`SLATE_LINE_CHARS`] characters (broken at spaces when it
/// can), at most [`SLATE_MAX_LINES`] of them, control characters turned into spaces.
fn wrap_slate_message(message: &str) -> String {
    let cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in cleaned.split_whitespace() {
        let mut word = word.to_owned();
        loop {
            let needed = current.chars().count() + usize::from(!current.is_empty());
            if needed + word.chars().count() <= SLATE_LINE_CHARS {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if current.is_empty() {
                // A word longer than a line is cut.
                let cut: String = word.chars().take(SLATE_LINE_CHARS).collect();
                word = word.chars().skip(SLATE_LINE_CHARS).collect();
                lines.push(cut);
                if word.is_empty() {
                    break;
                }
            } else {
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > SLATE_MAX_LINES {
        lines.truncate(SLATE_MAX_LINES);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(SLATE_LINE_CHARS - 1).collect();
            *last = format!("{kept}…");
        }
    }
    lines.join("\n")
}

impl Ffmpeg {
    /// A slate: about three seconds of 1280x720 MPEG-TS (H.264 with silent AAC) showing
    /// `message`, drawn with `drawtext` (in a DejaVu, Liberation or Noto font when one is
    /// installed, else fontconfig's default). When drawing fails (no `drawtext` in the build,
    /// no font) the slate is a plain dark picture. Each attempt is bounded by
    /// [`SLATE_TIMEOUT`].
    pub async fn slate(&self, message: &str) -> Result<Bytes, FfmpegError> {
        if !self.has_encoder("libx264") {
            return Err(FfmpegError::NoEncoder {
                codec: "h264".to_owned(),
                candidates: "libx264".to_owned(),
            });
        }
        let text = wrap_slate_message(message);
        if !text.is_empty() {
            let font = SLATE_FONTS.iter().find(|f| Path::new(f).is_file());
            let mut filter = String::from("drawtext=expansion=none");
            if let Some(font) = font {
                filter.push_str(":fontfile=");
                filter.push_str(&escape_drawtext(font));
            }
            filter.push_str(
                ":fontcolor=white:fontsize=44:line_spacing=12\
                 :x=(w-text_w)/2:y=(h-text_h)/2:text=",
            );
            filter.push_str(&escape_drawtext(&text));
            match self.render_slate(Some(&filter)).await {
                Ok(bytes) => return Ok(bytes),
                Err(FfmpegError::Failed { last_error, .. }) => {
                    tracing::debug!(
                        error = last_error.as_deref(),
                        "drawing the slate's text failed; rendering a plain slate"
                    );
                }
                Err(error) => return Err(error),
            }
        }
        self.render_slate(None).await
    }

    async fn render_slate(&self, filter: Option<&str>) -> Result<Bytes, FfmpegError> {
        let mut args = strings(&["-hide_banner", "-nostdin", "-loglevel", "error"]);
        args.extend([
            "-f".to_owned(),
            "lavfi".to_owned(),
            "-i".to_owned(),
            format!("color=c={SLATE_COLOUR}:s={SLATE_SIZE}:r=25"),
            "-f".to_owned(),
            "lavfi".to_owned(),
            "-i".to_owned(),
            "anullsrc=r=48000:cl=stereo".to_owned(),
            "-t".to_owned(),
            SLATE_SECONDS.to_string(),
            "-map".to_owned(),
            "0:v".to_owned(),
            "-map".to_owned(),
            "1:a".to_owned(),
        ]);
        if let Some(filter) = filter {
            args.push("-vf".to_owned());
            args.push(filter.to_owned());
        }
        args.extend(strings(&[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "stillimage",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "mpegts",
            "pipe:1",
        ]));
        let output = run_bounded(
            &self.path,
            &args,
            None,
            SLATE_TIMEOUT,
            SLATE_OUTPUT_LIMIT,
            "the slate",
        )
        .await?;
        output.check("the slate")?;
        if output.stdout.is_empty() {
            return Err(FfmpegError::Failed {
                what: "the slate".to_owned(),
                reason: ExitReason::Success,
                last_error: Some("FFmpeg wrote nothing".to_owned()),
            });
        }
        Ok(Bytes::from(output.stdout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(encoders: &[&str]) -> Ffmpeg {
        Ffmpeg {
            path: PathBuf::from("/usr/bin/ffmpeg"),
            ffprobe: Some(PathBuf::from("/usr/bin/ffprobe")),
            version: "5.1.6-0+deb12u1".to_owned(),
            version_number: (5, 1),
            encoders: Arc::new(encoders.iter().map(|e| (*e).to_owned()).collect()),
        }
    }

    fn debian() -> Ffmpeg {
        fake(&[
            "libx264",
            "libx265",
            "libsvtav1",
            "libaom-av1",
            "h264_vaapi",
            "h264_nvenc",
            "hevc_nvenc",
            "h264_qsv",
            "aac",
            "ac3",
            "libopus",
            "opus",
        ])
    }

    fn input(video: &str, audio: &str, container: VideoContainer) -> RelayProfileInput {
        RelayProfileInput {
            name: "test".to_owned(),
            video_codec: video.to_owned(),
            audio_codec: audio.to_owned(),
            video_bitrate_kbps: None,
            audio_bitrate_kbps: None,
            max_height: None,
            hardware_acceleration: "auto".to_owned(),
            container,
            preset: None,
            extra_args: Vec::new(),
        }
    }

    fn owned(args: &[&str]) -> Vec<String> {
        strings(args)
    }

    /// Whether `needle` occurs in `args` as consecutive items.
    fn has_seq(args: &[String], needle: &[&str]) -> bool {
        args.windows(needle.len())
            .any(|w| w.iter().zip(needle).all(|(a, b)| a == b))
    }

    #[test]
    fn versions_of_releases_tags_and_git_builds() {
        let debian = "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg \
                      developers\nbuilt with gcc 12\nlibavutil      57. 28.100 / 57. 28.100\n";
        assert_eq!(
            parse_version(debian),
            Some(("5.1.6-0+deb12u1".to_owned(), (5, 1)))
        );
        assert_eq!(
            parse_version("ffmpeg version n6.1 Copyright (c) 2000-2023\n"),
            Some(("n6.1".to_owned(), (6, 1)))
        );
        assert_eq!(
            parse_version("ffmpeg version 7.0.2-static https://johnvansickle.com/ffmpeg/\n"),
            Some(("7.0.2-static".to_owned(), (7, 0)))
        );
        assert_eq!(
            parse_version("ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright\n"),
            Some(("4.4.2-0ubuntu0.22.04.1".to_owned(), (4, 4)))
        );
        assert_eq!(
            parse_version("ffmpeg version 6.0-full_build-www.gyan.dev Copyright\n"),
            Some(("6.0-full_build-www.gyan.dev".to_owned(), (6, 0)))
        );
        let git = "ffmpeg version N-112345-g0123456789 Copyright (c) 2000-2023\n\
                   libavutil      58. 29.100 / 58. 29.100\nlibavcodec     60. 31.102\n";
        assert_eq!(
            parse_version(git),
            Some(("N-112345-g0123456789".to_owned(), (6, 0)))
        );
        let dated = "ffmpeg version 2024-01-01-git-abcdef Copyright\nlibavutil 59. 1.100\n";
        assert_eq!(
            parse_version(dated),
            Some(("2024-01-01-git-abcdef".to_owned(), (7, 0)))
        );
        assert_eq!(
            parse_version("ffmpeg version 3.4.8 Copyright\n"),
            Some(("3.4.8".to_owned(), (3, 4)))
        );
        assert!((3, 4) < MIN_VERSION && (4, 0) >= MIN_VERSION && (5, 1) >= MIN_VERSION);
        // A git build without a libavutil line, and something else entirely.
        assert_eq!(parse_version("ffmpeg version N-1-gabc\n"), None);
        assert_eq!(parse_version("Usage: something\n"), None);
    }

    #[test]
    fn encoders_and_hwaccels_listings() {
        let encoders = "Encoders:\n V..... = Video\n A..... = Audio\n ------\n \
                        V....D libx264              libx264 H.264\n \
                        A..... aac                  AAC (Advanced Audio Coding)\n \
                        A..X.. opus                 Opus\n";
        let set = parse_encoders(encoders);
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            ["aac", "libx264", "opus"]
        );
        let hw = "Hardware acceleration methods:\nvdpau\ncuda\nvaapi\n\n";
        assert_eq!(parse_hwaccels(hw), ["vdpau", "cuda", "vaapi"]);
    }

    #[test]
    fn stats_lines() {
        let line = "frame=  123 fps= 25 q=28.0 size=     512kB time=00:00:05.00 \
                    bitrate= 838.9kbits/s speed=1.0x    ";
        let stats = StatsLine::parse(line).expect("a stats line");
        assert_eq!(stats.frames, Some(123));
        assert_eq!(stats.fps, Some(25.0));
        assert_eq!(stats.size_kib, Some(512));
        assert_eq!(stats.out_time, Some(Duration::from_secs(5)));
        assert_eq!(stats.bitrate_kbps, Some(838.9));
        assert_eq!(stats.speed, Some(1.0));

        let start = "frame=    4 fps=0.0 q=0.0 size=N/A time=-00:00:00.04 bitrate=N/A \
                     speed=N/A    ";
        let stats = StatsLine::parse(start).expect("a stats line");
        assert_eq!(stats.frames, Some(4));
        assert_eq!(stats.size_kib, None);
        assert_eq!(stats.out_time, Some(Duration::ZERO));
        assert_eq!(stats.bitrate_kbps, None);
        assert_eq!(stats.speed, None);

        let last = "frame=  125 fps=0.0 q=-1.0 Lsize=     426kB time=00:00:05.03 \
                    bitrate= 693.1kbits/s speed=2.32e+04x    ";
        let stats = StatsLine::parse(last).expect("a stats line");
        assert_eq!(stats.size_kib, Some(426));
        assert_eq!(stats.out_time, Some(Duration::from_millis(5030)));
        assert_eq!(stats.speed, Some(23200.0));

        // FFmpeg 6.1 and later: KiB, elapsed; audio only: no frame.
        let newer = "size=    1024KiB time=01:02:03.50 bitrate= 128.0kbits/s speed=   1x \
                     elapsed=0:00:01.00";
        let stats = StatsLine::parse(newer).expect("a stats line");
        assert_eq!(stats.frames, None);
        assert_eq!(stats.size_kib, Some(1024));
        assert_eq!(stats.out_time, Some(Duration::from_millis(3_723_500)));
        assert_eq!(stats.speed, Some(1.0));

        assert_eq!(
            StatsLine::parse("time=00:00:01.00 is not a stats line"),
            None
        );
        assert_eq!(StatsLine::parse("frame=1 without a time"), None);
        assert_eq!(
            StatsLine::parse("Error while decoding stream #0:0: Invalid data"),
            None
        );
    }

    #[test]
    fn progress_from_carriage_return_separated_stderr_keeps_bounded_errors() {
        let mut progress = TranscodeProgress::default();
        let mut splitter = LineSplitter::default();
        let stderr = "frame=    1 fps=0.0 q=-1.0 size=       0kB time=00:00:00.02 \
                      bitrate=   0.0kbits/s speed=2.32e+04x    \rframe=  50 fps=25 q=-1.0 \
                      size=     100kB time=00:00:02.00 bitrate= 409.6kbits/s speed=1.01x    \r\
                      [h264 @ 0x55d5c1a3b2c0] error while decoding MB 10 5\n";
        // Fed in awkward pieces, as a pipe delivers it.
        for chunk in stderr.as_bytes().chunks(7) {
            splitter.push(chunk, |line| progress.apply_line(line));
        }
        splitter.flush(|line| progress.apply_line(line));
        assert_eq!(progress.updates, 2);
        assert_eq!(progress.frames, Some(50));
        assert_eq!(progress.out_time, Some(Duration::from_secs(2)));
        assert_eq!(progress.speed, Some(1.01));
        assert_eq!(progress.errors, ["h264: error while decoding MB 10 5"]);

        for i in 0..20 {
            progress.apply_text(&format!("pipe:0: error {i} {}\n", "x".repeat(1000)));
        }
        assert_eq!(progress.errors.len(), MAX_ERROR_LINES);
        assert!(progress.errors[0].starts_with("pipe:0: error 12 "));
        assert!(
            progress
                .errors
                .iter()
                .all(|e| e.chars().count() <= MAX_ERROR_LINE_CHARS)
        );
        assert!(
            progress
                .last_error()
                .unwrap()
                .starts_with("pipe:0: error 19")
        );

        // A line longer than the splitter's bound is cut, not buffered whole.
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        splitter.push(&vec![b'a'; MAX_STDERR_LINE * 3], |l| lines.push(l.len()));
        splitter.push(b"\n", |l| lines.push(l.len()));
        assert_eq!(lines, [MAX_STDERR_LINE]);
    }

    #[test]
    fn progress_serializes_out_time_in_seconds() {
        let mut progress = TranscodeProgress::default();
        progress
            .apply_line("frame=1 fps=1 q=1 size=1kB time=00:00:01.50 bitrate=1kbits/s speed=1x");
        let json = serde_json::to_value(&progress).unwrap();
        assert_eq!(json["out_time_secs"], 1.5);
        assert_eq!(json["frames"], 1);
    }

    #[test]
    fn copy_profile_arguments() {
        let profile =
            TranscodeProfile::from_input(&input("copy", "copy", VideoContainer::MpegTs), None, &[])
                .unwrap();
        let args = profile.args(&debian(), None, None).unwrap();
        assert_eq!(
            args,
            owned(&[
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-stats",
                "-analyzeduration",
                "2000000",
                "-fflags",
                "+genpts+discardcorrupt",
                "-i",
                "pipe:0",
                "-map",
                "0:v:0?",
                "-map",
                "0:a?",
                "-c:v",
                "copy",
                "-c:a",
                "copy",
                "-max_muxing_queue_size",
                "1024",
                "-f",
                "mpegts",
                "-mpegts_flags",
                "+resend_headers",
                "pipe:1",
            ])
        );
        // Copy ignores the height and the bitrates: there is nothing to scale or encode.
        let mut scaled = input("COPY", "copy", VideoContainer::MpegTs);
        scaled.max_height = Some(720);
        scaled.video_bitrate_kbps = Some(3000);
        let profile = TranscodeProfile::from_input(&scaled, Some("fast"), &[]).unwrap();
        let args = profile.args(&debian(), Some(HwAccel::Vaapi), None).unwrap();
        assert!(
            !args
                .iter()
                .any(|a| a.contains("scale") || a == "-b:v" || a == "-vaapi_device")
        );
    }

    #[test]
    fn software_h264_arguments() {
        let mut p = input("h264", "aac", VideoContainer::MpegTs);
        p.max_height = Some(721);
        p.video_bitrate_kbps = Some(3000);
        p.audio_bitrate_kbps = Some(128);
        let extra = owned(&["-g", "50", "-profile:v", "high"]);
        let profile = TranscodeProfile::from_input(&p, Some("faster"), &extra).unwrap();
        let args = profile.args(&debian(), None, None).unwrap();
        assert!(has_seq(&args, &["-c:v", "libx264"]));
        assert!(has_seq(&args, &["-vf", "scale=-2:min(720\\,ih)"]));
        assert!(has_seq(&args, &["-pix_fmt", "yuv420p"]));
        assert!(has_seq(&args, &["-preset", "faster"]));
        assert!(has_seq(
            &args,
            &[
                "-b:v",
                "3000k",
                "-maxrate:v",
                "3000k",
                "-bufsize:v",
                "6000k"
            ]
        ));
        assert!(has_seq(
            &args,
            &["-force_key_frames", "expr:gte(t,n_forced*2)"]
        ));
        assert!(has_seq(&args, &["-c:a", "aac", "-b:a", "128k"]));
        // The user's options come after the profile's (they override it), before the output.
        let g = args.iter().position(|a| a == "-g").unwrap();
        assert!(g > args.iter().position(|a| a == "-c:a").unwrap());
        assert!(g < args.iter().position(|a| a == "-f").unwrap());
        assert_eq!(args.last().unwrap(), "pipe:1");

        // No preset: veryfast for software.
        let profile = TranscodeProfile::from_input(&p, None, &[]).unwrap();
        let args = profile.args(&debian(), None, None).unwrap();
        assert!(has_seq(&args, &["-preset", "veryfast"]));
    }

    #[test]
    fn encoders_follow_the_build_and_the_hardware() {
        let hevc = TranscodeProfile::from_input(
            &input("hevc", "opus", VideoContainer::MpegTs),
            Some("slow"),
            &[],
        )
        .unwrap();
        // NVENC: its encoder, its preset, no upload filter, IDR keyframes.
        let args = hevc.args(&debian(), Some(HwAccel::Nvenc), None).unwrap();
        assert!(has_seq(&args, &["-c:v", "hevc_nvenc"]));
        assert!(has_seq(&args, &["-preset", "p5"]));
        assert!(has_seq(&args, &["-forced-idr", "1"]));
        assert!(has_seq(&args, &["-c:a", "libopus"]));
        // QSV has no hevc_qsv in this build: software.
        let args = hevc.args(&debian(), Some(HwAccel::Qsv), None).unwrap();
        assert!(has_seq(&args, &["-c:v", "libx265"]));
        assert!(has_seq(&args, &["-preset", "slow"]));

        // VAAPI: the device before the input, upload after scaling, no preset by default.
        let mut h264 = input("h264", "ac3", VideoContainer::MpegTs);
        h264.max_height = Some(480);
        let profile = TranscodeProfile::from_input(&h264, None, &[]).unwrap();
        let args = profile.args(&debian(), Some(HwAccel::Vaapi), None).unwrap();
        let device = args.iter().position(|a| a == "-vaapi_device").unwrap();
        assert!(device < args.iter().position(|a| a == "-i").unwrap());
        assert!(has_seq(
            &args,
            &["-vf", "scale=-2:min(480\\,ih),format=nv12,hwupload"]
        ));
        assert!(has_seq(&args, &["-c:v", "h264_vaapi"]));
        assert!(!args.iter().any(|a| a == "-preset" || a == "-pix_fmt"));
        assert!(has_seq(&args, &["-c:a", "ac3"]));

        // AV1: SVT-AV1 when present (numeric presets), else libaom.
        let av1 =
            TranscodeProfile::from_input(&input("av1", "opus", VideoContainer::MpegTs), None, &[])
                .unwrap();
        let args = av1.args(&debian(), None, None).unwrap();
        assert!(has_seq(&args, &["-c:v", "libsvtav1", "-preset", "10"]));
        let aom = fake(&["libaom-av1", "opus"]);
        let args = av1.args(&aom, None, None).unwrap();
        assert!(has_seq(&args, &["-c:v", "libaom-av1"]));
        assert!(has_seq(&args, &["-cpu-used", "7"]));
        assert!(has_seq(&args, &["-c:a", "opus", "-strict", "-2"]));
        let error = av1.args(&fake(&["aac"]), None, None).unwrap_err();
        assert!(
            matches!(&error, FfmpegError::NoEncoder { codec, .. } if codec == "av1"),
            "{error}"
        );
    }

    #[test]
    fn hls_arguments() {
        let dir = Path::new("/var/lib/tvarr/hls/abc");
        let ts =
            TranscodeProfile::from_input(&input("copy", "copy", VideoContainer::HlsTs), None, &[])
                .unwrap();
        let args = ts.args(&debian(), None, Some(dir)).unwrap();
        assert!(has_seq(
            &args,
            &[
                "-f",
                "hls",
                "-hls_time",
                "2",
                "-hls_list_size",
                "6",
                "-hls_flags",
                "delete_segments+independent_segments+temp_file",
                "-hls_segment_type",
                "mpegts",
                "-hls_segment_filename",
                "/var/lib/tvarr/hls/abc/segment_%05d.ts",
                "/var/lib/tvarr/hls/abc/index.m3u8",
            ]
        ));
        assert!(has_seq(&args, &["-c:a", "copy"]));
        assert!(!args.iter().any(|a| a == "pipe:1"));

        let fmp4 = TranscodeProfile::from_input(
            &input("hevc", "copy", VideoContainer::HlsFmp4),
            None,
            &[],
        )
        .unwrap();
        let args = fmp4.args(&debian(), None, Some(dir)).unwrap();
        assert!(has_seq(&args, &["-hls_segment_type", "fmp4"]));
        assert!(has_seq(&args, &["-hls_fmp4_init_filename", "init.mp4"]));
        assert!(args.iter().any(|a| a.ends_with("segment_%05d.m4s")));
        assert!(has_seq(&args, &["-tag:v", "hvc1"]));
        // Copied ADTS AAC cannot go into fMP4 without a filter that refuses other codecs.
        assert!(has_seq(&args, &["-c:a", "aac"]));

        let missing = ts.args(&debian(), None, None).unwrap_err();
        assert!(
            missing.to_string().contains("needs a directory"),
            "{missing}"
        );
        let percent = ts
            .args(&debian(), None, Some(Path::new("/tmp/a%d")))
            .unwrap_err();
        assert!(percent.to_string().contains('%'), "{percent}");
        let relative = ts
            .args(&debian(), None, Some(Path::new("hls")))
            .unwrap_err();
        assert!(relative.to_string().contains("absolute"), "{relative}");
    }

    #[test]
    fn invalid_profiles_are_refused() {
        let refused = |p: RelayProfileInput, preset: Option<&str>| {
            TranscodeProfile::from_input(&p, preset, &[])
                .unwrap_err()
                .to_string()
        };
        let e = refused(input("vp9", "copy", VideoContainer::MpegTs), None);
        assert!(e.contains("video_codec") && e.contains("vp9"), "{e}");
        let e = refused(input("copy", "mp3", VideoContainer::MpegTs), None);
        assert!(e.contains("audio_codec") && e.contains("mp3"), "{e}");
        let e = refused(
            input("h264", "aac", VideoContainer::MpegTs),
            Some("placebo"),
        );
        assert!(e.contains("preset") && e.contains("veryslow"), "{e}");
        let mut p = input("h264", "aac", VideoContainer::MpegTs);
        p.video_bitrate_kbps = Some(MAX_VIDEO_BITRATE_KBPS + 1);
        assert!(refused(p, None).contains("video_bitrate_kbps"));
        let mut p = input("h264", "aac", VideoContainer::MpegTs);
        p.audio_bitrate_kbps = Some(5000);
        assert!(refused(p, None).contains("audio_bitrate_kbps"));
        let mut p = input("h264", "aac", VideoContainer::MpegTs);
        p.max_height = Some(10_000);
        assert!(refused(p, None).contains("max_height"));
        let mut p = input("h264", "aac", VideoContainer::MpegTs);
        p.hardware_acceleration = "cuda".to_owned();
        assert!(refused(p, None).contains("hardware_acceleration"));
        // Zero means unset; names are case-insensitive.
        let mut p = input("H264", "AAC", VideoContainer::MpegTs);
        p.video_bitrate_kbps = Some(0);
        p.max_height = Some(0);
        p.hardware_acceleration = "NVENC".to_owned();
        let profile = TranscodeProfile::from_input(&p, Some("Medium"), &[]).unwrap();
        assert_eq!(profile.video_bitrate_kbps, None);
        assert_eq!(profile.max_height, None);
        assert_eq!(profile.preset, Some(Preset::Medium));
        assert_eq!(profile.hardware_acceleration, "nvenc");
        // A profile changed by hand is checked again when its arguments are built.
        let mut profile = profile;
        profile.extra_args = owned(&["-i", "/etc/passwd"]);
        assert!(profile.args(&debian(), None, None).is_err());
    }

    fn refusal(args: &[&str]) -> (String, String) {
        match validate_extra_args(&owned(args)) {
            Err(FfmpegError::RefusedArgument { argument, reason }) => (argument, reason),
            other => panic!("{args:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn allowed_extra_arguments() {
        let allowed = owned(&[
            "-g",
            "50",
            "-bf",
            "0",
            "-crf",
            "23.5",
            "-maxrate",
            "4M",
            "-bufsize:v",
            "8000k",
            "-profile:v",
            "high",
            "-level",
            "4.1",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p10le",
            "-ac",
            "2",
            "-ar",
            "48000",
            "-threads",
            "4",
            "-sc_threshold",
            "-1",
            "-keyint_min",
            "25",
            "-r",
            "30000/1001",
            "-b:a:0",
            "96k",
            "-flags",
            "+cgop",
            "-x264-params",
            "ref=3:bframes=2:psy-rd=1.00,0.15:no-scenecut=1",
            "-x265-params",
            "log-level=error",
        ]);
        validate_extra_args(&allowed).unwrap();
        validate_extra_args(&[]).unwrap();
    }

    #[test]
    fn refused_extra_arguments_name_the_argument_and_say_why() {
        let (arg, why) = refusal(&["-i", "http://evil/x"]);
        assert_eq!(arg, "-i");
        assert!(why.contains("input"), "{why}");
        let (arg, why) = refusal(&["-f", "image2"]);
        assert_eq!(arg, "-f");
        assert!(why.contains("format"), "{why}");
        let (arg, _) = refusal(&["-y"]);
        assert_eq!(arg, "-y");
        let (arg, why) = refusal(&["-vf", "movie=/etc/passwd"]);
        assert_eq!(arg, "-vf");
        assert!(why.contains("movie"), "{why}");
        let (arg, _) = refusal(&["-filter_complex", "amovie=x"]);
        assert_eq!(arg, "-filter_complex");
        let (arg, _) = refusal(&["-af:a", "amovie=x"]);
        assert_eq!(arg, "-af:a");
        let (arg, why) = refusal(&["-dump_attachment:t", "out.ttf"]);
        assert_eq!(arg, "-dump_attachment:t");
        assert!(why.contains("file"), "{why}");
        let (arg, _) = refusal(&["-attach", "font.ttf"]);
        assert_eq!(arg, "-attach");
        let (arg, _) = refusal(&["-metadata", "title=x"]);
        assert_eq!(arg, "-metadata");
        let (arg, why) = refusal(&["-progress", "http://evil/"]);
        assert_eq!(arg, "-progress");
        assert!(why.contains("URL"), "{why}");
        let (arg, _) = refusal(&["-passlogfile", "x"]);
        assert_eq!(arg, "-passlogfile");
        let (arg, why) = refusal(&["/tmp/out.ts"]);
        assert_eq!(arg, "/tmp/out.ts");
        assert!(why.contains("output file"), "{why}");
        let (arg, _) = refusal(&["-"]);
        assert_eq!(arg, "-");
        let (arg, why) = refusal(&["-/vf", "graph.txt"]);
        assert_eq!(arg, "-/vf");
        assert!(why.contains("file"), "{why}");
        let (arg, why) = refusal(&["-hls_time", "4"]);
        assert_eq!(arg, "-hls_time");
        assert!(why.contains("HLS"), "{why}");
        let (arg, why) = refusal(&["-c:v", "libx264"]);
        assert_eq!(arg, "-c:v");
        assert!(why.contains("codec"), "{why}");
        let (_, why) = refusal(&["-init_hw_device", "vaapi"]);
        assert!(why.contains("hardware"), "{why}");
        let (_, why) = refusal(&["-protocol_whitelist", "file,http"]);
        assert!(why.contains("protocol"), "{why}");
        let (arg, why) = refusal(&["-frobnicate", "1"]);
        assert_eq!(arg, "-frobnicate");
        assert!(why.contains("-x264-params"), "{why}");

        // Values.
        let (arg, why) = refusal(&["-g"]);
        assert_eq!(arg, "-g");
        assert!(why.contains("needs a value"), "{why}");
        let (_, why) = refusal(&["-g", "fifty"]);
        assert!(why.contains("whole number"), "{why}");
        let (_, why) = refusal(&["-tune", "../../etc/passwd"]);
        assert!(why.contains("path separator"), "{why}");
        let (_, why) = refusal(&["-tune", "http://evil"]);
        assert!(why.contains("URL"), "{why}");
        let (_, why) = refusal(&["-tune", "file:x"]);
        assert!(why.contains("plain word"), "{why}");
        let (_, why) = refusal(&["-profile:v", &"a".repeat(33)]);
        assert!(why.contains("longer than"), "{why}");
        let (_, why) = refusal(&["-maxrate", "4 M"]);
        assert!(why.contains("bitrate"), "{why}");
        let (arg, why) = refusal(&["-profile:x", "high"]);
        assert_eq!(arg, "-profile:x");
        assert!(why.contains("specifier"), "{why}");
        let (arg, why) = refusal(&["-x264-params", "pass=1"]);
        assert_eq!(arg, "-x264-params");
        assert!(why.contains("pass"), "{why}");
        let (_, why) = refusal(&["-x264-params", "ref=3:stats=x264.log"]);
        assert!(why.contains("stats"), "{why}");
        let (_, why) = refusal(&["-x265-params", "csv=out.csv"]);
        assert!(why.contains("csv"), "{why}");
        let (_, why) = refusal(&["-x264-params", "qpfile=q.txt"]);
        assert!(why.contains("file"), "{why}");
        let (_, why) = refusal(&["-x264-params", "ref=3;bframes=2"]);
        assert!(why.contains("`;`"), "{why}");
        let (_, why) = refusal(&["-x264-params", "ref=3:input=/dev/zero"]);
        assert!(why.contains("path separator"), "{why}");
        // A refused pair after allowed ones is still found.
        let (arg, _) = refusal(&["-g", "50", "-bf", "2", "-i", "x"]);
        assert_eq!(arg, "-i");
        // Bounded count.
        let many: Vec<&str> = std::iter::repeat_n(["-g", "1"], 40).flatten().collect();
        let (_, why) = refusal(&many);
        assert!(why.contains("at most"), "{why}");
    }

    #[test]
    fn hardware_choice() {
        let candidate = |kind, usable| HwCandidate {
            kind,
            encoder: kind.encoder(VideoCodec::H264).unwrap().to_owned(),
            listed: true,
            usable,
            error: (!usable).then(|| "no device".to_owned()),
        };
        let report = HardwareReport {
            hwaccels: vec!["vaapi".into(), "cuda".into()],
            candidates: vec![
                candidate(HwAccel::Vaapi, false),
                candidate(HwAccel::Nvenc, true),
                candidate(HwAccel::Qsv, true),
                candidate(HwAccel::Amf, false),
            ],
        };
        assert_eq!(report.chosen("auto"), Some(HwAccel::Nvenc));
        assert_eq!(report.chosen(" AUTO "), Some(HwAccel::Nvenc));
        assert_eq!(report.chosen("qsv"), Some(HwAccel::Qsv));
        assert_eq!(report.chosen("vaapi"), None);
        assert_eq!(report.chosen("none"), None);
        assert_eq!(report.chosen(""), None);
        assert_eq!(report.chosen("bogus"), None);
        assert_eq!(HardwareReport::default().chosen("auto"), None);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["candidates"][1]["kind"], "nvenc");
        assert_eq!(json["candidates"][0]["error"], "no device");
    }

    #[test]
    fn error_lines_lose_addresses_and_are_bounded() {
        assert_eq!(
            normalize_error_line("[h264_nvenc @ 0x55c6ec9417c0] Cannot load libcuda.so.1"),
            "h264_nvenc: Cannot load libcuda.so.1"
        );
        assert_eq!(
            normalize_error_line("[in#0/mpegts] not an address"),
            "[in#0/mpegts] not an address"
        );
        let long = normalize_error_line(&"é".repeat(400));
        assert_eq!(long.chars().count(), MAX_ERROR_LINE_CHARS);
        assert!(long.ends_with('…'));
        assert_eq!(normalize_error_line(&"é".repeat(300)), "é".repeat(300));
        let lines = error_lines(
            "frame=1 fps=0 q=0 size=0kB time=00:00:00.00 bitrate=0kbits/s speed=0x\r\
             [h264_qsv @ 0x1] Error initializing an internal MFX session\n\
             Error initializing output stream 0:0\n",
        );
        assert_eq!(
            lines,
            [
                "h264_qsv: Error initializing an internal MFX session",
                "Error initializing output stream 0:0"
            ]
        );
    }

    #[test]
    fn drawtext_escaping_and_wrapping() {
        assert_eq!(escape_drawtext("plain text"), "plain text");
        // `'` → `\'` (option) → `\\\'` (graph); `:` → `\:` → `\\:`; `,` → `\,`.
        assert_eq!(escape_drawtext("it's"), "it\\\\\\'s");
        assert_eq!(escape_drawtext("a:b"), "a\\\\:b");
        assert_eq!(escape_drawtext("a,b;c[d]"), "a\\,b\\;c\\[d\\]");
        assert_eq!(escape_drawtext("back\\slash"), "back\\\\\\\\slash");
        assert_eq!(escape_drawtext("100%"), "100%");

        assert_eq!(
            wrap_slate_message("  Channel\tunavailable \n "),
            "Channel unavailable"
        );
        let long = "word ".repeat(50);
        let wrapped = wrap_slate_message(&long);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert_eq!(lines.len(), SLATE_MAX_LINES);
        assert!(lines.iter().all(|l| l.chars().count() <= SLATE_LINE_CHARS));
        assert!(lines[3].ends_with('…'));
        let unbroken = wrap_slate_message(&"x".repeat(90));
        assert_eq!(
            unbroken.lines().map(str::len).collect::<Vec<_>>(),
            [40, 40, 10]
        );
    }

    #[test]
    fn probe_json() {
        let json = br#"{"streams":[
            {"codec_type":"video","codec_name":"h264","profile":"High","width":1920,
             "height":1080,"avg_frame_rate":"0/0","r_frame_rate":"50/1","pix_fmt":"yuv420p"},
            {"codec_type":"audio","codec_name":"ac3","channels":6,"channel_layout":"5.1(side)",
             "sample_rate":"48000","tags":{"language":"deu"}},
            {"codec_type":"data","codec_name":"scte_35"}],
            "format":{"format_name":"mpegts","bit_rate":"8000000"}}"#;
        let info = MediaInfo::from_json(json).unwrap();
        assert_eq!(info.format.as_deref(), Some("mpegts"));
        assert_eq!(info.bitrate_kbps, Some(8000));
        assert_eq!(info.video.len(), 1);
        assert_eq!(info.video[0].codec, "h264");
        assert_eq!(
            (info.video[0].width, info.video[0].height),
            (Some(1920), Some(1080))
        );
        assert_eq!(info.video[0].frame_rate, Some(50.0));
        assert_eq!(info.audio[0].channels, Some(6));
        assert_eq!(info.audio[0].sample_rate, Some(48000));
        assert_eq!(info.audio[0].language.as_deref(), Some("deu"));
        assert!(MediaInfo::from_json(b"not json").is_err());
    }

    #[test]
    fn bare_names_and_exit_texts() {
        assert!(is_bare_name(Path::new("ffmpeg-7")));
        assert!(!is_bare_name(Path::new("./ffmpeg")));
        assert!(!is_bare_name(Path::new("/usr/bin/ffmpeg")));
        assert!(!is_bare_name(Path::new("bin/ffmpeg")));
        let crashed = TranscodeExit {
            code: None,
            signal: Some(11),
            stopped: false,
            killed: false,
            last_error: Some("pipe:0: Invalid data".to_owned()),
        };
        assert_eq!(
            crashed.to_string(),
            "FFmpeg crashed with signal 11 (SIGSEGV): pipe:0: Invalid data"
        );
        let failed = TranscodeExit {
            code: Some(1),
            signal: None,
            ..crashed.clone()
        };
        assert_eq!(
            failed.to_string(),
            "FFmpeg exited with code 1: pipe:0: Invalid data"
        );
        assert_eq!(failed.reason(), ExitReason::Code(1));
        let killed = TranscodeExit {
            stopped: true,
            killed: true,
            signal: Some(9),
            code: None,
            last_error: None,
        };
        assert!(killed.to_string().contains("killed after"), "{killed}");
        let closed = TranscodeExit {
            stopped: false,
            killed: false,
            signal: Some(13),
            code: None,
            last_error: None,
        };
        assert_eq!(
            closed.to_string(),
            "FFmpeg's output was closed (signal 13 (SIGPIPE))"
        );
    }
}
