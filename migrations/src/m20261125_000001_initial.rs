//! The first schema: every concept of tvarr.
//!
//! Channels, guide channels and programmes carry the `generation` they were written under; the
//! source row's `current_generation` says which one readers see (see `tvarr-storage`'s bulk
//! path). Their primary keys are `(source_id, generation, position)`, in arrival order, so a
//! bulk insert appends to the key and a source's rows are read and deleted by key range.
//!
//! A proxy's ordered lists of sources, filters and rules are link tables with a `position`,
//! not JSON arrays: foreign keys then refuse a proxy that names a missing source (a conflict
//! the API can report) and remove a deleted source, filter or rule from every proxy.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates every table and index.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_initial"
    }
}

/// Column helpers whose type depends on the database.
struct Cols {
    backend: DbBackend,
}

impl Cols {
    fn ts_type(&self, col: &mut ColumnDef) {
        match self.backend {
            // MySQL's TIMESTAMP stops in 2038 and converts through the session time zone.
            DbBackend::MySql => {
                col.custom("DATETIME(6)");
            }
            _ => {
                col.timestamp_with_time_zone();
            }
        }
    }

    /// A non-null UTC timestamp.
    fn ts(&self, name: &'static str) -> ColumnDef {
        let mut col = ColumnDef::new(name);
        self.ts_type(&mut col);
        col.not_null().take()
    }

    /// A nullable UTC timestamp.
    fn ts_null(&self, name: &'static str) -> ColumnDef {
        let mut col = ColumnDef::new(name);
        self.ts_type(&mut col);
        col.null().take()
    }
}

fn id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string_len(36).not_null().take()
}

fn id_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string_len(36).null().take()
}

fn pk_id() -> ColumnDef {
    ColumnDef::new("id")
        .string_len(36)
        .not_null()
        .primary_key()
        .take()
}

fn varchar(name: &'static str, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().take()
}

fn varchar_null(name: &'static str, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).null().take()
}

fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

fn boolean(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().take()
}

fn big(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().take()
}

fn big_default(name: &'static str, value: i64) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(value)
        .take()
}

fn int(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().take()
}

fn int_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).integer().null().take()
}

fn fk(
    name: &'static str,
    from: (&'static str, &'static str),
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to, "id")
        .on_delete(on_delete)
        .take()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &'static str,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt).await
}

/// The tables of a proxy's ordered lists: `(table, column, referenced table)`.
const PROXY_LINKS: [(&str, &str, &str); 4] = [
    ("proxy_stream_sources", "stream_source_id", "stream_sources"),
    ("proxy_epg_sources", "epg_source_id", "epg_sources"),
    ("proxy_filters", "filter_id", "filters"),
    ("proxy_mapping_rules", "mapping_rule_id", "mapping_rules"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols {
            backend: manager.get_database_backend(),
        };

        // Sources. The password is stored in clear: tvarr must send it to the provider.
        manager
            .create_table(
                Table::create()
                    .table("stream_sources")
                    .col(pk_id())
                    .col(varchar("name", 200).unique_key().take())
                    .col(varchar("source_type", 16))
                    .col(text("url"))
                    .col(text_null("username"))
                    .col(text_null("password"))
                    .col(varchar_null("update_cron", 255))
                    .col(boolean("enabled"))
                    .col(text_null("user_agent"))
                    .col(text("headers"))
                    .col(varchar("state", 16))
                    .col(c.ts_null("last_ingested_at"))
                    .col(c.ts_null("last_success_at"))
                    .col(big_default("channel_count", 0))
                    .col(big_default("skipped_count", 0))
                    .col(text_null("last_error"))
                    .col(big_default("current_generation", 0))
                    .col(big_default("last_generation", 0))
                    .col(c.ts("created_at"))
                    .col(c.ts("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("epg_sources")
                    .col(pk_id())
                    .col(varchar("name", 200).unique_key().take())
                    .col(varchar("source_type", 16))
                    .col(text("url"))
                    .col(text_null("username"))
                    .col(text_null("password"))
                    .col(varchar_null("update_cron", 255))
                    .col(boolean("enabled"))
                    .col(text_null("user_agent"))
                    .col(text("headers"))
                    .col(int("time_offset_minutes"))
                    .col(varchar_null("timezone", 64))
                    .col(varchar("state", 16))
                    .col(c.ts_null("last_ingested_at"))
                    .col(c.ts_null("last_success_at"))
                    .col(big_default("programme_count", 0))
                    .col(big_default("skipped_count", 0))
                    .col(text_null("last_error"))
                    .col(big_default("current_generation", 0))
                    .col(big_default("last_generation", 0))
                    .col(c.ts("created_at"))
                    .col(c.ts("updated_at"))
                    .take(),
            )
            .await?;

        // Bulk data, written under a generation.
        manager
            .create_table(
                Table::create()
                    .table("channels")
                    .col(id("source_id"))
                    .col(big("generation"))
                    .col(big("position"))
                    .col(id("id"))
                    .col(text("channel_key"))
                    .col(text("name"))
                    .col(text("name_search"))
                    .col(text_null("provider_id"))
                    .col(text_null("tvg_id"))
                    .col(text_null("tvg_name"))
                    .col(text_null("tvg_logo"))
                    .col(text_null("group_title"))
                    .col(text_null("tvg_chno"))
                    .col(text_null("tvg_shift"))
                    .col(text("stream_url"))
                    .col(text_null("catchup"))
                    .col(text_null("catchup_days"))
                    .col(text_null("catchup_source"))
                    .col(text_null("extra"))
                    .primary_key(
                        Index::create()
                            .col("source_id")
                            .col("generation")
                            .col("position"),
                    )
                    .foreign_key(&mut fk(
                        "fk_channels_source",
                        ("channels", "source_id"),
                        "stream_sources",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_channels_id",
            "channels",
            &["id", "generation"],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("epg_channels")
                    .col(id("source_id"))
                    .col(big("generation"))
                    .col(big("position"))
                    .col(varchar("channel_id", 255))
                    .col(text("display_names"))
                    .col(text_null("icon"))
                    .col(text_null("extra_xml"))
                    .primary_key(
                        Index::create()
                            .col("source_id")
                            .col("generation")
                            .col("position"),
                    )
                    .foreign_key(&mut fk(
                        "fk_epg_channels_source",
                        ("epg_channels", "source_id"),
                        "epg_sources",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("programmes")
                    .col(id("source_id"))
                    .col(big("generation"))
                    .col(big("position"))
                    .col(varchar("channel", 255))
                    .col(c.ts("start_at"))
                    .col(c.ts("stop_at"))
                    .col(text("title_search"))
                    .col(text("payload"))
                    .primary_key(
                        Index::create()
                            .col("source_id")
                            .col("generation")
                            .col("position"),
                    )
                    .foreign_key(&mut fk(
                        "fk_programmes_source",
                        ("programmes", "source_id"),
                        "epg_sources",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_programmes_channel_start",
            "programmes",
            &["source_id", "generation", "channel", "start_at"],
            false,
        )
        .await?;

        // Expressions.
        manager
            .create_table(
                Table::create()
                    .table("filters")
                    .col(pk_id())
                    .col(varchar("name", 200).unique_key().take())
                    .col(varchar("domain", 16))
                    .col(varchar("action", 16))
                    .col(text("expression"))
                    .col(c.ts("created_at"))
                    .col(c.ts("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("mapping_rules")
                    .col(pk_id())
                    .col(varchar("name", 200).unique_key().take())
                    .col(varchar("domain", 16))
                    .col(text("expression"))
                    .col(int("priority"))
                    .col(boolean("enabled"))
                    .col(c.ts("created_at"))
                    .col(c.ts("updated_at"))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_mapping_rules_priority",
            "mapping_rules",
            &["domain", "priority"],
            false,
        )
        .await?;

        // Outputs.
        manager
            .create_table(
                Table::create()
                    .table("relay_profiles")
                    .col(pk_id())
                    .col(varchar("name", 200).unique_key().take())
                    .col(varchar("video_codec", 32))
                    .col(varchar("audio_codec", 32))
                    .col(int_null("video_bitrate_kbps"))
                    .col(int_null("audio_bitrate_kbps"))
                    .col(int_null("max_height"))
                    .col(varchar("hardware_acceleration", 32))
                    .col(varchar("container", 16))
                    .col(c.ts("created_at"))
                    .col(c.ts("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("proxies")
                    .col(pk_id())
                    .col(varchar("name", 200).unique_key().take())
                    .col(big("starting_channel_number"))
                    .col(varchar("numbering", 16))
                    .col(varchar("proxy_mode", 16))
                    .col(id_null("relay_profile_id"))
                    .col(boolean("cache_logos"))
                    .col(c.ts_null("last_generated_at"))
                    .col(c.ts("created_at"))
                    .col(c.ts("updated_at"))
                    .foreign_key(&mut fk(
                        "fk_proxies_relay_profile",
                        ("proxies", "relay_profile_id"),
                        "relay_profiles",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_proxies_relay_profile",
            "proxies",
            &["relay_profile_id"],
            false,
        )
        .await?;
        for (table, column, target) in PROXY_LINKS {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .col(id("proxy_id"))
                        .col(int("position"))
                        .col(id(column))
                        .primary_key(Index::create().col("proxy_id").col("position"))
                        .foreign_key(
                            ForeignKey::create()
                                .from(table, "proxy_id")
                                .to("proxies", "id")
                                .on_delete(ForeignKeyAction::Cascade),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(table, column)
                                .to(target, "id")
                                .on_delete(ForeignKeyAction::Cascade),
                        )
                        .take(),
                )
                .await?;
            let mut unique = Index::create();
            unique
                .name(format!("uq_{table}"))
                .table(table)
                .col("proxy_id")
                .col(column)
                .unique();
            manager.create_index(unique).await?;
            let mut by_target = Index::create();
            by_target
                .name(format!("idx_{table}_target"))
                .table(table)
                .col(column);
            manager.create_index(by_target).await?;
        }

        // Logo cache.
        manager
            .create_table(
                Table::create()
                    .table("logos")
                    .col(pk_id())
                    .col(text("source_url"))
                    .col(int("width"))
                    .col(int("height"))
                    .col(big("byte_size"))
                    .col(c.ts("cached_at"))
                    .take(),
            )
            .await?;

        // Jobs.
        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .col(pk_id())
                    .col(varchar("kind", 32))
                    .col(id_null("subject_id"))
                    .col(varchar("status", 16))
                    .col(varchar("stage", 64))
                    .col(big("done"))
                    .col(ColumnDef::new("total").big_integer().null().take())
                    .col(text_null("error"))
                    .col(boolean("cancel_requested"))
                    .col(int("attempts"))
                    .col(varchar_null("worker", 255))
                    .col(c.ts("created_at"))
                    .col(c.ts_null("started_at"))
                    .col(c.ts_null("finished_at"))
                    .col(c.ts_null("heartbeat_at"))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_jobs_status_heartbeat",
            "jobs",
            &["status", "heartbeat_at"],
            false,
        )
        .await?;
        index(manager, "idx_jobs_created", "jobs", &["created_at"], false).await?;

        // People and machines using the API.
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(pk_id())
                    .col(varchar("username", 100).unique_key().take())
                    .col(text("password_hash"))
                    .col(varchar("role", 16))
                    .col(c.ts("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(pk_id())
                    .col(varchar("name", 200))
                    .col(varchar("key_hash", 128).unique_key().take())
                    .col(varchar("prefix", 16))
                    .col(c.ts("created_at"))
                    .col(c.ts_null("last_used_at"))
                    .col(c.ts_null("revoked_at"))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_api_keys_prefix",
            "api_keys",
            &["prefix"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut tables = vec![
            "api_keys",
            "users",
            "jobs",
            "logos",
            "proxy_mapping_rules",
            "proxy_filters",
            "proxy_epg_sources",
            "proxy_stream_sources",
            "proxies",
            "relay_profiles",
            "mapping_rules",
            "filters",
            "programmes",
            "epg_channels",
            "channels",
            "epg_sources",
            "stream_sources",
        ];
        for table in tables.drain(..) {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
