//! Checkpoints as files: one JSON file per stream in a directory, for runs without a
//! checkpoint topic.
//!
//! A save writes a temporary file, fsyncs it, renames it over the stream's file and
//! fsyncs the directory, so a crash at any moment leaves either the old or the new
//! checkpoint, never a torn one.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use trawl_model::{Checkpoint, StreamKey};

use crate::checkpoints::CheckpointStore;
use crate::error::KafkaError;
use crate::records::{checkpoint_key, decode_checkpoint, encode_checkpoint};

/// One `<tenant>~<source>.json` per stream in `dir` (`~` never occurs in tenant ids,
/// and tenant ids like `..` stay plain file names).
#[derive(Debug)]
pub struct FileCheckpointStore {
    dir: PathBuf,
    seq: AtomicU64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KafkaError + '_ {
    move |source| KafkaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FileCheckpointStore {
    /// Uses `dir`, creating it if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, KafkaError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self {
            dir,
            seq: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a stream's checkpoint.
    pub fn path_of(&self, stream: &StreamKey) -> PathBuf {
        self.dir
            .join(format!("{}~{}.json", stream.tenant, stream.source))
    }

    fn load_blocking(dir: &Path) -> Result<HashMap<StreamKey, Checkpoint>, KafkaError> {
        let mut out = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".json") else {
                continue; // temporary files of interrupted saves
            };
            let key = stem.replacen('~', "/", 1);
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let cp = decode_checkpoint(&key, &bytes)?;
            out.insert(cp.stream.clone(), cp);
        }
        Ok(out)
    }

    fn save_blocking(
        dir: &Path,
        target: &Path,
        tmp: &Path,
        bytes: &[u8],
    ) -> Result<(), KafkaError> {
        let mut f = std::fs::File::create(tmp).map_err(io(tmp))?;
        f.write_all(bytes).map_err(io(tmp))?;
        f.sync_all().map_err(io(tmp))?;
        drop(f);
        std::fs::rename(tmp, target).map_err(io(target))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    }
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn load_all(&self) -> Result<HashMap<StreamKey, Checkpoint>, KafkaError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || Self::load_blocking(&dir))
            .await
            .map_err(|e| KafkaError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    async fn save(&self, cp: &Checkpoint) -> Result<(), KafkaError> {
        let target = self.path_of(&cp.stream);
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(
            "{}.{}.{n}.tmp",
            checkpoint_key(&cp.stream).replace('/', "~"),
            std::process::id()
        ));
        let bytes = encode_checkpoint(cp);
        let dir = self.dir.clone();
        let t = target.clone();
        tokio::task::spawn_blocking(move || Self::save_blocking(&dir, &t, &tmp, &bytes))
            .await
            .map_err(|e| KafkaError::Io {
                path: target,
                source: std::io::Error::other(e.to_string()),
            })?
    }
}
