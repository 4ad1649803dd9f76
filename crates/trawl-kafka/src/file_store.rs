//! Checkpoints as files: one JSON file per stream in a directory, for runs without a
//! checkpoint topic, plus the segments of its seen ids when it has many (one file
//! each, `<tenant>~<source>~seen~<hour>~<part>.seen`; see
//! `trawl_model::checkpoint_records`), so a save rewrites only what changed.
//!
//! Each file is written to a temporary file, fsynced, renamed over its name; the
//! directory is fsynced before the main file is renamed in (segments first) and again
//! after it, before segments no longer used are removed. A crash at any moment leaves
//! either the old or the new checkpoint, never a torn one, and no id the loaded one
//! needs is missing.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use trawl_model::checkpoint_records::{CheckpointRecords, Record};
use trawl_model::{Checkpoint, StreamKey};

use crate::checkpoints::CheckpointStore;
use crate::error::KafkaError;
use crate::segmented::{assemble_all, with_numbers, Layouts};

/// One `<tenant>~<source>.json` per stream in `dir` (`~` never occurs in tenant ids,
/// and tenant ids like `..` stay plain file names).
#[derive(Debug)]
pub struct FileCheckpointStore {
    dir: PathBuf,
    seq: AtomicU64,
    layouts: Layouts,
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
            layouts: Layouts::default(),
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

    /// The file of a record: its key with `/` as `~`; `.json` for a main record,
    /// `.seen` for a segment.
    fn file_of(&self, r: &str) -> PathBuf {
        let suffix = if r.contains("/seen/") { "seen" } else { "json" };
        self.dir.join(format!("{}.{suffix}", r.replace('/', "~")))
    }

    fn load_blocking(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, KafkaError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name
                .strip_suffix(".json")
                .or_else(|| name.strip_suffix(".seen"))
            else {
                continue; // temporary files of interrupted saves
            };
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            out.push((stem.replace('~', "/"), bytes));
        }
        Ok(out)
    }

    fn put_blocking(target: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), KafkaError> {
        let mut f = std::fs::File::create(tmp).map_err(io(tmp))?;
        f.write_all(bytes).map_err(io(tmp))?;
        f.sync_all().map_err(io(tmp))?;
        drop(f);
        std::fs::rename(tmp, target).map_err(io(target))
    }

    fn sync_dir(dir: &Path) -> Result<(), KafkaError> {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    }

    /// Segments, then the main file, then removals; the directory synced in between.
    fn save_blocking(
        dir: &Path,
        writes: Vec<(PathBuf, PathBuf, Vec<u8>)>,
        removals: Vec<PathBuf>,
    ) -> Result<(), KafkaError> {
        let last = writes.len().saturating_sub(1);
        for (i, (target, tmp, bytes)) in writes.iter().enumerate() {
            if i == last && last > 0 {
                Self::sync_dir(dir)?;
            }
            Self::put_blocking(target, tmp, bytes)?;
        }
        Self::sync_dir(dir)?;
        if removals.is_empty() {
            return Ok(());
        }
        for path in &removals {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(path)(e)),
                _ => {}
            }
        }
        Self::sync_dir(dir)
    }

    /// Where `r` goes and the temporary file it is first written to.
    fn paths(&self, r: &Record) -> (PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(
            "{}.{}.{n}.tmp",
            r.key.replace('/', "~"),
            std::process::id()
        ));
        (self.file_of(&r.key), tmp)
    }
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn load_all(&self) -> Result<HashMap<StreamKey, Checkpoint>, KafkaError> {
        let dir = self.dir.clone();
        let files = tokio::task::spawn_blocking(move || Self::load_blocking(&dir))
            .await
            .map_err(|e| KafkaError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        let (out, layouts) = assemble_all(files)?;
        self.layouts.replace(layouts);
        Ok(out)
    }

    async fn save(&self, cp: &Checkpoint) -> Result<(), KafkaError> {
        let plan: CheckpointRecords = self.layouts.plan(cp)?;
        let writes: Vec<(PathBuf, PathBuf, Vec<u8>)> = plan
            .segments
            .iter()
            .chain([&plan.main])
            .map(|r| {
                let (target, tmp) = self.paths(r);
                (target, tmp, r.value.clone())
            })
            .collect();
        let removals = plan.tombstones.iter().map(|k| self.file_of(k)).collect();
        let dir = self.dir.clone();
        let target = self.path_of(&cp.stream);
        let r = tokio::task::spawn_blocking(move || Self::save_blocking(&dir, writes, removals))
            .await
            .map_err(|e| KafkaError::Io {
                path: target,
                source: std::io::Error::other(e.to_string()),
            })
            .and_then(|r| r);
        self.layouts.settle(&cp.stream, &plan, r.is_ok());
        r.map_err(|e| with_numbers(e, &cp.stream, &plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use trawl_model::checkpoint_records::RECORD_MAX_BYTES;
    use trawl_model::{EventId, SourceKind, TenantId};

    #[tokio::test]
    async fn a_big_checkpoint_is_files_under_the_bound_that_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = StreamKey::new(TenantId::new("big").unwrap(), SourceKind::ZoomOperationLogs);
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut cp = Checkpoint::new(key.clone(), t0, t0);
        for i in 0..30_000u32 {
            let id = EventId::compute(&key, &serde_json::json!({ "i": i }), 0);
            cp.seen
                .insert(&id, t0 + Duration::seconds(i64::from(i) * 3));
        }
        let store = FileCheckpointStore::new(dir.path()).unwrap();
        store.save(&cp).await.unwrap();
        let sizes = || -> Vec<u64> {
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .collect()
        };
        assert!(sizes().len() > 10, "segments beside the main file");
        assert!(sizes().iter().all(|n| *n as usize <= RECORD_MAX_BYTES));
        let back = FileCheckpointStore::new(dir.path())
            .unwrap()
            .load_all()
            .await
            .unwrap();
        assert_eq!(back[&key].seen, cp.seen);

        // A pruned checkpoint removes the files of its old hours; it still loads.
        cp.watermark = t0 + Duration::hours(25);
        cp.prune_seen(Duration::hours(20));
        let files = sizes().len();
        store.save(&cp).await.unwrap();
        assert!(sizes().len() < files);
        let back = FileCheckpointStore::new(dir.path())
            .unwrap()
            .load_all()
            .await
            .unwrap();
        assert_eq!(back[&key].seen, cp.seen);
    }
}
