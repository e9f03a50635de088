//! [`BotError`]: everything that can go wrong for a bot, typed so that the load generator can
//! count errors by kind and tests can match on the server's error code.

use std::borrow::Cow;
use std::time::Duration;

/// A bot failure. Any `error` message from the server and any close the bot did not ask for is
/// an error: a bot that speaks the protocol correctly never sees one.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The base URL could not be turned into HTTP and WebSocket endpoints.
    #[error("bad server URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP call failed below the status line (connect, timeout, body).
    #[error("HTTP {op}: {source}")]
    Http {
        /// Which call (`guest`, `create_room`).
        op: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// An HTTP call answered with an unexpected status.
    #[error("HTTP {op}: status {status}: {body}")]
    HttpStatus {
        /// Which call.
        op: &'static str,
        /// The status code.
        status: u16,
        /// The response body, truncated.
        body: String,
        /// `Retry-After` seconds, when the server sent one (429).
        retry_after: Option<u64>,
    },
    /// The WebSocket handshake failed.
    #[error("WebSocket connect to {url}: {source}")]
    Connect {
        /// The `ws://` URL.
        url: String,
        /// The handshake error.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The WebSocket failed while open (I/O error, protocol violation by the server).
    #[error("WebSocket: {0}")]
    Ws(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the socket (or it ended) while the bot did not expect it.
    #[error("connection closed by the server (code {code:?}): {reason}")]
    Closed {
        /// The close code, if a close frame was received (see `protocol::close`).
        code: Option<u16>,
        /// The close reason, or a description of how the connection ended.
        reason: String,
    },
    /// The server sent an `error` message.
    #[error("server error {code}: {message}")]
    Server {
        /// The machine-readable code (see `protocol::code`).
        code: String,
        /// The human-readable message.
        message: String,
    },
    /// Nothing arrived in time.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the bot was waiting for.
        waiting_for: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// A server frame could not be decoded as the protocol describes.
    #[error("undecodable server message ({reason}): {frame}")]
    Decode {
        /// The decoder's complaint.
        reason: String,
        /// The frame, truncated.
        frame: String,
    },
    /// The server sent something the protocol does not allow at this point.
    #[error("protocol violation: expected {expected}, got {got}")]
    Unexpected {
        /// What the bot expected.
        expected: &'static str,
        /// What it got, briefly.
        got: String,
    },
    /// Quick match only: every other bot has finished or failed, so nobody is left to pair with.
    /// A consequence of another bot's error, reported separately from errors.
    #[error("stranded in the queue: no other bot is left to play")]
    Stranded,
    /// A timed run ended (`--duration`) before this bot's match could start; not an error.
    #[error("the run ended before the match started")]
    RunOver,
    /// After a reconnect, `welcome.room` names another room than the interrupted match's: a
    /// tournament replays a match that died with its instance in a new room. The caller plays
    /// that one (a quick-match bot never sees this).
    #[error("the interrupted match is replayed in room {room}")]
    Replaced {
        /// The new room.
        room: String,
    },
}

/// Result with a [`BotError`].
pub type BotResult<T> = Result<T, BotError>;

impl BotError {
    /// A short, bounded label for counting errors by kind: the variant, plus the server's error
    /// code or the close code where there is one (`server:room_full`, `closed:4011`).
    pub fn kind(&self) -> Cow<'static, str> {
        match self {
            Self::BadUrl { .. } => "bad_url".into(),
            Self::Http { .. } => "http".into(),
            Self::HttpStatus { status, .. } => format!("http_status:{status}").into(),
            Self::Connect { .. } => "connect".into(),
            Self::Ws(_) => "ws".into(),
            Self::Closed { code: Some(c), .. } => format!("closed:{c}").into(),
            Self::Closed { code: None, .. } => "closed".into(),
            Self::Server { code, .. } => format!("server:{}", truncate(code, 32)).into(),
            Self::Timeout { .. } => "timeout".into(),
            Self::Decode { .. } => "decode".into(),
            Self::Unexpected { .. } => "unexpected".into(),
            Self::Stranded => "stranded".into(),
            Self::RunOver => "run_over".into(),
            Self::Replaced { .. } => "replaced".into(),
        }
    }

    /// Whether the connection was lost (closed by the server or broken), as opposed to an error
    /// the bot could have carried on after.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Closed { .. } | Self::Ws(_))
    }

    /// Whether a client should reconnect and rejoin after this error (protocol §6): the
    /// connection broke or ended without a close frame, or the server closed it for a reason
    /// that invites a reconnect (going away, restart or room moved, overloaded, heartbeat, slow
    /// reader), or sent `unavailable` (the error that precedes those closes). A takeover
    /// (4010), a rejected token or a rate limit does not.
    pub fn invites_reconnect(&self) -> bool {
        match self {
            Self::Ws(_) => true,
            Self::Server { code, .. } => code == crate::protocol::code::UNAVAILABLE,
            Self::Closed { code, .. } => {
                matches!(
                    code,
                    None | Some(1001 | 1006 | 1011 | 1012 | 1013 | 4009 | 4011)
                )
            }
            _ => false,
        }
    }

    /// The server's error code, for `Server` errors.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Self::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The close code, for `Closed` errors that carried one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Self::Closed { code, .. } => *code,
            _ => None,
        }
    }
}

/// At most `max` characters of `s`, for error messages that may quote server input.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_bounded_labels() {
        let e = BotError::Server {
            code: "room_full".into(),
            message: "x".into(),
        };
        assert_eq!(e.kind(), "server:room_full");
        assert_eq!(e.server_code(), Some("room_full"));
        let c = BotError::Closed {
            code: Some(4011),
            reason: String::new(),
        };
        assert_eq!(c.kind(), "closed:4011");
        assert!(c.is_disconnect());
        assert_eq!(c.close_code(), Some(4011));
        let long = BotError::Server {
            code: "x".repeat(100),
            message: String::new(),
        };
        assert!(long.kind().chars().count() <= "server:".len() + 33);
        assert!(!BotError::Stranded.is_disconnect());
    }
}
