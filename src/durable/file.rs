//! The single-instance journal: an append-only file of JSON lines.
//!
//! ```text
//! {"op":"database","name":"postgres://db.internal/rally"}
//! {"op":"put","entry":{"id":"01J…","created_ms":…,"write":{"kind":"finish",…}}}
//! {"op":"done","id":"01J…"}
//! ```
//!
//! A `put` line is written (one `write` call) before a room announces the result, so a
//! `kill -9` right after the announcement still finds it; the file is then synced to disk in
//! the background (a power cut in between may lose the last lines, as SQLite's
//! `synchronous=NORMAL` may lose its last commits). A `done` line follows once the database has
//! the write. The first line names the database the writes belong to (its URL without the
//! password): a journal is never applied to another database — opening it for a different one
//! fails with a message, so pending results are neither dropped nor written to the wrong place.
//! Opening the file reads it back (a torn last line, from a crash in the middle of a
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
    /// The database these writes belong to (first line).
    Database {
        /// Its URL, password redacted.
        name: String,
    },
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
    /// The database line written at the top of the file.
    database: String,
    file: Mutex<File>,
    /// Held for the life of the process: the `flock` goes with it.
    _lock: File,
}

impl FileJournal {
    /// Open (creating the file and its directory when missing) for `database` (its URL without
    /// the password), lock, read back the pending entries and compact. Fails when another
    /// process holds the lock, or when the file holds pending writes of another database.
    pub fn open(path: &Path, database: &str) -> anyhow::Result<(FileJournal, Vec<Entry>)> {
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
        let (owner, entries) = read(path)?;
        if let Some(owner) = owner.filter(|o| o != database && !entries.is_empty()) {
            anyhow::bail!(
                "the outbox file {} holds {} pending write(s) of another database ({owner}); \
                 start rally once with that database to finish them, or move the file away \
                 (RALLY_OUTBOX_FILE)",
                path.display(),
                entries.len()
            );
        }
        // Compact: the database line and the pending entries only, written to a new file renamed over the old one
        // (a crash in between leaves either the old file or the new one, never half of one).
        let tmp = sibling(path, "tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
            let head = Line::Database {
                name: database.to_string(),
            };
            let puts = entries.iter().map(|e| Line::Put {
                entry: Box::new(e.clone()),
            });
            f.write_all(lines(std::iter::once(head).chain(puts))?.as_bytes())?;
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
                database: database.to_string(),
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
        let head = lines(std::iter::once(Line::Database {
            name: self.database.clone(),
        }))?;
        if f.metadata()?.len() <= head.len() as u64 || !idle() {
            return Ok(false);
        }
        f.set_len(0)?;
        (&*f).write_all(head.as_bytes())?;
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

/// The database a journal file belongs to and its pending entries (none when it does not
/// exist), in id order.
fn read(path: &Path) -> anyhow::Result<(Option<String>, Vec<Entry>)> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, Vec::new())),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut pending: BTreeMap<String, Entry> = BTreeMap::new();
    let mut owner = None;
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
            Ok(Line::Database { name }) => owner = Some(name),
            Err(e) => tracing::warn!(
                file = %path.display(), line = n + 1, error = %e,
                "skipping an unreadable outbox line (torn by a crash?)"
            ),
        }
    }
    Ok((owner, pending.into_values().collect()))
}

#[cfg(test)]
mod tests {
    use super::{FileJournal, Line};
    use crate::durable::{Entry, Write};
    use std::io::Write as _;

    const DB: &str = "postgres://127.0.0.1/rally";

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
            let (j, found) = FileJournal::open(&path, DB).unwrap();
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
        let (j, found) = FileJournal::open(&path, DB).unwrap();
        let ids: Vec<&str> = found.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        // Reopening compacted the file: the database, then only the pending entries.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text
            .lines()
            .skip(1)
            .all(|l| matches!(serde_json::from_str(l).unwrap(), Line::Put { .. })));
        // Emptied (down to its database line) only when nothing is pending.
        let head_len = text.lines().next().unwrap().len() as u64 + 1;
        assert!(!j.truncate_if(|| false).unwrap());
        assert!(j.truncate_if(|| true).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), head_len);
        assert!(!j.truncate_if(|| true).unwrap(), "nothing left to empty");
        j.put(&[entry("e")]).unwrap();
        drop(j);
        let (_, found) = FileJournal::open(&path, DB).unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn pending_writes_are_never_applied_to_another_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        {
            let (j, _) = FileJournal::open(&path, DB).unwrap();
            j.put(&[entry("a")]).unwrap();
        }
        let err = FileJournal::open(&path, "sqlite://other.db")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("another database"), "{err}");
        // The right database still finds its write.
        let (j, found) = FileJournal::open(&path, DB).unwrap();
        assert_eq!(found.len(), 1);
        j.done(&["a".into()]).unwrap();
        drop(j);
        // An empty journal may change databases.
        let (_, found) = FileJournal::open(&path, "sqlite://other.db").unwrap();
        assert!(found.is_empty());
    }

    #[test]
    fn a_second_process_cannot_use_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let (_held, _) = FileJournal::open(&path, DB).unwrap();
        // flock locks are per open file description: a second open in this process conflicts
        // exactly as another process would.
        let err = FileJournal::open(&path, DB).err().unwrap().to_string();
        assert!(err.contains("in use by another rally process"), "{err}");
    }
}
