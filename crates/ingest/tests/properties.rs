//! Property tests: any input ends in a result, never a panic, and memory stays bounded.

use proptest::prelude::*;
use tvarr_ingest::m3u::{M3uOptions, MAX_LINE_BYTES, parse_m3u};
use tvarr_ingest::redact_url;
use tvarr_ingest::xmltv::{XmltvOptions, parse_xmltv};
use url::Url;

fn m3u_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("#EXTM3U".to_owned()),
        Just("#EXTM3U url-tvg=\"a, b\" tvg-shift=2".to_owned()),
        "#EXTINF:-?[0-9]{0,3}( [a-zA-Z-]{1,8}=(\"[^\"\\n]{0,10}\"?|[^ ,\\n]{0,6})){0,4},?[^\\n]{0,20}",
        "#EXT(GRP|VLCOPT|KODIPROP):[^\\n]{0,20}",
        "(http|rtmp|udp)://[a-z.]{1,10}/[^\\n ]{0,20}(\\|[A-Za-z-]{1,8}=[^\\n&]{0,8}(&[a-z]=[a-z]{0,3})?)?",
        "[a-z./]{0,12}",
        "[^\\n]{0,30}",
        Just(String::new()),
    ]
}

fn xml_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<channel id=\"a\"><display-name lang=\"en\">A</display-name></channel>".to_owned()),
        "<programme channel=\"[a-c]{0,1}\" start=\"[0-9 +\\-A-Z]{0,20}\"( stop=\"[0-9 +]{0,20}\")?>".prop_map(|s| s),
        "<(title|desc|category|sub-title|episode-num|x-[a-z]{1,4}|credits|actor|rating|value)( [a-z]{1,6}=\"[^\"<&]{0,8}\")?>",
        "</(title|desc|category|programme|channel|credits|actor|rating|value|x-[a-z]{1,4})>",
        "[^<&]{0,20}",
        "&(amp|lt|#[0-9]{1,6}|#x[0-9a-f]{1,5}|[a-z]{1,6});?",
        "<!\\[CDATA\\[[^\\]]{0,10}\\]\\]>",
        Just("<!-- c -->".to_owned()),
        Just("<icon src=\"x\"/>".to_owned()),
        "[0-9. /]{0,10}",
    ]
}

/// The path words after which Xtream panels put `user/pass` (masked by their own rule).
fn is_keyword(segment: &str) -> bool {
    ["live", "movie", "series", "timeshift"].contains(&segment)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn m3u_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let playlist = parse_m3u(&bytes[..], M3uOptions::default()).unwrap();
        let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
        prop_assert!(playlist.channels.len() <= lines);
    }

    #[test]
    fn m3u_never_panics_on_playlist_like_lines(lines in proptest::collection::vec(m3u_line(), 0..40)) {
        let text = lines.join("\n");
        let base = Url::parse("http://base.test/dir/list.m3u").ok();
        let playlist = parse_m3u(text.as_bytes(), M3uOptions {
            base_url: base,
            ..M3uOptions::default()
        }).unwrap();
        for channel in &playlist.channels {
            prop_assert!(!channel.stream_url.is_empty());
            prop_assert!(!channel.stream_url.contains('\n'));
        }
        prop_assert!(playlist.channels.len() as u64 <= playlist.extinf_entries + lines.len() as u64);
    }

    #[test]
    fn xmltv_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_xmltv(&bytes[..], XmltvOptions::default()).unwrap();
    }

    #[test]
    fn xmltv_never_panics_on_guide_like_fragments(parts in proptest::collection::vec(xml_fragment(), 0..60)) {
        let text = format!("<?xml version=\"1.0\"?><tv>{}</tv>", parts.concat());
        let guide = parse_xmltv(text.as_bytes(), XmltvOptions::default()).unwrap();
        for programme in &guide.programmes {
            prop_assert!(programme.stop >= programme.start);
            prop_assert!(!programme.channel.is_empty());
        }
    }

    #[test]
    fn redaction_hides_passwords(user in "[a-z]{3,8}", password in "pw[a-zA-Z0-9]{6,12}", host in "[a-z]{3,10}") {
        let urls = [
            format!("http://{user}:{password}@{host}.test/a.m3u"),
            format!("http://{host}.test/live/{user}/{password}/1.ts"),
            format!("http://{host}.test/get.php?username={user}&password={password}&type=m3u"),
            format!("http://{host}.test/a.m3u?token={password}"),
        ];
        for url in urls {
            let redacted = redact_url(&url);
            prop_assert!(!redacted.contains(&password), "{}", redacted);
            prop_assert!(redacted.contains(&host));
        }
    }

    #[test]
    fn redaction_hides_the_bare_xtream_form(
        user in "[a-z0-9]{3,8}",
        password in "pw[a-zA-Z0-9]{6,12}",
        host in "[a-z]{3,10}",
        port in 1u16..,
        id in 0u32..10_000_000,
        extension in prop_oneof![Just(""), Just(".ts"), Just(".m3u8"), Just(".mp4")],
    ) {
        prop_assume!(!is_keyword(&user));
        let url = format!("http://{host}.test:{port}/{user}/{password}/{id}{extension}?hash={password}");
        let redacted = redact_url(&url);
        prop_assert!(!redacted.contains(&password), "{}", redacted);
        prop_assert_eq!(
            redacted,
            format!("http://{host}.test:{port}/***/***/{id}{extension}?hash=***")
        );
    }

    #[test]
    fn redaction_leaves_ordinary_paths_alone(
        host in "[a-z]{3,10}",
        dirs in proptest::collection::vec("[a-z][a-z0-9_-]{0,8}", 0..5),
        name in "[a-z][a-z0-9_-]{0,10}",
        extension in prop_oneof![Just(""), Just(".ts"), Just(".m3u8"), Just(".xml.gz")],
        id in 0u32..100_000,
    ) {
        prop_assume!(!dirs.iter().any(|d| is_keyword(d)));
        // A word for the last segment: never the bare form, whatever the depth.
        let path = dirs.iter().map(|d| format!("/{d}")).collect::<String>();
        let url = format!("https://{host}.test{path}/{name}{extension}?q=news&t=1&page=2");
        prop_assert_eq!(redact_url(&url), url);
        // A numeric id at any depth but three segments.
        if dirs.len() != 2 {
            let url = format!("https://{host}.test{path}/{id}.ts");
            prop_assert_eq!(redact_url(&url), url);
        }
    }

    #[test]
    fn redaction_never_panics(text in "\\PC{0,80}") {
        let _ = redact_url(&text);
    }
}

#[test]
fn a_huge_line_is_not_kept_in_memory() {
    // 8 MiB without a newline, then a real entry: the long line is dropped, the entry kept.
    let mut bytes = vec![b'a'; 8 * MAX_LINE_BYTES];
    bytes.extend_from_slice(b"\n#EXTINF:-1,A\nhttp://h/a\n");
    let playlist = parse_m3u(&bytes[..], M3uOptions::default()).unwrap();
    assert_eq!(playlist.channels.len(), 1);
    assert_eq!(playlist.skipped.total(), 1);
}
