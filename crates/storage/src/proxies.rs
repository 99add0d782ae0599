//! Proxies, with their ordered lists in link tables, and relay profiles.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryOrder, QuerySelect,
};
use tvarr_core::{
    GroupStart, Numbering, Page, PageRequest, Proxy, ProxyId, ProxyInput, ProxyMode,
    ProxyRepository, RelayProfile, RelayProfileId, RelayProfileInput, RelayProfileRepository,
    RepoError, RepoResult, VideoContainer,
};

use crate::db::{Db, in_list, micros, not_found, now, parse_enum, parse_id, to_u32};
use crate::entity::{proxy, relay_profile};
use crate::error::{corrupt, name_taken, name_taken_or_not_found, repo_err};

fn updated_or_not_found(entity: &'static str, id: String) -> impl FnOnce(DbErr) -> RepoError {
    move |e| match e {
        DbErr::RecordNotUpdated | DbErr::RecordNotFound(_) => not_found(entity, id),
        other => repo_err(other),
    }
}

/// A proxy's link tables: `(table, column)`.
const LINKS: [(&str, &str); 4] = [
    ("proxy_stream_sources", "stream_source_id"),
    ("proxy_epg_sources", "epg_source_id"),
    ("proxy_filters", "filter_id"),
    ("proxy_mapping_rules", "mapping_rule_id"),
];

fn numbering_name(n: Numbering) -> &'static str {
    match n {
        Numbering::Preserve => "preserve",
        Numbering::Sequential => "sequential",
    }
}

fn parse_numbering(s: &str) -> Option<Numbering> {
    match s {
        "preserve" => Some(Numbering::Preserve),
        "sequential" => Some(Numbering::Sequential),
        _ => None,
    }
}

fn mode_name(m: ProxyMode) -> &'static str {
    match m {
        ProxyMode::Redirect => "redirect",
        ProxyMode::Proxy => "proxy",
        ProxyMode::Relay => "relay",
    }
}

fn parse_mode(s: &str) -> Option<ProxyMode> {
    match s {
        "redirect" => Some(ProxyMode::Redirect),
        "proxy" => Some(ProxyMode::Proxy),
        "relay" => Some(ProxyMode::Relay),
        _ => None,
    }
}

fn container_name(c: VideoContainer) -> &'static str {
    match c {
        VideoContainer::MpegTs => "mpeg_ts",
        VideoContainer::HlsTs => "hls_ts",
        VideoContainer::HlsFmp4 => "hls_fmp4",
    }
}

fn parse_container(s: &str) -> Option<VideoContainer> {
    match s {
        "mpeg_ts" => Some(VideoContainer::MpegTs),
        "hls_ts" => Some(VideoContainer::HlsTs),
        "hls_fmp4" => Some(VideoContainer::HlsFmp4),
        _ => None,
    }
}

/// Proxies on the database: implements [`ProxyRepository`].
///
/// The ordered lists of a proxy (stream sources, EPG sources, filters, mapping rules) are link
/// tables `(proxy_id, position, target id)` with foreign keys, not JSON arrays: naming a missing
/// record is refused as a conflict, and deleting a source, filter or rule removes it from every
/// proxy that used it.
#[derive(Clone, Debug)]
pub struct Proxies {
    db: Db,
}

impl Proxies {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    async fn write_links(
        &self,
        tx: &DatabaseTransaction,
        id: &str,
        input: &ProxyInput,
    ) -> RepoResult<()> {
        let lists: [Vec<String>; 4] = [
            input
                .stream_source_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            input
                .epg_source_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            input.filter_ids.iter().map(ToString::to_string).collect(),
            input
                .mapping_rule_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        ];
        for ((table, column), targets) in LINKS.iter().zip(lists) {
            let sql = format!("DELETE FROM {table} WHERE proxy_id = ?");
            tx.execute_raw(self.db.stmt(&sql, vec![id.into()]))
                .await
                .map_err(repo_err)?;
            if targets.is_empty() {
                continue;
            }
            let sql = format!(
                "INSERT INTO {table} (proxy_id, position, {column}) VALUES {}",
                crate::db::values_list(targets.len(), 3)
            );
            let mut values = Vec::with_capacity(targets.len() * 3);
            for (position, target) in targets.into_iter().enumerate() {
                values.push(id.into());
                values.push(i32::try_from(position).unwrap_or(i32::MAX).into());
                values.push(target.into());
            }
            tx.execute_raw(self.db.stmt(&sql, values))
                .await
                .map_err(repo_err)?;
        }
        Ok(())
    }

    /// Reads the link lists of `ids`, in order.
    async fn read_links(&self, models: Vec<proxy::Model>) -> RepoResult<Vec<Proxy>> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<sea_orm::Value> = models.iter().map(|m| m.id.as_str().into()).collect();
        let mut links: [HashMap<String, Vec<String>>; 4] = Default::default();
        for ((table, column), map) in LINKS.iter().zip(links.iter_mut()) {
            let sql = format!(
                "SELECT proxy_id, {column} AS target FROM {table} WHERE proxy_id IN ({}) ORDER BY proxy_id, position",
                in_list(ids.len())
            );
            let rows = self
                .db
                .conn
                .query_all_raw(self.db.stmt(&sql, ids.clone()))
                .await
                .map_err(repo_err)?;
            for row in rows {
                let proxy_id: String = row.try_get("", "proxy_id").map_err(repo_err)?;
                let target: String = row.try_get("", "target").map_err(repo_err)?;
                map.entry(proxy_id).or_default().push(target);
            }
        }
        let [mut streams, mut epgs, mut filters, mut rules] = links;
        models
            .into_iter()
            .map(|m| {
                let take =
                    |map: &mut HashMap<String, Vec<String>>| map.remove(&m.id).unwrap_or_default();
                let (s, e, f, r) = (
                    take(&mut streams),
                    take(&mut epgs),
                    take(&mut filters),
                    take(&mut rules),
                );
                Ok(Proxy {
                    id: parse_id("proxy id", &m.id)?,
                    input: ProxyInput {
                        stream_source_ids: parse_ids("stream source id", &s)?,
                        epg_source_ids: parse_ids("EPG source id", &e)?,
                        filter_ids: parse_ids("filter id", &f)?,
                        mapping_rule_ids: parse_ids("mapping rule id", &r)?,
                        starting_channel_number: to_u32(
                            "starting channel number",
                            m.starting_channel_number,
                        )?,
                        numbering: parse_enum("numbering", &m.numbering, parse_numbering)?,
                        proxy_mode: parse_enum("proxy mode", &m.proxy_mode, parse_mode)?,
                        relay_profile_id: m
                            .relay_profile_id
                            .as_deref()
                            .map(|id| parse_id("relay profile id", id))
                            .transpose()?,
                        cache_logos: m.cache_logos,
                        group_starting_numbers: m
                            .group_starting_numbers
                            .as_deref()
                            .map(|json| {
                                serde_json::from_str(json)
                                    .map_err(|_| corrupt("group starting numbers", json))
                            })
                            .transpose()?
                            .unwrap_or_default(),
                        number_grace_days: to_u32(
                            "number grace days",
                            i64::from(m.number_grace_days),
                        )?,
                        epg_days_past: to_u32("EPG days past", i64::from(m.epg_days_past))?,
                        epg_days_ahead: to_u32("EPG days ahead", i64::from(m.epg_days_ahead))?,
                        max_removed_percent: to_u32(
                            "max removed percent",
                            i64::from(m.max_removed_percent),
                        )?,
                        update_cron: m.update_cron,
                        tuner_count: to_u32("tuner count", i64::from(m.tuner_count))?,
                        hdhomerun_channels_per_device: to_u32(
                            "HDHomeRun channels per device",
                            i64::from(m.hdhomerun_channels_per_device),
                        )?,
                        allowed_networks: m
                            .allowed_networks
                            .as_deref()
                            .map(|text| {
                                tvarr_core::IpNetwork::parse_list(text)
                                    .map_err(|_| corrupt("allowed networks", text))
                            })
                            .transpose()?
                            .unwrap_or_default(),
                        name: m.name,
                    },
                    last_generated_at: m.last_generated_at,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                })
            })
            .collect()
    }
}

/// The stored form of a proxy's group starting numbers: NULL for none.
fn group_starts_json(starts: &[GroupStart]) -> RepoResult<Option<String>> {
    if starts.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(starts)
        .map(Some)
        .map_err(|e| RepoError::Conflict(format!("group starting numbers cannot be stored: {e}")))
}

/// The stored form of a proxy's allowed networks: NULL for none (anyone), else the networks
/// separated by commas.
fn networks_text(networks: &[tvarr_core::IpNetwork]) -> Option<String> {
    (!networks.is_empty()).then(|| {
        networks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// A small setting as a 32-bit column (values above `i32::MAX` are kept at it).
fn small(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn parse_ids<T: std::str::FromStr>(what: &str, ids: &[String]) -> RepoResult<Vec<T>> {
    ids.iter().map(|id| parse_id(what, id)).collect()
}

#[async_trait]
impl ProxyRepository for Proxies {
    async fn create(&self, input: ProxyInput) -> RepoResult<Proxy> {
        let at = now();
        let id = ProxyId::new().to_string();
        let model = proxy::Model {
            id: id.clone(),
            name: input.name.clone(),
            starting_channel_number: i64::from(input.starting_channel_number),
            numbering: numbering_name(input.numbering).to_owned(),
            proxy_mode: mode_name(input.proxy_mode).to_owned(),
            relay_profile_id: input.relay_profile_id.map(|r| r.to_string()),
            cache_logos: input.cache_logos,
            last_generated_at: None,
            created_at: at,
            updated_at: at,
            group_starting_numbers: group_starts_json(&input.group_starting_numbers)?,
            number_grace_days: small(input.number_grace_days),
            epg_days_past: small(input.epg_days_past),
            epg_days_ahead: small(input.epg_days_ahead),
            max_removed_percent: small(input.max_removed_percent),
            update_cron: input.update_cron.clone(),
            last_generation: None,
            force_next_generation: false,
            tuner_count: small(input.tuner_count),
            hdhomerun_channels_per_device: small(input.hdhomerun_channels_per_device),
            allowed_networks: networks_text(&input.allowed_networks),
        };
        let tx = self.db.begin_write().await?;
        proxy::Entity::insert(proxy::ActiveModel::from(model))
            .exec_without_returning(&tx)
            .await
            .map_err(name_taken("proxy", &input.name))?;
        self.write_links(&tx, &id, &input).await?;
        tx.commit().await.map_err(repo_err)?;
        self.get(parse_id("proxy id", &id)?).await
    }

    async fn get(&self, id: ProxyId) -> RepoResult<Proxy> {
        let model = proxy::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("proxy", id))?;
        self.read_links(vec![model])
            .await?
            .pop()
            .ok_or_else(|| not_found("proxy", id))
    }

    async fn list(&self, page: PageRequest) -> RepoResult<Page<Proxy>> {
        let total = proxy::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let models = proxy::Entity::find()
            .order_by_asc(proxy::Column::Name)
            .order_by_asc(proxy::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?;
        Ok(Page {
            items: self.read_links(models).await?,
            total,
        })
    }

    async fn update(&self, id: ProxyId, input: ProxyInput) -> RepoResult<Proxy> {
        let key = id.to_string();
        let tx = self.db.begin_write().await?;
        proxy::ActiveModel {
            id: Unchanged(key.clone()),
            name: Set(input.name.clone()),
            starting_channel_number: Set(i64::from(input.starting_channel_number)),
            numbering: Set(numbering_name(input.numbering).to_owned()),
            proxy_mode: Set(mode_name(input.proxy_mode).to_owned()),
            relay_profile_id: Set(input.relay_profile_id.map(|r| r.to_string())),
            cache_logos: Set(input.cache_logos),
            group_starting_numbers: Set(group_starts_json(&input.group_starting_numbers)?),
            number_grace_days: Set(small(input.number_grace_days)),
            epg_days_past: Set(small(input.epg_days_past)),
            epg_days_ahead: Set(small(input.epg_days_ahead)),
            max_removed_percent: Set(small(input.max_removed_percent)),
            update_cron: Set(input.update_cron.clone()),
            tuner_count: Set(small(input.tuner_count)),
            hdhomerun_channels_per_device: Set(small(input.hdhomerun_channels_per_device)),
            allowed_networks: Set(networks_text(&input.allowed_networks)),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(name_taken_or_not_found("proxy", &input.name, key.clone()))?;
        self.write_links(&tx, &key, &input).await?;
        tx.commit().await.map_err(repo_err)?;
        self.get(id).await
    }

    async fn delete(&self, id: ProxyId) -> RepoResult<()> {
        let result = proxy::Entity::delete_by_id(id.to_string())
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("proxy", id));
        }
        Ok(())
    }

    async fn record_generated(&self, id: ProxyId, at: DateTime<Utc>) -> RepoResult<()> {
        proxy::ActiveModel {
            id: Unchanged(id.to_string()),
            last_generated_at: Set(Some(micros(at))),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(updated_or_not_found("proxy", id.to_string()))?;
        Ok(())
    }

    async fn request_forced_generation(&self, id: ProxyId) -> RepoResult<()> {
        let result = self
            .db
            .conn
            .execute_raw(self.db.stmt(
                "UPDATE proxies SET force_next_generation = ? WHERE id = ?",
                vec![true.into(), id.to_string().into()],
            ))
            .await
            .map_err(repo_err)?;
        // Rows matched, also on MySQL (sqlx asks for CLIENT_FOUND_ROWS).
        if result.rows_affected() == 0 {
            return Err(not_found("proxy", id));
        }
        Ok(())
    }

    /// One conditional `UPDATE`: the caller whose statement cleared the flag took it.
    async fn take_forced_generation(&self, id: ProxyId) -> RepoResult<bool> {
        let result = self
            .db
            .conn
            .execute_raw(self.db.stmt(
                "UPDATE proxies SET force_next_generation = ? \
                 WHERE id = ? AND force_next_generation = ?",
                vec![false.into(), id.to_string().into(), true.into()],
            ))
            .await
            .map_err(repo_err)?;
        if result.rows_affected() > 0 {
            return Ok(true);
        }
        proxy::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .map(|_| false)
            .ok_or_else(|| not_found("proxy", id))
    }
}

/// Relay profiles on the database: implements [`RelayProfileRepository`].
#[derive(Clone, Debug)]
pub struct RelayProfiles {
    db: Db,
}

impl RelayProfiles {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn opt_i32(v: Option<u32>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

fn opt_u32(what: &str, v: Option<i32>) -> RepoResult<Option<u32>> {
    v.map(|v| to_u32(what, i64::from(v))).transpose()
}

/// The stored form of a relay profile's extra arguments: NULL for none.
fn extra_args_json(args: &[String]) -> RepoResult<Option<String>> {
    if args.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(args)
        .map(Some)
        .map_err(|e| RepoError::Conflict(format!("extra arguments cannot be stored: {e}")))
}

fn parse_extra_args(json: Option<&str>) -> RepoResult<Vec<String>> {
    json.map(|json| serde_json::from_str(json).map_err(|_| corrupt("extra arguments", json)))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn profile_from_model(m: relay_profile::Model) -> RepoResult<RelayProfile> {
    Ok(RelayProfile {
        id: parse_id("relay profile id", &m.id)?,
        input: RelayProfileInput {
            video_bitrate_kbps: opt_u32("video bitrate", m.video_bitrate_kbps)?,
            audio_bitrate_kbps: opt_u32("audio bitrate", m.audio_bitrate_kbps)?,
            max_height: opt_u32("max height", m.max_height)?,
            container: parse_enum("container", &m.container, parse_container)?,
            extra_args: parse_extra_args(m.extra_args.as_deref())?,
            preset: m.preset,
            name: m.name,
            video_codec: m.video_codec,
            audio_codec: m.audio_codec,
            hardware_acceleration: m.hardware_acceleration,
        },
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl RelayProfileRepository for RelayProfiles {
    async fn create(&self, input: RelayProfileInput) -> RepoResult<RelayProfile> {
        let at = now();
        let model = relay_profile::Model {
            id: RelayProfileId::new().to_string(),
            name: input.name,
            video_codec: input.video_codec,
            audio_codec: input.audio_codec,
            video_bitrate_kbps: opt_i32(input.video_bitrate_kbps),
            audio_bitrate_kbps: opt_i32(input.audio_bitrate_kbps),
            max_height: opt_i32(input.max_height),
            hardware_acceleration: input.hardware_acceleration,
            container: container_name(input.container).to_owned(),
            created_at: at,
            updated_at: at,
            preset: input.preset,
            extra_args: extra_args_json(&input.extra_args)?,
        };
        relay_profile::Entity::insert(relay_profile::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(name_taken("relay profile", &model.name))?;
        profile_from_model(model)
    }

    async fn get(&self, id: RelayProfileId) -> RepoResult<RelayProfile> {
        let model = relay_profile::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("relay profile", id))?;
        profile_from_model(model)
    }

    async fn list(&self, page: PageRequest) -> RepoResult<Page<RelayProfile>> {
        let total = relay_profile::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = relay_profile::Entity::find()
            .order_by_asc(relay_profile::Column::Name)
            .order_by_asc(relay_profile::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(profile_from_model)
            .collect::<RepoResult<_>>()?;
        Ok(Page { items, total })
    }

    async fn update(
        &self,
        id: RelayProfileId,
        input: RelayProfileInput,
    ) -> RepoResult<RelayProfile> {
        let on_error = name_taken_or_not_found("relay profile", &input.name, id.to_string());
        let model = relay_profile::ActiveModel {
            id: Unchanged(id.to_string()),
            name: Set(input.name),
            video_codec: Set(input.video_codec),
            audio_codec: Set(input.audio_codec),
            video_bitrate_kbps: Set(opt_i32(input.video_bitrate_kbps)),
            audio_bitrate_kbps: Set(opt_i32(input.audio_bitrate_kbps)),
            max_height: Set(opt_i32(input.max_height)),
            hardware_acceleration: Set(input.hardware_acceleration),
            container: Set(container_name(input.container).to_owned()),
            preset: Set(input.preset),
            extra_args: Set(extra_args_json(&input.extra_args)?),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(on_error)?;
        profile_from_model(model)
    }

    async fn delete(&self, id: RelayProfileId) -> RepoResult<()> {
        let result = relay_profile::Entity::delete_by_id(id.to_string())
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("relay profile", id));
        }
        Ok(())
    }
}
