//! Filter and mapping throughput on 100,000 generated channels.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tvarr_expr::{CompiledFilter, Domain, FieldId, FieldRef, Record, RecordMut, RuleSet};

const CHANNELS: usize = 100_000;

#[derive(Clone, Default)]
struct Channel {
    channel_name: String,
    tvg_id: String,
    tvg_name: String,
    tvg_logo: String,
    tvg_chno: String,
    tvg_shift: String,
    group_title: String,
    stream_url: String,
    source_name: String,
    /// Provider attributes without a field of their own; usually none or a few, so a Vec.
    extras: Vec<(Box<str>, String)>,
}

impl Channel {
    fn slot(&mut self, id: FieldId) -> Option<&mut String> {
        Some(match id {
            FieldId::ChannelName => &mut self.channel_name,
            FieldId::TvgId => &mut self.tvg_id,
            FieldId::TvgName => &mut self.tvg_name,
            FieldId::TvgLogo => &mut self.tvg_logo,
            FieldId::TvgChno => &mut self.tvg_chno,
            FieldId::TvgShift => &mut self.tvg_shift,
            FieldId::GroupTitle => &mut self.group_title,
            FieldId::StreamUrl => &mut self.stream_url,
            FieldId::SourceName => &mut self.source_name,
            _ => return None,
        })
    }
}

impl Record for Channel {
    fn field(&self, field: &FieldRef) -> Option<&str> {
        match field {
            FieldRef::Builtin(id) => Some(match id {
                FieldId::ChannelName => &self.channel_name,
                FieldId::TvgId => &self.tvg_id,
                FieldId::TvgName => &self.tvg_name,
                FieldId::TvgLogo => &self.tvg_logo,
                FieldId::TvgChno => &self.tvg_chno,
                FieldId::TvgShift => &self.tvg_shift,
                FieldId::GroupTitle => &self.group_title,
                FieldId::StreamUrl => &self.stream_url,
                FieldId::SourceName => &self.source_name,
                _ => return None,
            }),
            FieldRef::Extra(name) => self
                .extras
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
        }
    }
}

impl RecordMut for Channel {
    fn set_field(&mut self, field: &FieldRef, value: String) {
        match field {
            FieldRef::Builtin(id) => {
                if let Some(slot) = self.slot(*id) {
                    *slot = value;
                }
            }
            FieldRef::Extra(name) => match self.extras.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => *v = value,
                None => self.extras.push((name.clone(), value)),
            },
        }
    }

    fn clear_field(&mut self, field: &FieldRef) {
        match field {
            FieldRef::Builtin(id) => {
                if let Some(slot) = self.slot(*id) {
                    slot.clear();
                }
            }
            FieldRef::Extra(name) => self.extras.retain(|(k, _)| k != name),
        }
    }
}

/// Channels shaped like real provider lists: country prefixes, quality suffixes, timeshift
/// variants, a few non-Latin names, and a mix of groups.
fn generate() -> Vec<Channel> {
    const COUNTRIES: &[&str] = &["UK", "US", "DE", "FR", "ES", "IT", "RU", "PL"];
    const BRANDS: &[&str] = &[
        "BBC One",
        "Sky Sports Main Event",
        "CNN International",
        "Das Erste",
        "TF1",
        "Eurosport 1",
        "Discovery Channel",
        "Первый канал",
        "Canal+ Sport",
        "The History Channel",
        "ESPN 2",
        "Nick Jr",
    ];
    const GROUPS: &[&str] = &[
        "UK | Entertainment",
        "Sports",
        "US News",
        "Kids",
        "Movies",
        "Documentaries",
        "Россия",
        "Sport Premium",
        "Music",
        "Adult",
    ];
    const SUFFIXES: &[&str] = &["", " HD", " FHD", " SD", " +1", " [backup]", " UHD"];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..CHANNELS)
        .map(|i| {
            let country = COUNTRIES[(next() % COUNTRIES.len() as u64) as usize];
            let brand = BRANDS[(next() % BRANDS.len() as u64) as usize];
            let suffix = SUFFIXES[(next() % SUFFIXES.len() as u64) as usize];
            let group = GROUPS[(next() % GROUPS.len() as u64) as usize];
            let has_id = next() % 4 != 0;
            let mut extras = Vec::new();
            if next() % 5 == 0 {
                extras.push(("tvg-language".into(), "English".to_string()));
            }
            Channel {
                channel_name: format!("{country}: {brand}{suffix}"),
                tvg_id: if has_id {
                    format!(
                        "{}.{}",
                        brand.to_lowercase().replace(' ', ""),
                        country.to_lowercase()
                    )
                } else {
                    String::new()
                },
                tvg_name: format!("{brand}{suffix}"),
                tvg_logo: if next() % 3 == 0 {
                    String::new()
                } else {
                    format!("http://logos.example/{i}.png")
                },
                tvg_chno: (next() % 9000).to_string(),
                tvg_shift: String::new(),
                group_title: group.to_string(),
                stream_url: format!("http://provider.example:8080/live/user/pass/{i}.ts"),
                source_name: if i % 2 == 0 {
                    "Provider A".into()
                } else {
                    "Provider B".into()
                },
                extras,
            }
        })
        .collect()
}

const FILTER: &str = r#"group_title contains "sport" AND channel_name not_contains "adult"
    AND (tvg_id ends_with ".uk" OR channel_name matches "^(UK|GB):") AND tvg_chno < 5000
    AND stream_url starts_with "http""#;

const RULES: &[(&str, &str)] = &[
    (
        "country prefix",
        r#"channel_name matches "^(UK|US|DE|FR): (.+)$" SET channel_name = "$2", tvg-country ?= "$1""#,
    ),
    (
        "quality suffix",
        r#"channel_name matches "\s(FHD|UHD|HD|SD)$" REMOVE channel_name = /\s*(FHD|UHD|HD|SD)$/"#,
    ),
    (
        "sports group",
        r#"group_title contains "sport" SET group_title = "Sports""#,
    ),
    (
        "news group",
        r#"group_title contains "news" SET group_title = "News""#,
    ),
    (
        "default id",
        r#"tvg_id equals "" SET tvg_id = "${tvg_name}.tvarr""#,
    ),
    (
        "default logo",
        r#"tvg_logo ?= "@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV""#,
    ),
    (
        "timeshift",
        r#"channel_name ends_with "+1" SET tvg_shift = "1""#,
    ),
    (
        "backup",
        r#"channel_name ends_with " [backup]" REMOVE channel_name = " [backup]""#,
    ),
    (
        "provider b",
        r#"source_name equals "Provider B" AND group_title equals "Kids" APPEND group_title = " (B)""#,
    ),
    ("the", r#"channel_name starts_with "the " DELETE tvg_name"#),
];

fn filter_bench(c: &mut Criterion) {
    let channels = generate();
    let filter = match CompiledFilter::compile(Domain::Stream, FILTER) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(CHANNELS as u64));
    group.bench_function("5 clauses over 100k channels", |b| {
        b.iter(|| {
            channels
                .iter()
                .filter(|ch| filter.matches(black_box(*ch)))
                .count()
        })
    });
    group.finish();
}

fn mapping_bench(c: &mut Criterion) {
    let channels = generate();
    let rules = match RuleSet::compile(Domain::Stream, RULES.iter().copied()) {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    let mut group = c.benchmark_group("mapping");
    group.throughput(Throughput::Elements(CHANNELS as u64));
    group.sample_size(20);
    group.bench_function("10 rules over 100k channels", |b| {
        b.iter_batched(
            || channels.clone(),
            |mut batch| {
                let mut changed = 0;
                for ch in &mut batch {
                    changed += rules.apply(ch).rules.len();
                }
                (changed, batch)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, filter_bench, mapping_bench);
criterion_main!(benches);
