//! The edge's encrypted on-disk copy of the config it serves.
//!
//! The cache lets an edge restart and serve while the control plane is down.
//! It holds upstream secrets (static headers), so it is sealed with
//! AES-256-GCM under a key derived from the node token; a file written for one
//! node token can't be read with another.
//!
//! File format, version 2:
//!
//! ```text
//! "GHEC" | 0x02 | nonce (12 bytes) | AES-256-GCM(written at | protobuf Snapshot) with its 16-byte tag
//! ```
//!
//! `written at` is the Unix time in seconds (u64, little-endian) at which the edge
//! knew the content to be current, sealed with it. The 5-byte header is
//! authenticated as associated data. Files are replaced
//! atomically (temporary file in the same directory, fsync, rename) and are
//! readable by the owner only.
//!
//! Between two such snapshots, config changes are appended to a journal beside
//! the file (`<file>.journal`), so a change costs its own size on disk, not the
//! whole config's:
//!
//! ```text
//! record: length (u32, little-endian) | nonce (12 bytes) | AES-256-GCM(written at | protobuf Delta) with its tag
//! ```
//!
//! Each record is sealed like the snapshot, with `"GHEJ" | 0x02` as associated
//! data. Loading replays the records that continue the snapshot's version, in
//! order, and stops at the first one that does not (or a torn last write). The
//! snapshot is rewritten, and the journal emptied, once the journal outgrows
//! half of it.
//!
//! A sealed file can still be stale: an old copy put back revives tokens revoked
//! since, for as long as the control plane stays away. So a cache older than its
//! maximum age (`GATEHOUSE_EDGE_CACHE_MAX_AGE`, default 24 h; the age is that of
//! the newest snapshot or journal record, by its sealed time) is refused, and while
//! the config stream is up and nothing changes, the writer rewrites the snapshot
//! every quarter of that age (at most hourly) so a current cache never looks old.
//! Files of format 1 carry no time and are not loaded.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use gatehouse_proto::config::v1 as pb;
use hkdf::Hkdf;
use prost::Message as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::config::DEFAULT_CACHE_MAX_AGE;
use crate::config_view::ConfigView;
use crate::state::EdgeState;

const MAGIC: &[u8; 4] = b"GHEC";
const FORMAT_V2: u8 = 2;
const HEADER_LEN: usize = MAGIC.len() + 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"gatehouse edge config cache v1";
const JOURNAL_AAD: &[u8] = b"GHEJ\x02";
const STAMP_LEN: usize = 8;
/// How far in the future a sealed time may lie (clock steps between edges' restarts).
const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// The journal is folded into a new snapshot once it is larger than this share
/// of the snapshot (or this floor), so replaying it never costs more than
/// reading the snapshot again.
const JOURNAL_FLOOR_BYTES: u64 = 64 * 1024;

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file system refused a read or write.
    #[error("cannot access {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    /// The file does not start with the cache header.
    #[error("not a gatehouse config cache file")]
    NotACache,
    /// The file was written by a newer (or unknown) format.
    #[error("unsupported config cache format version {0}")]
    UnsupportedFormat(u8),
    /// Wrong node token, or the file was modified.
    #[error("cannot decrypt the config cache (different node token, or the file was modified)")]
    Decrypt,
    /// Encryption failed (only possible for absurdly large configs).
    #[error("cannot encrypt the config cache")]
    Encrypt,
    /// The newest content is older than the maximum age.
    #[error("config cache is {age_secs} s old, more than the maximum of {max_age_secs} s (GATEHOUSE_EDGE_CACHE_MAX_AGE)")]
    TooOld {
        /// Seconds since the newest content was known current.
        age_secs: u64,
        /// The maximum age in seconds.
        max_age_secs: u64,
    },
    /// The sealed write time lies in the future.
    #[error("config cache claims to be written in the future")]
    FromTheFuture,
    /// The decrypted bytes are not a snapshot.
    #[error("decrypted config cache is not a valid snapshot: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The blocking task doing the work panicked or was cancelled.
    #[error("config cache task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The AES-256-GCM key protecting the cache, derived from the node token.
pub struct CacheKey(Zeroizing<[u8; 32]>);

impl CacheKey {
    /// Derives the key with HKDF-SHA256 from the node token.
    pub fn derive(node_token: &SecretString) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, node_token.expose_secret().as_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
        hkdf.expand(HKDF_INFO, key.as_mut()).expect("32 bytes is a valid HKDF-SHA256 output length");
        Self(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Encrypts `snapshot`, current now, into the cache file format.
pub fn seal(key: &CacheKey, snapshot: &pb::Snapshot) -> Result<Vec<u8>, CacheError> {
    seal_at(key, snapshot, now_unix())
}

/// Encrypts `snapshot`, known current at Unix time `written_at`, into the cache file format.
pub fn seal_at(key: &CacheKey, snapshot: &pb::Snapshot, written_at: u64) -> Result<Vec<u8>, CacheError> {
    let header = header();
    let mut out = header.to_vec();
    seal_into(key, &stamped(written_at, snapshot), &header, &mut out)?;
    Ok(out)
}

/// `written_at` (little-endian) followed by the message's encoding.
fn stamped(written_at: u64, message: &impl prost::Message) -> Vec<u8> {
    let mut plaintext = written_at.to_le_bytes().to_vec();
    message.encode(&mut plaintext).expect("a Vec grows as needed");
    plaintext
}

/// Splits a stamped plaintext into its time and message bytes.
fn unstamp(plaintext: &[u8]) -> Option<(u64, &[u8])> {
    let (stamp, message) = plaintext.split_at_checked(STAMP_LEN)?;
    Some((u64::from_le_bytes(stamp.try_into().ok()?), message))
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Appends `nonce | AES-256-GCM(plaintext)` to `out`, the plaintext zeroised after.
fn seal_into(key: &CacheKey, plaintext: &[u8], aad: &[u8], out: &mut Vec<u8>) -> Result<(), CacheError> {
    let plaintext = Zeroizing::new(plaintext.to_vec());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plaintext, aad })
        .map_err(|_| CacheError::Encrypt)?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(())
}

/// One sealed journal record for `delta`, current now, length prefix included.
fn seal_record(key: &CacheKey, delta: &pb::Delta) -> Result<Vec<u8>, CacheError> {
    let mut sealed = Vec::new();
    seal_into(key, &stamped(now_unix(), delta), JOURNAL_AAD, &mut sealed)?;
    let len = u32::try_from(sealed.len()).map_err(|_| CacheError::Encrypt)?;
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The deltas of a journal with their write times, in order, up to the first record
/// that is torn or does not open.
fn open_journal(key: &CacheKey, mut bytes: &[u8]) -> Vec<(u64, pb::Delta)> {
    let mut deltas = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let Some(record) = bytes.get(4..4 + len) else { break };
        if record.len() < NONCE_LEN + TAG_LEN {
            break;
        }
        let (nonce, ciphertext) = record.split_at(NONCE_LEN);
        let Ok(plaintext) = key
            .cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: JOURNAL_AAD })
            .map(Zeroizing::new)
        else {
            break;
        };
        let Some((written_at, message)) = unstamp(&plaintext) else { break };
        let Ok(delta) = pb::Delta::decode(message) else { break };
        deltas.push((written_at, delta));
        bytes = &bytes[4 + len..];
    }
    deltas
}

/// Decrypts and decodes a cache file's bytes.
pub fn open(key: &CacheKey, bytes: &[u8]) -> Result<pb::Snapshot, CacheError> {
    open_stamped(key, bytes).map(|(_, snapshot)| snapshot)
}

/// Decrypts and decodes a cache file's bytes, with the time they were known current.
pub fn open_stamped(key: &CacheKey, bytes: &[u8]) -> Result<(u64, pb::Snapshot), CacheError> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CacheError::NotACache);
    }
    let format = bytes[MAGIC.len()];
    if format != FORMAT_V2 {
        return Err(CacheError::UnsupportedFormat(format));
    }
    let rest = &bytes[HEADER_LEN..];
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CacheError::Decrypt);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let plaintext = key
        .cipher()
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &bytes[..HEADER_LEN] })
        .map(Zeroizing::new)
        .map_err(|_| CacheError::Decrypt)?;
    let (written_at, message) = unstamp(&plaintext).ok_or(CacheError::Decrypt)?;
    Ok((written_at, pb::Snapshot::decode(message)?))
}

fn header() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..MAGIC.len()].copy_from_slice(MAGIC);
    header[MAGIC.len()] = FORMAT_V2;
    header
}

/// The cache file of one edge: where it lives and the key sealing it.
#[derive(Debug, Clone)]
pub struct ConfigCache {
    path: PathBuf,
    key: Arc<CacheKey>,
    max_age: Duration,
}

impl ConfigCache {
    /// A cache at `path`, sealed with a key derived from `node_token`.
    pub fn new(path: PathBuf, node_token: &SecretString) -> Self {
        Self { path, key: Arc::new(CacheKey::derive(node_token)), max_age: DEFAULT_CACHE_MAX_AGE }
    }

    /// Refuses to load content older than `max_age` (default [`DEFAULT_CACHE_MAX_AGE`]).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The cache file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal of changes since the snapshot file.
    fn journal_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".journal");
        self.path.with_file_name(name)
    }

    fn io(&self, error: io::Error) -> CacheError {
        CacheError::Io { path: self.path.clone(), error }
    }

    /// Reads the cached config (the snapshot, then the journal's changes that
    /// continue it); `Ok(None)` when there is no cache file yet. Content older
    /// than the maximum age, or sealed with a time in the future, is an error.
    pub async fn load(&self) -> Result<Option<ConfigView>, CacheError> {
        let cache = self.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = match fs::read(&cache.path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(cache.io(error)),
            };
            let (mut written_at, snapshot) = open_stamped(&cache.key, &bytes)?;
            let mut view = ConfigView::from_snapshot(snapshot);
            let journal = match fs::read(cache.journal_path()) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(error) => return Err(cache.io(error)),
            };
            for (record_at, delta) in open_journal(&cache.key, &journal) {
                // Records the snapshot already holds (written before it) are skipped.
                if delta.version <= view.version() {
                    continue;
                }
                match view.apply(delta) {
                    Ok(next) => view = next,
                    Err(_) => break,
                }
                written_at = written_at.max(record_at);
            }
            let now = now_unix();
            if written_at > now + MAX_CLOCK_SKEW_SECS {
                return Err(CacheError::FromTheFuture);
            }
            let age_secs = now.saturating_sub(written_at);
            if age_secs > cache.max_age.as_secs() {
                return Err(CacheError::TooOld { age_secs, max_age_secs: cache.max_age.as_secs() });
            }
            Ok(Some(view))
        })
        .await?
    }

    /// Encrypts `view`, atomically replaces the cache file with it and empties
    /// the journal. Returns the file's size.
    pub async fn store(&self, view: Arc<ConfigView>) -> Result<u64, CacheError> {
        let cache = self.clone();
        tokio::task::spawn_blocking(move || {
            let sealed = seal(&cache.key, &view.to_snapshot())?;
            write_atomically(&cache.path, &sealed).map_err(|e| cache.io(e))?;
            match fs::remove_file(cache.journal_path()) {
                Ok(()) => sync_dir(cache.path.parent().unwrap_or(Path::new("."))),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(cache.io(error)),
            }
            Ok(sealed.len() as u64)
        })
        .await?
    }

    /// Appends the changes from `from` to `to` to the journal. Returns the bytes appended.
    pub async fn append(&self, from: Arc<ConfigView>, to: Arc<ConfigView>) -> Result<u64, CacheError> {
        let cache = self.clone();
        tokio::task::spawn_blocking(move || {
            let record = seal_record(&cache.key, &to.delta_since(&from))?;
            let mut file = open_journal_for_append(&cache.journal_path()).map_err(|e| cache.io(e))?;
            file.write_all(&record).map_err(|e| cache.io(e))?;
            file.sync_data().map_err(|e| cache.io(e))?;
            Ok(record.len() as u64)
        })
        .await?
    }
}

/// Least time between two cache writes: a burst of config changes (say, a
/// thousand tokens minted in a second) costs a few journal records, not one
/// per change. The cache only matters when an edge restarts without the
/// control plane, and a fresh subscription resynchronises anyway.
const MIN_WRITE_INTERVAL: Duration = Duration::from_millis(250);

/// Spawns the task that persists every config sent on `updates`.
///
/// Writes happen off the request path, at most one per [`MIN_WRITE_INTERVAL`];
/// updates in between coalesce into one journal record of their combined
/// changes. The whole view is written only first, after an older version
/// arrives, when the journal has outgrown half of the snapshot, and when the
/// config stream is up (`state`) but nothing was written for a quarter of the
/// maximum age (at most an hour), so the sealed time stays recent. The task
/// writes the last unseen view and ends once every sender is dropped.
pub fn spawn_writer(
    cache: ConfigCache,
    state: Arc<EdgeState>,
    mut updates: watch::Receiver<Arc<ConfigView>>,
) -> JoinHandle<()> {
    let refresh = (cache.max_age / 4).clamp(MIN_WRITE_INTERVAL, Duration::from_secs(3600));
    tokio::spawn(async move {
        // What the files hold: the last view written, the snapshot's and the journal's sizes.
        let mut written: Option<Arc<ConfigView>> = None;
        let (mut snapshot_bytes, mut journal_bytes) = (0u64, 0u64);
        let mut last_write = tokio::time::Instant::now();
        let mut check = tokio::time::interval(refresh.min(Duration::from_secs(60)));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let view = tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    updates.borrow_and_update().clone()
                }
                _ = check.tick() => match written.take() {
                    // Still current (the stream is up): rewritten below as a whole snapshot.
                    Some(view) if state.is_connected() && last_write.elapsed() >= refresh => view,
                    other => {
                        written = other;
                        continue;
                    }
                },
            };
            let version = view.version();
            let outcome = match &written {
                Some(last) if version == last.version() => Ok(()),
                Some(last)
                    if version > last.version()
                        && journal_bytes <= (snapshot_bytes / 2).max(JOURNAL_FLOOR_BYTES) =>
                {
                    cache.append(last.clone(), view.clone()).await.map(|n| journal_bytes += n)
                }
                _ => cache.store(view.clone()).await.map(|n| (snapshot_bytes, journal_bytes) = (n, 0)),
            };
            match outcome {
                Ok(()) => {
                    tracing::debug!(version, journal_bytes, path = %cache.path().display(), "config cache written");
                    written = Some(view);
                    last_write = tokio::time::Instant::now();
                }
                Err(err) => {
                    tracing::warn!(version, path = %cache.path().display(), %err, "cannot write the config cache");
                    // Start over with a whole snapshot: the journal may be torn.
                    written = None;
                }
            }
            tokio::time::sleep(MIN_WRITE_INTERVAL).await;
        }
    })
}

/// Opens the journal to append to (created private when missing).
fn open_journal_for_append(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces `path` with `bytes` so a reader sees the old or the new file, never a torn one.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "cache path has no file name"))?;
    create_private_dir(dir)?;
    let tmp = dir.join(format!(".{}.{:016x}.tmp", name.to_string_lossy(), rand::random::<u64>()));
    let written = (|| {
        let mut file = create_private_file(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Makes the rename durable; best effort, as not every platform can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Bearer upstream-secret-4f2a9c";

    fn token(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn snapshot(version: u64) -> pb::Snapshot {
        let server = pb::Server {
            id: "srv".into(),
            org_id: "org".into(),
            slug: "github".into(),
            url: "http://127.0.0.1:9/mcp".into(),
            auth_type: "headers".into(),
            headers: [("authorization".to_owned(), SECRET.to_owned())].into(),
            ..Default::default()
        };
        pb::Snapshot { version, state: Some(pb::ConfigState { servers: vec![server], ..Default::default() }) }
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = CacheKey::derive(&token("node-token-a"));
        let sealed = seal(&key, &snapshot(7)).unwrap();
        assert_eq!(open(&key, &sealed).unwrap(), snapshot(7));
    }

    #[test]
    fn sealed_bytes_hide_the_secret_and_use_fresh_nonces() {
        let key = CacheKey::derive(&token("node-token-a"));
        let a = seal(&key, &snapshot(7)).unwrap();
        let b = seal(&key, &snapshot(7)).unwrap();
        assert_ne!(a, b, "each write uses a fresh nonce");
        for sealed in [&a, &b] {
            assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
            assert_eq!(&sealed[..HEADER_LEN], b"GHEC\x02");
        }
    }

    #[test]
    fn wrong_node_token_cannot_open() {
        let sealed = seal(&CacheKey::derive(&token("node-token-a")), &snapshot(7)).unwrap();
        let err = open(&CacheKey::derive(&token("node-token-b")), &sealed).unwrap_err();
        assert!(matches!(err, CacheError::Decrypt), "{err}");
    }

    #[test]
    fn corruption_is_detected() {
        let key = CacheKey::derive(&token("node-token-a"));
        let sealed = seal(&key, &snapshot(7)).unwrap();

        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(open(&key, &flipped), Err(CacheError::Decrypt)));

        let mut newer = sealed.clone();
        newer[MAGIC.len()] = 3;
        assert!(matches!(open(&key, &newer), Err(CacheError::UnsupportedFormat(3))));
        // Format 1 carried no write time: its age cannot be known, so it is not loaded.
        let mut older = sealed.clone();
        older[MAGIC.len()] = 1;
        assert!(matches!(open(&key, &older), Err(CacheError::UnsupportedFormat(1))));

        assert!(matches!(open(&key, &sealed[..HEADER_LEN + 3]), Err(CacheError::Decrypt)));
        assert!(matches!(open(&key, b"GHE"), Err(CacheError::NotACache)));
        assert!(matches!(open(&key, b"{\"version\": 7}"), Err(CacheError::NotACache)));
    }

    #[tokio::test]
    async fn store_then_load_round_trips_with_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("edge-config.bin");
        let cache = ConfigCache::new(path.clone(), &token("node-token-a"));
        assert!(cache.load().await.unwrap().is_none(), "no file yet");

        cache.store(Arc::new(ConfigView::from_snapshot(snapshot(3)))).await.unwrap();
        cache.store(Arc::new(ConfigView::from_snapshot(snapshot(4)))).await.unwrap();
        let view = cache.load().await.unwrap().unwrap();
        assert_eq!(view.version(), 4);
        assert!(view.server("org", "github").is_some());

        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary files are renamed away");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn unreadable_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge-config.bin");
        fs::write(&path, b"definitely not a cache").unwrap();
        let cache = ConfigCache::new(path.clone(), &token("node-token-a"));
        assert!(matches!(cache.load().await, Err(CacheError::NotACache)));

        ConfigCache::new(path.clone(), &token("node-token-b"))
            .store(Arc::new(ConfigView::from_snapshot(snapshot(3))))
            .await
            .unwrap();
        assert!(matches!(cache.load().await, Err(CacheError::Decrypt)));
    }

    fn token_change(id: &str) -> pb::Change {
        pb::Change {
            kind: Some(pb::change::Kind::UpsertToken(pb::GatewayToken {
                id: id.into(),
                org_id: "org".into(),
                token_hash: gatehouse_config::token_hash::hash_token(id).to_vec(),
                workspace_id: "ws".into(),
                ..Default::default()
            })),
        }
    }

    #[tokio::test]
    async fn changes_go_to_the_journal_and_replay_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge-config.bin");
        let cache = ConfigCache::new(path.clone(), &token("node-token-a"));
        let v3 = Arc::new(ConfigView::from_snapshot(snapshot(3)));
        let v4 = Arc::new(
            v3.apply(pb::Delta { from_version: 3, version: 4, changes: vec![token_change("t1")] }).unwrap(),
        );
        let v6 = Arc::new(
            v4.apply(pb::Delta { from_version: 4, version: 6, changes: vec![token_change("t2")] }).unwrap(),
        );
        cache.store(v3.clone()).await.unwrap();
        let snapshot_file = fs::read(&path).unwrap();
        let appended = cache.append(v3.clone(), v4.clone()).await.unwrap();
        cache.append(v4.clone(), v6.clone()).await.unwrap();
        assert!(appended < 200, "a record holds the change, not the config: {appended} bytes");
        assert_eq!(fs::read(&path).unwrap(), snapshot_file, "the snapshot is not rewritten");
        let journal = fs::read(cache.journal_path()).unwrap();
        assert!(!journal.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));

        let loaded = cache.load().await.unwrap().unwrap();
        assert_eq!(loaded.version(), 6);
        assert!(loaded.token("org", &gatehouse_config::token_hash::hash_token("t2")).is_some());
        assert!(loaded.server("org", "github").is_some());

        // A torn last write, or a record the snapshot already holds, changes nothing.
        cache.append(v3.clone(), v4.clone()).await.unwrap();
        let mut torn = fs::read(cache.journal_path()).unwrap();
        torn.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
        fs::write(cache.journal_path(), torn).unwrap();
        assert_eq!(cache.load().await.unwrap().unwrap().version(), 6);

        // A whole snapshot empties the journal.
        cache.store(v6.clone()).await.unwrap();
        assert!(!cache.journal_path().exists());
        assert_eq!(cache.load().await.unwrap().unwrap().version(), 6);

        // Another node token opens neither file.
        let other = ConfigCache::new(path, &token("node-token-b"));
        assert!(matches!(other.load().await, Err(CacheError::Decrypt)));
    }

    #[tokio::test]
    async fn a_cache_older_than_its_maximum_age_or_from_the_future_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge-config.bin");
        let node_token = token("node-token-a");
        let key = CacheKey::derive(&node_token);
        let cache = ConfigCache::new(path.clone(), &node_token);
        let day = DEFAULT_CACHE_MAX_AGE.as_secs();

        fs::write(&path, seal_at(&key, &snapshot(5), now_unix() - day - 60).unwrap()).unwrap();
        let err = cache.load().await.unwrap_err();
        assert!(matches!(err, CacheError::TooOld { max_age_secs, .. } if max_age_secs == day), "{err}");
        assert!(err.to_string().contains("GATEHOUSE_EDGE_CACHE_MAX_AGE"), "{err}");

        fs::write(&path, seal_at(&key, &snapshot(5), now_unix() - 3600).unwrap()).unwrap();
        assert_eq!(cache.load().await.unwrap().unwrap().version(), 5, "an hour old is within a day");
        let strict = cache.clone().with_max_age(Duration::from_secs(600));
        assert!(matches!(strict.load().await, Err(CacheError::TooOld { .. })));

        // A journal record written later makes the whole cache as recent as it.
        let v5 = Arc::new(ConfigView::from_snapshot(snapshot(5)));
        let v6 = Arc::new(
            v5.apply(pb::Delta { from_version: 5, version: 6, changes: vec![token_change("t1")] }).unwrap(),
        );
        strict.append(v5, v6).await.unwrap();
        assert_eq!(strict.load().await.unwrap().unwrap().version(), 6);

        let _ = fs::remove_file(cache.journal_path());
        fs::write(&path, seal_at(&key, &snapshot(5), now_unix() + 3600).unwrap()).unwrap();
        assert!(matches!(cache.load().await, Err(CacheError::FromTheFuture)));
    }

    #[tokio::test]
    async fn while_connected_the_writer_keeps_an_unchanged_cache_recent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge-config.bin");
        // A quarter of 2 s: the snapshot is rewritten every 500 ms while nothing changes.
        let cache =
            ConfigCache::new(path.clone(), &token("node-token-a")).with_max_age(Duration::from_secs(2));
        let state = EdgeState::new();
        state.set_connected(true);
        let (tx, rx) = watch::channel(Arc::new(ConfigView::default()));
        let writer = spawn_writer(cache.clone(), state.clone(), rx);
        tx.send_replace(Arc::new(ConfigView::from_snapshot(snapshot(1))));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let first = fs::read(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let refreshed = fs::read(&path).unwrap();
        assert_ne!(first, refreshed, "rewritten (fresh nonce and time) without a config change");
        assert_eq!(cache.load().await.unwrap().unwrap().version(), 1);

        // Disconnected, the edge cannot know its copy is current: nothing is rewritten.
        state.set_connected(false);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let idle = fs::read(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(fs::read(&path).unwrap(), idle);
        drop(tx);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn writer_coalesces_and_flushes_the_last_view_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ConfigCache::new(dir.path().join("edge-config.bin"), &token("node-token-a"));
        let (tx, rx) = watch::channel(Arc::new(ConfigView::default()));
        let writer = spawn_writer(cache.clone(), EdgeState::new(), rx);
        for version in 1..=20 {
            tx.send_replace(Arc::new(ConfigView::from_snapshot(snapshot(version))));
        }
        drop(tx);
        writer.await.unwrap();
        assert_eq!(cache.load().await.unwrap().unwrap().version(), 20);
    }
}
