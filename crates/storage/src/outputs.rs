//! Published outputs: the [`OutputStore`]s a generation writes a proxy's playlist and guide to.
//!
//! - [`DirectoryOutputStore`] keeps them in a directory (`<data-dir>/outputs`): the one-box
//!   default, and processes that share the data directory.
//! - [`DatabaseOutputStore`] keeps them in the database (`published_outputs`,
//!   `published_output_chunks`), for workers on other machines: every process reaches the
//!   database, and each materialises a version once into a local cache directory to serve it.
//!
//! Both write the same way: the plain bytes and their gzip form go to temporary files as
//! chunks arrive, on the blocking pool (one chunk is written while the generator prepares the
//! next), with a blake3 hash of the plain content as the etag. A version's files are named by
//! their etag and never rewritten in place; a small record names the current version, and
//! replacing that record is the commit point. Readers therefore see the previous complete
//! output or the new one, never a mix of plain, gzip and metadata, never a half-written file.
//! Superseded versions are removed at the commit after the one that superseded them, so a
//! reader that has just been handed the previous files can still open them.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use sea_orm::{ConnectionTrait, Value};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tvarr_core::{
    OutputFiles, OutputKind, OutputStore, OutputWriter, ProxyId, PublishedOutput, RepoError,
    RepoResult,
};

use crate::db::{Db, now, to_i64, to_u64};
use crate::error::{corrupt, repo_err};

/// The gzip level: fast. Guides compress about tenfold even so, and a 250 MB guide must not
/// spend most of a generation in the compressor.
const GZIP_LEVEL: u32 = 1;

/// Bytes per stored chunk in the database (both encodings).
const DB_CHUNK: usize = 1024 * 1024;

/// The directory of temporary files under a store's root.
const TMP_DIR: &str = ".tmp";

fn io_err(what: &str, path: &Path, e: &io::Error) -> RepoError {
    RepoError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
}

fn join_err(e: &tokio::task::JoinError) -> RepoError {
    RepoError::Unavailable(format!("an output write task failed: {e}"))
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> RepoResult<T> + Send + 'static,
) -> RepoResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| join_err(&e))?
}

/// The prefix of temporary files of one output: `<proxy>-<kind>-`.
fn tmp_prefix(proxy: ProxyId, kind: OutputKind) -> String {
    format!("{proxy}-{}-", kind.as_str())
}

/// Removes the temporary files of `proxy`'s `kind` output left in `tmp` (by a killed process).
/// Generations of one proxy are coalesced, so none of them is being written now.
fn clean_leftovers(tmp: &Path, proxy: ProxyId, kind: OutputKind) -> RepoResult<()> {
    let prefix = tmp_prefix(proxy, kind);
    let entries = match std::fs::read_dir(tmp) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read", tmp, &e)),
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Creates `dir` and its parents.
fn create_dir(dir: &Path) -> RepoResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("create the directory", dir, &e))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> RepoResult<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("sync the directory", dir, &e))
}

/// Where one output is being written: its two temporary files, the hash, the lengths.
struct Sink {
    plain: io::BufWriter<std::fs::File>,
    gzip: GzEncoder<io::BufWriter<std::fs::File>>,
    hasher: blake3::Hasher,
    len: u64,
}

impl Sink {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.plain.write_all(chunk)?;
        self.gzip.write_all(chunk)?;
        self.len += chunk.len() as u64;
        Ok(())
    }
}

/// The temporary files of one write, removed when dropped unless handed on.
struct TempFiles {
    plain: PathBuf,
    gzip: PathBuf,
    armed: bool,
}

impl TempFiles {
    fn remove(&self) {
        let _ = std::fs::remove_file(&self.plain);
        let _ = std::fs::remove_file(&self.gzip);
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        let files = TempFiles {
            plain: std::mem::take(&mut self.plain),
            gzip: std::mem::take(&mut self.gzip),
            armed: false,
        };
        // Off the async threads when there are any.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || files.remove());
            }
            Err(_) => files.remove(),
        }
    }
}

/// What a finished write produced: complete, synced temporary files.
struct Written {
    files: TempFiles,
    etag: String,
    len: u64,
    gzip_len: u64,
}

/// Writes one output to temporary files, a chunk at a time on the blocking pool: each
/// [`FileWriter::write`] waits for the previous chunk, then hands this one over and returns.
struct FileWriter {
    sink: Option<Sink>,
    pending: Option<JoinHandle<(Sink, io::Result<()>)>>,
    files: TempFiles,
}

impl FileWriter {
    /// Creates the temporary files in `tmp`, after removing leftovers of the same output.
    async fn create(tmp: PathBuf, proxy: ProxyId, kind: OutputKind) -> RepoResult<Self> {
        blocking(move || {
            create_dir(&tmp)?;
            clean_leftovers(&tmp, proxy, kind)?;
            let stem = format!(
                "{}{}",
                tmp_prefix(proxy, kind),
                uuid::Uuid::now_v7().simple()
            );
            let files = TempFiles {
                plain: tmp.join(format!("{stem}.plain")),
                gzip: tmp.join(format!("{stem}.gz")),
                armed: true,
            };
            let open = |path: &Path| {
                std::fs::File::create(path)
                    .map(|f| io::BufWriter::with_capacity(256 * 1024, f))
                    .map_err(|e| io_err("create", path, &e))
            };
            let plain = open(&files.plain)?;
            let gzip = GzEncoder::new(open(&files.gzip)?, Compression::new(GZIP_LEVEL));
            Ok(Self {
                sink: Some(Sink {
                    plain,
                    gzip,
                    hasher: blake3::Hasher::new(),
                    len: 0,
                }),
                pending: None,
                files,
            })
        })
        .await
    }

    /// Waits for the chunk being written; its error, if it failed.
    async fn settle(&mut self) -> RepoResult<()> {
        if let Some(task) = self.pending.take() {
            let (sink, result) = task.await.map_err(|e| join_err(&e))?;
            self.sink = Some(sink);
            result.map_err(|e| io_err("write", &self.files.plain, &e))?;
        }
        Ok(())
    }

    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()> {
        self.settle().await?;
        let mut sink = self
            .sink
            .take()
            .ok_or_else(|| RepoError::Unavailable("the output writer failed earlier".into()))?;
        let chunk = chunk.to_vec();
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let result = sink.write(&chunk);
            (sink, result)
        }));
        Ok(())
    }

    /// Flushes and syncs both files.
    async fn finish(mut self) -> RepoResult<Written> {
        self.settle().await?;
        let sink = self
            .sink
            .take()
            .ok_or_else(|| RepoError::Unavailable("the output writer failed earlier".into()))?;
        let files = std::mem::replace(
            &mut self.files,
            TempFiles {
                plain: PathBuf::new(),
                gzip: PathBuf::new(),
                armed: false,
            },
        );
        blocking(move || {
            let Sink {
                plain,
                gzip,
                hasher,
                len,
            } = sink;
            let close = |w: io::BufWriter<std::fs::File>, path: &Path| {
                let file = w
                    .into_inner()
                    .map_err(|e| io_err("write", path, e.error()))?;
                file.sync_all().map_err(|e| io_err("sync", path, &e))?;
                file.metadata()
                    .map(|m| m.len())
                    .map_err(|e| io_err("read", path, &e))
            };
            close(plain, &files.plain)?;
            let gzip = gzip
                .finish()
                .map_err(|e| io_err("write", &files.gzip, &e))?;
            let gzip_len = close(gzip, &files.gzip)?;
            let etag = hasher.finalize().to_hex()[..32].to_owned();
            Ok(Written {
                files,
                etag,
                len,
                gzip_len,
            })
        })
        .await
    }

    async fn abort(mut self) -> RepoResult<()> {
        let _ = self.settle().await;
        self.files.armed = false;
        let files = TempFiles {
            plain: std::mem::take(&mut self.files.plain),
            gzip: std::mem::take(&mut self.files.gzip),
            armed: false,
        };
        blocking(move || {
            files.remove();
            Ok(())
        })
        .await
    }
}

/// The record that names a published version (the directory store's `<kind>.json`, and the
/// database store's cache record).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    /// The version's files are `<kind>-<version>.plain` and `.gz`.
    version: String,
    etag: String,
    modified: DateTime<Utc>,
    len: u64,
    gzip_len: u64,
}

impl Record {
    fn output(&self) -> PublishedOutput {
        PublishedOutput {
            etag: self.etag.clone(),
            modified: self.modified,
            len: self.len,
            gzip_len: self.gzip_len,
        }
    }

    fn files(&self, dir: &Path, kind: OutputKind) -> OutputFiles {
        let (plain, gzip) = version_paths(dir, kind, &self.version);
        OutputFiles {
            output: self.output(),
            plain,
            gzip,
        }
    }
}

fn version_paths(dir: &Path, kind: OutputKind, version: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{}-{version}.plain", kind.as_str())),
        dir.join(format!("{}-{version}.gz", kind.as_str())),
    )
}

fn record_path(dir: &Path, kind: OutputKind) -> PathBuf {
    dir.join(format!("{}.json", kind.as_str()))
}

/// Reads the record of `kind` in `dir`; `None` when there is none.
fn read_record(dir: &Path, kind: OutputKind) -> RepoResult<Option<Record>> {
    let path = record_path(dir, kind);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| corrupt("output record", &path.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", &path, &e)),
    }
}

/// Publishes `written` as version `record.version` of `kind` in `dir`: renames its files into
/// place, replaces the record (the commit point), then removes the versions older than the
/// one it superseded. `tmp` is on the same file system as `dir`.
fn install(dir: &Path, kind: OutputKind, written: Written, record: &Record) -> RepoResult<()> {
    let Written { mut files, .. } = written;
    let result = install_files(dir, kind, &files, record);
    // Renamed into place, or failed: either way no temporary file stays (already on the
    // blocking pool, so removed here rather than by the guard's task).
    files.armed = false;
    files.remove();
    result
}

fn install_files(
    dir: &Path,
    kind: OutputKind,
    files: &TempFiles,
    record: &Record,
) -> RepoResult<()> {
    create_dir(dir)?;
    let previous = read_record(dir, kind).ok().flatten();
    let (plain, gzip) = version_paths(dir, kind, &record.version);
    std::fs::rename(&files.plain, &plain).map_err(|e| io_err("publish", &plain, &e))?;
    if let Err(e) = std::fs::rename(&files.gzip, &gzip) {
        if previous
            .as_ref()
            .is_none_or(|p| p.version != record.version)
        {
            let _ = std::fs::remove_file(&plain);
        }
        return Err(io_err("publish", &gzip, &e));
    }
    let json = serde_json::to_vec(record)
        .map_err(|e| RepoError::Unavailable(format!("cannot encode the output record: {e}")))?;
    let path = record_path(dir, kind);
    let tmp = dir.join(format!(
        ".{}-{}.json.tmp",
        kind.as_str(),
        uuid::Uuid::now_v7().simple()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&json)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("publish", &path, &e));
    }
    sync_dir(dir)?;
    remove_superseded(
        dir,
        kind,
        &[
            Some(record.version.as_str()),
            previous.as_ref().map(|p| p.version.as_str()),
        ],
    );
    Ok(())
}

/// Removes the version files of `kind` in `dir` but those of `keep`.
fn remove_superseded(dir: &Path, kind: OutputKind, keep: &[Option<&str>]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{}-", kind.as_str());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(version) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".plain").or(rest.strip_suffix(".gz")))
        else {
            continue;
        };
        if !keep.iter().flatten().any(|k| *k == version) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

// ---------------------------------------------------------------- the directory store

/// Outputs in a directory: `<root>/<proxy>/<kind>-<etag>.plain` and `.gz`, and
/// `<root>/<proxy>/<kind>.json` naming the current version (replaced by rename: the commit
/// point). Temporary files are in `<root>/.tmp`, on the same file system.
#[derive(Clone, Debug)]
pub struct DirectoryOutputStore {
    root: PathBuf,
}

impl DirectoryOutputStore {
    /// A store in `root`, created if missing. Fails with the reason when it cannot be created.
    pub fn new(root: impl Into<PathBuf>) -> RepoResult<Self> {
        let root = root.into();
        create_dir(&root)?;
        Ok(Self { root })
    }

    fn proxy_dir(&self, proxy: ProxyId) -> PathBuf {
        self.root.join(proxy.to_string())
    }
}

/// A write to a [`DirectoryOutputStore`].
struct DirectoryWriter {
    file: FileWriter,
    dir: PathBuf,
    kind: OutputKind,
}

#[async_trait]
impl OutputWriter for DirectoryWriter {
    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()> {
        self.file.write(chunk).await
    }

    async fn commit(self: Box<Self>) -> RepoResult<PublishedOutput> {
        let Self { file, dir, kind } = *self;
        let written = file.finish().await?;
        let record = Record {
            version: written.etag.clone(),
            etag: written.etag.clone(),
            modified: now(),
            len: written.len,
            gzip_len: written.gzip_len,
        };
        let output = record.output();
        blocking(move || install(&dir, kind, written, &record)).await?;
        Ok(output)
    }

    async fn abort(self: Box<Self>) -> RepoResult<()> {
        self.file.abort().await
    }
}

#[async_trait]
impl OutputStore for DirectoryOutputStore {
    async fn begin(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Box<dyn OutputWriter>> {
        let file = FileWriter::create(self.root.join(TMP_DIR), proxy, kind).await?;
        Ok(Box::new(DirectoryWriter {
            file,
            dir: self.proxy_dir(proxy),
            kind,
        }))
    }

    async fn current(
        &self,
        proxy: ProxyId,
        kind: OutputKind,
    ) -> RepoResult<Option<PublishedOutput>> {
        let dir = self.proxy_dir(proxy);
        let record = blocking(move || read_record(&dir, kind)).await?;
        Ok(record.map(|r| r.output()))
    }

    async fn files(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Option<OutputFiles>> {
        let dir = self.proxy_dir(proxy);
        blocking(move || Ok(read_record(&dir, kind)?.map(|r| r.files(&dir, kind)))).await
    }

    async fn remove(&self, proxy: ProxyId) -> RepoResult<()> {
        let dir = self.proxy_dir(proxy);
        blocking(move || match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &dir, &e)),
        })
        .await
    }
}

// ---------------------------------------------------------------- the database store

/// Outputs in the database, for processes that share no directory.
///
/// A commit stores the version's bytes as 1 MiB chunks of both encodings in
/// `published_output_chunks`, each in a statement of its own, then points the
/// `published_outputs` row of the proxy and kind at the version in one short transaction
/// (the commit point), then deletes the older versions' chunks. [`OutputStore::files`]
/// materialises the current version once into `<cache_dir>/<proxy>/`, chunk by chunk (memory
/// stays at one chunk), as the directory store lays it out; the process that published a
/// version moves its own temporary files there instead of reading them back.
#[derive(Clone, Debug)]
pub struct DatabaseOutputStore {
    db: Db,
    cache: PathBuf,
    /// Serialises materialisations in this process, so one version is fetched once.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

impl DatabaseOutputStore {
    /// A store on `store`'s database, caching files in `cache_dir` (created if missing).
    pub fn new(store: &crate::Store, cache_dir: impl Into<PathBuf>) -> RepoResult<Self> {
        let cache = cache_dir.into();
        create_dir(&cache)?;
        Ok(Self {
            db: store.db().clone(),
            cache,
            fetching: Arc::default(),
        })
    }

    fn proxy_dir(&self, proxy: ProxyId) -> PathBuf {
        self.cache.join(proxy.to_string())
    }

    /// The published row of `proxy`'s `kind` output.
    async fn published(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Option<Record>> {
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(
                "SELECT version, etag, modified_at, len, gzip_len FROM published_outputs \
                 WHERE proxy_id = ? AND kind = ?",
                vec![proxy.to_string().into(), kind.as_str().into()],
            ))
            .await
            .map_err(repo_err)?;
        row.map(|row| {
            Ok(Record {
                version: row.try_get("", "version")?,
                etag: row.try_get("", "etag")?,
                modified: row.try_get("", "modified_at")?,
                len: to_u64(row.try_get("", "len")?),
                gzip_len: to_u64(row.try_get("", "gzip_len")?),
            })
        })
        .transpose()
        .map_err(repo_err)
    }

    /// Copies version `record` of `kind` from the database into `dir`.
    async fn materialise(&self, dir: &Path, kind: OutputKind, record: &Record) -> RepoResult<()> {
        let (plain, gzip) = version_paths(dir, kind, &record.version);
        for (encoding, target) in [("plain", plain), ("gzip", gzip)] {
            let tmp = dir.join(format!(
                ".{}-{}.fetch",
                kind.as_str(),
                uuid::Uuid::now_v7().simple()
            ));
            let file = {
                let tmp = tmp.clone();
                let dir = dir.to_owned();
                blocking(move || {
                    create_dir(&dir)?;
                    std::fs::File::create(&tmp).map_err(|e| io_err("create", &tmp, &e))
                })
                .await?
            };
            let mut guard = TempFiles {
                plain: tmp.clone(),
                gzip: PathBuf::new(),
                armed: true,
            };
            let mut file = Some(file);
            for seq in 0.. {
                let row = self
                    .db
                    .conn
                    .query_one_raw(self.db.stmt(
                        "SELECT data FROM published_output_chunks \
                         WHERE version = ? AND encoding = ? AND seq = ?",
                        vec![
                            record.version.as_str().into(),
                            encoding.into(),
                            Value::from(seq),
                        ],
                    ))
                    .await
                    .map_err(repo_err)?;
                let Some(row) = row else { break };
                let data: Vec<u8> = row.try_get("", "data").map_err(repo_err)?;
                let mut f = file.take().ok_or_else(|| {
                    RepoError::Unavailable("the output cache file was lost".into())
                })?;
                let path = tmp.clone();
                file = Some(
                    blocking(move || {
                        f.write_all(&data).map_err(|e| io_err("write", &path, &e))?;
                        Ok(f)
                    })
                    .await?,
                );
            }
            let f = file
                .ok_or_else(|| RepoError::Unavailable("the output cache file was lost".into()))?;
            let expected = if encoding == "plain" {
                record.len
            } else {
                record.gzip_len
            };
            blocking(move || {
                f.sync_all().map_err(|e| io_err("sync", &tmp, &e))?;
                let len = f.metadata().map_err(|e| io_err("read", &tmp, &e))?.len();
                if len != expected {
                    return Err(RepoError::Unavailable(format!(
                        "the published output is incomplete ({len} of {expected} bytes); it was \
                         probably replaced while it was read"
                    )));
                }
                std::fs::rename(&tmp, &target).map_err(|e| io_err("write", &target, &e))
            })
            .await?;
            guard.armed = false;
        }
        Ok(())
    }
}

/// A write to a [`DatabaseOutputStore`].
struct DatabaseWriter {
    store: DatabaseOutputStore,
    file: FileWriter,
    proxy: ProxyId,
    kind: OutputKind,
}

/// One output of one proxy in the database.
#[derive(Clone, Copy)]
struct Key {
    proxy: ProxyId,
    kind: OutputKind,
}

impl Key {
    /// Stores the file at `path` as chunks of `version`'s `encoding`.
    async fn upload(self, db: &Db, path: &Path, version: &str, encoding: &str) -> RepoResult<()> {
        let sql = "INSERT INTO published_output_chunks (version, encoding, seq, proxy_id, kind, data) \
                   VALUES (?, ?, ?, ?, ?, ?)";
        let file = {
            let path = path.to_owned();
            blocking(move || std::fs::File::open(&path).map_err(|e| io_err("read", &path, &e)))
                .await?
        };
        let mut file = Some(file);
        for seq in 0i32.. {
            let mut f = file
                .take()
                .ok_or_else(|| RepoError::Unavailable("the output file was lost".into()))?;
            let p = path.to_owned();
            let (f, data) = blocking(move || {
                let mut data = Vec::with_capacity(DB_CHUNK);
                (&mut f)
                    .take(DB_CHUNK as u64)
                    .read_to_end(&mut data)
                    .map_err(|e| io_err("read", &p, &e))?;
                Ok((f, data))
            })
            .await?;
            if data.is_empty() {
                return Ok(());
            }
            file = Some(f);
            db.conn
                .execute_raw(db.stmt(
                    sql,
                    vec![
                        version.into(),
                        encoding.into(),
                        seq.into(),
                        self.proxy.to_string().into(),
                        self.kind.as_str().into(),
                        data.into(),
                    ],
                ))
                .await
                .map_err(repo_err)?;
        }
        Ok(())
    }

    /// Deletes the chunks of this output but those of the versions `keep`.
    async fn delete_chunks_except(self, db: &Db, keep: &[&str]) -> RepoResult<()> {
        let mut sql =
            String::from("DELETE FROM published_output_chunks WHERE proxy_id = ? AND kind = ?");
        let mut values: Vec<Value> = vec![self.proxy.to_string().into(), self.kind.as_str().into()];
        for version in keep {
            sql.push_str(" AND version <> ?");
            values.push((*version).into());
        }
        db.conn
            .execute_raw(db.stmt(&sql, values))
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}

#[async_trait]
impl OutputWriter for DatabaseWriter {
    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()> {
        self.file.write(chunk).await
    }

    async fn commit(self: Box<Self>) -> RepoResult<PublishedOutput> {
        let Self {
            store,
            file,
            proxy,
            kind,
        } = *self;
        let written = file.finish().await?;
        let key = Key { proxy, kind };
        let db = &store.db;
        let record = Record {
            version: uuid::Uuid::now_v7().to_string(),
            etag: written.etag.clone(),
            modified: now(),
            len: written.len,
            gzip_len: written.gzip_len,
        };
        let previous = store.published(proxy, kind).await?;
        let uploaded = async {
            key.upload(db, &written.files.plain, &record.version, "plain")
                .await?;
            key.upload(db, &written.files.gzip, &record.version, "gzip")
                .await?;
            let tx = db.begin_write().await?;
            tx.execute_raw(db.stmt(
                "DELETE FROM published_outputs WHERE proxy_id = ? AND kind = ?",
                vec![proxy.to_string().into(), kind.as_str().into()],
            ))
            .await
            .map_err(repo_err)?;
            tx.execute_raw(db.stmt(
                "INSERT INTO published_outputs (proxy_id, kind, version, etag, modified_at, len, gzip_len) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                vec![
                    proxy.to_string().into(),
                    kind.as_str().into(),
                    record.version.as_str().into(),
                    record.etag.as_str().into(),
                    db.time_value(record.modified),
                    to_i64(record.len).into(),
                    to_i64(record.gzip_len).into(),
                ],
            ))
            .await
            .map_err(repo_err)?;
            tx.commit().await.map_err(repo_err)
        }
        .await;
        if let Err(e) = uploaded {
            // The chunks of a version no row names are never read; remove them now.
            let keep: Vec<&str> = previous.iter().map(|p| p.version.as_str()).collect();
            let _ = key.delete_chunks_except(db, &keep).await;
            return Err(e);
        }
        // Readers fetch the new version from now on; the one superseded by it stays in the
        // database a commit longer for readers that are fetching it.
        let mut keep = vec![record.version.as_str()];
        if let Some(p) = &previous {
            keep.push(p.version.as_str());
        }
        key.delete_chunks_except(db, &keep).await?;
        // This process serves its own files without fetching them.
        let dir = store.proxy_dir(proxy);
        let cached = record.clone();
        let _ = blocking(move || install(&dir, kind, written, &cached)).await;
        Ok(record.output())
    }

    async fn abort(self: Box<Self>) -> RepoResult<()> {
        self.file.abort().await
    }
}

#[async_trait]
impl OutputStore for DatabaseOutputStore {
    async fn begin(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Box<dyn OutputWriter>> {
        let file = FileWriter::create(self.cache.join(TMP_DIR), proxy, kind).await?;
        // Chunks of a version no row names: left by a process killed while committing.
        let current = self.published(proxy, kind).await?;
        let keep: Vec<&str> = current.iter().map(|c| c.version.as_str()).collect();
        Key { proxy, kind }
            .delete_chunks_except(&self.db, &keep)
            .await?;
        Ok(Box::new(DatabaseWriter {
            store: self.clone(),
            file,
            proxy,
            kind,
        }))
    }

    async fn current(
        &self,
        proxy: ProxyId,
        kind: OutputKind,
    ) -> RepoResult<Option<PublishedOutput>> {
        Ok(self.published(proxy, kind).await?.map(|r| r.output()))
    }

    async fn files(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Option<OutputFiles>> {
        let Some(record) = self.published(proxy, kind).await? else {
            return Ok(None);
        };
        let dir = self.proxy_dir(proxy);
        let cached = {
            let dir = dir.clone();
            blocking(move || read_record(&dir, kind)).await?
        };
        if cached.as_ref().is_some_and(|c| c.version == record.version) {
            return Ok(Some(record.files(&dir, kind)));
        }
        let _fetching = self.fetching.lock().await;
        // Another task may have fetched it while this one waited.
        let cached = {
            let dir = dir.clone();
            blocking(move || read_record(&dir, kind)).await?
        };
        if cached.as_ref().is_some_and(|c| c.version == record.version) {
            return Ok(Some(record.files(&dir, kind)));
        }
        self.materialise(&dir, kind, &record).await?;
        let previous = cached.map(|c| c.version);
        let files = record.files(&dir, kind);
        let r = record.clone();
        blocking(move || {
            let json = serde_json::to_vec(&r).map_err(|e| {
                RepoError::Unavailable(format!("cannot encode the output record: {e}"))
            })?;
            let path = record_path(&dir, kind);
            let tmp = dir.join(format!(
                ".{}-{}.json.tmp",
                kind.as_str(),
                uuid::Uuid::now_v7().simple()
            ));
            std::fs::write(&tmp, json)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    io_err("write", &path, &e)
                })?;
            remove_superseded(&dir, kind, &[Some(r.version.as_str()), previous.as_deref()]);
            Ok(())
        })
        .await?;
        Ok(Some(files))
    }

    async fn remove(&self, proxy: ProxyId) -> RepoResult<()> {
        let id = proxy.to_string();
        for table in ["published_outputs", "published_output_chunks"] {
            self.db
                .conn
                .execute_raw(self.db.stmt(
                    &format!("DELETE FROM {table} WHERE proxy_id = ?"),
                    vec![id.as_str().into()],
                ))
                .await
                .map_err(repo_err)?;
        }
        let dir = self.proxy_dir(proxy);
        blocking(move || match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &dir, &e)),
        })
        .await
    }
}
