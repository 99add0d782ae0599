//! Channels as expression records.

use std::ops::{Deref, DerefMut};

use tvarr_core::{ChannelData, StreamSourceType};
use tvarr_expr::{FieldId, FieldRef, Record, RecordMut};

use crate::inline_text::InlineText;

/// What is known about a channel besides what its provider said: the read-only context fields
/// of expressions (`source_name`, `source_type`, `source_url`) and, once numbering has run, the
/// channel's number in the proxy (`channel_number`). Unknown values read as missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelContext<'a> {
    /// The name of the stream source the channel came from.
    pub source_name: Option<&'a str>,
    /// The kind of that source.
    pub source_type: Option<StreamSourceType>,
    /// The source's URL (never with credentials: callers pass a redacted form if needed).
    pub source_url: Option<&'a str>,
    /// The channel's number in the proxy output, when numbering has run.
    pub channel_number: Option<u32>,
}

/// The name expressions see for a stream source kind (`m3u`, `xtream`).
pub fn stream_source_type_name(kind: StreamSourceType) -> &'static str {
    match kind {
        StreamSourceType::M3u => "m3u",
        StreamSourceType::Xtream => "xtream",
    }
}

/// A channel seen by filters and mapping rules: [`ChannelData`] plus its [`ChannelContext`].
///
/// Built over `&ChannelData` it is a [`Record`] for filters, which read every field as a
/// borrowed `&str` (no allocation per evaluation). Built over `&mut ChannelData` it is also a
/// [`RecordMut`] for mapping rules, which write straight into the data.
///
/// Field mapping: `channel_name` → `name`, `stream_url` → `stream_url`, `tvg_*`, `group_title`
/// and `catchup*` → the fields of the same name, `channel_number` → the context's number
/// (settable: rules may renumber; values that are not a whole number are ignored), `source_*`
/// → the context (read-only), and every other name, including `tvg_country`, `tvg_language`,
/// `tvg_url` and `radio`, → [`ChannelData::extra`], matched without regard to ASCII case.
/// Setting an optional field to the empty text clears it, as ingestion stores empty
/// attributes as missing.
///
/// ```
/// use tvarr_core::ChannelData;
/// use tvarr_expr::CompiledFilter;
/// use tvarr_pipeline::{ChannelContext, ChannelRecord};
///
/// let data = ChannelData { name: "BBC One HD".into(), group_title: Some("UK".into()), ..Default::default() };
/// let context = ChannelContext { source_name: Some("Provider A"), ..Default::default() };
/// let filter = CompiledFilter::compile(tvarr_expr::Domain::Stream, r#"group == "uk" AND source_name == "provider a""#).unwrap();
/// assert!(filter.matches(&ChannelRecord::new(&data, context)));
/// ```
#[derive(Debug)]
pub struct ChannelRecord<'c, D> {
    data: D,
    context: ChannelContext<'c>,
    number_text: Option<InlineText<12>>,
}

impl<'c, D: Deref<Target = ChannelData>> ChannelRecord<'c, D> {
    /// A record over `data` (`&ChannelData` to read, `&mut ChannelData` to change).
    pub fn new(data: D, context: ChannelContext<'c>) -> Self {
        Self {
            number_text: number_text(context.channel_number),
            data,
            context,
        }
    }

    /// The channel data, with any changes rules made.
    pub fn data(&self) -> &ChannelData {
        &self.data
    }

    /// The context, with the channel number rules may have set.
    pub fn context(&self) -> ChannelContext<'c> {
        self.context
    }

    /// The channel's number in the proxy, as rules left it.
    pub fn channel_number(&self) -> Option<u32> {
        self.context.channel_number
    }
}

fn number_text(number: Option<u32>) -> Option<InlineText<12>> {
    number.and_then(|n| InlineText::format(format_args!("{n}")))
}

impl<D: Deref<Target = ChannelData>> Record for ChannelRecord<'_, D> {
    fn field(&self, field: &FieldRef) -> Option<&str> {
        let d: &ChannelData = &self.data;
        match field {
            FieldRef::Builtin(id) => match id {
                FieldId::ChannelName => Some(d.name.as_str()),
                FieldId::TvgId => d.tvg_id.as_deref(),
                FieldId::TvgName => d.tvg_name.as_deref(),
                FieldId::TvgLogo => d.tvg_logo.as_deref(),
                FieldId::TvgChno => d.tvg_chno.as_deref(),
                FieldId::TvgShift => d.tvg_shift.as_deref(),
                FieldId::GroupTitle => d.group_title.as_deref(),
                FieldId::StreamUrl => Some(d.stream_url.as_str()),
                FieldId::Catchup => d.catchup.as_deref(),
                FieldId::CatchupDays => d.catchup_days.as_deref(),
                FieldId::CatchupSource => d.catchup_source.as_deref(),
                FieldId::ChannelNumber => self.number_text.as_ref().map(InlineText::as_str),
                FieldId::SourceName => self.context.source_name,
                FieldId::SourceType => self.context.source_type.map(stream_source_type_name),
                FieldId::SourceUrl => self.context.source_url,
                _ => None,
            },
            FieldRef::Extra(name) => d.extra(name),
        }
    }

    fn number(&self, field: &FieldRef) -> Option<f64> {
        match field {
            FieldRef::Builtin(FieldId::ChannelNumber) => self.context.channel_number.map(f64::from),
            _ => self.field(field).and_then(|t| t.trim().parse().ok()),
        }
    }
}

impl<D: DerefMut<Target = ChannelData>> RecordMut for ChannelRecord<'_, D> {
    fn set_field(&mut self, field: &FieldRef, value: String) {
        let d: &mut ChannelData = &mut self.data;
        match field {
            FieldRef::Builtin(id) => match id {
                FieldId::ChannelName => d.name = value,
                FieldId::StreamUrl => d.stream_url = value,
                FieldId::TvgId => d.tvg_id = non_empty(value),
                FieldId::TvgName => d.tvg_name = non_empty(value),
                FieldId::TvgLogo => d.tvg_logo = non_empty(value),
                FieldId::TvgChno => d.tvg_chno = non_empty(value),
                FieldId::TvgShift => d.tvg_shift = non_empty(value),
                FieldId::GroupTitle => d.group_title = non_empty(value),
                FieldId::Catchup => d.catchup = non_empty(value),
                FieldId::CatchupDays => d.catchup_days = non_empty(value),
                FieldId::CatchupSource => d.catchup_source = non_empty(value),
                FieldId::ChannelNumber => {
                    if let Ok(n) = value.trim().parse::<u32>() {
                        self.context.channel_number = Some(n);
                        self.number_text = number_text(Some(n));
                    }
                }
                // Read-only context fields (validation refuses actions on them) and
                // programme fields have nowhere to go on a channel.
                _ => {}
            },
            FieldRef::Extra(name) => set_extra(&mut d.extra, name, value),
        }
    }

    fn clear_field(&mut self, field: &FieldRef) {
        let d: &mut ChannelData = &mut self.data;
        match field {
            FieldRef::Builtin(id) => match id {
                FieldId::ChannelName => d.name.clear(),
                FieldId::StreamUrl => d.stream_url.clear(),
                FieldId::TvgId => d.tvg_id = None,
                FieldId::TvgName => d.tvg_name = None,
                FieldId::TvgLogo => d.tvg_logo = None,
                FieldId::TvgChno => d.tvg_chno = None,
                FieldId::TvgShift => d.tvg_shift = None,
                FieldId::GroupTitle => d.group_title = None,
                FieldId::Catchup => d.catchup = None,
                FieldId::CatchupDays => d.catchup_days = None,
                FieldId::CatchupSource => d.catchup_source = None,
                FieldId::ChannelNumber => {
                    self.context.channel_number = None;
                    self.number_text = None;
                }
                _ => {}
            },
            FieldRef::Extra(name) => d.extra.retain(|(k, _)| !k.eq_ignore_ascii_case(name)),
        }
    }
}

pub(crate) fn non_empty(value: String) -> Option<String> {
    if value.is_empty() { None } else { Some(value) }
}

/// Replaces the first attribute called `name` (any ASCII case), or appends one; an empty value
/// removes the attribute.
fn set_extra(extra: &mut Vec<(String, String)>, name: &str, value: String) {
    if value.is_empty() {
        extra.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        return;
    }
    match extra.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        Some((_, v)) => *v = value,
        None => extra.push((name.to_string(), value)),
    }
}

#[cfg(test)]
mod tests {
    use tvarr_expr::{CompiledFilter, Domain, FieldRegistry, RuleSet};

    use super::*;

    /// The first entry of `fixtures/external/m3u/iptv-playlist-parser/base.m3u`, as ingestion
    /// parses it.
    fn channel_one() -> ChannelData {
        ChannelData {
            name: "Channel 1 (Tested)".into(),
            tvg_id: Some("CH1".into()),
            tvg_name: Some("Ch 1".into()),
            tvg_logo: Some("http://www.rtvchannel.com.au/wp-content/uploads/2017/04/xshow_08.png,Mic_.2KNN9OHw1p.png.pagespeed.ce.2KNN9OHw1p.png".into()),
            group_title: Some("Music".into()),
            stream_url: "http://livestream.htp.tv/hls-live/livepkgr/_definst_/H1/H1_HQ.m3u8".into(),
            extra: vec![
                ("tvg-url".into(), "http://195.154.221.171/epg/guide.xml.gz".into()),
                ("tvg-rec".into(), "3".into()),
                ("http-referrer".into(), "http://player.livesports.pw/la2/".into()),
            ],
            ..Default::default()
        }
    }

    /// `TRT 1 HD` from the same playlist, with its catch-up attributes.
    fn trt_one() -> ChannelData {
        ChannelData {
            name: "TRT 1 HD".into(),
            catchup: Some("shift".into()),
            catchup_days: Some("3".into()),
            catchup_source: Some(
                "https://m3u-server/hls-apple-s4-c494-abcdef.m3u8?utc=325234234&lutc=3123125324"
                    .into(),
            ),
            stream_url: "https://video-rvd-lmg.rnp.br/live/index.m3u8".into(),
            extra: vec![("timeshift".into(), "3".into())],
            ..Default::default()
        }
    }

    fn context() -> ChannelContext<'static> {
        ChannelContext {
            source_name: Some("iptv-playlist-parser"),
            source_type: Some(StreamSourceType::M3u),
            source_url: Some("http://example.com/base.m3u"),
            channel_number: Some(101),
        }
    }

    fn matches(data: &ChannelData, expression: &str) -> bool {
        let filter = CompiledFilter::compile(Domain::Stream, expression).unwrap();
        filter.matches(&ChannelRecord::new(data, context()))
    }

    #[test]
    fn every_stream_field_of_the_registry_reads_its_domain_field() {
        let data = channel_one();
        let record = ChannelRecord::new(&data, context());
        let mut trt = trt_one();
        trt.tvg_chno = Some("7".into());
        trt.tvg_shift = Some("-1".into());
        trt.extra.extend([
            ("tvg-country".into(), "TR".into()),
            ("tvg-language".into(), "Turkish".into()),
            ("radio".into(), "false".into()),
        ]);
        let trt_record = ChannelRecord::new(&trt, context());
        for def in FieldRegistry::for_domain(Domain::Stream).fields() {
            let field = def.field_ref();
            let value = record.field(&field).or_else(|| trt_record.field(&field));
            let expected = match def.name {
                "channel_name" => Some("Channel 1 (Tested)"),
                "tvg_id" => Some("CH1"),
                "tvg_name" => Some("Ch 1"),
                "tvg_logo" => data.tvg_logo.as_deref(),
                "tvg_chno" => Some("7"),
                "tvg_shift" => Some("-1"),
                "group_title" => Some("Music"),
                "stream_url" => Some(data.stream_url.as_str()),
                "channel_number" => Some("101"),
                "source_name" => Some("iptv-playlist-parser"),
                "source_type" => Some("m3u"),
                "source_url" => Some("http://example.com/base.m3u"),
                "catchup" => Some("shift"),
                "catchup_days" => Some("3"),
                "catchup_source" => trt.catchup_source.as_deref(),
                "tvg_country" => Some("TR"),
                "tvg_language" => Some("Turkish"),
                "tvg_url" => Some("http://195.154.221.171/epg/guide.xml.gz"),
                "radio" => Some("false"),
                other => panic!("field `{other}` is not mapped by this test"),
            };
            assert_eq!(value, expected, "field {}", def.name);
        }
    }

    #[test]
    fn filters_read_fields_context_and_extras() {
        let one = channel_one();
        let trt = trt_one();
        assert!(matches(&one, r#"group_title == "music" AND tvg-rec >= 3"#));
        assert!(matches(
            &one,
            r#"source_name starts_with "iptv" AND source_type == "m3u""#
        ));
        assert!(matches(&one, "channel_number > 100"));
        assert!(!matches(&trt, r#"tvg_id != """#));
        assert!(matches(
            &trt,
            r#"catchup_days >= 3 AND name ends_with " HD""#
        ));
        assert!(matches(&trt, r#"extra.TIMESHIFT == "3""#));
    }

    #[test]
    fn rules_write_into_the_channel_data() {
        let rules = RuleSet::compile(
            Domain::Stream,
            [
                (
                    "strip HD",
                    r#"channel_name ends_with " HD" REMOVE channel_name = " HD""#,
                ),
                (
                    "group",
                    r#"SET_IF_EMPTY group_title = "Turkey", tvg-country = "TR""#,
                ),
                ("drop catchup", "DELETE catchup_source, catchup"),
                ("number", r#"SET channel_number = "7""#),
            ],
        )
        .unwrap();
        let mut data = trt_one();
        let mut record = ChannelRecord::new(&mut data, context());
        let report = rules.apply(&mut record);
        assert_eq!(report.rules.len(), 4);
        assert_eq!(record.channel_number(), Some(7));
        assert_eq!(data.name, "TRT 1");
        assert_eq!(data.group_title.as_deref(), Some("Turkey"));
        assert_eq!(data.extra("tvg-country"), Some("TR"));
        assert_eq!(
            (data.catchup.as_deref(), data.catchup_source.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn setting_an_empty_value_clears_optional_fields_and_extras() {
        let rules = RuleSet::compile(
            Domain::Stream,
            [(
                "blank",
                r#"SET tvg_name = "", tvg-rec = "", channel_number = "x""#,
            )],
        )
        .unwrap();
        let mut data = channel_one();
        let mut record = ChannelRecord::new(&mut data, context());
        rules.apply(&mut record);
        assert_eq!(record.channel_number(), Some(101), "not a number: ignored");
        assert_eq!(data.tvg_name, None);
        assert_eq!(data.extra("tvg-rec"), None);
    }
}
