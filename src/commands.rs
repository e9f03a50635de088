//! The non-serving subcommands: migrate, admin, healthcheck, token, replay.
//!
//! The commands that use the server's database (`migrate`, `admin`, `replay verify`) find it
//! with the server's own settings (`RALLY_DATABASE_URL`, or `rally.db` in `RALLY_DATA_DIR`)
//! and never create an SQLite database as a side effect: a missing file is an error naming
//! the path looked at (`rally migrate --create` creates it on purpose).

use crate::auth;
use crate::config::DatabaseUrl;
use crate::db::tournaments::{self, AuditEntry};
use crate::db::{self, matches, players, AnyConnection, Db, PG_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::error::AppError;
use crate::ids::MatchId;
use crate::replay::{self, Replay};
use anyhow::{bail, Context};
use diesel::Connection;
use diesel_migrations::MigrationHarness;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Open the server's existing database. An SQLite file that does not exist is refused with the
/// absolute path looked at, instead of being created empty.
pub fn open_existing(url: &DatabaseUrl) -> anyhow::Result<Db> {
    if let DatabaseUrl::Sqlite(file) = url {
        if !file.is_file() {
            bail!(
                "no database at {}: this command works on the server's database and does not \
                 create one. Run it where the server runs (a relative RALLY_DATA_DIR or \
                 RALLY_DATABASE_URL is taken from the working directory), or set \
                 RALLY_DATABASE_URL / RALLY_DATA_DIR as the server has them",
                absolute(file).display()
            );
        }
        // Opening switches the file to WAL mode, which writes to it: check first that it is
        // an SQLite database at all (an empty file, as older versions of `rally admin` left
        // behind, is not).
        let mut header = [0u8; 16];
        let is_sqlite = std::fs::File::open(file)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
            .is_ok()
            && &header == b"SQLite format 3\0";
        if !is_sqlite {
            bail!(
                "the file at {} is not an SQLite database, so it has no rally tables: it is not \
                 the server's database (an empty file left by an earlier command can be deleted)",
                absolute(file).display()
            );
        }
    }
    Db::open(url, 1)
}

/// `path` made absolute against the working directory, for messages.
fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// How many of this backend's migrations have been applied to `db`, and how many are pending.
pub fn migration_state(db: &Db) -> anyhow::Result<(usize, usize)> {
    db.run_sync(|c| {
        let state = match c {
            AnyConnection::Postgresql(c) => c
                .applied_migrations()
                .and_then(|a| Ok((a.len(), c.pending_migrations(PG_MIGRATIONS)?.len()))),
            AnyConnection::Sqlite(c) => c
                .applied_migrations()
                .and_then(|a| Ok((a.len(), c.pending_migrations(SQLITE_MIGRATIONS)?.len()))),
        };
        state.map_err(|e| AppError::internal(anyhow::anyhow!("reading migrations: {e}")))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Open the server's database for an administrative command: it must exist and be fully
/// migrated (this command changes nothing else, so an outdated or empty database is refused
/// with what to do instead).
fn open_for_admin(url: &DatabaseUrl) -> anyhow::Result<Db> {
    let db = open_existing(url)?;
    let where_ = match url {
        DatabaseUrl::Sqlite(file) => absolute(file).display().to_string(),
        other => db::redact(other),
    };
    match migration_state(&db)? {
        (0, _) => bail!(
            "the database at {where_} has no rally tables: it is not the server's database \
             (an empty file left by an earlier command can be deleted)"
        ),
        (_, 0) => Ok(db),
        (_, pending) => bail!(
            "the database at {where_} has {pending} pending migration(s): run `rally migrate` \
             (or start the new server version) first"
        ),
    }
}

/// Postgres advisory lock held while migrating (any constant shared by every rally version:
/// "rally" in ASCII).
pub const MIGRATION_LOCK: i64 = 0x72_61_6c_6c_79;

/// Apply pending migrations, one process at a time: on Postgres a session advisory lock
/// ([`MIGRATION_LOCK`], on a connection of its own) serialises instances that start together
/// (several pods of a Deployment, `rally migrate` next to a starting server), so the second
/// finds nothing pending instead of failing on a half-created table. SQLite needs no lock:
/// several instances never share one file.
pub fn migrate_exclusive(url: &DatabaseUrl, db: &Db) -> anyhow::Result<usize> {
    use diesel::connection::SimpleConnection;
    let _lock = match url {
        DatabaseUrl::Postgres(_) => {
            let mut conn = db::ConnectionManager::new(url.clone())
                .connect_once()
                .context("cannot connect to take the migration lock")?;
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .context("cannot take the migration lock")?;
            // Held until this connection closes, after the migrations.
            Some(conn)
        }
        DatabaseUrl::Sqlite(_) => None,
    };
    db.migrate()
}

/// `rally migrate [--create]`.
pub fn migrate(url: &DatabaseUrl, create: bool) -> anyhow::Result<()> {
    let db = if create {
        Db::open(url, 1)?
    } else {
        open_existing(url).map_err(|e| anyhow::anyhow!("{e:#} (or pass --create)"))?
    };
    let n = migrate_exclusive(url, &db)?;
    println!("applied {n} migration(s) to {}", db::redact(url));
    Ok(())
}

/// `rally admin grant-organiser|revoke-organiser NAME`. Bumps the player's token epoch, so
/// tokens carrying the old role stop working at once.
pub fn set_organiser(url: &DatabaseUrl, name: &str, organiser: bool) -> anyhow::Result<()> {
    let db = open_for_admin(url)?;
    let row = db
        .run_sync(|c| players::by_name(c, name))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_context(|| format!("no player named {name:?}"))?;
    let role = row.role();
    let target = if organiser {
        if role == players::Role::Guest {
            bail!("{name:?} is a guest; only registered players can organise");
        }
        players::Role::Organiser
    } else {
        if role != players::Role::Organiser {
            bail!("{name:?} is not an organiser");
        }
        players::Role::Player
    };
    let audit = AuditEntry {
        actor_id: crate::roles::ADMIN_ACTOR.into(),
        actor_name: crate::roles::ADMIN_ACTOR_NAME.into(),
        action: if organiser {
            crate::roles::GRANT_ACTION
        } else {
            crate::roles::REVOKE_ACTION
        }
        .into(),
        tournament_id: None,
        target: Some(row.id.clone()),
        detail: serde_json::json!({ "name": row.name, "from": role.as_str(), "to": target.as_str() }),
    };
    // The role, the token epoch and the audit entry change together; running servers find
    // the entry and push the new role to the player's live sessions (crate::roles).
    db.run_sync(|c| {
        c.transaction::<_, AppError, _>(|c| {
            players::set_role(c, &row.id, target)?;
            tournaments::insert_audit(c, &audit)
        })
    })
    .map_err(|e: AppError| anyhow::anyhow!("{e}"))?;
    println!(
        "{} is now {}: their live sessions get the new role and a fresh token within a few \
         seconds; other tokens of theirs no longer work",
        row.name,
        target.as_str()
    );
    Ok(())
}

/// `rally healthcheck`: exit 0 when `/readyz` answers 200. `bind` is the server's
/// `RALLY_BIND`, probed when no `url` is given.
pub fn healthcheck(bind: &str, url: Option<&str>) -> anyhow::Result<()> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let bind = bind
                .replace("0.0.0.0", "127.0.0.1")
                .replace("[::]", "[::1]");
            format!("http://{bind}")
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let resp = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .with_context(|| format!("{base}/readyz did not answer"))?;
        if resp.status().is_success() {
            println!("ready");
            Ok(())
        } else {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            bail!("{base}/readyz answered {status}: {body}")
        }
    })
}

fn read_token(arg: &str) -> anyhow::Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s.trim().to_string())
    } else {
        Ok(arg.trim().to_string())
    }
}

/// `rally token attenuate --token T --check '…'…`: print the attenuated token.
pub fn attenuate(token: &str, checks: &[String]) -> anyhow::Result<()> {
    let token = read_token(token)?;
    let code = checks
        .iter()
        .map(|c| {
            let c = c.trim();
            if c.ends_with(';') {
                c.to_string()
            } else {
                format!("{c};")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    println!("{}", auth::attenuate(&token, &code)?);
    Ok(())
}

/// `rally token inspect --token T`: print the token's Datalog.
pub fn inspect(token: &str) -> anyhow::Result<()> {
    print!("{}", auth::inspect(&read_token(token)?)?);
    Ok(())
}

/// `rally replay verify <match-id | file>`: re-simulate a replay and compare its final state
/// hash. A target that is an existing file is read as replay JSON (what
/// `GET /api/v1/matches/{id}/replay` serves); otherwise it must be a match id, loaded from the
/// configured database. Prints `ok: <match> final hash <hash> (<ticks> ticks)`; any mismatch,
/// unknown or unfinished match, or unreadable file is an error.
pub fn replay_verify(database: &DatabaseUrl, target: &str) -> anyhow::Result<()> {
    let path = Path::new(target);
    let replay = if path.is_file() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {target}"))?;
        serde_json::from_str::<Replay>(&text)
            .with_context(|| format!("{target} is not a replay (JSON of a match replay)"))?
    } else if path.exists() {
        bail!("{target} is not a regular file");
    } else if let Some(id) = MatchId::parse(target) {
        load_replay(database, &id)?
    } else {
        bail!("{target} is neither a replay file nor a match id");
    };
    replay::verify(&replay)
        .with_context(|| format!("replay of match {} does not verify", replay.r#match))?;
    println!(
        "ok: {} final hash {} ({} ticks)",
        replay.r#match, replay.final_hash, replay.ticks
    );
    Ok(())
}

/// The replay of match `id` from the database at `url` (never created or migrated here: this
/// command only reads).
fn load_replay(url: &DatabaseUrl, id: &MatchId) -> anyhow::Result<Replay> {
    let db = open_existing(url).with_context(|| format!("cannot look up match {id}"))?;
    let row = db
        .run_sync(|c| matches::get(c, id.as_str()))
        .map_err(|e| anyhow::anyhow!("cannot read match {id}: {e}"))?
        .with_context(|| format!("no match {id} in {}", db::redact(url)))?;
    let seats = db
        .run_sync(|c| matches::seats_of(c, &[id.as_str()]))
        .map_err(|e| anyhow::anyhow!("cannot read match {id}: {e}"))?;
    row.replay(seats.get(&row.id).map_or(&[], |s| s))
        .map_err(|e| match e.kind {
            // A corrupt stored log or config: the cause is the useful part.
            crate::error::ErrorKind::Internal => anyhow::anyhow!("match {id}: {e}"),
            _ => anyhow::anyhow!("{}", e.message),
        })
}
