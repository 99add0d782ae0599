//! Every playlist under `fixtures/external/m3u/` is parsed, and the quirks listed in
//! `fixtures/external/SOURCES.md` are asserted.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use tvarr_ingest::SkipReason;
use tvarr_ingest::m3u::{DURATION_ATTRIBUTE, M3uOptions, Playlist, parse_m3u};
use url::Url;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/external/m3u")
        .join(name)
}

fn parse_with(name: &str, base: Option<&str>) -> Playlist {
    let file = File::open(fixture(name)).unwrap();
    let options = M3uOptions {
        base_url: base.map(|b| Url::parse(b).unwrap()),
        ..M3uOptions::default()
    };
    parse_m3u(BufReader::new(file), options).unwrap()
}

fn parse(name: &str) -> Playlist {
    parse_with(name, None)
}

#[test]
fn free_tv_keeps_2050_of_2059_entries_and_counts_no_public_stream() {
    let p = parse("free-tv_playlist.m3u8");
    assert_eq!(p.extinf_entries, 2059);
    assert_eq!(p.skipped.count(SkipReason::NotAUrl), 9);
    assert_eq!(p.skipped.total(), 9);
    assert_eq!(p.channels.len(), 2050);
    assert!(p.skipped.examples()[0].text.contains("NO PUBLIC STREAM"));
    assert_eq!(p.skipped.examples()[0].line, 2169);
    // The 6 KB header lists about 100 guide URLs separated by ", ".
    assert!(p.header.tvg_urls.len() >= 90, "{}", p.header.tvg_urls.len());
    assert!(
        p.header
            .tvg_urls
            .iter()
            .all(|u| u.starts_with("http") && !u.contains(' '))
    );
    // Non-numeric channel numbers are kept as text.
    // (NHK BSP4K, tvg-chno="BS4K101", is one of the entries without a public stream.)
    let nhk = p
        .channels
        .iter()
        .find(|c| c.tvg_chno.as_deref() == Some("BS101"));
    assert_eq!(nhk.unwrap().name, "NHK BS");
    assert!(
        !p.channels
            .iter()
            .any(|c| c.tvg_chno.as_deref() == Some("BS4K101"))
    );
    assert!(
        p.channels
            .iter()
            .any(|c| c.tvg_chno.as_deref() == Some("BS141"))
    );
    // Missing and empty tvg-id are both None.
    let without_id = p.channels.iter().filter(|c| c.tvg_id.is_none()).count();
    assert!(without_id >= 500, "{without_id}");
    assert!(p.channels.iter().all(|c| c.tvg_id.as_deref() != Some("")));
    assert!(
        p.channels
            .iter()
            .any(|c| c.group_title.as_deref() == Some("日本 / Japan"))
    );
    assert!(
        p.channels
            .iter()
            .any(|c| c.name.contains('Ⓢ') || c.name.contains('Ⓖ'))
    );
    assert!(
        p.channels
            .iter()
            .any(|c| c.stream_url.starts_with("rtsp://"))
    );
    assert!(
        p.channels
            .iter()
            .any(|c| c.stream_url.starts_with("rtmp://"))
    );
    let with_country = p
        .channels
        .iter()
        .filter(|c| c.extra("tvg-country").is_some())
        .count();
    assert!(with_country > 1500);
}

#[test]
fn japan_header_with_irregular_spaces_and_unquoted_shift() {
    let p = parse("free-tv-history/playlist_japan@dec69b9.m3u8");
    assert_eq!(p.header.tvg_urls.len(), 3);
    assert_eq!(
        p.header.tvg_urls[1],
        "https://animenosekai.github.io/japanterebi-xmltv/guide.xml"
    );
    assert_eq!(p.header.tvg_shift.as_deref(), Some("0"));
    assert!(
        p.header
            .attributes
            .iter()
            .any(|(k, v)| k == "m3uautoload" && v == "1")
    );
    assert_eq!(p.extinf_entries, 84);
    assert_eq!(p.channels.len() as u64 + p.skipped.total(), 84);
    let first = &p.channels[0];
    assert_eq!(first.name, "NHK総合 東京");
    assert_eq!(first.tvg_id.as_deref(), Some("JOAKDTV.jp"));
    assert_eq!(first.extra("player-buffer"), Some("20"));
    assert_eq!(first.group_title.as_deref(), Some("地上波（東京）"));
    assert!(
        p.channels
            .iter()
            .any(|c| c.extra("tvg-dt").is_some() || c.extra("provider").is_some())
    );
}

#[test]
fn nigeria_stray_text_before_header_is_counted_and_header_kept() {
    let p = parse("free-tv-history/playlist_nigeria@14ebe5f.m3u8");
    assert_eq!(p.skipped.count(SkipReason::StrayText), 1);
    assert_eq!(p.skipped.examples()[0].text, "nya");
    assert_eq!(p.header.header_lines, 1);
    assert!(p.header.tvg_urls.len() > 10);
    assert_eq!(p.extinf_entries, 18);
    assert_eq!(
        p.channels.len() as u64 + p.skipped.count(SkipReason::NotAUrl),
        18
    );
}

#[test]
fn base_torture_test() {
    let p = parse_with(
        "iptv-playlist-parser/base.m3u",
        Some("http://provider.example/lists/base.m3u"),
    );
    assert_eq!(p.header.header_lines, 2, "second #EXTM3U tolerated");
    assert_eq!(
        p.header.tvg_urls,
        ["http://195.154.221.171/epg/guidealbania.xml.gz"]
    );
    assert_eq!(p.channels.len(), 6);
    assert_eq!(
        p.skipped.count(SkipReason::NotAUrl),
        1,
        "=====sudan===== skipped"
    );
    assert!(p.skipped.examples()[0].text.contains("sudan"));
    assert_eq!(p.skipped.total(), 1);

    let ch1 = &p.channels[0];
    assert_eq!(ch1.tvg_id.as_deref(), Some("CH1"), "tvg-ID in uppercase");
    assert_eq!(ch1.tvg_name.as_deref(), Some("Ch 1"));
    assert!(
        ch1.tvg_logo.as_deref().unwrap().contains(".png,Mic_"),
        "comma inside a quoted value"
    );
    assert_eq!(
        ch1.extra("tvg-url"),
        Some("http://195.154.221.171/epg/guide.xml.gz")
    );
    assert_eq!(ch1.extra("tvg-rec"), Some("3"));
    assert_eq!(
        ch1.extra("http-referrer"),
        Some("http://player.livesports.pw/la2/")
    );
    assert!(
        ch1.extra("http-user-agent")
            .unwrap()
            .starts_with("Mozilla/5.0")
    );
    assert_eq!(
        ch1.stream_url,
        "http://livestream.htp.tv/hls-live/livepkgr/_definst_/H1/H1_HQ.m3u8"
    );

    let ch2 = &p.channels[1];
    assert_eq!(ch2.name, "Channel 2");
    assert_eq!(
        ch2.stream_url,
        "http://provider.example/lists/stream/chunklist.m3u8"
    );

    let turkiye = &p.channels[2];
    assert_eq!(turkiye.name, "=>(★ TURKİYE ★)<=");
    assert_eq!(
        turkiye.stream_url,
        "http://wodpro24.tr4545.in:8080/expred/peru8k.mp4"
    );

    let trt = &p.channels[3];
    assert_eq!(trt.name, "TRT 1 HD");
    assert_eq!(trt.catchup.as_deref(), Some("shift"));
    assert_eq!(trt.catchup_days.as_deref(), Some("3"));
    assert!(
        trt.catchup_source
            .as_deref()
            .unwrap()
            .contains("?utc=325234234&lutc=")
    );
    assert_eq!(trt.extra("timeshift"), Some("3"));
    assert!(trt.stream_url.contains("ocp(t(FfZfeFx3QG4)"));
    assert!(trt.stream_url.contains("'a(vuk2sg)"));

    let comma = &p.channels[4];
    assert_eq!(comma.name, "name,with comma");
    assert!(comma.stream_url.contains("Perú"));

    // `#EXTINF:16` and the two `#EXTINF:1` keep their durations; `-1` and `#EXTINF: -1` have none.
    let durations: Vec<_> = p
        .channels
        .iter()
        .map(|c| c.extra(DURATION_ATTRIBUTE))
        .collect();
    assert_eq!(
        durations,
        [None, Some("16"), Some("1"), Some("1"), None, None]
    );

    let ugly = &p.channels[5];
    assert_eq!(
        ugly.tvg_name.as_deref(),
        Some("The Good, the Bad and the Ugly")
    );
    assert_eq!(ugly.name, "The Good, the Bad and the Ugly");
    assert_eq!(ugly.stream_url, "http://provider.example/lists/movie.m3u8");
}

#[test]
fn base_groups_from_extgrp_when_group_title_missing_or_kept_in_extra() {
    let p = parse("iptv-playlist-parser/base.m3u");
    let ch1 = &p.channels[0];
    // group-title="Music" wins over #EXTGRP; #EXTGRP is kept.
    assert!(ch1.group_title.is_some());
    let grp = ch1
        .group_title
        .as_deref()
        .filter(|g| *g == "Только Android")
        .or(ch1.extra("EXTGRP"));
    assert_eq!(grp, Some("Только Android"));
    // Without a base URL a relative URL is kept as written.
    assert_eq!(p.channels[1].stream_url, "stream/chunklist.m3u8");
}

#[test]
fn kodi_props_comments_and_pipe_headers() {
    let p = parse("iptv-playlist-parser/kodi.m3u");
    assert_eq!(p.channels.len(), 1);
    let c = &p.channels[0];
    assert_eq!(c.name, "RTP 1");
    assert_eq!(c.extra("inputstream"), Some("inputstream.adaptive"));
    assert_eq!(c.extra("inputstream.adaptive.manifest_type"), Some("hls"));
    assert_eq!(
        c.stream_url,
        "https://streaming-live.rtp.pt/liverepeater/rtpClean1HD.smil/playlist.m3u8"
    );
    assert_eq!(
        c.extra("user-agent"),
        Some("RTP Play/2.0.26 (Linux;Android 11) ExoPlayerLib/2.11.8")
    );
    assert_eq!(p.skipped.total(), 0, "comment lines are not skipped lines");
    assert_eq!(
        p.header.tvg_urls,
        ["https://github.com/LITUATUI/M3UPT/raw/main/epg/epg-vodafone.xml.gz"]
    );
}

#[test]
fn pipe_headers_and_positive_durations() {
    let p = parse("iptv-playlist-parser/pipe.m3u");
    assert_eq!(p.channels.len(), 2);
    let sport = &p.channels[0];
    assert_eq!(
        sport.stream_url,
        "http://192.54.104.122:8080/d/abcdef/video.mp4"
    );
    assert!(
        sport
            .extra("User-Agent")
            .unwrap()
            .starts_with("Mozilla/5.0 (Windows NT 6.1")
    );
    assert_eq!(
        sport.extra("Referer"),
        Some("http://180upload.abc/embed-uaqmgcckhpcl.html")
    );
    let news = &p.channels[1];
    assert_eq!(news.name, "News channel");
    assert_eq!(news.extra("Referer"), Some("http://test.abc/blank.html"));
    assert!(news.extra("http-user-agent").is_some());
    assert_eq!(sport.extra(DURATION_ATTRIBUTE), Some("17"));
    assert_eq!(news.extra(DURATION_ATTRIBUTE), Some("555"));
}

#[test]
fn url_tvg_spelling() {
    let p = parse("iptv-playlist-parser/url_tvg.m3u");
    assert_eq!(
        p.header.tvg_urls,
        ["http://195.154.221.171/epg/guidealbania.xml.gz"]
    );
    assert_eq!(p.channels.len(), 1);
}

#[test]
fn user_agent_attribute_is_kept() {
    let p = parse("iptv-playlist-parser/user_agent.m3u");
    assert_eq!(p.channels.len(), 1);
    assert!(
        p.channels[0]
            .extra("user-agent")
            .unwrap()
            .starts_with("Mozilla/5.0 (iPhone")
    );
    assert_eq!(p.channels[0].group_title.as_deref(), Some("Entertainment"));
}

#[test]
fn vlcopt_quoted_value_and_extgrp_conflict() {
    let p = parse("iptv-playlist-parser/vlcopt.m3u");
    let c = &p.channels[0];
    assert_eq!(c.name, "Test Channel");
    assert_eq!(
        c.group_title.as_deref(),
        Some("Entertainment"),
        "group-title wins over #EXTGRP"
    );
    assert_eq!(c.extra("EXTGRP"), Some("News"));
    assert_eq!(
        c.extra(DURATION_ATTRIBUTE),
        None,
        "#EXTINF:0 is no duration"
    );
    assert_eq!(
        c.extra("http-user-agent"),
        Some("Dalvik/2.1.0 (Linux; U; Android 6.0.1;)")
    );
}

#[test]
fn iptv_org_iq_old_format_with_empty_attributes_and_duplicate_names() {
    let p = parse("iptv-org/gh-pages_countries_iq.m3u");
    assert_eq!(p.extinf_entries, 25);
    assert_eq!(p.channels.len(), 25);
    assert!(
        p.channels
            .iter()
            .all(|c| c.tvg_id.is_none() && c.tvg_name.is_none())
    );
    assert!(p.channels.iter().any(|c| c.extra("tvg-language").is_some()));
    let mut names: Vec<_> = p.channels.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert!(
        names.len() < before,
        "duplicate names with different URLs are all kept"
    );
}

#[test]
fn iptv_org_bh_status_attribute_and_labels() {
    let p = parse("iptv-org/streams_bh.m3u");
    assert_eq!(p.channels.len(), 5);
    assert!(p.channels.iter().all(|c| c.extra("status").is_some()));
    assert!(p.channels.iter().any(|c| c.name.contains("[Not 24/7]")));
}

#[test]
fn iptv_org_file_without_extension_with_comments() {
    let p = parse("iptv-org/streams_Imam Hussein TV");
    assert_eq!(p.channels.len(), 6);
    assert_eq!(p.skipped.total(), 0);
    assert_eq!(p.channels[0].name, "Imam Hussein TV 1 (Persian)");
}

#[test]
fn iptv_org_mongolian_crlf_no_final_newline_no_attributes() {
    let p = parse("iptv-org/streams_MongolianTVHD (1).m3u8");
    assert_eq!(p.channels.len(), 71);
    assert_eq!(p.skipped.total(), 0);
    assert_eq!(p.channels[0].name, "MNB HD");
    assert_eq!(p.channels[0].extra(DURATION_ATTRIBUTE), Some("40"));
    assert!(p.channels.iter().all(|c| {
        c.extra(DURATION_ATTRIBUTE)
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|d| (37..=50).contains(&d))
    }));
    assert!(
        p.channels
            .iter()
            .all(|c| !c.stream_url.ends_with('\r') && !c.name.ends_with('\r'))
    );
    assert!(
        p.channels
            .iter()
            .all(|c| c.extra("network-caching") == Some("1000"))
    );
    assert!(
        p.channels.last().unwrap().stream_url.ends_with(".m3u8"),
        "last line without newline"
    );
}

#[test]
fn iptv_org_txt_without_header() {
    let p = parse("iptv-org/streams_M3u.txt");
    assert_eq!(p.header.header_lines, 0);
    assert_eq!(p.channels.len(), 32);
    assert!(
        p.channels
            .iter()
            .all(|c| c.tvg_id.as_deref() == Some("GDrive.Us"))
    );
    assert!(
        p.channels
            .iter()
            .any(|c| c.group_title.as_deref() == Some("Season 1"))
    );
    assert!(p.channels.iter().any(|c| c.stream_url.contains("%20")));
    assert!(p.channels.iter().any(|c| c.name.contains('\'')));
    let placeholders = p
        .channels
        .iter()
        .filter(|c| c.stream_url == "http://example.com/stream.m3u8")
        .count();
    assert_eq!(placeholders, 15);
}

#[test]
fn smolnp_cyrillic_feed_ids_and_doubled_headers() {
    let p = parse("smolnp-IPTVru/IPTV20channels.m3u");
    assert_eq!(p.channels.len(), 25);
    assert!(
        p.channels
            .iter()
            .any(|c| c.tvg_id.as_deref() == Some("Carousel.ru@SD"))
    );
    assert!(
        p.channels
            .iter()
            .any(|c| c.extra("referrer").is_some() && c.extra("http-referrer").is_some())
    );
    assert!(p.channels.iter().any(|c| c.stream_url.contains(".mpd")));
    assert!(p.channels.iter().any(|c| c.name.contains("Мир +2")));
    // group-title="" is None.
    assert!(
        p.channels
            .iter()
            .all(|c| c.group_title.as_deref() != Some(""))
    );
}

#[test]
fn a_bom_in_front_of_a_real_playlist_is_ignored() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(std::fs::read(fixture("iptv-playlist-parser/vlcopt.m3u")).unwrap());
    let p = parse_m3u(&bytes[..], M3uOptions::default()).unwrap();
    assert_eq!(p.header.header_lines, 1);
    assert_eq!(p.channels.len(), 1);
    assert_eq!(p.skipped.total(), 0);
}
