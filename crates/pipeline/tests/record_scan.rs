//! Walking every record of some sources for the filter and mapping previews: the order the
//! listing had (programmes by channel, start, then source), read batch by batch.

mod generation_support;

use generation_support::*;
use tvarr_core::{ChannelData, EpgSource, StreamSource};
use tvarr_pipeline::{scan_channels, scan_programmes};

#[tokio::test]
async fn programmes_of_several_sources_come_by_channel_start_then_source() {
    let (a, b) = (epg_source("alpha"), epg_source("beta"));
    let programmes = MemoryProgrammes::default();
    let mut a_guide = hourly("news.uk", 0, 3);
    a_guide.extend(hourly("film.uk", 1, 2));
    let mut b_guide = hourly("news.uk", 1, 3);
    b_guide.extend(hourly("arts.uk", 0, 2));
    programmes.replace(a.id, vec![], a_guide);
    programmes.replace(b.id, vec![], b_guide);
    let sources = [a.clone(), b.clone()];
    let key = |s: &EpgSource| s.id.to_string();

    let mut visited = Vec::new();
    let total = scan_programmes(&programmes, &sources, 2, |p, context| {
        visited.push((
            p.data.channel.clone(),
            p.data.start,
            p.source_id.to_string(),
            context.source_name.map(str::to_owned),
        ));
    })
    .await
    .unwrap();

    assert_eq!(total, 10);
    let mut expected = visited.clone();
    expected.sort_by(|x, y| (&x.0, x.1, &x.2).cmp(&(&y.0, y.1, &y.2)));
    assert_eq!(visited, expected);
    assert_eq!(visited[0].0, "arts.uk");
    // Same channel and start in both guides: the source with the lower id first.
    let (first, second) = if key(&a) < key(&b) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let tie: Vec<_> = visited
        .iter()
        .filter(|v| v.0 == "news.uk" && v.1 == now() + chrono::Duration::hours(1))
        .map(|v| v.3.clone().unwrap())
        .collect();
    assert_eq!(tie, [first.name.clone(), second.name.clone()]);
    // Read in batches of two, not all at once: 5 programmes each, 3 batches each.
    assert_eq!(*programmes.scans.lock().unwrap(), 6);
}

#[tokio::test]
async fn a_source_without_a_guide_and_a_repeated_source_add_nothing() {
    let (a, none) = (epg_source("alpha"), epg_source("none"));
    let programmes = MemoryProgrammes::default();
    programmes.replace(a.id, vec![], hourly("news.uk", 0, 3));
    let mut titles = Vec::new();
    let total = scan_programmes(&programmes, &[a.clone(), none, a], 10, |p, _| {
        titles.push(p.data.titles[0].value.clone());
    })
    .await
    .unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        titles,
        ["news.uk show 0", "news.uk show 1", "news.uk show 2"]
    );
}

#[tokio::test]
async fn channels_come_by_source_id_then_position_page_by_page() {
    let (a, b) = (stream_source("alpha"), stream_source("beta"));
    let channels = MemoryChannels::default();
    let names = |prefix: &str, n: usize| -> Vec<ChannelData> {
        (0..n)
            .map(|i| ch(&format!("{prefix} {i}"), &format!("http://{prefix}/{i}")))
            .collect()
    };
    channels.replace(a.id, names("alpha", 5));
    channels.replace(b.id, names("beta", 3));
    let sources: [StreamSource; 2] = [b.clone(), a.clone()];

    let mut visited = Vec::new();
    let total = scan_channels(&channels, &sources, 2, |c, context| {
        visited.push((
            c.source_id.to_string(),
            c.position,
            context.source_name.map(str::to_owned),
        ));
    })
    .await
    .unwrap();

    assert_eq!(total, 8);
    let mut expected = visited.clone();
    expected.sort();
    assert_eq!(visited, expected);
    let alpha: Vec<_> = visited
        .iter()
        .filter(|v| v.2.as_deref() == Some("alpha"))
        .map(|v| v.1)
        .collect();
    assert_eq!(alpha, [0, 1, 2, 3, 4]);
    // Pages of two: alpha 2+2+1, beta 2+1.
    assert_eq!(*channels.pages.lock().unwrap(), 5);
}
