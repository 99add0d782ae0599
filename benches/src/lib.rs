//! tvarr-benches: benchmarks that cross crate boundaries, measuring what a user waits for
//! rather than one crate's inner loop (those benchmarks live beside their crates).
//!
//! This library holds only the inputs the benchmarks share: playlists and guides of a chosen
//! size (and the guide source that reads one), shaped like the generated fixtures of `cargo xtask gen-fixtures` (provider ids,
//! logos, groups, catch-up attributes; programmes with descriptions, categories and episode
//! numbers). It ships in no binary.

use std::fmt::Write as _;

use tvarr_core::{EpgSourceInput, EpgSourceType};

/// An enabled XMLTV source named "bench guide" reading `url`, with no schedule or offset.
pub fn xmltv_source(url: String) -> EpgSourceInput {
    EpgSourceInput {
        name: "bench guide".into(),
        source_type: EpgSourceType::Xmltv,
        url,
        username: None,
        password: None,
        update_cron: None,
        enabled: true,
        user_agent: None,
        headers: vec![],
        time_offset_minutes: 0,
        timezone: None,
    }
}

/// An M3U playlist of `channels` entries, about 220 bytes each.
pub fn playlist(channels: usize) -> String {
    let mut out = String::with_capacity(channels * 230 + 64);
    out.push_str("#EXTM3U url-tvg=\"http://epg.example/guide.xml\"\n");
    for i in 0..channels {
        let _ = writeln!(
            out,
            "#EXTINF:-1 tvg-id=\"ch{i}.example\" tvg-name=\"Channel {i}\" \
             tvg-logo=\"http://logos.example/{i}.png\" group-title=\"Group {}\" \
             tvg-chno=\"{i}\" catchup=\"default\" catchup-days=\"3\",Channel {i} HD\n\
             http://streams.example/live/user/pass/{i}.ts",
            i % 50
        );
    }
    out
}

/// An XMLTV guide of `programmes` programmes spread over `channels` channels, half-hour
/// slots, times with offsets.
pub fn guide(channels: usize, programmes: usize) -> String {
    let mut out = String::with_capacity(programmes * 420 + channels * 120 + 128);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv generator-info-name=\"tvarr-benches\">\n",
    );
    for c in 0..channels {
        let _ = writeln!(
            out,
            "  <channel id=\"ch{c}.example\"><display-name lang=\"en\">Channel {c}</display-name>\
             <icon src=\"http://logos.example/{c}.png\"/></channel>"
        );
    }
    let per_channel = programmes.div_ceil(channels.max(1));
    let mut written = 0;
    'channels: for c in 0..channels {
        for p in 0..per_channel {
            if written == programmes {
                break 'channels;
            }
            let start = p * 30;
            let stop = start + 30;
            let _ = writeln!(
                out,
                "  <programme start=\"202611{:02}{:02}{:02}00 +0100\" stop=\"202611{:02}{:02}{:02}00 +0100\" channel=\"ch{c}.example\">\
                 <title lang=\"en\">Programme {p} of channel {c}</title>\
                 <desc lang=\"en\">A description of a typical length, one or two sentences about what happens in this episode.</desc>\
                 <category lang=\"en\">Series</category>\
                 <episode-num system=\"xmltv_ns\">0.{p}.0/1</episode-num></programme>",
                1 + start / 1440,
                start / 60 % 24,
                start % 60,
                1 + stop / 1440,
                stop / 60 % 24,
                stop % 60,
            );
            written += 1;
        }
    }
    out.push_str("</tv>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_playlist_has_one_entry_per_channel() {
        let text = playlist(3);
        assert_eq!(text.matches("#EXTINF").count(), 3);
        assert!(text.contains("tvg-id=\"ch2.example\""));
    }

    #[test]
    fn the_guide_has_the_asked_number_of_programmes() {
        let text = guide(7, 100);
        assert_eq!(text.matches("<programme ").count(), 100);
        assert_eq!(text.matches("<channel ").count(), 7);
    }
}
