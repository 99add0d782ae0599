//! The output stores: the data directory and the database (SQLite file, PostgreSQL or
//! MariaDB, chosen by `TVARR_TEST_DATABASE_URL` as in the repository suite).

use std::io::Read;
use std::path::Path;

use tvarr_core::*;
use tvarr_storage::{DatabaseOutputStore, DirectoryOutputStore, Store};

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Publishes `content` in chunks of 100 KiB.
async fn publish(
    store: &dyn OutputStore,
    proxy: ProxyId,
    kind: OutputKind,
    content: &[u8],
) -> PublishedOutput {
    let mut w = store.begin(proxy, kind).await.unwrap();
    for chunk in content.chunks(100 * 1024) {
        w.write(chunk).await.unwrap();
    }
    w.commit().await.unwrap()
}

/// The published files of `proxy`'s `kind` output: both encodings, checked against each other.
async fn served(
    store: &dyn OutputStore,
    proxy: ProxyId,
    kind: OutputKind,
) -> (PublishedOutput, Vec<u8>) {
    let files = store.files(proxy, kind).await.unwrap().unwrap();
    let plain = std::fs::read(&files.plain).unwrap();
    assert_eq!(
        gunzip(&files.gzip),
        plain,
        "the gzip form holds the same bytes"
    );
    assert_eq!(files.output.len, plain.len() as u64);
    assert_eq!(
        files.output.gzip_len,
        std::fs::metadata(&files.gzip).unwrap().len()
    );
    assert_eq!(files.output.etag, blake3::hash(&plain).to_hex()[..32]);
    (files.output, plain)
}

fn content(tag: &str, kib: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(kib * 1024);
    let mut i = 0u64;
    while out.len() < kib * 1024 {
        out.extend_from_slice(format!("<programme channel=\"{tag}\" n=\"{i}\"/>\n").as_bytes());
        i += 1;
    }
    out
}

/// Files in the store's temporary directory.
fn temporaries(root: &Path) -> Vec<String> {
    match std::fs::read_dir(root.join(".tmp")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn the_directory_store_publishes_both_encodings_and_replaces_them_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirectoryOutputStore::new(dir.path().join("outputs")).unwrap();
    let proxy = ProxyId::new();
    assert_eq!(store.current(proxy, OutputKind::M3u).await.unwrap(), None);
    assert_eq!(store.files(proxy, OutputKind::M3u).await.unwrap(), None);

    let first = content("one", 700);
    let published = publish(&store, proxy, OutputKind::M3u, &first).await;
    let (output, bytes) = served(&store, proxy, OutputKind::M3u).await;
    assert_eq!(bytes, first);
    assert_eq!(output, published);
    assert_eq!(
        store.current(proxy, OutputKind::M3u).await.unwrap(),
        Some(published.clone())
    );
    assert!(published.gzip_len < published.len / 5, "{published:?}");
    // The other kind is separate.
    assert_eq!(store.files(proxy, OutputKind::Xmltv).await.unwrap(), None);

    // A reader holding the first version's files while the second is committed reads the
    // first, complete.
    let old_files = store.files(proxy, OutputKind::M3u).await.unwrap().unwrap();
    let mut held = std::fs::File::open(&old_files.plain).unwrap();
    let second = content("two", 300);
    let republished = publish(&store, proxy, OutputKind::M3u, &second).await;
    assert_ne!(republished.etag, published.etag);
    let mut read = Vec::new();
    held.read_to_end(&mut read).unwrap();
    assert_eq!(read, first);
    // The superseded version stays one publication longer (a reader may just have been given
    // its paths), then goes.
    assert_eq!(std::fs::read(&old_files.plain).unwrap(), first);
    assert_eq!(served(&store, proxy, OutputKind::M3u).await.1, second);
    publish(&store, proxy, OutputKind::M3u, &content("three", 10)).await;
    assert!(!old_files.plain.exists() && !old_files.gzip.exists());
    // Publishing the same content again is a new publication of the same etag.
    let again = publish(&store, proxy, OutputKind::M3u, &content("three", 10)).await;
    assert_eq!(served(&store, proxy, OutputKind::M3u).await.0, again);
    assert!(temporaries(&dir.path().join("outputs")).is_empty());

    store.remove(proxy).await.unwrap();
    assert_eq!(store.files(proxy, OutputKind::M3u).await.unwrap(), None);
    store.remove(proxy).await.unwrap();
}

#[tokio::test]
async fn an_aborted_or_dropped_write_keeps_the_previous_output_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("outputs");
    let store = DirectoryOutputStore::new(&root).unwrap();
    let proxy = ProxyId::new();
    let first = content("kept", 50);
    let published = publish(&store, proxy, OutputKind::Xmltv, &first).await;

    let mut w = store.begin(proxy, OutputKind::Xmltv).await.unwrap();
    w.write(b"<tv>half").await.unwrap();
    assert_eq!(temporaries(&root).len(), 2);
    w.abort().await.unwrap();
    assert!(temporaries(&root).is_empty());
    assert_eq!(
        served(&store, proxy, OutputKind::Xmltv).await,
        (published.clone(), first.clone())
    );

    let mut w = store.begin(proxy, OutputKind::Xmltv).await.unwrap();
    w.write(b"<tv>half").await.unwrap();
    drop(w);
    for _ in 0..100 {
        if temporaries(&root).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(temporaries(&root).is_empty(), "{:?}", temporaries(&root));
    assert_eq!(
        served(&store, proxy, OutputKind::Xmltv).await,
        (published, first)
    );
}

#[tokio::test]
async fn leftovers_of_a_killed_process_are_removed_at_the_next_begin() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("outputs");
    let store = DirectoryOutputStore::new(&root).unwrap();
    let proxy = ProxyId::new();
    let other = ProxyId::new();
    std::fs::create_dir_all(root.join(".tmp")).unwrap();
    let leftover = format!("{proxy}-m3u-0123.plain");
    let others = format!("{other}-m3u-0123.plain");
    for name in [&leftover, &others] {
        std::fs::write(root.join(".tmp").join(name), b"half").unwrap();
    }
    let w = store.begin(proxy, OutputKind::M3u).await.unwrap();
    let left = temporaries(&root);
    assert!(!left.contains(&leftover), "{left:?}");
    assert!(
        left.contains(&others),
        "another proxy's write is left alone"
    );
    w.abort().await.unwrap();
}

#[tokio::test]
async fn an_unwritable_directory_fails_with_the_reason_and_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let e = DirectoryOutputStore::new(file.join("outputs")).unwrap_err();
    assert!(
        matches!(&e, RepoError::Unavailable(m) if m.contains("a-file") && m.contains("Not a directory")),
        "{e}"
    );

    let root = dir.path().join("outputs");
    let store = DirectoryOutputStore::new(&root).unwrap();
    let proxy = ProxyId::new();
    let first = content("kept", 20);
    let published = publish(&store, proxy, OutputKind::M3u, &first).await;
    // Where temporary files go is now a regular file.
    std::fs::remove_dir_all(root.join(".tmp")).unwrap();
    std::fs::write(root.join(".tmp"), b"in the way").unwrap();
    let Err(e) = store.begin(proxy, OutputKind::M3u).await else {
        panic!("begin must fail");
    };
    assert!(
        matches!(&e, RepoError::Unavailable(m) if m.contains(".tmp")),
        "{e}"
    );
    assert_eq!(
        served(&store, proxy, OutputKind::M3u).await,
        (published.clone(), first.clone())
    );

    // The proxy's own directory is a regular file: the commit fails, nothing changes.
    std::fs::remove_file(root.join(".tmp")).unwrap();
    let second = ProxyId::new();
    std::fs::write(root.join(second.to_string()), b"in the way").unwrap();
    let mut w = store.begin(second, OutputKind::M3u).await.unwrap();
    w.write(b"#EXTM3U\n").await.unwrap();
    let e = w.commit().await.unwrap_err();
    assert!(
        matches!(&e, RepoError::Unavailable(m) if m.contains(&second.to_string())),
        "{e}"
    );
    assert!(temporaries(&root).is_empty());
    assert_eq!(
        served(&store, proxy, OutputKind::M3u).await,
        (published, first)
    );
}

// ---------------------------------------------------------------- the database store

/// The database server the suite runs on, or an SQLite file in `dir` for any SQLite URL: the
/// CI's SQLite pass names `sqlite::memory:`, and two connections to that are two databases,
/// not two processes sharing one.
fn database_url(dir: &Path) -> String {
    match std::env::var("TVARR_TEST_DATABASE_URL") {
        Ok(url) if !url.starts_with("sqlite") => url,
        _ => format!("sqlite://{}/outputs.db", dir.display()),
    }
}

#[tokio::test]
async fn two_processes_sharing_only_the_database_serve_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path());
    // Two stores, as two processes: their own pools, their own cache directories.
    let (a, b) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );
    let proxy = a
        .proxies()
        .create(ProxyInput::named(format!(
            "outputs {}",
            uuid::Uuid::now_v7()
        )))
        .await
        .unwrap()
        .id;
    let worker = DatabaseOutputStore::new(&a, dir.path().join("worker-cache")).unwrap();
    let server = DatabaseOutputStore::new(&b, dir.path().join("server-cache")).unwrap();
    assert_eq!(server.files(proxy, OutputKind::Xmltv).await.unwrap(), None);

    // 2.5 MiB: several chunks of each encoding.
    let first = content("db", 2560);
    let published = publish(&worker, proxy, OutputKind::Xmltv, &first).await;
    assert_eq!(
        server.current(proxy, OutputKind::Xmltv).await.unwrap(),
        Some(published.clone())
    );
    let (output, bytes) = served(&server, proxy, OutputKind::Xmltv).await;
    assert_eq!((output, bytes), (published.clone(), first.clone()));
    // The worker serves its own copy.
    assert_eq!(served(&worker, proxy, OutputKind::Xmltv).await.1, first);
    let server_files = server
        .files(proxy, OutputKind::Xmltv)
        .await
        .unwrap()
        .unwrap();
    assert!(
        server_files
            .plain
            .starts_with(dir.path().join("server-cache"))
    );

    // A new publication reaches the server; an aborted one does not.
    let second = content("db2", 100);
    let republished = publish(&worker, proxy, OutputKind::Xmltv, &second).await;
    assert_eq!(
        served(&server, proxy, OutputKind::Xmltv).await,
        (republished.clone(), second.clone())
    );
    let mut w = worker.begin(proxy, OutputKind::Xmltv).await.unwrap();
    w.write(b"<tv>").await.unwrap();
    w.abort().await.unwrap();
    assert_eq!(
        served(&server, proxy, OutputKind::Xmltv).await,
        (republished, second)
    );

    worker.remove(proxy).await.unwrap();
    assert_eq!(
        server.current(proxy, OutputKind::Xmltv).await.unwrap(),
        None
    );
    a.proxies().delete(proxy).await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_database_output_of_a_deleted_proxy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&database_url(dir.path())).await.unwrap();
    let outputs = DatabaseOutputStore::new(&store, dir.path().join("cache")).unwrap();
    let proxy = ProxyId::new();
    let mut w = outputs.begin(proxy, OutputKind::M3u).await.unwrap();
    w.write(b"#EXTM3U\n").await.unwrap();
    assert!(w.commit().await.is_err());
    assert_eq!(outputs.current(proxy, OutputKind::M3u).await.unwrap(), None);
    store.close().await.unwrap();
}
