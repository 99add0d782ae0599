//! Memory bombs: inputs a hostile provider sends to make the parsers buffer without end (a gzip
//! stream of zeros, a `<title>` of hundreds of megabytes, an attribute value, an M3U line or a
//! JSON string without its end, millions of small values in one record, deep nesting). Each
//! input is generated while it is read, never held, and each test asserts the process's peak
//! resident memory (`VmHWM`) stays under [`PEAK_LIMIT_MB`] and the skip is counted.
//!
//! `VmHWM` is one figure per process: the tests take [`SERIAL`] so they run one at a time, and
//! each resets the high-water mark (`/proc/self/clear_refs`) before it starts.
#![cfg(all(target_os = "linux", feature = "fetch"))]

mod support;

use std::io::{BufReader, Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use support::{MemoryGuide, epg_source};
use tvarr_core::IngestState;
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_ingest::m3u::{M3uOptions, M3uReader};
use tvarr_ingest::xmltv::{XmltvItem, XmltvOptions, XmltvReader};
use tvarr_ingest::xtream::{LiveStream, read_array};
use tvarr_ingest::{IngestSettings, NoProgress, ParserLimits, SkipReason, ingest_epg_source};
use tvarr_testkit::{ProviderServer, Reply};

/// The most any of these inputs may make the process hold.
const PEAK_LIMIT_MB: u64 = 150;
/// The size of a bomb: far above the limit, small enough for a debug build to read in seconds.
const BOMB_BYTES: u64 = 300 << 20;

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `test` alone, with the high-water mark reset; returns its result and the peak in MiB.
fn measured<T>(test: impl FnOnce() -> T) -> (T, u64) {
    let _alone = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let result = test();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    (result, kib / 1024)
}

fn assert_peak(name: &str, peak_mb: u64) {
    eprintln!("{name}: peak {peak_mb} MiB");
    assert!(
        peak_mb < PEAK_LIMIT_MB,
        "{name}: peak resident memory {peak_mb} MiB, limit {PEAK_LIMIT_MB} MiB"
    );
}

/// A document generated while it is read: pieces, each repeated some number of times.
struct Bomb {
    parts: Vec<(Vec<u8>, u64)>,
    part: usize,
    /// Repetitions of the current part still to come, and the offset in the current one.
    left: u64,
    offset: usize,
}

impl Bomb {
    fn new() -> Self {
        Self {
            parts: Vec::new(),
            part: 0,
            left: 0,
            offset: 0,
        }
    }

    fn text(self, text: &str) -> Self {
        self.repeat(text.as_bytes(), 1)
    }

    /// `byte`, `count` times (built from 64 KiB blocks).
    fn fill(self, byte: u8, count: u64) -> Self {
        const BLOCK: u64 = 64 * 1024;
        let this = self.repeat(&vec![byte; BLOCK as usize], count / BLOCK);
        let rest = (count % BLOCK) as usize;
        this.repeat(&vec![byte; rest], 1)
    }

    fn repeat(mut self, piece: &[u8], times: u64) -> Self {
        if !piece.is_empty() && times > 0 {
            if self.parts.is_empty() {
                self.left = times;
            }
            self.parts.push((piece.to_vec(), times));
        }
        self
    }

    fn reader(self) -> BufReader<Self> {
        BufReader::with_capacity(64 * 1024, self)
    }
}

impl Read for Bomb {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() && self.part < self.parts.len() {
            let piece = &self.parts[self.part].0;
            let n = (piece.len() - self.offset).min(buf.len() - written);
            buf[written..written + n].copy_from_slice(&piece[self.offset..self.offset + n]);
            written += n;
            self.offset += n;
            if self.offset == piece.len() {
                self.offset = 0;
                self.left -= 1;
                if self.left == 0 {
                    self.part += 1;
                    self.left = self.parts.get(self.part).map_or(0, |p| p.1);
                }
            }
        }
        Ok(written)
    }
}

const PROGRAMME: &str =
    r#"<programme channel="a" start="20240101000000 +0000" stop="20240101010000 +0000">"#;

/// Reads a guide to its end: the titles of the programmes, the skip counts, the error if any.
fn read_guide(input: impl std::io::BufRead) -> (Vec<String>, tvarr_ingest::SkipReport, bool) {
    let mut reader = XmltvReader::new(input, XmltvOptions::default()).unwrap();
    let mut titles = Vec::new();
    let mut failed = false;
    loop {
        match reader.next_item() {
            Ok(Some(XmltvItem::Programme(p))) => titles.push(p.title().to_owned()),
            Ok(Some(XmltvItem::Channel(_))) => {}
            Ok(None) => break,
            Err(_) => failed = true,
        }
    }
    (titles, reader.stats().skipped, failed)
}

#[test]
fn a_gzip_of_zeros_through_the_fetcher_stays_flat() {
    // The issue's bomb is 1e9 zeros in 970 KB; 300 MiB of them is the same shape.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..(BOMB_BYTES >> 20) {
        encoder.write_all(&block).unwrap();
    }
    let gz = encoder.finish().unwrap();
    drop(block);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (report, peak) = measured(|| {
        runtime.block_on(async {
            let server = ProviderServer::answering(move |_, _| Reply::ok(gz.clone()))
                .await
                .unwrap();
            let source = epg_source(server.url("/guide.xml.gz"));
            let fetcher = HttpFetcher::new(FetchOptions {
                retries: 0,
                deadline: Duration::from_secs(120),
                ..FetchOptions::default()
            })
            .unwrap();
            let guide = MemoryGuide::default();
            ingest_epg_source(
                &source,
                &fetcher,
                &guide,
                &NoProgress,
                &IngestSettings::default(),
            )
            .await
        })
    });
    assert_peak("gzip of zeros", peak);
    // Nothing but zeros: no programme, so the ingest fails, and says what it skipped.
    assert_eq!(report.outcome.state, IngestState::Failed, "{report:?}");
    assert_eq!(
        report.skipped.count(SkipReason::ValueTooLong),
        1,
        "{report:?}"
    );
    assert_eq!(report.skipped.total(), 1, "{report:?}");
}

#[test]
fn a_huge_title_skips_its_programme_only() {
    let ((titles, skipped, failed), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(&format!("<tv>{PROGRAMME}<title>"))
            .fill(b'a', BOMB_BYTES)
            .text(&format!(
                "</title></programme>{PROGRAMME}<title>kept</title></programme></tv>"
            ));
        read_guide(bomb.reader())
    });
    assert_peak("huge title", peak);
    assert!(!failed);
    assert_eq!(titles, ["kept"]);
    assert_eq!(skipped.count(SkipReason::ValueTooLong), 1);
    assert_eq!(skipped.total(), 1);
}

#[test]
fn a_title_of_millions_of_references_skips_its_programme_only() {
    // Each `&amp;` is an event of its own: the text they add up to is what grows.
    let ((titles, skipped, failed), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(&format!("<tv>{PROGRAMME}<title>"))
            .repeat(b"&amp;", BOMB_BYTES / 40)
            .text(&format!(
                "</title></programme>{PROGRAMME}<title>kept</title></programme></tv>"
            ));
        read_guide(bomb.reader())
    });
    assert_peak("title of references", peak);
    assert!(!failed);
    assert_eq!(titles, ["kept"]);
    assert_eq!(skipped.count(SkipReason::ValueTooLong), 1);
}

#[test]
fn a_huge_attribute_value_skips_its_programme_only() {
    let ((titles, skipped, failed), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(r#"<tv><programme channel="a" start="20240101000000 +0000" x-junk=""#)
            .fill(b'a', BOMB_BYTES)
            .text(&format!(
                "\"><title>lost</title></programme>{PROGRAMME}<title>kept</title></programme></tv>"
            ));
        read_guide(bomb.reader())
    });
    assert_peak("huge attribute", peak);
    assert!(!failed);
    assert_eq!(titles, ["kept"]);
    assert_eq!(skipped.count(SkipReason::ValueTooLong), 1);
    assert_eq!(skipped.total(), 1);
}

#[test]
fn a_tag_that_never_closes_ends_the_guide_without_buffering_it() {
    let ((titles, _, failed), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(&format!(
                "<tv>{PROGRAMME}<title>kept</title></programme><programme "
            ))
            .repeat(b"a=\"1\" ", BOMB_BYTES / 6);
        read_guide(bomb.reader())
    });
    assert_peak("unclosed tag", peak);
    assert!(
        failed,
        "a document that ends inside a tag is not well-formed"
    );
    assert_eq!(titles, ["kept"]);
}

#[test]
fn a_programme_of_millions_of_small_values_is_skipped() {
    let ((titles, skipped, _), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(&format!("<tv>{PROGRAMME}"))
            .repeat(b"<category>news</category>", BOMB_BYTES / 100)
            .text(&format!(
                "</programme>{PROGRAMME}<title>kept</title></programme></tv>"
            ));
        read_guide(bomb.reader())
    });
    assert_peak("many values", peak);
    assert_eq!(titles, ["kept"]);
    assert_eq!(skipped.count(SkipReason::RecordTooLarge), 1);
}

#[test]
fn deep_nesting_is_refused_without_buffering_the_names() {
    let name = "n".repeat(1000);
    let ((titles, _, failed), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(&format!("<tv>{PROGRAMME}<title>kept</title></programme>"))
            .repeat(format!("<{name}>").as_bytes(), BOMB_BYTES / 1002);
        read_guide(bomb.reader())
    });
    assert_peak("deep nesting", peak);
    assert!(failed);
    assert_eq!(titles, ["kept"]);
}

#[test]
fn a_huge_m3u_line_is_skipped_and_counted() {
    let ((names, skipped), peak) = measured(|| {
        let bomb = Bomb::new()
            .text("#EXTM3U\n#EXTINF:-1,A\nhttp://h/")
            .fill(b'a', BOMB_BYTES)
            .text("\n#EXTINF:-1,B\nhttp://h/b\n");
        let mut reader = M3uReader::new(bomb.reader(), M3uOptions::default());
        let mut names = Vec::new();
        while let Some(channel) = reader.next_channel().unwrap() {
            names.push(channel.name);
        }
        (names, reader.skipped().clone())
    });
    assert_peak("huge M3U line", peak);
    assert_eq!(names, ["B"]);
    assert_eq!(skipped.count(SkipReason::ValueTooLong), 1);
    assert_eq!(skipped.total(), 1);
}

#[test]
fn an_m3u_entry_of_millions_of_option_lines_is_skipped() {
    let ((names, skipped), peak) = measured(|| {
        let bomb = Bomb::new()
            .text("#EXTM3U\n#EXTINF:-1,A\n")
            .repeat(b"#EXTVLCOPT:http-user-agent=x\n", 3_000_000)
            .text("http://h/a\n#EXTINF:-1,B\nhttp://h/b\n");
        let mut reader = M3uReader::new(bomb.reader(), M3uOptions::default());
        let mut names = Vec::new();
        while let Some(channel) = reader.next_channel().unwrap() {
            names.push(channel.name);
        }
        (names, reader.skipped().clone())
    });
    assert_peak("many M3U option lines", peak);
    assert_eq!(names, ["B"]);
    assert_eq!(skipped.count(SkipReason::RecordTooLarge), 1);
}

#[test]
fn a_huge_xtream_string_skips_its_element_only() {
    let ((names, skips), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(r#"[{"stream_id":1,"name":""#)
            .fill(b'a', BOMB_BYTES)
            .text(r#""},{"stream_id":2,"name":"B"}]"#);
        let mut names = Vec::new();
        let skips =
            read_array::<LiveStream, _, _>(bomb.reader(), ParserLimits::default(), |stream| {
                names.push(stream.name.unwrap_or_default());
                Ok(())
            })
            .unwrap();
        (names, skips)
    });
    assert_peak("huge JSON string", peak);
    assert_eq!(names, ["B"]);
    assert_eq!(skips.too_long, 1);
    assert_eq!(skips.odd, 0);
}

#[test]
fn a_huge_xtream_element_is_refused_without_buffering_it() {
    let ((result, names), peak) = measured(|| {
        let bomb = Bomb::new()
            .text(r#"[{"stream_id":1,"name":"A"},{"stream_id":2"#)
            .repeat(br#","k":1"#, BOMB_BYTES / 6)
            .text("}]");
        let mut names = Vec::new();
        let result =
            read_array::<LiveStream, _, _>(bomb.reader(), ParserLimits::default(), |stream| {
                names.push(stream.name.unwrap_or_default());
                Ok(())
            });
        (result, names)
    });
    assert_peak("huge JSON element", peak);
    assert_eq!(names, ["A"]);
    let error = result.unwrap_err().to_string();
    assert!(error.contains("larger than"), "{error}");
}
