//! The cluster journal, in Redis.
//!
//! | key (`P` = `RALLY_REDIS_PREFIX`) | what |
//! |---|---|
//! | `P:outbox:<instance>` | hash: entry id → [`Entry`] JSON, the instance's pending writes |
//! | `P:outbox-holds` | hash: `match:<id>` / `tournament:<id>` → number of pending writes |
//!
//! Entries and holds change together, in scripts: a put counts the holds only when the entry is
//! new, a removal uncounts them only when it removed the entry. An instance re-puts every entry
//! it still holds at each round (so a flushed Redis gets them back) and claims the journal of
//! every instance whose heartbeat (`P:inst:<id>`) is gone: one script moves the whole hash into
//! its own, only while that heartbeat is still absent. The holds move with it (they count
//! entries, not owners), so a match stays held from the moment its write is journaled until a
//! survivor has applied it. A paused instance that wakes after its journal was claimed still
//! has the entries in memory: it puts them back into its own hash (counted again) and both apply
//! them — harmless, every write is idempotent — and each removal uncounts its own copy.

use super::Entry;
use crate::registry::Cluster;
use deadpool_redis::redis::{self, RedisResult};
use std::sync::Arc;

/// KEYS[1] outbox, KEYS[2] holds; ARGV[1] id, ARGV[2] entry JSON, ARGV[3..] hold keys.
/// Returns 1 when the entry is new (its holds are counted), 0 when it was there.
const PUT_SCRIPT: &str = r#"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  for i = 3, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
  return 1
end
return 0
"#;

/// KEYS[1] outbox, KEYS[2] holds; ARGV[1] id, ARGV[2..] hold keys. Returns 1 when the entry
/// was there (its holds are uncounted; a count reaching 0 is deleted).
const DONE_SCRIPT: &str = r#"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  for i = 2, #ARGV do
    if redis.call('HINCRBY', KEYS[2], ARGV[i], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[i]) end
  end
  return 1
end
return 0
"#;

/// KEYS[1] the dead instance's outbox, KEYS[2] ours, KEYS[3] the dead instance's heartbeat.
/// Moves every entry into ours unless the heartbeat exists; returns the moved values.
const CLAIM_SCRIPT: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 1 then return {} end
local all = redis.call('HGETALL', KEYS[1])
local moved = {}
for i = 1, #all, 2 do
  redis.call('HSET', KEYS[2], all[i], all[i + 1])
  moved[#moved + 1] = all[i + 1]
end
redis.call('DEL', KEYS[1])
return moved
"#;

/// The Redis journal of one instance.
pub struct SharedJournal {
    cluster: Arc<Cluster>,
}

impl SharedJournal {
    /// The journal of `cluster`'s instance.
    pub fn new(cluster: Arc<Cluster>) -> SharedJournal {
        SharedJournal { cluster }
    }

    /// How often the worker re-journals and looks for vanished instances: the cluster's lease
    /// renewal period (a vanished instance's heartbeat lapses after one lease TTL).
    pub fn round(&self) -> std::time::Duration {
        self.cluster.config.renew_every()
    }

    fn outbox_key(&self, instance: &str) -> String {
        self.cluster.key(&format!("outbox:{instance}"))
    }

    fn holds_key(&self) -> String {
        self.cluster.key("outbox-holds")
    }

    async fn pipe<T: redis::FromRedisValue>(&self, p: &redis::Pipeline) -> RedisResult<T> {
        let mut c = self.cluster.conn().await?;
        p.query_async(&mut c).await
    }

    /// Put entries into this instance's journal (new ones count their holds). Returns how many
    /// were not there (a flushed Redis, or a journal another instance claimed meanwhile).
    pub async fn put(&self, entries: &[&Entry]) -> RedisResult<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut p = redis::pipe();
        let mine = self.outbox_key(self.cluster.id().as_str());
        for e in entries {
            let json = serde_json::to_string(e).map_err(|err| {
                redis::RedisError::from((redis::ErrorKind::Io, "outbox entry", err.to_string()))
            })?;
            let c = p
                .cmd("EVAL")
                .arg(PUT_SCRIPT)
                .arg(2)
                .arg(&mine)
                .arg(self.holds_key())
                .arg(&e.id)
                .arg(json);
            for h in e.write.holds() {
                c.arg(h);
            }
        }
        let added: Vec<i64> = self.pipe(&p).await?;
        Ok(added.into_iter().filter(|&n| n == 1).count())
    }

    /// Remove settled entries from this instance's journal (uncounting their holds).
    pub async fn done(&self, entries: &[Entry]) -> RedisResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut p = redis::pipe();
        let mine = self.outbox_key(self.cluster.id().as_str());
        for e in entries {
            let c = p
                .cmd("EVAL")
                .arg(DONE_SCRIPT)
                .arg(2)
                .arg(&mine)
                .arg(self.holds_key())
                .arg(&e.id);
            for h in e.write.holds() {
                c.arg(h);
            }
            c.ignore();
        }
        self.pipe(&p).await
    }

    /// Whether any of `keys` (hold keys) has a pending write anywhere.
    pub async fn holds(&self, keys: &[String]) -> RedisResult<bool> {
        let mut c = redis::cmd("HMGET");
        c.arg(self.holds_key());
        for k in keys {
            c.arg(k);
        }
        let mut conn = self.cluster.conn().await?;
        let counts: Vec<Option<i64>> = c.query_async(&mut conn).await?;
        Ok(counts.into_iter().flatten().any(|n| n > 0))
    }

    /// Move the journals of instances whose heartbeat is gone into this one; returns the
    /// entries taken over (unreadable ones are logged and dropped from the result, but stay
    /// in our hash for an operator to see).
    pub async fn claim_orphans(&self) -> RedisResult<Vec<Entry>> {
        let prefix = self.outbox_key("");
        let pattern = format!("{prefix}*");
        let mine = self.outbox_key(self.cluster.id().as_str());
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut c = redis::cmd("SCAN");
            c.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500);
            let mut conn = self.cluster.conn().await?;
            let (next, batch): (u64, Vec<String>) = c.query_async(&mut conn).await?;
            keys.extend(batch.into_iter().filter(|k| k != &mine));
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut taken = Vec::new();
        for key in keys {
            let Some(instance) = key.strip_prefix(&prefix) else {
                continue;
            };
            let mut c = redis::cmd("EVAL");
            c.arg(CLAIM_SCRIPT)
                .arg(3)
                .arg(&key)
                .arg(&mine)
                .arg(self.cluster.key(&format!("inst:{instance}")));
            let mut conn = self.cluster.conn().await?;
            let moved: Vec<String> = c.query_async(&mut conn).await?;
            if !moved.is_empty() {
                tracing::warn!(
                    from = instance,
                    writes = moved.len(),
                    "took over the pending durable writes of a vanished instance"
                );
            }
            for json in moved {
                match serde_json::from_str::<Entry>(&json) {
                    Ok(e) => taken.push(e),
                    Err(e) => tracing::error!(error = %e, "unreadable outbox entry in Redis"),
                }
            }
        }
        Ok(taken)
    }
}
