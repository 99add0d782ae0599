//! Every guide under `fixtures/external/xmltv/` is parsed, and the quirks listed in
//! `fixtures/external/SOURCES.md` are asserted.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use tvarr_core::ProgrammeData;
use tvarr_ingest::SkipReason;
use tvarr_ingest::xmltv::{Guide, XmltvOptions, parse_xmltv};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/external/xmltv")
        .join(name)
}

fn parse_with(name: &str, options: XmltvOptions) -> Guide {
    let file = File::open(fixture(name)).unwrap();
    parse_xmltv(BufReader::new(file), options).unwrap()
}

fn parse(name: &str) -> Guide {
    let guide = parse_with(name, XmltvOptions::default());
    if !name.contains("broken") {
        assert!(guide.error.is_none(), "{name}: {:?}", guide.error);
    }
    guide
}

fn all_text(p: &ProgrammeData) -> String {
    let mut text = String::new();
    for t in p
        .titles
        .iter()
        .chain(&p.sub_titles)
        .chain(&p.descriptions)
        .chain(&p.categories)
    {
        text.push_str(&t.value);
        text.push('\n');
    }
    text
}

fn rfc(p: &ProgrammeData) -> (String, String) {
    (p.start.to_rfc3339(), p.stop.to_rfc3339())
}

#[test]
fn uk_data_utf8_bytes_under_a_latin1_declaration() {
    let g = parse("jellyfin-xmltv/UK_Data.xml");
    assert_eq!(g.channels.len(), 5);
    assert_eq!(g.programmes.len(), 1964);
    assert_eq!(
        g.stats.transcoded_bytes, 0,
        "the bytes are valid UTF-8: nothing reinterpreted"
    );
    for p in &g.programmes {
        let text = all_text(p);
        assert!(
            !text.contains("Â£") && !text.contains("ï¿½") && !text.contains("Ã"),
            "{text}"
        );
    }
    // The publisher had already mangled £ into U+FFFD; it stays one character.
    assert!(
        g.programmes
            .iter()
            .any(|p| all_text(p).contains('\u{fffd}'))
    );
    // Several titles per programme, and &apos; decoded.
    assert!(g.programmes.iter().any(|p| p.titles.len() >= 2));
    assert!(g.programmes.iter().any(|p| p.sub_titles.len() == 2));
    assert!(g.programmes.iter().any(|p| all_text(p).contains('\'')));
    // xmltv_ns edge values.
    let by_ns = |ns: &str| {
        g.programmes
            .iter()
            .find(|p| p.episode_numbers.iter().any(|e| e.value == ns))
            .unwrap_or_else(|| panic!("{ns}"))
    };
    let p = by_ns(".25/0.");
    assert_eq!((p.season, p.episode), (None, Some(26)));
    let p = by_ns("33.30/32.");
    assert_eq!((p.season, p.episode), (Some(34), Some(31)));
    let p = by_ns("5.3/10.");
    assert_eq!((p.season, p.episode), (Some(6), Some(4)));
    assert!(
        g.programmes
            .iter()
            .flat_map(|p| &p.credits)
            .any(|c| c.role == "actor" && c.name.starts_with("Presenter - "))
    );
    let bbc1 = &g.channels[0];
    assert_eq!(bbc1.id, "UK_RT_2667");
    assert_eq!(bbc1.display_names.len(), 2);
    assert_eq!(bbc1.icon.as_deref(), Some("Logo_UK_RT_2667"));
    let first = &g.programmes[0];
    assert_eq!(first.title(), "Breakfast");
    assert_eq!(
        rfc(first),
        (
            "2015-11-26T06:00:00+00:00".into(),
            "2015-11-26T09:15:00+00:00".into()
        )
    );
    let extra = first.extra_xml.as_deref().unwrap();
    assert!(
        extra.contains("<video><aspect>16:9</aspect></video>")
            || extra.contains("<aspect>16:9</aspect>")
    );
    assert!(extra.contains("<length units=\"minutes\">195</length>"));
}

#[test]
fn test_livre_iso_8859_1_pound_sign_is_decoded() {
    let g = parse("xmltv-project/test_livre.xml");
    assert_eq!(g.programmes.len(), 1);
    assert_eq!(g.programmes[0].title(), "£");
    assert_eq!(g.stats.transcoded_bytes, 1);
    assert_eq!(g.stats.stops_defaulted, 1);
}

#[test]
fn schedulesdirect_bom_ratings_and_many_display_names() {
    let g = parse("jellyfin-xmltv/schedulesdirect.xml");
    assert_eq!(g.channels.len(), 2);
    assert_eq!(g.programmes.len(), 2);
    assert_eq!(g.channels[0].display_names.len(), 5);
    let p = &g.programmes[0];
    assert!(
        p.episode_numbers
            .iter()
            .any(|e| e.system.as_deref() == Some("dd_progid"))
    );
    assert!(
        p.episode_numbers
            .iter()
            .any(|e| e.system.as_deref() == Some("xmltv_ns"))
    );
    let systems: Vec<_> = g
        .programmes
        .iter()
        .flat_map(|p| &p.ratings)
        .filter_map(|r| r.system.clone())
        .collect();
    assert!(systems.iter().any(|s| s.contains("VCHIP")), "{systems:?}");
    let roles: Vec<_> = g
        .programmes
        .iter()
        .flat_map(|p| &p.credits)
        .map(|c| c.role.as_str())
        .collect();
    assert!(
        roles.contains(&"guest") && roles.contains(&"producer") && roles.contains(&"presenter"),
        "{roles:?}"
    );
    assert!(g.programmes.iter().any(|p| {
        p.extra_xml
            .as_deref()
            .unwrap_or("")
            .contains("<subtitles type=\"teletext\" />")
    }));
}

#[test]
fn custom_bom_nested_actor_images_reviews_and_images() {
    let g = parse("jellyfin-xmltv/custom.xml");
    assert_eq!(g.programmes.len(), 1);
    let p = &g.programmes[0];
    assert!(!p.credits.is_empty());
    assert!(
        p.credits.iter().all(|c| !c.name.contains("http")),
        "nested image/url not in the name"
    );
    let extra = p.extra_xml.as_deref().unwrap();
    assert!(extra.contains("<review"));
    assert!(extra.contains("<image"));
}

#[test]
fn multilanguage_titles_and_categories() {
    let g = parse("jellyfin-xmltv/MultilanguageData.xml");
    assert_eq!(g.programmes.len(), 2);
    let p = &g.programmes[0];
    assert_eq!(p.titles.len(), 6);
    assert_eq!(p.titles[0].lang.as_deref(), Some("es"));
    assert_eq!(p.titles[4].lang, None, "lang=\"\" is no language");
    assert_eq!(p.titles[5].lang, None);
    assert_eq!(p.categories.len(), 4);
    assert_eq!((p.season, p.episode), (Some(19), Some(51)));
}

#[test]
fn test_xml_doctype_no_seconds_no_stop_credits_and_spaced_xmltv_ns() {
    let g = parse("xmltv-project/test.xml");
    assert_eq!(g.channels.len(), 2);
    assert_eq!(g.channels[1].display_names.len(), 2);
    assert_eq!(g.programmes.len(), 1);
    let p = &g.programmes[0];
    assert_eq!(p.titles.len(), 2);
    assert_eq!(p.titles[1].lang.as_deref(), Some("en"));
    assert_eq!(p.description(), Some("Blah Blah Blah."));
    assert_eq!(p.start.to_rfc3339(), "2000-06-03T16:33:00+00:00");
    // No stop and no next programme: the <length> of 60 minutes is used.
    assert_eq!(p.stop.to_rfc3339(), "2000-06-03T17:33:00+00:00");
    assert_eq!(g.stats.stops_defaulted, 1);
    assert_eq!((p.season, p.episode), (Some(3), Some(10)));
    assert_eq!(p.episode_part(), Some((1, Some(1))), "`0/1`: part 1 of 1");
    assert_eq!(p.credits.len(), 6);
    assert_eq!(p.credits[3].character.as_deref(), Some("blah"));
    assert_eq!(p.credits[5].name, "e");
    assert_eq!(p.ratings[0].system.as_deref(), Some("MPAA"));
    assert_eq!(p.ratings[0].value, "PG");
    assert_eq!(
        p.icon.as_deref(),
        Some("http://image.example.com/dgXPhzNJH8H.jpg")
    );
    assert_eq!(p.date.as_deref(), Some("19901011"));
    let extra = p.extra_xml.as_deref().unwrap();
    for element in [
        "<star-rating>",
        "<review ",
        "<last-chance />",
        "<country>ES</country>",
        "<subtitles type=\"teletext\">",
    ] {
        assert!(extra.contains(element), "{element} in {extra}");
    }
    assert!(extra.contains("</subtitles>") && extra.contains("</video>"));
}

#[test]
fn amp_timezone_name_and_entity_soup() {
    let g = parse("xmltv-project/amp.xml");
    assert_eq!(g.programmes.len(), 2);
    let amp = g
        .programmes
        .iter()
        .find(|p| p.title() == "Ampersand Land")
        .unwrap();
    assert_eq!(
        amp.start.to_rfc3339(),
        "2001-08-28T23:05:00+00:00",
        "BST is +0100"
    );
    assert_eq!(amp.titles[1].value, "&");
    assert!(
        amp.description()
            .unwrap()
            .starts_with("& hello && there &amp; everyone <")
    );
    let news = g.programmes.iter().find(|p| p.title() == "News").unwrap();
    assert_eq!(
        rfc(news),
        (
            "2002-10-10T08:00:00+00:00".into(),
            "2002-10-10T08:55:00+00:00".into()
        )
    );
}

#[test]
fn attrs_extra_programme_attributes_are_tolerated() {
    let g = parse("xmltv-project/attrs.xml");
    assert_eq!(g.programmes.len(), 1);
    let p = &g.programmes[0];
    assert_eq!(p.title(), "Attrib Rameau");
    // The times are `start`/`stop`, never `pdc-start` (00:00) nor `vps-start` (00:10).
    assert_eq!(
        rfc(p),
        (
            "2001-08-28T23:05:00+00:00".into(),
            "2001-08-28T23:30:00+00:00".into()
        )
    );
    // pdc-start, vps-start, showview, videoplus and clumpidx are dropped, not kept raw.
    assert_eq!(p.extra_xml, None);
    assert_eq!(p.titles.len(), 1);
}

#[test]
fn clump_programmes_are_kept_apart_in_order_without_clumpidx() {
    let g = parse("xmltv-project/clump.xml");
    let titles: Vec<_> = g.programmes.iter().map(|p| p.title()).collect();
    assert_eq!(titles, ["First in clump", "Second in clump"]);
    let (first, second) = (&g.programmes[0], &g.programmes[1]);
    assert_eq!(first.start, second.start, "a clump shares its slot");
    assert_eq!(first.stop, second.stop);
    assert_eq!(first.categories[0].value, "b");
    assert_eq!(second.categories[0].value, "g");
    assert!(
        g.programmes.iter().all(|p| p.extra_xml.is_none()),
        "clumpidx is not kept"
    );
}

#[test]
fn several_programme_icons_keep_the_first_and_the_rest_raw() {
    let g = parse("jellyfin-xmltv/schedulesdirect.xml");
    let p = &g.programmes[0];
    assert_eq!(p.icon.as_deref(), Some("p12845677_b_v3_af.jpg"));
    let extra = p.extra_xml.as_deref().unwrap();
    for icon in [
        r#"<icon src="p12845677_b_h3_af.jpg" width="360" height="270" />"#,
        r#"<icon src="p12845677_b_v5_af.jpg" width="240" height="360" />"#,
        r#"<icon src="p12845677_b_h12_af.jpg" width="960" height="540" />"#,
    ] {
        assert!(extra.contains(icon), "{icon} in {extra}");
    }
    assert!(
        !extra.contains("p12845677_b_v3_af.jpg"),
        "the first is not repeated"
    );
    let second = &g.programmes[1];
    assert_eq!(second.icon.as_deref(), Some("p8680420_b_v3_bc.jpg"));
    assert_eq!(
        second
            .extra_xml
            .as_deref()
            .unwrap()
            .matches("<icon ")
            .count(),
        4
    );
}

#[test]
fn whitespace_variants_give_the_same_programme() {
    let g = parse("xmltv-project/whitespace.xml");
    assert_eq!(g.programmes.len(), 5);
    let first = &g.programmes[0];
    for p in &g.programmes {
        assert_eq!(p.title(), first.title());
        assert_eq!(p.start, first.start);
    }
}

#[test]
fn x_whatever_unknown_elements_kept_raw() {
    let g = parse("xmltv-project/x-whatever.xml");
    assert_eq!(g.programmes.len(), 2);
    let phil = g
        .programmes
        .iter()
        .find(|p| p.title() == "The Phil Silvers Show")
        .unwrap();
    assert_eq!(
        phil.extra_xml.as_deref(),
        Some("<x-extra>No thank you</x-extra>")
    );
    let hill = g
        .programmes
        .iter()
        .find(|p| p.title() == "King of the Hill")
        .unwrap();
    assert_eq!(hill.sub_titles[0].value, "Meet the Propaniacs");
    assert!(hill.description().unwrap().starts_with("Bobby tours"));
    assert!(hill.description().unwrap().ends_with("mirth."));
    assert_eq!(hill.credits.len(), 2);
    assert_eq!(hill.extra_xml.as_deref(), Some("<previously-shown />"));
    // Unknown x- attributes: dropped from <programme> (x-foo), ignored on a credit (x-attr).
    assert!(!phil.extra_xml.as_deref().unwrap().contains("x-foo"));
    assert_eq!(hill.credits[1].name, "Lane Smith");
    assert_eq!(hill.credits[1].character, None);
    // <x-fig-roll /> inside <desc> adds nothing to the text.
    assert!(!hill.description().unwrap().contains("fig"));
}

#[test]
fn overlap_intervals_sort_clump_missing_stops_and_offsets() {
    for name in ["overlap.xml", "intervals.xml", "sort.xml", "clump.xml"] {
        let g = parse(&format!("xmltv-project/{name}"));
        assert!(!g.programmes.is_empty(), "{name}");
        for p in &g.programmes {
            assert!(p.stop >= p.start, "{name}: stop before start");
        }
    }
    let g = parse("xmltv-project/overlap.xml");
    assert_eq!(g.programmes.len(), 14);
    assert!(
        g.programmes.iter().any(|p| p.start == p.stop),
        "zero-length programmes kept"
    );
    let g = parse("xmltv-project/sort.xml");
    assert_eq!(g.programmes.len(), 4);
    let a = g.programmes.iter().find(|p| p.title() == "A").unwrap();
    assert_eq!(
        a.start.to_rfc3339(),
        "2003-05-13T03:35:00+00:00",
        "-0400 applied"
    );
    let g = parse("xmltv-project/intervals.xml");
    assert_eq!(g.programmes.len(), 6);
    assert!(g.stats.stops_derived + g.stats.stops_defaulted > 0);
}

#[test]
fn length_without_seconds() {
    let g = parse("xmltv-project/length.xml");
    assert_eq!(g.programmes.len(), 1);
    assert_eq!(
        rfc(&g.programmes[0]),
        (
            "2002-02-23T23:00:00+00:00".into(),
            "2002-02-23T23:30:00+00:00".into()
        )
    );
}

#[test]
fn empty_guide() {
    let g = parse("xmltv-project/empty.xml");
    assert!(g.channels.is_empty() && g.programmes.is_empty());
    assert_eq!(g.stats.skipped.total(), 0);
}

#[test]
fn tv_augment_degenerate_xmltv_ns_values() {
    let g = parse("xmltv-project/tv_augment_automatic_type_5-2.xml-expected.xml");
    assert_eq!(g.programmes.len(), 99);
    let ns: Vec<_> = g
        .programmes
        .iter()
        .filter(|p| {
            p.episode_numbers
                .iter()
                .any(|e| e.system.as_deref() == Some("xmltv_ns"))
        })
        .collect();
    assert!(ns.len() >= 96);
    let find = |v: &str| {
        ns.iter()
            .find(|p| p.episode_numbers.iter().any(|e| e.value == v))
            .unwrap()
    };
    assert_eq!(
        (find("1/10..").season, find("1/10..").episode),
        (Some(2), None)
    );
    assert_eq!((find("1..").season, find("1..").episode), (Some(2), None));
    assert_eq!(
        (find("1/10.2/4.").season, find("1/10.2/4.").episode),
        (Some(2), Some(3))
    );
    assert_eq!((find("..0/2").season, find("..0/2").episode), (None, None));
    assert_eq!(find("..0/2").episode_part(), Some((1, Some(2))));
    assert_eq!(find("1/10.2/4.").episode_part(), None, "no part given");
}

#[test]
fn tv_cat_all_mixed_timezones() {
    let g = parse("xmltv-project/tv_cat_all_UTF8.expected.xml");
    assert_eq!(g.channels.len(), 2);
    assert_eq!(g.programmes.len(), 65);
    assert!(g.programmes.iter().all(|p| p.stop >= p.start));
}

#[test]
fn ektotv_example_every_element() {
    let g = parse("ektotv-xmltv/example.xml");
    assert_eq!(g.channels.len(), 2);
    assert_eq!(g.programmes.len(), 5);
    let first = &g.programmes[0];
    assert_eq!(
        (first.season, first.episode),
        (Some(2), Some(2)),
        "xmltv_ns 1.1. wins over onscreen"
    );
    assert!(first.episode_numbers.iter().any(|e| e.value == "S01E01"));
    let dates: Vec<_> = g
        .programmes
        .iter()
        .filter_map(|p| p.date.as_deref())
        .collect();
    assert!(dates.contains(&"20220402") && dates.contains(&"202204") && dates.contains(&"2022"));
    assert!(
        g.channels[0]
            .extra_xml
            .as_deref()
            .unwrap()
            .contains("<url system=\"example\">")
    );
    let ratings: Vec<_> = g
        .programmes
        .iter()
        .flat_map(|p| &p.ratings)
        .map(|r| r.value.as_str())
        .collect();
    assert!(ratings.contains(&"15"));
    // Raw elements keep their text as written, leading spaces included.
    let extra = first.extra_xml.as_deref().unwrap();
    for raw in [
        "<url> https://example.com/programme_one_2</url>",
        "<value> 4/5</value>",
        "> https://tvdb.com/programme_one_backdrop_3.jpg</image>",
    ] {
        assert!(extra.contains(raw), "{raw} in {extra}");
    }
    // pdc-start, vps-start, showview, videoplus and clumpidx="0/1" here too: dropped.
    for attribute in [
        "pdc-start",
        "vps-start",
        "showview",
        "videoplus",
        "clumpidx",
    ] {
        assert!(!extra.contains(attribute), "{attribute}");
    }
    assert_eq!(first.start.to_rfc3339(), "2022-03-31T18:00:00+00:00");
    let roles: Vec<_> = first.credits.iter().map(|c| c.role.as_str()).collect();
    for role in [
        "director",
        "actor",
        "writer",
        "adapter",
        "producer",
        "composer",
        "editor",
        "presenter",
        "commentator",
        "guest",
    ] {
        assert!(roles.contains(&role), "{role} in {roles:?}");
    }
}

#[test]
fn ektotv_broken_keeps_what_was_read_and_reports_an_error() {
    let g = parse("ektotv-xmltv/broken.xml");
    assert_eq!(g.channels.len(), 1);
    assert!(g.programmes.is_empty());
    assert!(
        matches!(g.error, Some(tvarr_ingest::ParseError::Xml { .. })),
        "{:?}",
        g.error
    );
}

#[test]
fn ektotv_invalid_but_well_formed_and_comments() {
    let g = parse("ektotv-xmltv/invalid.xml");
    assert_eq!(g.programmes.len(), 1);
    let g = parse("ektotv-xmltv/comments.xml");
    assert_eq!(g.programmes.len(), 1);
    assert_eq!(g.programmes[0].title(), "Breaking Bad");
    assert_eq!(
        g.programmes[0].start.to_rfc3339(),
        "2022-03-31T15:00:00+00:00",
        "+0300 applied"
    );
}

#[test]
fn japanterebi_one_line_declaration_and_empty_descs() {
    let g = parse("japanterebi/guide@mxtv.xml");
    assert_eq!(g.channels.len(), 2);
    assert_eq!(g.programmes.len(), 93);
    assert_eq!(
        g.channels[0].icon.as_deref(),
        Some("https://i.imgur.com/igia8OX.png")
    );
    assert!(
        g.programmes
            .iter()
            .any(|p| p.title().contains("ＭＸショッピング"))
    );
    assert!(
        g.programmes
            .iter()
            .any(|p| p.title().contains("【再】") || p.title().contains("【字】"))
    );
    assert!(
        g.programmes.iter().any(|p| p.descriptions.is_empty()),
        "empty <desc/> is no description"
    );
    assert!(g.programmes.iter().all(|p| p.start.timestamp() % 60 == 0));
}

#[test]
fn source_offset_and_timezone_are_applied() {
    let options = XmltvOptions::for_source(-30, Some("America/New_York")).unwrap();
    let g = parse_with("xmltv-project/test.xml", options);
    // 16:33 New York (EDT, -4) = 20:33 UTC, minus 30 minutes.
    assert_eq!(
        g.programmes[0].start.to_rfc3339(),
        "2000-06-03T20:03:00+00:00"
    );
    let g = parse_with(
        "xmltv-project/amp.xml",
        XmltvOptions::for_source(0, Some("Asia/Tokyo")).unwrap(),
    );
    let news = g.programmes.iter().find(|p| p.title() == "News").unwrap();
    assert_eq!(
        news.start.to_rfc3339(),
        "2002-10-10T08:00:00+00:00",
        "explicit offsets ignore the zone"
    );
    assert!(XmltvOptions::for_source(0, Some("Mars/Olympus")).is_err());
}

#[test]
fn billion_laughs_entities_are_never_expanded() {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE tv [\n<!ENTITY lol \"lol\">\n");
    xml.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = format!("&lol{};", i - 1);
        xml.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", prev.repeat(10)));
    }
    xml.push_str("]>\n<tv><channel id=\"&lol9;\"><display-name>&lol9;</display-name></channel>");
    xml.push_str(
        "<programme channel=\"c\" start=\"20240101000000 +0000\"><title>&lol9; &amp; more</title>",
    );
    xml.push_str("<x-bomb>&lol9;</x-bomb></programme></tv>");
    let g = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
    assert!(g.error.is_none(), "{:?}", g.error);
    assert_eq!(g.channels[0].display_names[0].value, "&lol9;");
    assert_eq!(g.programmes[0].title(), "&lol9; & more");
    assert_eq!(
        g.programmes[0].extra_xml.as_deref(),
        Some("<x-bomb>&amp;lol9;</x-bomb>")
    );
}

#[test]
fn malformed_programmes_are_skipped_and_counted() {
    let xml = r#"<tv>
      <programme start="20240101000000"><title>no channel</title></programme>
      <programme channel="a" start="tomorrow"><title>bad start</title></programme>
      <programme channel="a" start="20240101000000 +0000"><title>ok</title></programme>
      <channel><display-name>no id</display-name></channel>
    </tv>"#;
    let g = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
    assert_eq!(g.programmes.len(), 1);
    assert_eq!(
        g.stats.skipped.count(SkipReason::ProgrammeWithoutChannel),
        1
    );
    assert_eq!(g.stats.skipped.count(SkipReason::UnparsableStart), 1);
    assert_eq!(g.stats.skipped.count(SkipReason::ChannelWithoutId), 1);
}

#[test]
fn missing_stop_is_derived_from_the_next_programme_on_the_same_channel() {
    let xml = r#"<tv>
      <programme channel="a" start="20240101000000 +0000"><title>a1</title></programme>
      <programme channel="b" start="20240101003000 +0000"><title>b1</title></programme>
      <programme channel="a" start="20240101010000 +0000" stop="20240101020000 +0000"><title>a2</title></programme>
    </tv>"#;
    let g = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
    let a1 = g.programmes.iter().find(|p| p.title() == "a1").unwrap();
    assert_eq!(a1.stop.to_rfc3339(), "2024-01-01T01:00:00+00:00");
    let b1 = g.programmes.iter().find(|p| p.title() == "b1").unwrap();
    assert_eq!(
        b1.stop.to_rfc3339(),
        "2024-01-01T01:30:00+00:00",
        "last one: default hour"
    );
    assert_eq!((g.stats.stops_derived, g.stats.stops_defaulted), (1, 1));
}

#[test]
fn an_html_page_is_refused() {
    let g = parse_xmltv(
        &b"<!DOCTYPE html><html><body>502</body></html>"[..],
        XmltvOptions::default(),
    )
    .unwrap();
    assert!(matches!(
        g.error,
        Some(tvarr_ingest::ParseError::HtmlPage { .. })
    ));
}

#[test]
fn huge_texts_skip_their_programme_and_huge_unknown_elements_are_dropped() {
    use tvarr_ingest::xmltv::{MAX_CAPTURE_BYTES, MAX_TEXT_BYTES};
    let big = "x".repeat(3 * MAX_TEXT_BYTES);
    let xml = format!(
        "<tv><programme channel=\"a\" start=\"20240101000000\"><title>{big}</title></programme>\
         <programme channel=\"b\" start=\"20240101000000\"><title>t</title><x-big>{big}</x-big>\
         <x-small>ok</x-small></programme></tv>"
    );
    let g = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
    assert!(g.error.is_none(), "{:?}", g.error);
    // A title too long: the programme is skipped and counted, not cut.
    assert_eq!(g.programmes.len(), 1);
    assert_eq!(g.stats.skipped.count(SkipReason::ValueTooLong), 1);
    // An unknown element too large: dropped whole, the programme kept.
    let p = &g.programmes[0];
    assert_eq!(p.channel, "b");
    assert_eq!(p.title(), "t");
    let extra = p.extra_xml.as_deref().unwrap_or("");
    assert!(
        extra == "<x-small>ok</x-small>",
        "extra_xml of {} bytes",
        extra.len()
    );
    assert!(MAX_CAPTURE_BYTES < big.len());
}

#[test]
fn limits_bound_each_value_and_each_record() {
    use tvarr_ingest::ParserLimits;
    let options = XmltvOptions {
        limits: ParserLimits {
            max_value_bytes: 64,
            max_record_bytes: 1000,
        },
        ..XmltvOptions::default()
    };
    let long = "y".repeat(100);
    let categories = "<category>c</category>".repeat(50);
    let ok = "<programme channel=\"ok\" start=\"20240101000000\"><title>t</title></programme>";
    let xml = format!(
        "<tv><!-- {long} --><![CDATA[{long}]]>{ok}\
         <programme channel=\"a\" start=\"20240101000000\" x=\"{long}\"><title>t</title></programme>{ok}\
         <programme channel=\"b\" start=\"20240101000000\"><title lang='{long}'/></programme>{ok}\
         <programme channel=\"c\" start=\"20240101000000\"><desc>{long}</desc></programme>{ok}\
         <programme channel=\"d\" start=\"20240101000000\"><title>t</title>{categories}</programme>{ok}\
         <channel id=\"e\"><display-name>{long}</display-name></channel>\
         <channel id=\"f\"><display-name>F &amp; G</display-name><!-- {long} --></channel>\
         <?pi {long}?>{ok}</tv>"
    );
    let g = parse_xmltv(xml.as_bytes(), options).unwrap();
    assert!(g.error.is_none(), "{:?}", g.error);
    let kept: Vec<&str> = g.programmes.iter().map(|p| p.channel.as_str()).collect();
    assert_eq!(kept, ["ok"; 6]);
    let channels: Vec<&str> = g.channels.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(channels, ["f"]);
    assert_eq!(g.channels[0].display_names[0].value, "F & G");
    // The CDATA outside records, programmes a, b, c and channel e; long comments and PIs
    // are dropped like short ones.
    assert_eq!(g.stats.skipped.count(SkipReason::ValueTooLong), 5);
    assert_eq!(g.stats.skipped.count(SkipReason::RecordTooLarge), 1);
}

#[test]
fn nesting_deeper_than_the_limit_is_an_error() {
    use tvarr_ingest::xmltv::MAX_DEPTH;
    let deep = "<a>".repeat(MAX_DEPTH as usize + 5);
    let xml = format!(
        "<tv><programme channel=\"a\" start=\"20240101000000\"><title>t</title></programme>{deep}"
    );
    let g = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
    assert_eq!(g.programmes.len(), 1);
    let error = g.error.expect("an error").to_string();
    assert!(error.contains("nested deeper"), "{error}");
}

#[test]
fn the_external_dtd_is_never_opened_nor_fetched() {
    use std::io::ErrorKind;
    use std::net::TcpListener;
    // A DTD URL on a loopback port: any attempt to fetch it would connect.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let dtd_url = format!("http://{}/xmltv.dtd", listener.local_addr().unwrap());
    let text = std::fs::read_to_string(fixture("xmltv-project/attrs.xml")).unwrap();
    let pointed = text.replace("SYSTEM \"xmltv.dtd\"", &format!("SYSTEM \"{dtd_url}\""));
    assert_ne!(pointed, text);
    let g = parse_xmltv(pointed.as_bytes(), XmltvOptions::default()).unwrap();
    assert!(g.error.is_none(), "{:?}", g.error);
    assert_eq!(g.programmes.len(), 1);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the parser connected to the DTD URL"
    );

    // A relative `xmltv.dtd` next to a served guide: see `the_guide_doctype_is_never_fetched`
    // in tests/service.rs.

    // The DTD itself is no guide: read without a panic, nothing yielded.
    let dtd = parse_xmltv(
        BufReader::new(File::open(fixture("xmltv.dtd")).unwrap()),
        XmltvOptions::default(),
    )
    .unwrap();
    assert!(dtd.channels.is_empty() && dtd.programmes.is_empty());
}
