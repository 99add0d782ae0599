//! Filters over channel and programme records allocate nothing per evaluation: counted with a
//! global allocator that tallies this thread's allocations.
#![allow(unsafe_code)] // a counting GlobalAlloc needs `unsafe impl`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use chrono::{TimeZone, Utc};
use tvarr_core::{ChannelData, Domain, FilterAction, LangText, ProgrammeData, StreamSourceType};
use tvarr_pipeline::{
    ChannelContext, ChannelRecord, FilterChain, ProgrammeContext, ProgrammeRecord,
};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn channel_filters_do_not_allocate() {
    let chain = FilterChain::compile(
        Domain::Stream,
        [
            (
                FilterAction::Include,
                r#"group_title == "music" OR channel_number >= 100"#,
            ),
            (
                FilterAction::Exclude,
                r#"channel_name matches "(?i)test" AND tvg-rec > 2 AND source_type == "m3u""#,
            ),
            (
                FilterAction::Include,
                r#"stream_url starts_with "http://" AND source_name contains "playlist""#,
            ),
        ],
    )
    .unwrap();
    let data = ChannelData {
        name: "Channel 1 (Tested)".into(),
        group_title: Some("Music".into()),
        stream_url: "http://livestream.htp.tv/hls-live/livepkgr/_definst_/H1/H1_HQ.m3u8".into(),
        extra: vec![("tvg-rec".into(), "3".into())],
        ..Default::default()
    };
    let context = ChannelContext {
        source_name: Some("iptv-playlist-parser"),
        source_type: Some(StreamSourceType::M3u),
        source_url: None,
        channel_number: Some(101),
    };
    let mut kept = 0;
    let n = allocations_during(|| {
        for _ in 0..1_000 {
            kept += usize::from(chain.keeps(&ChannelRecord::new(&data, context)));
        }
    });
    assert_eq!(n, 0);
    assert_eq!(kept, 1_000);
}

#[test]
fn programme_filters_do_not_allocate() {
    let chain = FilterChain::compile(
        Domain::Epg,
        [(
            FilterAction::Include,
            r#"title contains "news" AND start >= "2024-01-15T10:00:00Z" AND end_time < "@time:now" AND category == "news""#,
        )],
    )
    .unwrap();
    let data = ProgrammeData {
        channel: "bbc1.uk".into(),
        start: Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap(),
        stop: Utc.with_ymd_and_hms(2024, 1, 15, 11, 0, 0).unwrap(),
        titles: vec![LangText {
            value: "BBC News".into(),
            lang: None,
        }],
        categories: vec![LangText {
            value: "News".into(),
            lang: None,
        }],
        ..Default::default()
    };
    let mut kept = 0;
    let n = allocations_during(|| {
        for _ in 0..1_000 {
            kept +=
                usize::from(chain.keeps(&ProgrammeRecord::new(&data, ProgrammeContext::default())));
        }
    });
    assert_eq!(n, 0);
    assert_eq!(kept, 1_000);
}
