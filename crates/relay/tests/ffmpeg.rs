//! FFmpeg against the real binary: detection, hardware probing, transcoders fed the test
//! stream on standard input (copy, H.264, HLS), stopping, killing and reaping, ffprobe and the
//! slate.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tvarr_core::{RelayProfileInput, VideoContainer};
use tvarr_relay::ffmpeg::{
    Ffmpeg, FfmpegError, HwAccel, STOP_GRACE, TranscodeExit, TranscodeProfile, Transcoder,
};

const PACKET: usize = 188;

fn test_stream() -> Bytes {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/external/hls/tvarr-test-stream.ts"
    );
    Bytes::from(std::fs::read(path).unwrap())
}

async fn ffmpeg() -> Ffmpeg {
    Ffmpeg::detect(None).await.expect("FFmpeg is installed")
}

fn profile(video: &str, audio: &str, max_height: Option<u32>) -> TranscodeProfile {
    let input = RelayProfileInput {
        name: "test".to_owned(),
        video_codec: video.to_owned(),
        audio_codec: audio.to_owned(),
        video_bitrate_kbps: None,
        audio_bitrate_kbps: None,
        max_height,
        hardware_acceleration: "none".to_owned(),
        container: VideoContainer::MpegTs,
        preset: None,
        extra_args: Vec::new(),
    };
    TranscodeProfile::from_input(&input, Some("ultrafast"), &[]).unwrap()
}

/// Asserts whole MPEG-TS packets, each starting with the sync byte.
fn assert_ts(bytes: &[u8]) {
    assert!(bytes.len() >= 10 * PACKET, "only {} bytes", bytes.len());
    assert_eq!(
        bytes.len() % PACKET,
        0,
        "{} bytes is not whole packets",
        bytes.len()
    );
    for (i, packet) in bytes.chunks(PACKET).enumerate() {
        assert_eq!(
            packet[0], 0x47,
            "packet {i} does not start with the sync byte"
        );
    }
}

/// Whether the process still has an entry in /proc (a zombie has one too).
fn in_proc(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A scratch directory of this test run.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tvarr-ffmpeg-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Feeds `input` to the transcoder (then closes its input) while reading its whole output.
async fn run_through(transcoder: &mut Transcoder, input: Bytes) -> (Vec<u8>, TranscodeExit) {
    let mut stdin = transcoder.take_stdin().expect("stdin");
    let feeder = tokio::spawn(async move {
        // FFmpeg may stop reading early when it fails; that is for the exit to tell.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
    });
    let mut stdout = transcoder.take_stdout().expect("stdout");
    let mut output = Vec::new();
    while let Some(chunk) = stdout.next().await {
        output.extend_from_slice(&chunk.unwrap());
    }
    feeder.await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), transcoder.wait())
        .await
        .expect("FFmpeg exits once its input ends");
    (output, exit)
}

#[tokio::test]
async fn detects_the_installed_ffmpeg() {
    let ffmpeg = ffmpeg().await;
    assert!(ffmpeg.path().is_absolute(), "{}", ffmpeg.path().display());
    assert!(ffmpeg.path().ends_with("ffmpeg"));
    assert!(
        ffmpeg.version_number() >= (4, 0),
        "{:?}",
        ffmpeg.version_number()
    );
    assert!(
        ffmpeg.version().starts_with(&format!(
            "{}.{}",
            ffmpeg.version_number().0,
            ffmpeg.version_number().1
        )),
        "{} vs {:?}",
        ffmpeg.version(),
        ffmpeg.version_number()
    );
    let ffprobe = ffmpeg.ffprobe_path().expect("ffprobe beside ffmpeg");
    assert_eq!(ffprobe.parent(), ffmpeg.path().parent());
    assert!(ffmpeg.has_encoder("libx264"));
    assert!(ffmpeg.has_encoder("aac"));
    assert!(!ffmpeg.has_encoder("no_such_encoder"));

    // The same binary, configured by path and by bare name.
    let by_path = Ffmpeg::detect(Some(ffmpeg.path())).await.unwrap();
    assert_eq!(by_path.version(), ffmpeg.version());
    let by_name = Ffmpeg::detect(Some(Path::new("ffmpeg"))).await.unwrap();
    assert_eq!(by_name.path(), ffmpeg.path());
    let info = serde_json::to_value(ffmpeg.info()).unwrap();
    assert_eq!(info["major"], ffmpeg.version_number().0);
}

#[tokio::test]
async fn missing_and_foreign_binaries_are_clear_errors() {
    let error = Ffmpeg::detect(Some(Path::new("/nonexistent/bin/ffmpeg")))
        .await
        .unwrap_err();
    assert!(matches!(error, FfmpegError::Missing { .. }), "{error:?}");
    assert!(
        error.to_string().contains("/nonexistent/bin/ffmpeg")
            && error.to_string().contains("does not exist"),
        "{error}"
    );

    let error = Ffmpeg::detect(Some(Path::new("tvarr-no-such-ffmpeg")))
        .await
        .unwrap_err();
    assert!(matches!(error, FfmpegError::NotOnPath { .. }), "{error:?}");
    assert!(
        error.to_string().contains("tvarr-no-such-ffmpeg"),
        "{error}"
    );

    // A binary that is not FFmpeg.
    let error = Ffmpeg::detect(Some(Path::new("/bin/true")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FfmpegError::UnknownVersion { .. }),
        "{error:?}"
    );

    // A directory is not a binary.
    let error = Ffmpeg::detect(Some(Path::new("/"))).await.unwrap_err();
    assert!(matches!(error, FfmpegError::Spawn { .. }), "{error:?}");
}

#[cfg(unix)]
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[tokio::test]
async fn old_and_renamed_builds() {
    let dir = scratch("builds");
    let old = script(
        &dir,
        "ffmpeg",
        "echo 'ffmpeg version 3.4.8 Copyright (c) 2000-2020'",
    );
    let error = Ffmpeg::detect(Some(&old)).await.unwrap_err();
    assert!(matches!(error, FfmpegError::TooOld { .. }), "{error:?}");
    assert!(
        error.to_string().contains("3.4.8") && error.to_string().contains("4.0"),
        "{error}"
    );

    // `ffmpeg7` finds `ffprobe7` beside it; a git build is placed by its libavutil.
    let renamed = script(
        &dir,
        "ffmpeg7",
        "echo 'ffmpeg version N-116000-g0123abcd Copyright'; echo 'libavutil      59.  8.100'",
    );
    let ffprobe = script(&dir, "ffprobe7", "exit 1");
    let ffmpeg = Ffmpeg::detect(Some(&renamed)).await.unwrap();
    assert_eq!(ffmpeg.version(), "N-116000-g0123abcd");
    assert_eq!(ffmpeg.version_number(), (7, 0));
    assert_eq!(ffmpeg.ffprobe_path(), Some(ffprobe.as_path()));

    // A binary that fails.
    let failing = script(
        &dir,
        "ffmpeg-broken",
        "echo 'cannot load libavcodec.so.59' >&2; exit 127",
    );
    let error = Ffmpeg::detect(Some(&failing)).await.unwrap_err();
    assert!(
        matches!(&error, FfmpegError::Failed { last_error: Some(line), .. } if line.contains("libavcodec")),
        "{error:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn hardware_report_is_well_formed_and_falls_back_to_software() {
    let ffmpeg = ffmpeg().await;
    let started = Instant::now();
    let report = ffmpeg.probe_hardware().await;
    assert!(started.elapsed() < Duration::from_secs(30));
    let kinds: Vec<HwAccel> = report.candidates.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, HwAccel::ALL);
    for candidate in &report.candidates {
        assert_eq!(
            Some(candidate.encoder.as_str()),
            candidate
                .kind
                .encoder(tvarr_relay::ffmpeg::VideoCodec::H264)
        );
        // No GPU here: nothing is usable, and each says why.
        assert!(!candidate.usable, "{candidate:?}");
        let error = candidate.error.as_deref().unwrap_or("");
        assert!(!error.is_empty(), "{candidate:?}");
        assert!(!error.contains(" @ 0x"), "addresses are removed: {error}");
    }
    // Debian's build lists VAAPI and CUDA even without the hardware.
    assert!(
        report.hwaccels.iter().any(|h| h == "vaapi"),
        "{:?}",
        report.hwaccels
    );
    assert!(report.candidates[0].listed);
    assert_eq!(report.chosen("auto"), None);
    assert_eq!(report.chosen("nvenc"), None);
    assert_eq!(report.chosen("none"), None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["candidates"].as_array().unwrap().len(), 4);
    assert_eq!(json["candidates"][1]["kind"], "nvenc");
    assert_eq!(json["candidates"][1]["usable"], false);
}

#[tokio::test]
async fn copy_transcoder_produces_mpeg_ts_and_progress() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let (output, exit) = run_through(&mut transcoder, test_stream()).await;
    assert!(exit.success(), "{exit}");
    assert!(!exit.stopped && !exit.killed);
    assert_ts(&output);
    let progress = transcoder.progress();
    assert!(progress.updates >= 1, "{progress:?}");
    assert!(progress.frames.unwrap_or(0) > 100, "{progress:?}");
    let out_time = progress.out_time.expect("an output time");
    assert!(out_time >= Duration::from_secs(4), "{out_time:?}");
    assert!(progress.errors.is_empty(), "{:?}", progress.errors);
    assert_eq!(transcoder.exit(), Some(&exit));
}

#[tokio::test]
async fn software_h264_transcode_scales_down_and_never_up() {
    let ffmpeg = ffmpeg().await;
    for (max_height, expected) in [(120, (160, 120)), (480, (320, 240))] {
        let args = profile("h264", "aac", Some(max_height))
            .args(&ffmpeg, None, None)
            .unwrap();
        assert!(args.iter().any(|a| a == "libx264"), "{args:?}");
        let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
        let (output, exit) = run_through(&mut transcoder, test_stream()).await;
        assert!(exit.success(), "{exit}");
        assert_ts(&output);
        let progress = transcoder.progress();
        assert!(progress.frames.unwrap_or(0) > 100, "{progress:?}");
        assert!(progress.speed.is_some(), "{progress:?}");

        let info = ffmpeg.probe(Bytes::from(output)).await.unwrap();
        let video = &info.video[0];
        assert_eq!(video.codec, "h264");
        assert_eq!(
            (video.width, video.height),
            (Some(expected.0), Some(expected.1))
        );
        assert_eq!(info.audio[0].codec, "aac");
    }
}

#[tokio::test]
async fn hls_output_writes_a_playlist_and_segments() {
    let ffmpeg = ffmpeg().await;
    let dir = scratch("hls");
    let mut p = profile("copy", "copy", None);
    p.container = VideoContainer::HlsTs;
    let args = p.args(&ffmpeg, None, Some(&dir)).unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let mut stdin = transcoder.take_stdin().unwrap();
    stdin.write_all(&test_stream()).await.unwrap();
    drop(stdin);
    let exit = transcoder.wait().await;
    assert!(exit.success(), "{exit}");
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(playlist.starts_with("#EXTM3U"), "{playlist}");
    assert!(playlist.contains("segment_00000.ts"), "{playlist}");
    let segment = std::fs::read(dir.join("segment_00000.ts")).unwrap();
    assert_ts(&segment);
    std::fs::remove_dir_all(dir).unwrap();

    // fMP4 segments: an init section, and the copied ADTS AAC encoded rather than refused.
    let dir = scratch("hls-fmp4");
    let mut p = profile("copy", "copy", None);
    p.container = VideoContainer::HlsFmp4;
    let args = p.args(&ffmpeg, None, Some(&dir)).unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let mut stdin = transcoder.take_stdin().unwrap();
    stdin.write_all(&test_stream()).await.unwrap();
    drop(stdin);
    let exit = transcoder.wait().await;
    assert!(exit.success(), "{exit}");
    let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    assert!(
        playlist.contains("#EXT-X-MAP:URI=\"init.mp4\""),
        "{playlist}"
    );
    assert!(playlist.contains("segment_00000.m4s"), "{playlist}");
    let init = std::fs::read(dir.join("init.mp4")).unwrap();
    assert_eq!(&init[4..8], b"ftyp");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn closing_stdin_ends_ffmpeg_by_itself() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let pid = transcoder.pid().unwrap();
    // Half the stream, then end of input.
    let stream = test_stream();
    let half = stream.slice(..stream.len() / 2 / PACKET * PACKET);
    let (output, exit) = run_through(&mut transcoder, half).await;
    assert!(exit.success(), "{exit}");
    assert!(!exit.stopped);
    assert_ts(&output);
    assert!(!in_proc(pid), "FFmpeg {pid} was reaped");
}

/// The other half of "FFmpeg cannot outlive its reader": once nobody reads its output (the
/// server is gone), its next write fails and it ends without being stopped or killed.
#[tokio::test]
async fn closing_the_output_ends_ffmpeg_by_itself() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let pid = transcoder.pid().unwrap();
    drop(transcoder.take_stdout().unwrap());
    let mut stdin = transcoder.take_stdin().unwrap();
    let stream = test_stream();
    // Its input stays open throughout: only the closed output can end it.
    let feeder = tokio::spawn(async move {
        let _ = stdin.write_all(&stream).await;
        stdin
    });
    let exit = tokio::time::timeout(Duration::from_secs(5), transcoder.wait())
        .await
        .expect("FFmpeg ends once its output is closed");
    assert!(!exit.success() && !exit.stopped && !exit.killed, "{exit:?}");
    assert!(
        exit.signal == Some(13) || exit.code.is_some_and(|c| c != 0),
        "{exit:?}"
    );
    assert!(!in_proc(pid), "FFmpeg {pid} was reaped");
    drop(feeder.await.unwrap());
}

#[tokio::test]
async fn garbage_input_ends_with_a_reason() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let (output, exit) = run_through(&mut transcoder, Bytes::from(vec![0x42u8; 64 * 1024])).await;
    assert!(output.is_empty());
    assert!(!exit.success(), "{exit}");
    assert!(exit.code.is_some_and(|c| c != 0), "{exit:?}");
    let line = exit.last_error.clone().expect("an error line");
    assert!(exit.to_string().contains("exited with code"), "{exit}");
    assert!(exit.to_string().contains(&line), "{exit}");
}

#[tokio::test]
async fn stop_closes_input_and_reaps() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let pid = transcoder.pid().unwrap();
    assert!(in_proc(pid));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!transcoder.has_exited());
    let started = Instant::now();
    let exit = transcoder.stop().await;
    assert!(
        started.elapsed() < STOP_GRACE,
        "closing its input was enough"
    );
    assert!(exit.stopped && !exit.killed, "{exit:?}");
    assert!(!in_proc(pid), "FFmpeg {pid} was reaped");
    // Stopping again says the same.
    assert_eq!(transcoder.stop().await, exit);
}

#[tokio::test]
async fn stop_kills_ffmpeg_whose_input_is_held_open() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let pid = transcoder.pid().unwrap();
    // A feeder that holds the input open and never writes.
    let stdin = transcoder.take_stdin().unwrap();
    let started = Instant::now();
    let exit = transcoder.stop().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= STOP_GRACE && elapsed < STOP_GRACE + Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(exit.stopped && exit.killed, "{exit:?}");
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert!(!in_proc(pid), "FFmpeg {pid} was reaped");
    drop(stdin);
}

#[tokio::test]
async fn dropping_the_transcoder_kills_ffmpeg() {
    let ffmpeg = ffmpeg().await;
    let args = profile("copy", "copy", None)
        .args(&ffmpeg, None, None)
        .unwrap();
    let mut transcoder = Transcoder::spawn(&ffmpeg, &args).unwrap();
    let pid = transcoder.pid().unwrap();
    // Its input held open: only a kill ends it.
    let stdin = transcoder.take_stdin().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(in_proc(pid));
    drop(transcoder);
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_proc(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!in_proc(pid), "FFmpeg {pid} is gone");
    drop(stdin);
}

#[tokio::test]
async fn ffprobe_describes_the_test_stream() {
    let ffmpeg = ffmpeg().await;
    let info = ffmpeg.probe(test_stream()).await.unwrap();
    assert_eq!(info.format.as_deref(), Some("mpegts"));
    assert_eq!(info.video.len(), 1, "{info:?}");
    let video = &info.video[0];
    assert_eq!(video.codec, "h264");
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    assert_eq!(video.frame_rate, Some(25.0));
    assert_eq!(info.audio.len(), 1, "{info:?}");
    assert_eq!(info.audio[0].codec, "aac");
    assert_eq!(info.audio[0].channels, Some(1));
    assert_eq!(info.audio[0].sample_rate, Some(44100));

    // Not a stream: a clear failure, not a hang.
    let error = ffmpeg
        .probe(Bytes::from_static(b"not a stream"))
        .await
        .unwrap_err();
    assert!(matches!(error, FfmpegError::Failed { .. }), "{error:?}");
}

#[tokio::test]
async fn slate_is_valid_mpeg_ts() {
    let ffmpeg = ffmpeg().await;
    let started = Instant::now();
    let slate = ffmpeg
        .slate("It's 100%: channel [BBC One], unavailable; try \\ later")
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_ts(&slate);
    let info = ffmpeg.probe(slate.clone()).await.unwrap();
    assert_eq!(info.video[0].codec, "h264");
    assert_eq!(
        (info.video[0].width, info.video[0].height),
        (Some(1280), Some(720))
    );
    assert_eq!(info.audio[0].codec, "aac");

    // With text the picture is not one flat colour: it differs from an empty slate.
    let plain = ffmpeg.slate("").await.unwrap();
    assert_ts(&plain);
    assert!(
        slate.len() > plain.len(),
        "{} vs {}",
        slate.len(),
        plain.len()
    );
}
