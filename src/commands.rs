//! The non-serving subcommands: migrate, admin, healthcheck, token.

use crate::auth;
use crate::config::Config;
use crate::db::{players, Db};
use crate::error::AppError;
use anyhow::{bail, Context};
use std::io::Read;
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
