//! Proxies: CRUD, queueing a generation, and the published lineup.
//!
//! # What a proxy may reference
//!
//! Every id a proxy names must exist when it is saved, or the answer is a 422 whose `errors`
//! name the list and position (`filter_ids[1]`) and the id; an id listed twice in one list is
//! refused the same way. Filters and mapping rules of both domains are accepted: the
//! generation applies the `stream` ones to channels and the `epg` ones to programmes. A filter
//! or rule whose stored expression no longer validates (the field registry changed since it
//! was saved) is refused until it is fixed, since the generation could not compile it. A
//! disabled mapping rule may be listed; it is skipped while disabled.
//!
//! Deleting a source, filter or rule later removes it from every proxy that lists it (storage
//! does that), so a saved proxy never names a missing record.
//!
//! # Delivery modes
//!
//! `proxy_mode` is how a channel's stream is delivered (the `streams` module): `redirect` (302
//! to the provider), `proxy` (tvarr relays the stream, one provider connection per channel) or
//! `relay` (through FFmpeg with `relay_profile_id`, which that mode needs). A named relay
//! profile must exist.
//!
//! # URLs in answers
//!
//! `m3u_url`, `xmltv_url` and a lineup's `stream_url`s start with the public base URL of the
//! answer (see the `origin` module): the configured base URL, or the origin of the request.

use std::collections::HashMap;
use std::hash::Hash;
use std::str::FromStr;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    ChangeList, ChannelId, EpgSourceId, FieldError, FilterId, GenerationSummary, GroupStart,
    GuideMatch, JobKind, LineupChannel, MappingRuleId, NewJob, Numbering, Proxy, ProxyId,
    ProxyInput, ProxyMode, RelayProfileId, RepoError, RepoResult, StreamSourceId, limits,
    redact_text, redact_url, schedule,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::visible_proxies;
use crate::error::{ApiError, ApiResult, Problem};
use crate::expressions::{ExpressionKindParam, check};
use crate::origin::public_base;
use crate::pagination::{ListResponse, PageParams, Params};
use crate::sources::JobAccepted;
use crate::state::AppState;

/// The most ids one list of a proxy may hold.
pub const MAX_REFERENCES: usize = 1_000;
/// The most groups with their own starting number.
pub const MAX_GROUP_STARTS: usize = 1_000;
/// Channel numbers a proxy may start from (its own and its groups').
pub const CHANNEL_NUMBERS: std::ops::RangeInclusive<u32> = 1..=999_999;
/// Days a removed channel's number may stay reserved.
pub const NUMBER_GRACE_DAYS: std::ops::RangeInclusive<u32> = 0..=365;
/// Days of past guide data a proxy may write.
pub const EPG_DAYS_PAST: std::ops::RangeInclusive<u32> = 0..=31;
/// Days of future guide data a proxy may write.
pub const EPG_DAYS_AHEAD: std::ops::RangeInclusive<u32> = 1..=31;
/// The removal guard's share, in percent (100 turns it off).
pub const MAX_REMOVED_PERCENT: std::ops::RangeInclusive<u32> = 0..=100;
/// Tuners an emulated HDHomeRun device may announce.
pub const TUNER_COUNT: std::ops::RangeInclusive<u32> = 1..=64;
/// Channels per emulated HDHomeRun device (0: one device for the whole lineup).
pub const HDHOMERUN_CHANNELS_PER_DEVICE: std::ops::RangeInclusive<u32> = 0..=100_000;

/// The body that creates or replaces a proxy. Only `name` is required; every other field has
/// the default its description gives (a `PUT` replaces the whole proxy, so a field left out
/// returns to its default).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyBody {
    /// A name for people (1 to 200 characters, unique among proxies).
    pub name: String,
    /// Stream sources, in priority order (an earlier source wins a duplicate channel).
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub stream_source_ids: Vec<String>,
    /// EPG sources, in priority order (an earlier source wins a channel both cover).
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub epg_source_ids: Vec<String>,
    /// Filters of either domain, applied in order.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub filter_ids: Vec<String>,
    /// Mapping rules of either domain, applied by priority; empty (the default): every
    /// enabled rule.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub mapping_rule_ids: Vec<String>,
    /// The first channel number given out, 1 to 999999 (default 1).
    #[schema(minimum = 1, maximum = 999999)]
    pub starting_channel_number: Option<u32>,
    /// `preserve` (default: keep a provider's numeric `tvg-chno`) or `sequential`.
    pub numbering: Option<Numbering>,
    /// How streams are delivered: `redirect` (the default: 302 to the provider), `proxy`
    /// (tvarr relays the stream) or `relay` (through FFmpeg with the relay profile).
    pub proxy_mode: Option<ProxyMode>,
    /// The relay profile (required by `relay` mode).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub relay_profile_id: Option<String>,
    /// Whether tvarr caches and serves the logos (default false).
    pub cache_logos: Option<bool>,
    /// First numbers of particular groups (by `group_title`, without regard to case); other
    /// groups are numbered from `starting_channel_number`.
    #[serde(default)]
    pub group_starting_numbers: Vec<GroupStart>,
    /// Days a channel that left the lineup keeps its number reserved, 0 to 365 (default 7).
    #[schema(minimum = 0, maximum = 365)]
    pub number_grace_days: Option<u32>,
    /// Days of guide data before the generation, 0 to 31 (default 1).
    #[schema(minimum = 0, maximum = 31)]
    pub epg_days_past: Option<u32>,
    /// Days of guide data after the generation, 1 to 31 (default 7).
    #[schema(minimum = 1, maximum = 31)]
    pub epg_days_ahead: Option<u32>,
    /// A generation that would remove more than this share of the lineup (percent, 0 to 100,
    /// default 50) keeps the previous output and fails unless forced; 100 turns this off.
    #[schema(minimum = 0, maximum = 100)]
    pub max_removed_percent: Option<u32>,
    /// Cron schedule of regenerations (5 or 6 fields), besides the ones after each ingest of
    /// the proxy's sources; at most once per the server's minimum interval.
    pub update_cron: Option<String>,
    /// Tuners its HDHomeRun devices announce to media servers, 1 to 64 (default 4).
    #[schema(minimum = 1, maximum = 64)]
    pub tuner_count: Option<u32>,
    /// The most channels one HDHomeRun device carries, 0 to 100000; a longer lineup is split
    /// into several devices (`/hdhr/{id}/{n}/`). 0 (the default): one device for all. Plex
    /// stops at about 480 channels per device.
    #[schema(minimum = 0, maximum = 100000)]
    pub hdhomerun_channels_per_device: Option<u32>,
    /// The client networks that may load the proxy's outputs (playlist, guide, streams,
    /// HDHomeRun devices, Xtream API), as addresses or CIDR networks (`192.168.1.0/24`,
    /// `fd00::/8`), at most 64; empty or absent: any. Checked before any credentials.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
}

/// The most networks a proxy's `allowed_networks` lists.
pub const MAX_ALLOWED_NETWORKS: usize = 64;

/// The networks of `allowed_networks`, or an error per entry that is not one.
fn parse_networks(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<tvarr_core::IpNetwork> {
    if raw.len() > MAX_ALLOWED_NETWORKS {
        errors.push(FieldError::new(
            "allowed_networks",
            format!("must list at most {MAX_ALLOWED_NETWORKS} networks"),
        ));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        match text.trim().parse::<tvarr_core::IpNetwork>() {
            Ok(network) => out.push(network),
            Err(e) => errors.push(FieldError::new(
                format!("allowed_networks[{i}]"),
                e.to_string(),
            )),
        }
    }
    out
}

/// `Ok(Some)` for a found record, `Ok(None)` for a missing one, the error for anything else.
pub(crate) fn found<T>(result: RepoResult<T>) -> ApiResult<Option<T>> {
    match result {
        Ok(record) => Ok(Some(record)),
        Err(RepoError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The ids of a list, with their positions, or an error per id that does not parse, that is
/// listed twice, or beyond [`MAX_REFERENCES`].
pub(crate) fn parse_ids<T: FromStr + Eq + Hash + Copy>(
    field: &str,
    raw: &[String],
    errors: &mut Vec<FieldError>,
) -> Vec<(String, T)> {
    if raw.len() > MAX_REFERENCES {
        errors.push(FieldError::new(
            field,
            format!("must list at most {MAX_REFERENCES} ids"),
        ));
        return Vec::new();
    }
    let mut first_at: HashMap<T, usize> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let at = format!("{field}[{i}]");
        match text.trim().parse::<T>() {
            Ok(id) => {
                if let Some(first) = first_at.get(&id) {
                    errors.push(FieldError::new(
                        &at,
                        format!("{} is listed twice (also at {field}[{first}])", text.trim()),
                    ));
                } else {
                    first_at.insert(id, i);
                    out.push((at, id));
                }
            }
            Err(_) => {
                let shown: String = text.chars().filter(|c| !c.is_control()).take(64).collect();
                errors.push(FieldError::new(&at, format!("`{shown}` is not an id")));
            }
        }
    }
    out
}

/// The ids of [`parse_ids`]' answer, without their positions.
fn ids<T>(list: Vec<(String, T)>) -> Vec<T> {
    list.into_iter().map(|(_, id)| id).collect()
}

fn in_range(
    field: &str,
    value: u32,
    range: &std::ops::RangeInclusive<u32>,
    errors: &mut Vec<FieldError>,
) {
    if !range.contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
}

impl ProxyBody {
    /// The input to store, or every problem found (references are looked up in storage).
    async fn into_input(self, state: &AppState) -> ApiResult<ProxyInput> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_string();
        limits::check_name("name", &name, &mut errors);

        let stream_source_ids: Vec<(String, StreamSourceId)> =
            parse_ids("stream_source_ids", &self.stream_source_ids, &mut errors);
        for (field, id) in &stream_source_ids {
            if found(state.repos.stream_sources.get(*id).await)?.is_none() {
                errors.push(FieldError::new(
                    field,
                    format!("no stream source has id {id}"),
                ));
            }
        }
        let epg_source_ids: Vec<(String, EpgSourceId)> =
            parse_ids("epg_source_ids", &self.epg_source_ids, &mut errors);
        for (field, id) in &epg_source_ids {
            if found(state.repos.epg_sources.get(*id).await)?.is_none() {
                errors.push(FieldError::new(field, format!("no EPG source has id {id}")));
            }
        }
        let filter_ids: Vec<(String, FilterId)> =
            parse_ids("filter_ids", &self.filter_ids, &mut errors);
        for (field, id) in &filter_ids {
            match found(state.repos.filters.get(*id).await)? {
                None => errors.push(FieldError::new(field, format!("no filter has id {id}"))),
                Some(filter) => {
                    let problems = check(
                        filter.domain,
                        ExpressionKindParam::Filter,
                        &filter.expression,
                    );
                    if let Some(first) = problems.first() {
                        errors.push(FieldError::new(
                            field,
                            format!(
                                "filter `{}` ({id}) no longer validates ({}); fix it at \
                                 PUT /api/v1/filters/{id} first",
                                filter.name, first.message
                            ),
                        ));
                    }
                }
            }
        }
        let mapping_rule_ids: Vec<(String, MappingRuleId)> =
            parse_ids("mapping_rule_ids", &self.mapping_rule_ids, &mut errors);
        for (field, id) in &mapping_rule_ids {
            match found(state.repos.mapping_rules.get(*id).await)? {
                None => errors.push(FieldError::new(
                    field,
                    format!("no mapping rule has id {id}"),
                )),
                Some(rule) => {
                    let problems =
                        check(rule.domain, ExpressionKindParam::Mapping, &rule.expression);
                    if let Some(first) = problems.first() {
                        errors.push(FieldError::new(
                            field,
                            format!(
                                "mapping rule `{}` ({id}) no longer validates ({}); fix it at \
                                 PUT /api/v1/data-mapping/{id} first",
                                rule.name, first.message
                            ),
                        ));
                    }
                }
            }
        }

        let proxy_mode = self.proxy_mode.unwrap_or_default();
        let mut relay_profile_id = None;
        let relay_text = self
            .relay_profile_id
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let relay_given = relay_text.is_some();
        if let Some(text) = relay_text {
            match text.parse::<RelayProfileId>() {
                Ok(id) => {
                    if found(state.repos.relay_profiles.get(id).await)?.is_none() {
                        errors.push(FieldError::new(
                            "relay_profile_id",
                            format!("no relay profile has id {id}"),
                        ));
                    }
                    relay_profile_id = Some(id);
                }
                Err(_) => {
                    let shown: String = text.chars().filter(|c| !c.is_control()).take(64).collect();
                    errors.push(FieldError::new(
                        "relay_profile_id",
                        format!("`{shown}` is not an id"),
                    ));
                }
            }
        }
        if proxy_mode == ProxyMode::Relay && relay_profile_id.is_none() && !relay_given {
            errors.push(FieldError::new(
                "relay_profile_id",
                "is required by `relay` mode: the profile says how to transcode",
            ));
        }

        let starting_channel_number = self.starting_channel_number.unwrap_or(1);
        in_range(
            "starting_channel_number",
            starting_channel_number,
            &CHANNEL_NUMBERS,
            &mut errors,
        );
        if self.group_starting_numbers.len() > MAX_GROUP_STARTS {
            errors.push(FieldError::new(
                "group_starting_numbers",
                format!("must have at most {MAX_GROUP_STARTS} groups"),
            ));
        }
        let mut group_starting_numbers = Vec::with_capacity(self.group_starting_numbers.len());
        let mut groups: HashMap<String, usize> = HashMap::new();
        for (i, start) in self
            .group_starting_numbers
            .into_iter()
            .take(MAX_GROUP_STARTS)
            .enumerate()
        {
            let group = start.group.trim().to_string();
            let field = format!("group_starting_numbers[{i}].group");
            limits::check_name(&field, &group, &mut errors);
            if let Some(first) = groups.insert(group.to_lowercase(), i) {
                errors.push(FieldError::new(
                    &field,
                    format!(
                        "group `{group}` is listed twice (also at group_starting_numbers[{first}])"
                    ),
                ));
            }
            in_range(
                &format!("group_starting_numbers[{i}].start"),
                start.start,
                &CHANNEL_NUMBERS,
                &mut errors,
            );
            group_starting_numbers.push(GroupStart {
                group,
                start: start.start,
            });
        }
        let number_grace_days = self
            .number_grace_days
            .unwrap_or(tvarr_core::DEFAULT_NUMBER_GRACE_DAYS);
        in_range(
            "number_grace_days",
            number_grace_days,
            &NUMBER_GRACE_DAYS,
            &mut errors,
        );
        let epg_days_past = self
            .epg_days_past
            .unwrap_or(tvarr_core::DEFAULT_EPG_DAYS_PAST);
        in_range("epg_days_past", epg_days_past, &EPG_DAYS_PAST, &mut errors);
        let epg_days_ahead = self
            .epg_days_ahead
            .unwrap_or(tvarr_core::DEFAULT_EPG_DAYS_AHEAD);
        in_range(
            "epg_days_ahead",
            epg_days_ahead,
            &EPG_DAYS_AHEAD,
            &mut errors,
        );
        let max_removed_percent = self
            .max_removed_percent
            .unwrap_or(tvarr_core::DEFAULT_MAX_REMOVED_PERCENT);
        in_range(
            "max_removed_percent",
            max_removed_percent,
            &MAX_REMOVED_PERCENT,
            &mut errors,
        );
        let tuner_count = self.tuner_count.unwrap_or(tvarr_core::DEFAULT_TUNER_COUNT);
        in_range("tuner_count", tuner_count, &TUNER_COUNT, &mut errors);
        let hdhomerun_channels_per_device = self.hdhomerun_channels_per_device.unwrap_or(0);
        in_range(
            "hdhomerun_channels_per_device",
            hdhomerun_channels_per_device,
            &HDHOMERUN_CHANNELS_PER_DEVICE,
            &mut errors,
        );
        let allowed_networks = parse_networks(&self.allowed_networks, &mut errors);
        let update_cron = self
            .update_cron
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        if let Some(cron) = &update_cron {
            let before = errors.len();
            limits::check_line("update_cron", cron, limits::CRON_MAX_BYTES, &mut errors);
            if errors.len() == before
                && let Err(problem) =
                    schedule::check_cron_interval(cron, state.settings.cron_min_interval)
            {
                errors.push(FieldError::new("update_cron", problem.to_string()));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
        Ok(ProxyInput {
            name,
            stream_source_ids: ids(stream_source_ids),
            epg_source_ids: ids(epg_source_ids),
            filter_ids: ids(filter_ids),
            mapping_rule_ids: ids(mapping_rule_ids),
            starting_channel_number,
            numbering: self.numbering.unwrap_or_default(),
            proxy_mode,
            relay_profile_id,
            cache_logos: self.cache_logos.unwrap_or(false),
            group_starting_numbers,
            number_grace_days,
            epg_days_past,
            epg_days_ahead,
            max_removed_percent,
            update_cron,
            tuner_count,
            hdhomerun_channels_per_device,
            allowed_networks,
        })
    }
}

/// A proxy as the API lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProxyView {
    /// Id.
    pub id: ProxyId,
    /// Name.
    pub name: String,
    /// Stream sources, in priority order.
    pub stream_source_ids: Vec<StreamSourceId>,
    /// EPG sources, in priority order.
    pub epg_source_ids: Vec<EpgSourceId>,
    /// Filters, in order.
    pub filter_ids: Vec<FilterId>,
    /// Mapping rules; empty: every enabled rule.
    pub mapping_rule_ids: Vec<MappingRuleId>,
    /// The first channel number given out.
    pub starting_channel_number: u32,
    /// How numbers are chosen.
    pub numbering: Numbering,
    /// How streams are delivered.
    pub proxy_mode: ProxyMode,
    /// The relay profile.
    pub relay_profile_id: Option<RelayProfileId>,
    /// Whether logos are cached.
    pub cache_logos: bool,
    /// First numbers of particular groups.
    pub group_starting_numbers: Vec<GroupStart>,
    /// Days a removed channel's number stays reserved.
    pub number_grace_days: u32,
    /// Days of guide data before the generation.
    pub epg_days_past: u32,
    /// Days of guide data after it.
    pub epg_days_ahead: u32,
    /// The removal guard's share, in percent (100: off).
    pub max_removed_percent: u32,
    /// Cron schedule of regenerations.
    pub update_cron: Option<String>,
    /// Tuners its HDHomeRun devices announce.
    pub tuner_count: u32,
    /// The most channels one HDHomeRun device carries (0: one device).
    pub hdhomerun_channels_per_device: u32,
    /// The client networks that may load the outputs (empty: any).
    #[schema(value_type = Vec<String>)]
    pub allowed_networks: Vec<tvarr_core::IpNetwork>,
    /// The playlist players load: `<base>/proxy/{id}.m3u`.
    pub m3u_url: String,
    /// The guide: `<base>/proxy/{id}.xmltv`.
    pub xmltv_url: String,
    /// The HDHomeRun device media servers add (Plex, Jellyfin, Emby): `<base>/hdhr/{id}`;
    /// with a split lineup, its first device (the others are `<base>/hdhr/{id}/{n}`).
    pub hdhomerun_url: String,
    /// When the proxy was last generated.
    pub last_generated_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl ProxyView {
    fn new(proxy: Proxy, base: &str) -> Self {
        let input = proxy.input;
        Self {
            m3u_url: format!("{base}/proxy/{}.m3u", proxy.id),
            xmltv_url: format!("{base}/proxy/{}.xmltv", proxy.id),
            hdhomerun_url: format!("{base}/hdhr/{}", proxy.id),
            id: proxy.id,
            name: input.name,
            stream_source_ids: input.stream_source_ids,
            epg_source_ids: input.epg_source_ids,
            filter_ids: input.filter_ids,
            mapping_rule_ids: input.mapping_rule_ids,
            starting_channel_number: input.starting_channel_number,
            numbering: input.numbering,
            proxy_mode: input.proxy_mode,
            relay_profile_id: input.relay_profile_id,
            cache_logos: input.cache_logos,
            group_starting_numbers: input.group_starting_numbers,
            number_grace_days: input.number_grace_days,
            epg_days_past: input.epg_days_past,
            epg_days_ahead: input.epg_days_ahead,
            max_removed_percent: input.max_removed_percent,
            update_cron: input.update_cron,
            tuner_count: input.tuner_count,
            hdhomerun_channels_per_device: input.hdhomerun_channels_per_device,
            allowed_networks: input.allowed_networks,
            last_generated_at: proxy.last_generated_at,
            created_at: proxy.created_at,
            updated_at: proxy.updated_at,
        }
    }
}

/// One proxy with the summary of its last generation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProxyDetail {
    /// The proxy.
    #[serde(flatten)]
    pub proxy: ProxyView,
    /// What the last published generation did (stage timings and counts, what changed, how
    /// channels matched their guide); null before the first one.
    pub last_generation: Option<GenerationSummary>,
}

/// Names in a summary as an answer shows them: a mapping rule may have copied a provider URL
/// (with its credentials) into a channel name.
fn redacted_summary(mut summary: GenerationSummary) -> GenerationSummary {
    let redact = |list: &mut ChangeList| {
        for channel in &mut list.channels {
            channel.name = redact_text(&channel.name);
            if let Some(previous) = &channel.previous_name {
                channel.previous_name = Some(redact_text(previous));
            }
        }
    };
    let changes = &mut summary.changes;
    for list in [
        &mut changes.added,
        &mut changes.removed,
        &mut changes.renamed,
        &mut changes.renumbered,
    ] {
        redact(list);
    }
    redact(&mut summary.unmatched);
    for source in &mut summary.stale_sources {
        *source = redact_text(source);
    }
    summary
}

async fn detail(state: &AppState, proxy: Proxy, base: &str) -> ApiResult<ProxyDetail> {
    let summary = state.repos.lineups.summary(proxy.id).await?;
    Ok(ProxyDetail {
        proxy: ProxyView::new(proxy, base),
        last_generation: summary.map(redacted_summary),
    })
}

/// A 404, as for a proxy that does not exist, when the request's viewer account is not
/// granted `id`.
async fn check_visible(req: &HttpRequest, state: &AppState, id: ProxyId) -> ApiResult<()> {
    match visible_proxies(req, state).await? {
        Some(granted) if !granted.contains(&id) => {
            Err(ApiError::NotFound(format!("proxy {id} not found")))
        }
        _ => Ok(()),
    }
}

/// Lists proxies by name (without their generation summaries: ask for one proxy for that).
#[utoipa::path(tag = "proxies", params(PageParams), responses((status = 200, body = ListResponse<ProxyView>)))]
#[get("/proxies")]
pub async fn list_proxies(
    req: HttpRequest,
    state: web::Data<AppState>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProxyView>>> {
    let request = page.request()?;
    let base = public_base(&req, &state.settings);
    let page = match visible_proxies(&req, &state).await? {
        None => state.repos.proxies.list(request).await?,
        Some(granted) => {
            let mut proxies = Vec::with_capacity(granted.len());
            for id in granted {
                if let Some(proxy) = found(state.repos.proxies.get(id).await)? {
                    proxies.push(proxy);
                }
            }
            proxies.sort_by(|a, b| a.input.name.cmp(&b.input.name));
            let total = proxies.len() as u64;
            let items = proxies
                .into_iter()
                .skip(usize::try_from(request.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(request.limit).unwrap_or(usize::MAX))
                .collect();
            tvarr_core::Page { items, total }
        }
    };
    Ok(web::Json(ListResponse::from_page(page, |p| {
        ProxyView::new(p, &base)
    })))
}

/// Creates a proxy. Generate it (`POST /api/v1/proxies/{id}/generate`) to publish its
/// playlist and guide.
#[utoipa::path(tag = "proxies", request_body = ProxyBody, responses(
    (status = 201, body = ProxyDetail),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "another proxy has this name"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "a field is invalid, or names a record that does not exist, or asks for a delivery mode this version does not have")))]
#[post("/proxies")]
pub async fn create_proxy(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ProxyBody>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner().into_input(&state).await?;
    let proxy = state.repos.proxies.create(input).await?;
    tracing::info!(proxy_id = %proxy.id, name = %proxy.input.name, "proxy created");
    let base = public_base(&req, &state.settings);
    Ok(HttpResponse::Created().json(ProxyDetail {
        proxy: ProxyView::new(proxy, &base),
        last_generation: None,
    }))
}

/// One proxy, with the summary of its last generation and its output URLs.
#[utoipa::path(tag = "proxies", params(("id" = String, Path, description = "proxy id")), responses(
    (status = 200, body = ProxyDetail), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/proxies/{id}")]
pub async fn get_proxy(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
) -> ApiResult<web::Json<ProxyDetail>> {
    let id = id.into_inner();
    check_visible(&req, &state, id).await?;
    let proxy = state.repos.proxies.get(id).await?;
    let base = public_base(&req, &state.settings);
    Ok(web::Json(detail(&state, proxy, &base).await?))
}

/// Replaces a proxy's settings. The published outputs stay as they are until the next
/// generation.
#[utoipa::path(tag = "proxies", params(("id" = String, Path, description = "proxy id")), request_body = ProxyBody,
    responses((status = 200, body = ProxyDetail), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "another proxy has this name"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "a field is invalid, or names a record that does not exist, or asks for a delivery mode this version does not have")))]
#[put("/proxies/{id}")]
pub async fn update_proxy(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
    body: web::Json<ProxyBody>,
) -> ApiResult<web::Json<ProxyDetail>> {
    let id = id.into_inner();
    // An unknown proxy is a 404 before its body's references are looked up.
    state.repos.proxies.get(id).await?;
    let input = body.into_inner().into_input(&state).await?;
    let proxy = state.repos.proxies.update(id, input).await?;
    state.auth.outputs.forget_proxy(id).await;
    let base = public_base(&req, &state.settings);
    Ok(web::Json(detail(&state, proxy, &base).await?))
}

/// Deletes a proxy, its lineup and its published playlist and guide.
#[utoipa::path(tag = "proxies", params(("id" = String, Path, description = "proxy id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/proxies/{id}")]
pub async fn delete_proxy(
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    state.repos.proxies.delete(id).await?;
    state.auth.outputs.forget_proxy(id).await;
    // The proxy is gone either way; files left behind are only served to nobody.
    if let Err(error) = state.outputs.remove(id).await {
        tracing::error!(proxy_id = %id, %error, "the deleted proxy's outputs could not be removed");
    }
    tracing::info!(proxy_id = %id, "proxy deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Options of a generation.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GenerateParams {
    /// Publish even if the generation would remove more of the lineup than the proxy's
    /// `max_removed_percent` allows (default false).
    pub force: Option<bool>,
}

/// Queues a generation of the proxy. A generation already queued for it is not duplicated:
/// its job is answered instead (with `force=true`, that job then publishes whatever it
/// removes).
#[utoipa::path(tag = "proxies", params(("id" = String, Path, description = "proxy id"), GenerateParams),
    responses((status = 202, body = JobAccepted), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[post("/proxies/{id}/generate")]
pub async fn generate_proxy(
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
    params: Params<GenerateParams>,
) -> ApiResult<HttpResponse> {
    // Storage's `create_deduplicated` checks for a queued job, then creates one: two requests
    // at once would both find none. Taking them one at a time here makes them coalesce within
    // this process; across processes that is storage's to make atomic.
    static ENQUEUEING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = ENQUEUEING.lock().await;
    let proxy = state.repos.proxies.get(id.into_inner()).await?;
    if params.force == Some(true) {
        state
            .repos
            .proxies
            .request_forced_generation(proxy.id)
            .await?;
    }
    let job = state
        .queue
        .enqueue(NewJob {
            kind: JobKind::GenerateProxy,
            subject_id: Some(proxy.id.as_uuid()),
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobAccepted { job_id: job.id }))
}

/// One channel of a proxy's published lineup.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineupChannelView {
    /// Its number in this proxy (stable across generations).
    pub number: u32,
    /// The channel's stable id.
    pub channel_id: ChannelId,
    /// Display name.
    pub name: String,
    /// `group-title`.
    pub group: Option<String>,
    /// The guide's channel id (`tvg-id`).
    pub guide_id: String,
    /// Logo URL, with provider credentials masked.
    pub logo: Option<String>,
    /// The stream URL players get: `<base>/proxy/{proxy_id}/{channel_id}` (tvarr's, not the
    /// provider's).
    pub stream_url: String,
    /// The stream source it came from.
    pub source_id: StreamSourceId,
    /// Where its guide data comes from; null when it has none.
    pub guide: Option<GuideMatch>,
}

impl LineupChannelView {
    fn new(channel: LineupChannel, proxy: ProxyId, base: &str) -> Self {
        let data = channel.data;
        Self {
            number: channel.number,
            stream_url: format!("{base}/proxy/{proxy}/{}", channel.channel_id),
            channel_id: channel.channel_id,
            name: redact_text(&data.name),
            group: data.group_title.as_deref().map(redact_text),
            guide_id: redact_text(&channel.guide_id),
            logo: data.tvg_logo.as_deref().map(redact_url),
            source_id: channel.source_id,
            guide: channel.guide,
        }
    }
}

/// The proxy's published lineup, by number. Empty before the first generation.
#[utoipa::path(tag = "proxies", params(("id" = String, Path, description = "proxy id"), PageParams),
    responses((status = 200, body = ListResponse<LineupChannelView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/proxies/{id}/channels")]
pub async fn proxy_channels(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<LineupChannelView>>> {
    let page = page.request()?;
    let id = id.into_inner();
    check_visible(&req, &state, id).await?;
    let proxy = state.repos.proxies.get(id).await?;
    let lineup = state.repos.lineups.list(proxy.id, page).await?;
    let base = public_base(&req, &state.settings);
    Ok(web::Json(ListResponse::from_page(lineup, |channel| {
        LineupChannelView::new(channel, proxy.id, &base)
    })))
}
