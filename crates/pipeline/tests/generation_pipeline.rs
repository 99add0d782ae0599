//! A generation from stored sources to published outputs, through in-memory ports: exact
//! channel lists, numbers, guide ids and programme counts, and numbers that survive a
//! re-ingest.

mod generation_support;

use generation_support::*;
use tvarr_core::FilterAction::Exclude;
use tvarr_core::{ChannelData, Domain, MatchMethod, Numbering, OutputKind, StreamSourceId};

/// Two stream sources and two guides, with a filter, a stream rule, an EPG rule and an EPG
/// filter: the fixture most tests start from.
fn world() -> (World, StreamSourceId, StreamSourceId) {
    let mut w = World::new();
    let alpha = w.stream_source("alpha", alpha_channels());
    let beta = w.stream_source(
        "beta",
        vec![
            // Same tvg-id and name as alpha's (after the rule): a duplicate.
            ch("BBC One HD", "http://beta/1").tvg_id("bbc1.uk"),
            ch("Sky News", "http://beta/2").tvg_id("SKYNEWS.uk"),
            // Same URL as alpha's ITV: a duplicate.
            ch("Other", "http://alpha/2"),
            ch("Unknown Channel", "http://beta/4"),
        ],
    );
    let mut guide = Vec::new();
    for id in [
        "arte.fr",
        "bbc1.uk",
        "cnn.us",
        "film4p1",
        "itv.uk",
        "skynews.uk",
    ] {
        guide.extend(hourly(id, 0, 3));
    }
    // Three days ago: outside the window (one day past by default).
    guide.extend(hourly("bbc1.uk", -72, 2));
    w.epg_source(
        "guide1",
        vec![
            guide_channel("bbc1.uk", &["BBC One"]),
            guide_channel("itv.uk", &["ITV"]),
            guide_channel("arte.fr", &["Arte"]),
            guide_channel("film4p1", &["Film4 +1"]),
            guide_channel("skynews.uk", &["Sky News"]),
            guide_channel("cnn.us", &["CNN"]),
        ],
        guide,
    );
    // A second guide covering BBC One too: the first guide wins.
    let mut second = hourly("bbc1.uk", 0, 5);
    for p in &mut second {
        p.titles[0].value = "from guide2".into();
    }
    w.epg_source(
        "guide2",
        vec![guide_channel("bbc1.uk", &["BBC One"])],
        second,
    );
    w.filter(Domain::Stream, Exclude, r#"group_title == "Adult""#);
    w.rule(Domain::Stream, r#"name -= " HD""#);
    w.rule(
        Domain::Epg,
        r#"channel == "bbc1.uk" APPEND title = " [BBC]""#,
    );
    w.filter(Domain::Epg, Exclude, r#"title == "itv.uk show 2""#);
    (w, alpha, beta)
}

fn alpha_channels() -> Vec<ChannelData> {
    vec![
        ch("BBC One HD", "http://alpha/1")
            .tvg_id("bbc1.uk")
            .group("UK")
            .chno("101"),
        ch("ITV HD", "http://alpha/2").group("UK").chno("103"),
        ch("Adult XXX", "http://alpha/3").group("Adult"),
        ch("Arte FHD", "http://alpha/4").group("FR").chno("abc"),
        ch("Film4 +1", "http://alpha/5").group("UK"),
    ]
}

fn lineup_of(rows: &[(u32, &str, &str)]) -> Vec<(u32, String, String)> {
    rows.iter()
        .map(|(n, name, guide)| (*n, name.to_string(), guide.to_string()))
        .collect()
}

#[tokio::test]
async fn generates_the_exact_lineup_numbers_guide_ids_and_programmes() {
    let (w, _, _) = world();
    let summary = w.generate().await.unwrap();
    let unknown_id = w
        .lineups
        .get(w.proxy.id)
        .unwrap()
        .lineup
        .iter()
        .find(|c| c.data.name == "Unknown Channel")
        .unwrap()
        .channel_id
        .to_string();

    // Preserve mode: 101 and 103 are the provider's; `abc` is no number; the rest fill from 1.
    assert_eq!(
        w.lineup(),
        lineup_of(&[
            (1, "Arte FHD", "arte.fr"),
            (2, "Film4 +1", "film4p1"),
            (3, "Sky News", "SKYNEWS.uk"),
            (4, "Unknown Channel", &unknown_id),
            (101, "BBC One", "bbc1.uk"),
            (103, "ITV", "itv.uk"),
        ])
    );
    assert_eq!(summary.channels, 6);

    // Programmes by channel in guide order, window applied, ITV's show 2 filtered out, and
    // nothing from guide2 or of CNN (no lineup channel).
    assert_eq!(
        w.programme_counts(),
        [
            ("arte.fr".to_string(), 3),
            ("bbc1.uk".to_string(), 3),
            ("film4p1".to_string(), 3),
            ("itv.uk".to_string(), 2),
            ("SKYNEWS.uk".to_string(), 3),
        ]
    );
    assert_eq!(summary.programmes, 14);
    let xml = w.xmltv().unwrap();
    assert!(xml.contains("bbc1.uk show 0 [BBC]"), "the EPG rule ran");
    assert!(!xml.contains("from guide2"));
    assert!(!xml.contains("cnn.us"));
    assert_eq!(xml.matches("<channel ").count(), 6);
    let unknown_channel = format!("<channel id=\"{unknown_id}\">");
    assert!(
        xml.contains(&unknown_channel),
        "every channel has a <channel>"
    );

    // The playlist: in number order, our stream URLs, the guide URL.
    let m3u = w.m3u().unwrap();
    let pid = w.proxy.id;
    let lines: Vec<&str> = m3u.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "#EXTM3U url-tvg=\"http://tv.example:8080/proxy/{pid}.xmltv\" x-tvg-url=\"http://tv.example:8080/proxy/{pid}.xmltv\""
        )
    );
    let entries: Vec<(String, String, String)> = lines[1..]
        .chunks(2)
        .map(|pair| {
            (
                attribute(pair[0], "tvg-chno").unwrap(),
                pair[0].rsplit_once(',').unwrap().1.to_string(),
                pair[1].to_string(),
            )
        })
        .collect();
    let published = w.lineups.get(pid).unwrap().lineup;
    let expected: Vec<(String, String, String)> = published
        .iter()
        .map(|c| {
            (
                c.number.to_string(),
                c.data.name.clone(),
                format!("http://tv.example:8080/proxy/{pid}/{}", c.channel_id),
            )
        })
        .collect();
    assert_eq!(entries, expected);

    // What the summary says about the run.
    assert_eq!(
        World::stage_names(&summary),
        [
            "ingestion_guard",
            "stream_read",
            "stream_mapping",
            "stream_filter",
            "dedup",
            "numbering",
            "logos",
            "epg_matching",
            "changes",
            "epg_read",
            "epg_select",
            "epg_mapping",
            "epg_filter",
            "xmltv",
            "m3u",
            "publish",
        ]
    );
    let counts = |name: &str| {
        let s = stage(&summary, name);
        (s.records_in, s.records_out, s.errors)
    };
    assert_eq!(counts("stream_read"), (9, 9, 0));
    assert_eq!(counts("stream_filter"), (9, 8, 0));
    assert_eq!(counts("dedup"), (8, 6, 0));
    // guide1 holds 20 programmes, 18 in the window; guide2 was not read (no route).
    assert_eq!(counts("epg_read"), (18, 18, 0));
    assert_eq!(counts("epg_select"), (18, 15, 0));
    assert_eq!(counts("epg_filter"), (15, 14, 0));
    assert_eq!(counts("xmltv"), (14, 14, 0));
    assert_eq!(
        summary.matched.into_iter().collect::<Vec<_>>(),
        [
            (MatchMethod::TvgId, 1),
            (MatchMethod::TvgIdCaseInsensitive, 1),
            (MatchMethod::Name, 3),
        ]
    );
    assert_eq!(summary.unmatched.count, 1);
    assert_eq!(summary.unmatched.channels[0].name, "Unknown Channel");
    assert_eq!(summary.changes.added.count, 6);
    assert_eq!(summary.changes.removed.count, 0);
    assert!(summary.stale_sources.is_empty());
    assert!(!summary.forced);
    let stored = w.lineups.get(pid).unwrap().summary;
    assert_eq!(stored.channels, 6);
    assert_eq!(
        stored.stages.len(),
        summary.stages.len() - 1,
        "all but publish"
    );

    // Name matches carry their confidence; channels record their guide.
    let arte = published
        .iter()
        .find(|c| c.data.name == "Arte FHD")
        .unwrap();
    let guide = arte.guide.as_ref().unwrap();
    assert_eq!((guide.method, guide.confidence), (MatchMethod::Name, 75));
    assert_eq!(guide.epg_source_id, w.epg_sources[0].id);

    // Batches: channels in pages of 3, outputs in chunks.
    assert!(*w.channels.pages.lock().unwrap() >= 4);
    let state = w.outputs.state.lock().unwrap();
    assert_eq!(state.open, 0);
    assert!(state.writes > 2, "{} writes", state.writes);
    assert_eq!(state.committed, [OutputKind::Xmltv, OutputKind::M3u]);
}

#[tokio::test]
async fn numbers_stay_after_a_reingest_that_reorders_and_adds_a_channel() {
    for numbering in [Numbering::Preserve, Numbering::Sequential] {
        let (mut w, alpha, _) = world();
        w.proxy.input.numbering = numbering;
        w.generate().await.unwrap();
        let before = w.lineup();

        // The provider reverses its playlist and adds a channel in the middle.
        let mut channels = alpha_channels();
        channels.reverse();
        channels.insert(2, ch("Channel 5", "http://alpha/6").chno("1"));
        w.channels.replace(alpha, channels);
        let summary = w.generate().await.unwrap();

        let after = w.lineup();
        for row in &before {
            assert!(
                after.contains(row),
                "{numbering:?}: {row:?} changed: {after:?}"
            );
        }
        let added: Vec<(u32, String)> = after
            .iter()
            .filter(|r| !before.contains(r))
            .map(|(n, name, _)| (*n, name.clone()))
            .collect();
        let expected = match numbering {
            // Its provider number 1 is taken: the lowest free number.
            Numbering::Preserve => 5,
            Numbering::Sequential => 7,
        };
        assert_eq!(
            added,
            [(expected, "Channel 5".to_string())],
            "{numbering:?}"
        );
        assert_eq!(summary.changes.added.count, 1);
        assert_eq!(summary.changes.renumbered.count, 0);
        assert_eq!(summary.changes.removed.count, 0);

        // And again, unchanged: nothing moves, nothing is reported.
        let again = w.generate().await.unwrap();
        assert_eq!(w.lineup(), after);
        assert_eq!(again.changes, Default::default());
    }
}

#[tokio::test]
async fn sequential_numbering_follows_the_lineup_order_from_the_starting_number() {
    let (mut w, _, _) = world();
    w.proxy.input.numbering = Numbering::Sequential;
    w.proxy.input.starting_channel_number = 100;
    w.proxy.input.group_starting_numbers = vec![tvarr_core::GroupStart {
        group: "fr".into(),
        start: 500,
    }];
    w.generate().await.unwrap();
    let numbers: Vec<(u32, String)> = w
        .lineup()
        .into_iter()
        .map(|(n, name, _)| (n, name))
        .collect();
    assert_eq!(
        numbers,
        [
            (100, "BBC One".to_string()),
            (101, "ITV".to_string()),
            (102, "Film4 +1".to_string()),
            (103, "Sky News".to_string()),
            (104, "Unknown Channel".to_string()),
            (500, "Arte FHD".to_string()),
        ]
    );
}

#[tokio::test]
async fn a_proxy_without_sources_publishes_empty_valid_outputs() {
    let w = World::new();
    let summary = w.generate().await.unwrap();
    assert_eq!((summary.channels, summary.programmes), (0, 0));
    assert_eq!(w.lineup(), []);
    let m3u = w.m3u().unwrap();
    assert_eq!(m3u.lines().count(), 1);
    assert!(m3u.starts_with("#EXTM3U "));
    let xml = w.xmltv().unwrap();
    assert!(xml.contains("<tv ") && xml.trim_end().ends_with("</tv>"));
    assert!(!xml.contains("<channel ") && !xml.contains("<programme "));
}

#[tokio::test]
async fn a_deleted_source_still_referenced_is_skipped() {
    let (mut w, _, beta) = world();
    w.stream_sources.retain(|s| s.id != beta);
    w.generate().await.unwrap();
    let names: Vec<String> = w.lineup().into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(names, ["Arte FHD", "Film4 +1", "BBC One", "ITV"]);
}

#[tokio::test]
async fn a_deleted_filter_still_referenced_fails_and_publishes_nothing() {
    let (mut w, _, _) = world();
    w.filters.remove(0);
    let err = w.generate().await.unwrap_err();
    assert!(
        matches!(
            err,
            tvarr_pipeline::PipelineError::MissingReference { kind: "filter", .. }
        ),
        "{err}"
    );
    assert!(w.m3u().is_none() && w.lineups.get(w.proxy.id).is_none());
}

#[tokio::test]
async fn tvg_shift_moves_a_channels_programmes_and_the_window_bounds_them() {
    let mut w = World::new();
    w.stream_source(
        "alpha",
        vec![
            ch("News", "http://alpha/1").tvg_id("news"),
            ch("News +2", "http://alpha/2")
                .tvg_id("news.east")
                .shift("+2"),
        ],
    );
    w.epg_source(
        "guide",
        vec![guide_channel("news", &["News"])],
        // Starting from 30 hours ago to 9 hours ahead.
        hourly("news", -30, 40),
    );
    // `News +2` matches the same guide channel by name, under its own guide id.
    w.proxy.input.epg_days_past = 1;
    w.proxy.input.epg_days_ahead = 1;
    let summary = w.generate().await.unwrap();

    let news = w.programme_times("news");
    let east = w.programme_times("news.east");
    // Programmes overlapping [now - 24 h, now + 24 h]: starting from -24 h to +9 h.
    assert_eq!(news.len(), 34);
    assert_eq!(news[0].0, "20261201120000 +0000");
    assert_eq!(news.last().unwrap().0, "20261202210000 +0000");
    // Shifted by two hours (-28 h to +11 h), then bounded by the same window.
    assert_eq!(east.len(), 36);
    assert_eq!(east[0].0, "20261201120000 +0000");
    assert_eq!(east.last().unwrap().0, "20261202230000 +0000");
    assert_eq!(east.last().unwrap().1, "20261203000000 +0000");
    assert_eq!(summary.programmes, 70);
    let lineup = w.lineups.get(w.proxy.id).unwrap().lineup;
    assert_eq!(lineup[1].guide.as_ref().unwrap().method, MatchMethod::Name);
}

/// Rewrites logos to a cache, and cannot handle one.
struct CachedLogos;

#[async_trait::async_trait]
impl tvarr_pipeline::LogoRewriter for CachedLogos {
    async fn rewrite(
        &self,
        channels: &mut [tvarr_core::LineupChannel],
    ) -> Result<u64, tvarr_core::RepoError> {
        let mut failed = 0;
        for c in channels {
            if c.data.name == "ITV" {
                failed += 1;
                continue;
            }
            c.data.tvg_logo = Some(format!("http://tv.example:8080/logos/{}.png", c.number));
        }
        Ok(failed)
    }
}

#[tokio::test]
async fn the_logo_hook_rewrites_logos_after_numbering() {
    let (w, _, _) = world();
    let summary = w
        .generate_with_logos(&w.options(), &CachedLogos)
        .await
        .unwrap();
    let logos = stage(&summary, "logos");
    assert_eq!((logos.records_in, logos.errors), (6, 1));
    let m3u = w.m3u().unwrap();
    assert!(m3u.contains("tvg-logo=\"http://tv.example:8080/logos/101.png\""));
    // The guide's <channel> shows the channel's logo before the guide's own icon.
    let xml = w.xmltv().unwrap();
    assert!(xml.contains("http://tv.example:8080/logos/1.png"));
    assert!(!xml.contains("http://logos.example/arte.fr.png"));
    assert!(
        xml.contains("http://logos.example/itv.uk.png"),
        "ITV keeps the guide's icon"
    );
}

#[tokio::test]
async fn a_number_set_by_a_rule_is_taken_and_kept() {
    let (mut w, _, _) = world();
    w.rule(
        Domain::Stream,
        r#"channel_name == "Sky News" SET channel_number = "42""#,
    );
    w.generate().await.unwrap();
    let sky = w
        .lineup()
        .into_iter()
        .find(|(_, n, _)| n == "Sky News")
        .unwrap();
    assert_eq!(sky.0, 42);
    w.generate().await.unwrap();
    assert!(
        w.lineup()
            .iter()
            .any(|(n, name, _)| *n == 42 && name == "Sky News")
    );
    assert!(
        !w.lineup()
            .iter()
            .any(|(n, name, _)| *n == 42 && name != "Sky News")
    );
}
