//! Opens a database, stores a stream source and a few channels, and reads them back.
//!
//! `cargo run -p tvarr-storage --example quickstart [DATABASE_URL]`: a temporary SQLite file
//! by default.
#![allow(clippy::print_stdout)]

use tvarr_core::{
    Channel, ChannelData, ChannelQuery, ChannelRepository, PageRequest, StreamSourceInput,
    StreamSourceRepository, StreamSourceType,
};
use tvarr_storage::Store;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("tvarr.db").display()));
    let store = Store::connect(&url).await?;
    store.ping().await?;
    println!("connected to {:?}", store.backend());

    let source = store
        .stream_sources()
        .create(StreamSourceInput {
            name: format!("Quickstart {}", uuid::Uuid::now_v7()),
            source_type: StreamSourceType::M3u,
            url: "http://playlists.example/tv.m3u".into(),
            username: None,
            password: None,
            update_cron: None,
            enabled: true,
            user_agent: None,
            headers: vec![],
            max_connections: None,
        })
        .await?;
    println!("created source {} ({})", source.name, source.id);

    let channels: Vec<Channel> = ["News 24", "Sport HD", "Movies"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let data = ChannelData {
                name: name.into(),
                group_title: Some(if i == 0 { "News" } else { "Entertainment" }.into()),
                stream_url: format!("http://streams.example/{i}.ts"),
                ..Default::default()
            };
            Channel::new(source.id, data.identity_key(), i as u32, data)
        })
        .collect();
    let mut replacement = store.channels().begin_replace(source.id).await?;
    replacement.write(&channels).await?;
    let stored = replacement.commit().await?;
    println!("stored {stored} channels");

    let query = ChannelQuery {
        source_ids: vec![source.id],
        ..Default::default()
    };
    let page = store
        .channels()
        .list(&query, PageRequest::default())
        .await?;
    for channel in &page.items {
        println!(
            "  #{} {} [{}] {}",
            channel.position,
            channel.data.name,
            channel.data.group_title.as_deref().unwrap_or(""),
            channel.data.stream_url
        );
    }
    for (group, count) in store.channels().groups(&query).await? {
        println!("  group {group}: {count}");
    }
    store.stream_sources().delete(source.id).await?;
    Ok(())
}
