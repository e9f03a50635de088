//! The single-instance journal: an append-only file of JSON lines.
//!
//! ```text
//! {"op":"put","entry":{"id":"01J…","created_ms":…,"write":{"kind":"finish",…}}}
//! {"op":"done","id":"01J…"}
//! ```
//!
//! A `put` line is written (one `write` call) before a room announces the result, so a
//! `kill -9` right after the announcement still finds it; the file is then synced to disk in
//! the background (a power cut in between may lose the last lines, as SQLite's
//! `synchronous=NORMAL` may lose its last commits). A `done` line follows once the database has
//! the write. Opening the file reads it back (a torn last line, from a crash in the middle of a
//! write, is skipped with a warning), rewrites it with only the pending entries (a new file
//! renamed over the old one), and keeps it open for appending; it is truncated whenever nothing
//! is pending. A lock file next to it (`<file>.lock`, `flock`) keeps a second process from
//! using the same journal — two processes would finish each other's writes against the wrong
//! database — and is released by the kernel when the process dies, however it dies.

use super::Entry;
use anyhow::Context;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};

/// One line of the journal.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    /// A pending write.
    Put {
        /// The write.
        entry: Box<Entry>,
    },
    /// The write with this id is settled.
    Done {
        /// Entry id.
        id: String,
    },
}

/// The journal file, open for appending and locked.
pub struct FileJournal {
    path: PathBuf,
    file: Mutex<File>,
    /// Held for the life of the process: the `flock` goes with it.
    _lock: File,
}

impl FileJournal {
    /// Open (creating the file and its directory when missing), lock, read back the pending
    /// entries and compact. Fails when another process holds the lock.
    pub fn open(path: &Path) -> anyhow::Result<(FileJournal, Vec<Entry>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the outbox directory {}", dir.display()))?;
        }
        let lock_path = sibling(path, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| {
                anyhow::anyhow!(
                    "the outbox file {} is in use by another rally process ({e}); give each \
                     instance its own RALLY_OUTBOX_FILE, or share Redis (RALLY_REDIS_URL)",
                    path.display()
                )
            },
        )?;
        let entries = read(path)?;
        // Compact: the pending entries only, written to a new file renamed over the old one
        // (a crash in between leaves either the old file or the new one, never half of one).
        let tmp = sibling(path, "tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
            f.write_all(
                lines(entries.iter().map(|e| Line::Put {
                    entry: Box::new(e.clone()),
                }))?
                .as_bytes(),
            )?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself is durable once the directory is synced.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        Ok((
            FileJournal {
                path: path.to_path_buf(),
                file: Mutex::new(file),
                _lock: lock,
            },
            entries,
        ))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append pending entries (one `write`). Blocking.
    pub fn put(&self, entries: &[Entry]) -> std::io::Result<()> {
        let text = lines(entries.iter().map(|e| Line::Put {
            entry: Box::new(e.clone()),
        }))?;
        self.file.lock().write_all(text.as_bytes())
    }

    /// Append settled ids (one `write`). Blocking.
    pub fn done(&self, ids: &[String]) -> std::io::Result<()> {
        let text = lines(ids.iter().map(|id| Line::Done { id: id.clone() }))?;
        self.file.lock().write_all(text.as_bytes())
    }

    /// Flush to disk (after the lines are written and announced). Blocking.
    pub fn sync(&self) -> std::io::Result<()> {
        let f = self.file.lock().try_clone()?;
        f.sync_data()
    }

    /// Empty the file when `idle()` says nothing is pending, checked while appends are held
    /// back (so an entry submitted meanwhile is appended after the truncation, never lost to
    /// it). Blocking.
    pub fn truncate_if(&self, idle: impl FnOnce() -> bool) -> std::io::Result<bool> {
        let f = self.file.lock();
        if f.metadata()?.len() == 0 || !idle() {
            return Ok(false);
        }
        f.set_len(0)?;
        Ok(true)
    }
}

/// `path` with `.ext` appended to its file name.
fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    path.with_file_name(name)
}

/// Serialise lines, one JSON object per line.
fn lines(items: impl Iterator<Item = Line>) -> std::io::Result<String> {
    let mut text = String::new();
    for l in items {
        text.push_str(&serde_json::to_string(&l)?);
        text.push('\n');
    }
    Ok(text)
}

/// The pending entries of a journal file (none when it does not exist), in id order.
fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut pending: BTreeMap<String, Entry> = BTreeMap::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Put { entry }) => {
                pending.insert(entry.id.clone(), *entry);
            }
            Ok(Line::Done { id }) => {
                pending.remove(&id);
            }
            Err(e) => tracing::warn!(
                file = %path.display(), line = n + 1, error = %e,
                "skipping an unreadable outbox line (torn by a crash?)"
            ),
        }
    }
    Ok(pending.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::{FileJournal, Line};
    use crate::durable::{Entry, Write};
    use std::io::Write as _;

    fn entry(id: &str) -> Entry {
        Entry {
            id: id.into(),
            created_ms: 1,
            write: Write::Abandon {
                match_id: format!("m{id}"),
                epoch: 1,
                reason: "no_show".into(),
                finished_ms: 2,
            },
        }
    }

    #[test]
    fn pending_entries_survive_reopening_and_done_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("outbox.jsonl");
        {
            let (j, found) = FileJournal::open(&path).unwrap();
            assert!(found.is_empty());
            j.put(&[entry("a"), entry("b")]).unwrap();
            j.put(&[entry("c")]).unwrap();
            j.done(&["b".into()]).unwrap();
        }
        // A torn last line (a crash in the middle of a write) is skipped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"op\":\"put\",\"entry\":{\"id\":\"d\"")
            .unwrap();
        drop(f);
        let (j, found) = FileJournal::open(&path).unwrap();
        let ids: Vec<&str> = found.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        // Reopening compacted the file: only the pending entries are left.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text
            .lines()
            .all(|l| matches!(serde_json::from_str(l).unwrap(), Line::Put { .. })));
        // Truncated only when nothing is pending.
        assert!(!j.truncate_if(|| false).unwrap());
        assert!(j.truncate_if(|| true).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        j.put(&[entry("e")]).unwrap();
        drop(j);
        let (_, found) = FileJournal::open(&path).unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_second_process_cannot_use_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let (_held, _) = FileJournal::open(&path).unwrap();
        // flock locks are per open file description: a second open in this process conflicts
        // exactly as another process would.
        let err = FileJournal::open(&path).err().unwrap().to_string();
        assert!(err.contains("in use by another rally process"), "{err}");
    }
}
