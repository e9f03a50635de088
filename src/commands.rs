//! The non-serving subcommands: migrate, admin, healthcheck, token, replay.

use crate::auth;
use crate::config::{Config, DatabaseUrl};
use crate::db::{self, matches, players, Db};
use crate::error::AppError;
use crate::ids::MatchId;
use crate::replay::{self, Replay};
use anyhow::{bail, Context};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// `rally migrate`.
pub fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = Db::open(&config.database, 1)?;
    let n = db.migrate()?;
    println!("applied {n} migration(s)");
    Ok(())
}

/// `rally admin grant-organiser|revoke-organiser NAME`. Bumps the player's token epoch, so
/// tokens carrying the old role stop working at once.
pub fn set_organiser(config: &Config, name: &str, organiser: bool) -> anyhow::Result<()> {
    let db = Db::open(&config.database, 1)?;
    db.migrate()?;
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
    db.run_sync(|c| players::set_role(c, &row.id, target))
        .map_err(|e: AppError| anyhow::anyhow!("{e}"))?;
    println!(
        "{} is now {} (their existing tokens no longer work)",
        row.name,
        target.as_str()
    );
    Ok(())
}

/// `rally healthcheck`: exit 0 when `/readyz` answers 200.
pub fn healthcheck(config: &Config, url: Option<&str>) -> anyhow::Result<()> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let bind = config
                .bind
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
pub fn replay_verify(config: &Config, target: &str) -> anyhow::Result<()> {
    let path = Path::new(target);
    let replay = if path.is_file() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {target}"))?;
        serde_json::from_str::<Replay>(&text)
            .with_context(|| format!("{target} is not a replay (JSON of a match replay)"))?
    } else if path.exists() {
        bail!("{target} is not a regular file");
    } else if let Some(id) = MatchId::parse(target) {
        load_replay(&config.database, &id)?
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
    if let DatabaseUrl::Sqlite(file) = url {
        if !file.is_file() {
            bail!(
                "no database at {} (set RALLY_DATABASE_URL), so no match {id}",
                file.display()
            );
        }
    }
    let db = Db::open(url, 1)?;
    let row = db
        .run_sync(|c| matches::get(c, id.as_str()))
        .map_err(|e| anyhow::anyhow!("cannot read match {id}: {e}"))?
        .with_context(|| format!("no match {id} in {}", db::redact(url)))?;
    row.replay().map_err(|e| match e.kind {
        // A corrupt stored log or config: the cause is the useful part.
        crate::error::ErrorKind::Internal => anyhow::anyhow!("match {id}: {e}"),
        _ => anyhow::anyhow!("{}", e.message),
    })
}
