//! [`Api`]: the few HTTP calls a bot needs — a guest or registered account, a private room,
//! entering a tournament — and the WebSocket URL derived from the same base URL.

use reqwest::StatusCode;
use serde::Deserialize;
use std::time::{Duration, Instant};
use url::Url;

use super::error::{truncate, BotError, BotResult};

/// A player account a bot plays as.
#[derive(Clone, Debug)]
pub struct Account {
    /// Bearer token (biscuit, base64): `Authorization: Bearer …` and the WebSocket `auth`.
    pub token: String,
    /// Player id.
    pub player_id: String,
    /// Display name.
    pub name: String,
}

/// A private room created over HTTP.
#[derive(Clone, Debug, Deserialize)]
pub struct CreatedRoom {
    /// Room id.
    pub room: String,
    /// Join code for `{"type":"join","code":…}`.
    pub code: String,
    /// Match id.
    #[serde(rename = "match")]
    pub match_id: String,
}

/// HTTP client for one server, sharing one connection pool.
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    ws: String,
}

/// Longest a bot waits on one `Retry-After` before trying again: the server's per-address
/// window is a minute, so waiting longer never helps.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Api {
    /// A client for the server at `base` (`http://host:port`, optionally with a path prefix);
    /// every request gives up after `timeout`.
    pub fn new(base: &str, timeout: Duration) -> BotResult<Self> {
        let bad = |reason: String| BotError::BadUrl {
            url: base.to_owned(),
            reason,
        };
        let mut url = Url::parse(base).map_err(|e| bad(e.to_string()))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let ws_scheme = match url.scheme() {
            "http" => "ws",
            "https" => "wss",
            other => return Err(bad(format!("expected http:// or https://, got {other}://"))),
        };
        let mut ws = url.join("ws").map_err(|e| bad(e.to_string()))?;
        ws.set_scheme(ws_scheme)
            .map_err(|()| bad("cannot derive the ws:// URL".into()))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|source| BotError::Http {
                op: "client",
                source,
            })?;
        Ok(Self {
            http,
            base: url,
            ws: ws.into(),
        })
    }

    /// The WebSocket endpoint, `ws://host:port/ws`.
    pub fn ws_url(&self) -> &str {
        &self.ws
    }

    /// The base URL, with a trailing slash.
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> BotResult<Url> {
        self.base.join(path).map_err(|e| BotError::BadUrl {
            url: self.base.to_string(),
            reason: e.to_string(),
        })
    }

    /// `POST /api/v1/auth/guest`: a new guest account.
    pub async fn guest(&self) -> BotResult<Account> {
        #[derive(Deserialize)]
        struct Player {
            id: String,
            name: String,
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: String,
            player: Player,
        }
        let op = "guest";
        let resp = self
            .http
            .post(self.url("api/v1/auth/guest")?)
            .json(&serde_json::json!({}))
            .send()
            .await
            .map_err(|source| BotError::Http { op, source })?;
        let body: TokenResponse = read_json(op, resp, StatusCode::CREATED).await?;
        Ok(Account {
            token: body.token,
            player_id: body.player.id,
            name: body.player.name,
        })
    }

    /// [`Api::guest`], waiting out `429 Too Many Requests` (the server limits account creation
    /// per client address) until `give_up_at`. Returns the account and how many times it was
    /// told to wait.
    pub async fn guest_retrying(&self, give_up_at: Instant) -> BotResult<(Account, u32)> {
        let mut waits = 0;
        loop {
            match self.guest().await {
                Err(BotError::HttpStatus {
                    status: 429,
                    retry_after,
                    ..
                }) if Instant::now() < give_up_at => {
                    waits += 1;
                    let wait = Duration::from_secs(retry_after.unwrap_or(1).max(1))
                        .min(MAX_RETRY_AFTER)
                        .min(give_up_at.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(wait).await;
                }
                other => return other.map(|a| (a, waits)),
            }
        }
    }

    /// `POST /api/v1/auth/register`: a registered player (tournaments refuse guests),
    /// waiting out `429` like [`Api::guest_retrying`] until `give_up_at`.
    pub async fn register_retrying(
        &self,
        name: &str,
        password: &str,
        give_up_at: Instant,
    ) -> BotResult<Account> {
        #[derive(Deserialize)]
        struct Player {
            id: String,
            name: String,
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: String,
            player: Player,
        }
        let op = "register";
        loop {
            let resp = self
                .http
                .post(self.url("api/v1/auth/register")?)
                .json(&serde_json::json!({ "name": name, "password": password }))
                .send()
                .await
                .map_err(|source| BotError::Http { op, source })?;
            match read_json::<TokenResponse>(op, resp, StatusCode::CREATED).await {
                Err(BotError::HttpStatus {
                    status: 429,
                    retry_after,
                    ..
                }) if Instant::now() < give_up_at => {
                    let wait = Duration::from_secs(retry_after.unwrap_or(1).max(1))
                        .min(MAX_RETRY_AFTER)
                        .min(give_up_at.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(wait).await;
                }
                other => {
                    return other.map(|b| Account {
                        token: b.token,
                        player_id: b.player.id,
                        name: b.player.name,
                    })
                }
            }
        }
    }

    /// `POST /api/v1/tournaments/{id}/join`: enter a tournament (registered players).
    pub async fn join_tournament(&self, token: &str, tournament: &str) -> BotResult<()> {
        let op = "join_tournament";
        let resp = self
            .http
            .post(self.url(&format!("api/v1/tournaments/{tournament}/join"))?)
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .map_err(|source| BotError::Http { op, source })?;
        read_json::<serde_json::Value>(op, resp, StatusCode::OK)
            .await
            .map(|_| ())
    }

    /// `GET /api/v1/tournaments/{id}`: the tournament view.
    pub async fn tournament(&self, tournament: &str) -> BotResult<serde_json::Value> {
        let op = "tournament";
        let resp = self
            .http
            .get(self.url(&format!("api/v1/tournaments/{tournament}"))?)
            .send()
            .await
            .map_err(|source| BotError::Http { op, source })?;
        read_json(op, resp, StatusCode::OK).await
    }

    /// `POST /api/v1/rooms`: a private room of `game` with `config` (game settings, e.g.
    /// `{"points_to_win":3}`), rated or not.
    pub async fn create_room(
        &self,
        token: &str,
        game: &str,
        rated: bool,
        config: serde_json::Value,
    ) -> BotResult<CreatedRoom> {
        let op = "create_room";
        let resp = self
            .http
            .post(self.url("api/v1/rooms")?)
            .bearer_auth(token)
            .json(&serde_json::json!({ "game": game, "rated": rated, "config": config }))
            .send()
            .await
            .map_err(|source| BotError::Http { op, source })?;
        read_json(op, resp, StatusCode::CREATED).await
    }
}

/// The body of `resp` as `T` when the status is `want`, else a typed error with the body.
async fn read_json<T: serde::de::DeserializeOwned>(
    op: &'static str,
    resp: reqwest::Response,
    want: StatusCode,
) -> BotResult<T> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let text = resp
        .text()
        .await
        .map_err(|source| BotError::Http { op, source })?;
    if status != want {
        return Err(BotError::HttpStatus {
            op,
            status: status.as_u16(),
            body: truncate(&text, 300),
            retry_after,
        });
    }
    serde_json::from_str(&text).map_err(|e| BotError::Decode {
        reason: format!("{op} response: {e}"),
        frame: truncate(&text, 300),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn derives_the_websocket_url() {
        let t = Duration::from_secs(1);
        let cases = [
            ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080/ws"),
            ("https://rally.example/game", "wss://rally.example/game/ws"),
            ("https://rally.example/game/", "wss://rally.example/game/ws"),
        ];
        for (base, ws) in cases {
            let api = Api::new(base, t).unwrap();
            assert_eq!(api.ws_url(), ws, "{base}");
        }
        let api = Api::new("http://h:1/p", t).unwrap();
        assert_eq!(
            api.url("api/v1/rooms").unwrap().as_str(),
            "http://h:1/p/api/v1/rooms"
        );
        assert!(matches!(
            Api::new("ftp://h", t),
            Err(BotError::BadUrl { .. })
        ));
        assert!(matches!(Api::new("nope", t), Err(BotError::BadUrl { .. })));
    }
}
