//! Applying one write to the database, and telling "settled" from "try again".
//!
//! A write is settled when the database took it (or had it already: every write is
//! idempotent), when it is provably superseded (a stale epoch: another owner took the match
//! over; a terminal row: the match ended otherwise, e.g. an organiser settled it), or when it is
//! refused for good (404, a value the database will never accept). Anything else — no
//! connection, a connection that broke mid-transaction, a timeout — is transient: the write is
//! retried.

use super::{Settled, Write};
use crate::db::matches::{self, FinishOutcome};
use crate::db::Db;
use crate::error::{AppError, ErrorKind};

/// How long one attempt waits for a database connection. Shorter than the pool's 5 s: the
/// write is retried anyway, and the outbox's other duties (taking over a vanished instance's
/// journal, re-journaling after a Redis flush) run between attempts.
pub const APPLY_CHECKOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Apply `write`; `Err` means "transient, retry".
pub async fn apply(db: &Db, write: &Write) -> Result<Settled, AppError> {
    let w = write.clone();
    db.run_within(Some(APPLY_CHECKOUT), move |c| run(c, &w))
        .await
}

/// The synchronous part, on the blocking pool.
fn run(c: &mut crate::db::AnyConnection, write: &Write) -> Result<Settled, AppError> {
    match write {
        Write::Seat {
            match_id,
            epoch,
            seat,
            player,
        } => settle(
            matches::seat_player(c, match_id, *epoch, *seat, player),
            |ok| match ok {
                true => Settled::Seated,
                false => stale(),
            },
        ),
        Write::Start {
            match_id,
            epoch,
            started_ms,
            ..
        } => settle(
            matches::mark_started_at(c, match_id, *epoch, *started_ms),
            |ok| match ok {
                true => Settled::Started,
                false => stale(),
            },
        ),
        Write::Finish { result, timing, .. } => settle(
            matches::finish_at(c, result, timing),
            |outcome| match outcome {
                FinishOutcome::StaleEpoch => stale(),
                other => Settled::Finished(other),
            },
        ),
        Write::Abandon {
            match_id,
            epoch,
            reason,
            finished_ms,
        } => settle(
            matches::abandon_at(c, match_id, *epoch, reason, *finished_ms),
            |ok| match ok {
                true => Settled::Abandoned,
                // Refused: stale epoch or the match already finished (`abandon` tells them
                // apart only by reading again; either way there is nothing left to write).
                false => Settled::Superseded {
                    stale_epoch: false,
                    why: "the match was taken over or finished meanwhile".into(),
                },
            },
        ),
    }
}

fn stale() -> Settled {
    Settled::Superseded {
        stale_epoch: true,
        why: "another owner holds a newer epoch".into(),
    }
}

/// Map a database answer: success through `ok`; a conflict (terminal row) is superseded; a
/// permanent refusal is refused; anything else is transient.
fn settle<T>(res: Result<T, AppError>, ok: impl FnOnce(T) -> Settled) -> Result<Settled, AppError> {
    match res {
        Ok(v) => Ok(ok(v)),
        Err(e) => match e.kind {
            ErrorKind::Conflict => Ok(Settled::Superseded {
                stale_epoch: false,
                why: e.message,
            }),
            ErrorKind::NotFound | ErrorKind::Validation | ErrorKind::InvalidJson => {
                Ok(Settled::Refused(e))
            }
            _ => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::settle;
    use crate::durable::Settled;
    use crate::error::AppError;

    #[test]
    fn refusals_settle_and_failures_retry() {
        let ok = settle(Ok(()), |()| Settled::Seated).unwrap();
        assert_eq!(ok.label(), "applied");
        let conflict = settle(Err::<(), _>(AppError::conflict("finished")), |()| {
            Settled::Seated
        })
        .unwrap();
        assert!(matches!(
            conflict,
            Settled::Superseded {
                stale_epoch: false,
                ..
            }
        ));
        let gone = settle(Err::<(), _>(AppError::not_found("no match")), |()| {
            Settled::Seated
        })
        .unwrap();
        assert_eq!(gone.label(), "refused");
        for transient in [
            AppError::unavailable("database unavailable"),
            AppError::internal(anyhow::anyhow!("server closed the connection unexpectedly")),
        ] {
            assert!(settle(Err::<(), _>(transient), |()| Settled::Seated).is_err());
        }
    }
}
