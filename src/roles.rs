//! Role changes reach live sessions.
//!
//! `rally admin grant-organiser|revoke-organiser` runs as a separate process: it changes the
//! player's role, bumps their token epoch (every token carrying the old role stops working)
//! and writes an audit entry ([`GRANT_ACTION`] / [`REVOKE_ACTION`]) in one transaction. Every
//! instance polls the audit log for those entries every [`POLL_INTERVAL`] (one indexed query
//! on `audit_log.at`; it works alike with one instance or several, SQLite or Postgres, and
//! with changes made by any process), and gives each of the player's sessions *on this
//! instance* a [`SessionEvent::Account`] with the stored role and epoch. The session then
//! sends the client an `account` message with the new role and a fresh token for it
//! (docs/protocol.md), so the player sees and uses the new role without signing in again.

use crate::app::AppState;
use crate::db::players;
use crate::db::schema::audit_log;
use crate::error::AppResult;
use crate::ids::PlayerId;
use crate::room::messages::{AccountChange, SessionEvent};
use diesel::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

/// Audit action of `rally admin grant-organiser`.
pub const GRANT_ACTION: &str = "player.grant_organiser";
/// Audit action of `rally admin revoke-organiser`.
pub const REVOKE_ACTION: &str = "player.revoke_organiser";
/// `actor_id` of the audit entries written by the command line.
pub const ADMIN_ACTOR: &str = "admin";
/// `actor_name` of the audit entries written by the command line.
pub const ADMIN_ACTOR_NAME: &str = "rally admin (command line)";

/// How often each instance looks for role changes: how long a player waits at most (plus a
/// round trip) to see theirs. Cheap: one indexed range query on `audit_log.at` per instance.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How far back each poll looks. Entries are stamped with the clock of the machine that ran
/// the command, which may differ from this instance's: a minute of slack covers ordinary
/// skew. Entries already handled are remembered (by id) for this long.
pub const LOOKBACK_MS: i64 = 60_000;

/// One role change found in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleChange {
    /// Audit entry id.
    pub id: String,
    /// When (Unix ms, the writer's clock).
    pub at: i64,
    /// The player whose role changed.
    pub player: String,
}

/// Role changes recorded at or after `since` (Unix ms), oldest first.
pub fn changes_since(
    conn: &mut crate::db::AnyConnection,
    since: i64,
) -> AppResult<Vec<RoleChange>> {
    let rows: Vec<(String, i64, Option<String>)> = audit_log::table
        .filter(audit_log::at.ge(since))
        .filter(audit_log::action.eq_any([GRANT_ACTION, REVOKE_ACTION]))
        .order((audit_log::at.asc(), audit_log::id.asc()))
        .select((audit_log::id, audit_log::at, audit_log::target))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at, target)| target.map(|player| RoleChange { id, at, player }))
        .collect())
}

/// The entries of `found` not handled yet; remembers them and forgets entries older than the
/// look-back window (relative to `now`).
pub fn unseen(
    seen: &mut HashMap<String, i64>,
    found: Vec<RoleChange>,
    now: i64,
) -> Vec<RoleChange> {
    seen.retain(|_, at| *at >= now - 2 * LOOKBACK_MS);
    found
        .into_iter()
        .filter(|c| seen.insert(c.id.clone(), c.at).is_none())
        .collect()
}

/// Poll for role changes and push them to this instance's sessions, until the system stops.
pub fn spawn_watcher(state: actix_web::web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut seen = HashMap::new();
        let mut first = true;
        let mut tick = actix_web::rt::time::interval(POLL_INTERVAL);
        loop {
            tick.tick().await;
            let now = crate::db::now_ms();
            let found = match state
                .db
                .run(move |c| changes_since(c, now - LOOKBACK_MS))
                .await
            {
                Ok(found) => found,
                Err(e) => {
                    // The database being down is reported by /readyz and its alert; retry.
                    tracing::debug!(error = ?e, "cannot read role changes");
                    continue;
                }
            };
            let fresh = unseen(&mut seen, found, now);
            // At start-up no session exists yet: the first poll only learns what is old.
            if std::mem::take(&mut first) {
                continue;
            }
            for change in fresh {
                push(&state, PlayerId(change.player)).await;
            }
        }
    });
}

/// Give `player`'s session on this instance (if any) their stored role and token epoch.
async fn push(state: &AppState, player: PlayerId) {
    let Some(session) = state.engine.registry.session(&player) else {
        return;
    };
    let id = player.0.clone();
    match state.db.run(move |c| players::by_id(c, &id)).await {
        Ok(Some(row)) => {
            tracing::info!(player = %player.0, role = row.role().as_str(), "role change pushed to a live session");
            session.events.do_send(SessionEvent::Account(AccountChange {
                player,
                role: row.role(),
                epoch: row.token_epoch,
            }));
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = ?e, "cannot read a player whose role changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::{unseen, RoleChange, LOOKBACK_MS};
    use std::collections::HashMap;

    fn change(id: &str, at: i64) -> RoleChange {
        RoleChange {
            id: id.into(),
            at,
            player: "p".into(),
        }
    }

    #[test]
    fn each_entry_is_pushed_once_and_forgotten_after_the_window() {
        let mut seen = HashMap::new();
        let now = 1_000_000;
        let first = unseen(&mut seen, vec![change("a", now - 10)], now);
        assert_eq!(first.len(), 1);
        // The next polls see it again (it is still in the window): not pushed again.
        let again = unseen(
            &mut seen,
            vec![change("a", now - 10), change("b", now)],
            now + 2000,
        );
        assert_eq!(again, vec![change("b", now)]);
        // Long after, the remembered ids are dropped (the query no longer returns them).
        unseen(&mut seen, vec![], now + 3 * LOOKBACK_MS);
        assert!(seen.is_empty());
    }
}
