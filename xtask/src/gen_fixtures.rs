//! `cargo xtask gen-fixtures [--out DIR]`: large, deterministic inputs for benchmarks and
//! end-to-end runs (default `fixtures/generated/`, which git ignores).
//!
//! - `channels-100k.m3u`: 100,000 channels, about 22 MB, with tvg-id, tvg-name, tvg-logo,
//!   group-title and tvg-chno, names in several scripts, and a sprinkle of real-world quirks.
//! - `guide-1m.xml`: 1,000,000 programmes on 5,000 channels, about 530 MB.
//! - `xtream/`: `player_api.php` answers: `auth.json`, `get_live_categories.json` and
//!   `get_live_streams.json` with 100,000 live streams.
//!
//! The same seed gives the same bytes on every machine; no `rand` crate is needed.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const CHANNELS: u32 = 100_000;
const GUIDE_CHANNELS: u32 = 5_000;
const PROGRAMMES_PER_CHANNEL: u32 = 200;
const SEED: u64 = 0x7476_6172_7221_2024;

/// A xorshift64* generator: small, fast and deterministic.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const COUNTRIES: &[&str] = &[
    "us", "uk", "de", "fr", "es", "it", "nl", "pl", "tr", "ar", "jp", "ru", "br", "in",
];
const GROUPS: &[&str] = &[
    "USA | Sports",
    "USA | News",
    "USA | Entertainment",
    "UK | General",
    "UK | Kids",
    "Deutschland",
    "France • Cinéma",
    "España",
    "Italia",
    "Nederland",
    "Polska",
    "Türkiye",
    "العربية",
    "日本 / Japan",
    "Россия",
    "Brasil",
    "भारत",
    "Music",
    "Documentary",
    "Movies 24/7",
];
const WORDS: &[&str] = &[
    "Sky",
    "Sport",
    "News",
    "One",
    "Prime",
    "Max",
    "Cinema",
    "Action",
    "Kids",
    "Music",
    "Life",
    "World",
    "Plus",
    "Gold",
    "Classic",
    "Discovery",
    "Nature",
    "History",
    "Comedy",
    "Drama",
];
const UNICODE_NAMES: &[&str] = &[
    "Télé Matin",
    "Canal Ñ",
    "Das Erste",
    "ТВ Центр",
    "Первый канал",
    "NHK総合",
    "テレビ東京",
    "الجزيرة",
    "MBC مصر",
    "Ⓢ Sport",
    "TRT Türk",
    "Polsat Świat",
    "ZDF · Info",
    "Ελληνική",
];
const QUALITIES: &[&str] = &["", " HD", " FHD", " 4K", " SD", " (720p)", " [Geo-blocked]"];

const TITLES: &[&str] = &[
    "Morning News",
    "The Big Match",
    "Nature's Wonders",
    "Late Show",
    "Kitchen Heroes",
    "Crime Scene",
    "Mystery Island",
    "Championship Live",
    "Cartoon Hour",
    "World Report",
    "Die Nachrichten",
    "Le Journal",
    "Telediario",
    "Notiziario",
    "ニュース７",
    "Новости",
];
const CATEGORIES: &[&str] = &[
    "News",
    "Sports",
    "Movie",
    "Series",
    "Documentary",
    "Kids",
    "Music",
    "Entertainment",
    "Comedy",
    "Drama",
];
const PEOPLE: &[&str] = &[
    "Alex Morgan",
    "Sam Lee",
    "Jordan Smith",
    "María García",
    "Jean Dupont",
    "Hans Müller",
    "Yuki Tanaka",
    "Olga Ivanova",
    "Chris Evans",
    "Pat Kelly",
];
const SENTENCES: &[&str] = &[
    "A look at the day's top stories from around the world.",
    "The team faces its toughest rival yet in a match that could decide the season.",
    "Experts explore the hidden lives of animals in remote habitats.",
    "Guests & music in a lively late-night conversation.",
    "A detective uncovers a web of secrets in a quiet town.",
    "Chefs compete to create the perfect three-course meal under pressure.",
    "Live coverage with analysis, interviews and highlights.",
];

pub fn run(args: &[String]) -> Result<()> {
    let mut out = PathBuf::from("fixtures/generated");
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--out" => {
                out = PathBuf::from(rest.next().context("--out needs a directory")?);
            }
            other => {
                bail!("unknown argument `{other}` (usage: cargo xtask gen-fixtures [--out DIR])")
            }
        }
    }
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let playlist = out.join("channels-100k.m3u");
    write_playlist(&playlist)?;
    report(&playlist)?;
    let guide = out.join("guide-1m.xml");
    write_guide(&guide)?;
    report(&guide)?;
    let xtream = out.join("xtream");
    fs::create_dir_all(&xtream)?;
    write_xtream(&xtream)?;
    report(&xtream.join("get_live_streams.json"))?;
    Ok(())
}

fn report(path: &Path) -> Result<()> {
    let size = fs::metadata(path)?.len();
    println!("wrote {} ({:.1} MB)", path.display(), size as f64 / 1e6);
    Ok(())
}

fn channel_name(rng: &mut Xorshift, i: u32) -> String {
    let base = if rng.chance(15) {
        rng.pick(UNICODE_NAMES).to_owned()
    } else {
        format!("{} {}", rng.pick(WORDS), rng.pick(WORDS))
    };
    format!("{base} {}{}", i % 97, rng.pick(QUALITIES))
}

fn write_playlist(path: &Path) -> Result<()> {
    let mut rng = Xorshift(SEED);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(
        w,
        "#EXTM3U url-tvg=\"http://epg.provider.example/guide.xml.gz\" tvg-shift=0"
    )?;
    for i in 0..CHANNELS {
        let name = channel_name(&mut rng, i);
        let country = rng.pick(COUNTRIES);
        let group = rng.pick(GROUPS);
        let id = format!("{}{i}.{country}", rng.pick(WORDS).to_lowercase());
        // A few quirks from real playlists.
        if rng.chance(2) {
            writeln!(w, "# --- {group} ---")?;
        }
        if rng.chance(3) {
            // No tvg-id, unquoted attributes, a positive duration.
            writeln!(
                w,
                "#EXTINF:{} tvg-name=\"{name}\" tvg-logo=https://logo.example/{i}.png group-title=\"{group}\",{name}",
                rng.below(60)
            )?;
        } else {
            writeln!(
                w,
                "#EXTINF:-1 tvg-id=\"{id}\" tvg-name=\"{name}\" tvg-logo=\"https://logo.example/{country}/{i}.png\" group-title=\"{group}\" tvg-chno=\"{}\",{name}",
                i + 1
            )?;
        }
        if rng.chance(3) {
            writeln!(
                w,
                "#EXTVLCOPT:http-user-agent=Mozilla/5.0 (SMART-TV; Linux)"
            )?;
        }
        if rng.chance(1) {
            writeln!(w, "[NO PUBLIC STREAM]")?;
            continue;
        }
        let ext = if rng.chance(70) { "ts" } else { "m3u8" };
        if rng.chance(2) {
            writeln!(
                w,
                "http://stream.provider.example:8080/play/{i}.{ext}|User-Agent=VLC/3.0&Referer=http://provider.example/"
            )?;
        } else {
            writeln!(
                w,
                "http://cdn.example:8080/live/{i}/{:08x}.{ext}",
                rng.next() as u32
            )?;
        }
    }
    w.flush()?;
    Ok(())
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn write_guide(path: &Path) -> Result<()> {
    let mut rng = Xorshift(SEED ^ 0x5555);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(w, "<!DOCTYPE tv SYSTEM \"xmltv.dtd\">")?;
    writeln!(w, "<tv generator-info-name=\"tvarr gen-fixtures\">")?;
    for c in 0..GUIDE_CHANNELS {
        writeln!(
            w,
            "  <channel id=\"ch{c}.tvarr\">\n    <display-name lang=\"en\">{}</display-name>\n    <icon src=\"https://logos.provider.example/{c}.png\" />\n  </channel>",
            xml_escape(&channel_name(&mut rng, c))
        )?;
    }
    // 2024-01-01 00:00:00 UTC.
    let epoch_start: i64 = 1_704_067_200;
    for c in 0..GUIDE_CHANNELS {
        let mut start = epoch_start;
        for p in 0..PROGRAMMES_PER_CHANNEL {
            let minutes = [15, 30, 30, 45, 60, 60, 90, 120][rng.below(8) as usize];
            let stop = start + minutes * 60;
            let title = rng.pick(TITLES);
            writeln!(
                w,
                "  <programme start=\"{} +0000\" stop=\"{} +0000\" channel=\"ch{c}.tvarr\">",
                xmltv_time(start),
                xmltv_time(stop)
            )?;
            writeln!(w, "    <title lang=\"en\">{}</title>", xml_escape(title))?;
            let series = rng.chance(40);
            if series {
                writeln!(
                    w,
                    "    <sub-title lang=\"en\">Episode {}</sub-title>",
                    p % 24 + 1
                )?;
            }
            writeln!(
                w,
                "    <desc lang=\"en\">{} {}</desc>",
                xml_escape(rng.pick(SENTENCES)),
                xml_escape(rng.pick(SENTENCES))
            )?;
            if rng.chance(35) {
                writeln!(
                    w,
                    "    <credits>\n      <director>{}</director>\n      <actor role=\"Lead\">{}</actor>\n    </credits>",
                    rng.pick(PEOPLE),
                    rng.pick(PEOPLE)
                )?;
            }
            writeln!(
                w,
                "    <category lang=\"en\">{}</category>",
                rng.pick(CATEGORIES)
            )?;
            if rng.chance(30) {
                writeln!(
                    w,
                    "    <category lang=\"en\">{}</category>",
                    rng.pick(CATEGORIES)
                )?;
            }
            if series {
                let (season, episode) = (rng.below(8), p % 24);
                writeln!(
                    w,
                    "    <episode-num system=\"xmltv_ns\">{season}.{episode}.0/1</episode-num>\n    <episode-num system=\"onscreen\">S{:02}E{:02}</episode-num>",
                    season + 1,
                    episode + 1
                )?;
            }
            if rng.chance(50) {
                writeln!(
                    w,
                    "    <rating system=\"VCHIP\">\n      <value>{}</value>\n    </rating>",
                    rng.pick(&["TV-G", "TV-PG", "TV-14", "TV-MA"])
                )?;
            }
            if rng.chance(10) {
                writeln!(w, "    <video>\n      <aspect>16:9</aspect>\n    </video>")?;
            }
            if rng.chance(50) {
                writeln!(
                    w,
                    "    <icon src=\"https://img.provider.example/p/{c}-{p}.jpg\" />"
                )?;
            }
            writeln!(w, "  </programme>")?;
            start = stop;
        }
    }
    writeln!(w, "</tv>")?;
    w.flush()?;
    Ok(())
}

/// `YYYYMMDDhhmmss` for a Unix time, without a date library.
fn xmltv_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// Channels of the generation benchmark's playlist, each with a guide channel.
pub const PROXY_CHANNELS: u32 = 50_000;
/// Programmes per guide channel of the generation benchmark's guide.
pub const PROXY_PROGRAMMES_PER_CHANNEL: u32 = 10;

/// The generation benchmark's inputs: `proxy-50k.m3u` (50,000 channels, each with the `tvg-id`
/// of a guide channel) and `proxy-guide-500k.xml` (10 programmes per channel from `start_unix`,
/// so that they fall inside a proxy's guide window around the time of the run).
pub fn write_proxy_pair(dir: &Path, start_unix: i64) -> Result<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir)?;
    let mut rng = Xorshift(SEED ^ 0x1234);
    let playlist = dir.join("proxy-50k.m3u");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&playlist)?);
    writeln!(w, "#EXTM3U")?;
    for c in 0..PROXY_CHANNELS {
        let name = channel_name(&mut rng, c);
        writeln!(
            w,
            "#EXTINF:-1 tvg-id=\"px{c}.tvarr\" tvg-name=\"{name}\" tvg-logo=\"https://logo.example/px/{c}.png\" group-title=\"{}\",{name}\nhttp://cdn.example:8080/live/px/{c}.ts",
            rng.pick(GROUPS)
        )?;
    }
    w.flush()?;
    let guide = dir.join("proxy-guide-500k.xml");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&guide)?);
    writeln!(
        w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv generator-info-name=\"tvarr bench\">"
    )?;
    for c in 0..PROXY_CHANNELS {
        writeln!(
            w,
            "  <channel id=\"px{c}.tvarr\"><display-name>Guide {c}</display-name></channel>"
        )?;
    }
    for c in 0..PROXY_CHANNELS {
        let mut start = start_unix;
        for p in 0..PROXY_PROGRAMMES_PER_CHANNEL {
            let stop = start + [30, 60, 90][rng.below(3) as usize] * 60;
            writeln!(
                w,
                "  <programme start=\"{} +0000\" stop=\"{} +0000\" channel=\"px{c}.tvarr\">\n    <title lang=\"en\">{}</title>\n    <desc lang=\"en\">{}</desc>\n    <category lang=\"en\">{}</category>\n    <episode-num system=\"onscreen\">E{}</episode-num>\n  </programme>",
                xmltv_time(start),
                xmltv_time(stop),
                xml_escape(rng.pick(TITLES)),
                xml_escape(rng.pick(SENTENCES)),
                rng.pick(CATEGORIES),
                p + 1
            )?;
            start = stop;
        }
    }
    writeln!(w, "</tv>")?;
    w.flush()?;
    Ok((playlist, guide))
}

fn write_xtream(dir: &Path) -> Result<()> {
    let mut rng = Xorshift(SEED ^ 0xAAAA);
    fs::write(
        dir.join("auth.json"),
        r#"{"user_info":{"username":"USER","password":"PASS","message":"","auth":1,"status":"Active","exp_date":null,"is_trial":"0","active_cons":"0","created_at":"1700000000","max_connections":"2","allowed_output_formats":["m3u8","ts"]},"server_info":{"url":"panel.provider.example","port":"8080","https_port":"8443","server_protocol":"http","rtmp_port":"8001","timezone":"Europe\/London","timestamp_now":1704067200,"time_now":"2024-01-01 00:00:00","process":true}}"#,
    )?;
    let mut categories = String::from("[");
    for (i, group) in GROUPS.iter().enumerate() {
        if i > 0 {
            categories.push(',');
        }
        categories.push_str(&format!(
            r#"{{"category_id":"{}","category_name":"{}","parent_id":0}}"#,
            100 + i,
            group.replace('/', "\\/")
        ));
    }
    categories.push(']');
    fs::write(dir.join("get_live_categories.json"), categories)?;
    let mut w = BufWriter::with_capacity(1 << 20, File::create(dir.join("get_live_streams.json"))?);
    w.write_all(b"[")?;
    for i in 0..CHANNELS {
        if i > 0 {
            w.write_all(b",")?;
        }
        let name = channel_name(&mut rng, i).replace('"', "'");
        let epg = if rng.chance(60) {
            format!(
                "\"{}{i}.{}\"",
                rng.pick(WORDS).to_lowercase(),
                rng.pick(COUNTRIES)
            )
        } else {
            "null".to_owned()
        };
        let category = if rng.chance(3) {
            "null".to_owned()
        } else {
            format!("\"{}\"", 100 + rng.below(GROUPS.len() as u64))
        };
        let archive = rng.chance(5);
        // Real panels mix ints and strings here.
        let duration = match (archive, rng.chance(10)) {
            (true, true) => "\"3\"".to_owned(),
            (true, false) => "7".to_owned(),
            _ => "0".to_owned(),
        };
        write!(
            w,
            r#"{{"num":{},"name":"{name}","stream_type":"live","stream_id":{},"stream_icon":"http:\/\/logos.provider.example\/{i}.png","epg_channel_id":{epg},"added":"{}","category_id":{category},"custom_sid":"","tv_archive":{},"direct_source":"","tv_archive_duration":{duration}}}"#,
            i + 1,
            500_000 + i,
            1_700_000_000 + i,
            u8::from(archive)
        )?;
    }
    w.write_all(b"]")?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmltv_time_matches_known_dates() {
        assert_eq!(xmltv_time(1_704_067_200), "20240101000000");
        assert_eq!(xmltv_time(951_782_400), "20000229000000");
        assert_eq!(xmltv_time(1_709_251_199), "20240229235959");
    }

    #[test]
    fn the_generator_is_deterministic() {
        let mut a = Xorshift(SEED);
        let mut b = Xorshift(SEED);
        assert!((0..100).all(|_| a.next() == b.next()));
    }
}
