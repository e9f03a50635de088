//! The WebSocket wire protocol, version [`PROTOCOL_VERSION`] (documented in
//! `docs/protocol.md`, a contract with clients). Pure types and constants: no actix, no I/O.
//!
//! Two encodings of the same messages, chosen per connection with `Sec-WebSocket-Protocol`
//! ([`bin::negotiate`]): `rally.v1.json` (the default: every frame a JSON text frame holding
//! one object with a `"type"` field) and `rally.v1.bin` ([`bin`]: MessagePack binary frames).
//! The first client message on a socket must be `auth`.

pub mod bin;
pub mod msgpack;

pub use bin::Encoding;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Protocol version announced in `welcome`. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest accepted WebSocket frame, bytes. Client messages are tiny (an input is ~40 bytes,
/// an auth message carries a token of at most 4 KiB); 8 KiB leaves room and bounds memory.
pub const MAX_FRAME_BYTES: usize = 8 * 1024;
/// Largest reassembled message (fragmented frames), bytes.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Messages per second a client may send, sustained: at least twice a 60 Hz tick rate
/// (clients may send an input per intent change, up to 2× the tick rate) plus pings.
pub const MAX_MESSAGES_PER_SEC: u32 = 150;
/// Burst allowance above the sustained rate.
pub const MESSAGE_BURST: u32 = 75;
/// Protocol errors (malformed JSON, unknown type, bad fields) tolerated before the socket is
/// closed with [`close::PROTOCOL`]; a buggy client sees its errors before being cut off.
pub const MAX_PROTOCOL_ERRORS: u32 = 10;

/// Longest reason in a close frame the server sends, bytes (the error message it repeats is
/// cut there, at a character boundary).
pub const MAX_CLOSE_REASON_BYTES: usize = 100;

/// Tournaments one session may subscribe to at once: a viewer follows one or two; the bound
/// keeps a client from making every tournament actor fan out to it.
pub const MAX_SUBSCRIPTIONS: usize = 16;

/// Close codes (RFC 6455 private range 4000–4999, plus standard ones).
pub mod close {
    /// Normal closure (client `leave` of the session, or server-side goodbye).
    pub const NORMAL: u16 = 1000;
    /// Server is shutting down or handing over: reconnect (to any instance).
    pub const RESTART: u16 = 1012;
    /// A binary frame on a `rally.v1.json` connection, or a text frame on a `rally.v1.bin`
    /// one.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame or reassembled message exceeded the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Too many protocol errors.
    pub const PROTOCOL: u16 = 4000;
    /// Authentication failed (invalid, expired or revoked token).
    pub const UNAUTHORIZED: u16 = 4001;
    /// No `auth` message within the authentication window.
    pub const AUTH_TIMEOUT: u16 = 4002;
    /// The token is valid but may not open a session (attenuated away).
    pub const FORBIDDEN: u16 = 4003;
    /// Message rate limit exceeded.
    pub const RATE_LIMITED: u16 = 4008;
    /// Heartbeat: the peer stopped answering pings.
    pub const HEARTBEAT_TIMEOUT: u16 = 4009;
    /// A newer connection of the same player took over this session.
    pub const SESSION_REPLACED: u16 = 4010;
    /// The client did not read fast enough; its outbound queue overflowed.
    pub const SLOW_CLIENT: u16 = 4011;
}

/// Error codes carried by `error` messages.
pub mod code {
    /// The frame is not valid JSON / not an object with a known shape.
    pub const INVALID_JSON: &str = "invalid_json";
    /// `type` is missing or unknown.
    pub const UNKNOWN_TYPE: &str = "unknown_type";
    /// A field has the wrong type or value.
    pub const INVALID_FIELD: &str = "invalid_field";
    /// A message other than `auth` before authentication.
    pub const NOT_AUTHENTICATED: &str = "not_authenticated";
    /// A second `auth`.
    pub const ALREADY_AUTHENTICATED: &str = "already_authenticated";
    /// Token rejected (then closed with 4001).
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// Not allowed (role or attenuation).
    pub const FORBIDDEN: &str = "forbidden";
    /// No such room (or code).
    pub const NOT_FOUND: &str = "not_found";
    /// Every seat is taken.
    pub const ROOM_FULL: &str = "room_full";
    /// The operation needs a room and the session is in none.
    pub const NOT_IN_ROOM: &str = "not_in_room";
    /// Inputs or resign from a spectator / a non-seated session.
    pub const NOT_A_PLAYER: &str = "not_a_player";
    /// The game refused the input (wrong shape, game over).
    pub const INVALID_INPUT: &str = "invalid_input";
    /// The room's input queue was full; the input was dropped.
    pub const INPUT_DROPPED: &str = "input_dropped";
    /// Already queued / already in a room.
    pub const CONFLICT: &str = "conflict";
    /// Message rate exceeded (then closed with 4008).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Binary frame on a `rally.v1.json` connection (then closed with 1003).
    pub const BINARY_NOT_SUPPORTED: &str = "binary_not_supported";
    /// Text frame on a `rally.v1.bin` connection (then closed with 1003).
    pub const TEXT_NOT_SUPPORTED: &str = "text_not_supported";
    /// A `rally.v1.bin` frame that is not one MessagePack value of the protocol's subset, or
    /// neither a map nor an array (the binary counterpart of `invalid_json`).
    pub const INVALID_BIN: &str = "invalid_bin";
    /// Message too large (then closed with 1009).
    pub const TOO_BIG: &str = "too_big";
    /// Server-side failure.
    pub const INTERNAL: &str = "internal";
    /// Service temporarily unavailable (database, registry).
    pub const UNAVAILABLE: &str = "unavailable";
}

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// First message: authenticate with a bearer token.
    Auth {
        /// biscuit token (base64).
        token: String,
    },
    /// Clock sync / RTT probe; answered with `pong`.
    Ping {
        /// Client-chosen id echoed back.
        id: u64,
        /// Client clock (ms), echoed back.
        #[serde(default)]
        client_time: f64,
    },
    /// Enter the quick-match queue.
    Queue {
        /// Game to play (`"pong"`).
        #[serde(default = "default_game")]
        game: String,
        /// Players per match (default: the game's `default_queue_size`; within its seat
        /// range, else `invalid_field`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u8>,
    },
    /// Leave the quick-match queue.
    CancelQueue,
    /// Take (or take back) a seat in a room, by id or join code.
    Join {
        /// Room id.
        #[serde(default)]
        room: Option<String>,
        /// Private room join code.
        #[serde(default)]
        code: Option<String>,
    },
    /// Watch a room read-only, by id or join code.
    Spectate {
        /// Room id.
        #[serde(default)]
        room: Option<String>,
        /// Private room join code.
        #[serde(default)]
        code: Option<String>,
    },
    /// A game input (an intent, e.g. `"up"`), applied at the tick it names when it arrives in
    /// time, otherwise at the next tick (`docs/protocol.md` §9).
    Input {
        /// Client sequence number, strictly increasing; acked in snapshots.
        seq: u64,
        /// Game-specific input value.
        input: serde_json::Value,
        /// The tick the input is for: the first snapshot tick that should reflect it. None:
        /// the next tick (as before this field existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tick: Option<u64>,
    },
    /// Concede the current match (the opponent wins).
    Resign,
    /// Leave the current room (a seated player in a running match resigns).
    Leave,
    /// Ask which room this player is in (after a reload); answered with `location`.
    Where,
    /// Receive a running tournament's live events; answered with `subscribed`, then a
    /// `tournament` message with `"event":"state"`.
    Subscribe {
        /// Tournament id.
        tournament: String,
    },
    /// Stop receiving a tournament's events; answered with `unsubscribed`.
    Unsubscribe {
        /// Tournament id.
        tournament: String,
    },
}

fn default_game() -> String {
    "pong".to_string()
}

/// A player as shown in room messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeatView {
    /// Seat index.
    pub seat: u8,
    /// Player id.
    pub id: String,
    /// Player name.
    pub name: String,
    /// Whether the player currently has a live session attached.
    pub connected: bool,
    /// Rating at match start (rounded).
    pub rating: i64,
}

/// Messages the server sends. Snapshots are built by [`snapshot_frame`] (pre-encoded once per
/// tick), everything else through this enum.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg<'a> {
    /// Authentication succeeded.
    Welcome {
        /// Protocol version.
        protocol: u32,
        /// This session's id.
        session: &'a str,
        /// Who you are.
        player: serde_json::Value,
        /// The room this player has a seat in, if any (rejoin it with `join`).
        room: Option<&'a str>,
        /// Server clock, Unix ms.
        server_time: u64,
    },
    /// Answer to `ping`.
    Pong {
        /// Echoed id.
        id: u64,
        /// Echoed client time.
        client_time: f64,
        /// Server clock, Unix ms.
        server_time: u64,
    },
    /// Queued for quick match.
    Queued {
        /// Game.
        game: &'a str,
        /// Players per match.
        size: u8,
    },
    /// Left the queue.
    QueueLeft,
    /// A quick match was found: join this room.
    MatchFound {
        /// Room id.
        room: &'a str,
        /// Join before this many milliseconds pass, or forfeit the slot.
        join_within_ms: u64,
    },
    /// Joined a room (as player or spectator).
    Joined {
        /// Room id.
        room: &'a str,
        /// Match id.
        r#match: &'a str,
        /// `player` or `spectator`.
        role: &'a str,
        /// Your seat, for players.
        seat: Option<u8>,
        /// Static game info (field size etc.).
        info: &'a serde_json::Value,
        /// Tick rate, Hz.
        tick_hz: u32,
    },
    /// Room lifecycle and seats.
    Room {
        /// Room id.
        room: &'a str,
        /// `waiting`, `countdown`, `playing`, `paused`, `finished`.
        state: &'a str,
        /// Seats.
        players: &'a [SeatView],
        /// Spectator count.
        spectators: usize,
        /// Milliseconds until play starts (countdown) or until the absent player forfeits
        /// (paused).
        remaining_ms: Option<u64>,
    },
    /// A game event (score, hit, serve).
    Event {
        /// Tick it happened at.
        tick: u64,
        /// The event.
        event: &'a crate::game::GameEvent,
    },
    /// The match ended.
    MatchEnd {
        /// Room id.
        room: &'a str,
        /// Match id.
        r#match: &'a str,
        /// Outcome.
        outcome: &'a crate::game::Outcome,
        /// Whether ratings change.
        rated: bool,
    },
    /// Rating changes after a rated match was persisted.
    Ratings {
        /// Match id.
        r#match: &'a str,
        /// One entry per seat.
        changes: &'a [RatingChange],
    },
    /// You left the room.
    Left {
        /// Room id.
        room: &'a str,
    },
    /// Answer to `where`.
    Location {
        /// Room with your seat, if any.
        room: Option<&'a str>,
    },
    /// Answer to `subscribe`.
    Subscribed {
        /// Tournament id.
        tournament: &'a str,
    },
    /// Answer to `unsubscribe`.
    Unsubscribed {
        /// Tournament id.
        tournament: &'a str,
    },
    /// A tournament event: to subscribers, and `match_ready` also to the match's two players
    /// whether they subscribed or not ("your match is ready, room X").
    Tournament {
        /// Tournament id.
        tournament: &'a str,
        /// What happened (an `event` field and its own fields).
        #[serde(flatten)]
        event: &'a TournamentEvent,
    },
    /// Something was wrong with a message, or the server is closing the socket.
    Error {
        /// Machine-readable code (see [`code`]).
        code: &'a str,
        /// Human-readable message.
        message: &'a str,
    },
    /// Your account changed (an administrator granted or took away a role): who you are now,
    /// and a token for it (`null` when this session authenticated with an attenuated token,
    /// which the server will not widen: sign in again to get one).
    Account {
        /// Who you are, as in `welcome.player`.
        player: serde_json::Value,
        /// A fresh token carrying the new role; your previous tokens no longer work.
        token: Option<&'a str>,
    },
}

/// A player as tournament events show them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TournamentPlayer {
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Seed (from 1).
    pub seed: Option<u32>,
}

/// Tournament events, tagged by `event`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TournamentEvent {
    /// The whole tournament view (the document of `GET /api/v1/tournaments/{id}`): on
    /// subscribe and after every bracket change.
    State {
        /// The view.
        view: serde_json::Value,
    },
    /// Registration opened or closed, the tournament started, finished or was cancelled.
    Status {
        /// `draft`, `registration`, `running`, `finished`, `cancelled`.
        status: String,
        /// Whether players may join now.
        registration_open: bool,
    },
    /// A player entered or withdrew.
    Entrants {
        /// Entrants now.
        count: usize,
    },
    /// A match's room is ready: its two players must join it within `join_within_ms` or
    /// forfeit.
    MatchReady {
        /// Bracket slot key (`r2m1`).
        key: String,
        /// Round.
        round: u32,
        /// Match id.
        match_id: String,
        /// Room to join (players) or spectate (everyone else).
        room: String,
        /// Players by seat.
        players: Vec<TournamentPlayer>,
        /// No-show window.
        join_within_ms: u64,
    },
    /// Both players came; play began.
    MatchStarted {
        /// Slot key.
        key: String,
        /// Match id.
        match_id: String,
        /// Room.
        room: String,
    },
    /// A result was recorded.
    MatchFinished {
        /// Slot key.
        key: String,
        /// Match id.
        match_id: String,
        /// Winner's player id.
        winner: String,
        /// Loser's player id.
        loser: String,
        /// Points by seat.
        scores: [u32; 2],
        /// The loser did not play it out (no-show, disqualified, resigned, left).
        forfeit: bool,
        /// Stored end reason (`score`, `forfeit`, `resign`, `settled`, …).
        reason: String,
    },
    /// A player of a single-elimination tournament is out.
    Eliminated {
        /// Player id.
        player: String,
    },
    /// Every match of this round (and the earlier ones) is finished.
    RoundComplete {
        /// Round.
        round: u32,
    },
    /// The tournament is over.
    Champion {
        /// The winner.
        player: TournamentPlayer,
    },
}

/// One player's rating change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatingChange {
    /// Seat.
    pub seat: u8,
    /// Player id.
    pub player: String,
    /// Rating before (rounded).
    pub before: i64,
    /// Rating after (rounded).
    pub after: i64,
}

impl ServerMsg<'_> {
    /// Encode as a text frame.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"encoding failed"}"#.to_string()
        })
    }

    /// Encode for a connection speaking `encoding` (a `rally.v1.bin` message is its map form).
    pub fn encode_for(&self, encoding: Encoding) -> bytes::Bytes {
        let json = self.encode();
        match encoding {
            Encoding::Json => bytes::Bytes::from(json),
            Encoding::Bin => bytes::Bytes::from(bin::from_server_json(&json)),
        }
    }
}

/// Encode a snapshot frame once per tick:
/// `{"type":"snapshot","tick":T,"acks":[…],"ack_ticks":[…],"state":…}`. `acks[seat]` is the
/// last input sequence applied for that seat (0 before any), `ack_ticks[seat]` the tick that
/// input took effect at (the first snapshot tick reflecting it; 0 before any).
pub fn snapshot_frame(tick: u64, acks: &[u64], ack_ticks: &[u64], state: &RawValue) -> String {
    #[derive(Serialize)]
    struct Snapshot<'a> {
        r#type: &'static str,
        tick: u64,
        acks: &'a [u64],
        ack_ticks: &'a [u64],
        state: &'a RawValue,
    }
    serde_json::to_string(&Snapshot {
        r#type: "snapshot",
        tick,
        acks,
        ack_ticks,
        state,
    })
    .unwrap_or_default()
}

/// Why a client message could not be parsed: (code, message). Not JSON, or JSON that is not an
/// object: `invalid_json`. An object whose `type` is missing, not a string or unknown:
/// `unknown_type`. A known type with a bad or unknown field: `invalid_field`.
pub fn parse_client(text: &str) -> Result<ClientMsg, (&'static str, String)> {
    match serde_json::from_str::<ClientMsg>(text) {
        Ok(m) => Ok(m),
        Err(e) => {
            // Distinguish unknown types from malformed JSON and bad fields.
            match serde_json::from_str::<serde_json::Value>(text) {
                Err(_) => Err((code::INVALID_JSON, format!("not valid JSON: {e}"))),
                Ok(o @ serde_json::Value::Object(_)) => Err(classify(&o, &e)),
                Ok(_) => Err((
                    code::INVALID_JSON,
                    "expected an object with a \"type\"".into(),
                )),
            }
        }
    }
}

/// [`parse_client`] for a message already in the JSON data model (the map form of
/// `rally.v1.bin`): an object with a known `type` and valid fields.
pub fn parse_client_value(value: serde_json::Value) -> Result<ClientMsg, (&'static str, String)> {
    match ClientMsg::deserialize(&value) {
        Ok(m) => Ok(m),
        Err(e) => Err(classify(&value, &e)),
    }
}

/// Why an object is not a client message: no or an unknown `type` (`unknown_type`), or a
/// known type with bad fields (`invalid_field`).
fn classify(value: &serde_json::Value, e: &dyn std::fmt::Display) -> (&'static str, String) {
    match value.get("type") {
        None => (code::UNKNOWN_TYPE, "missing \"type\"".into()),
        Some(serde_json::Value::String(t)) if KNOWN_TYPES.contains(&t.as_str()) => {
            (code::INVALID_FIELD, format!("bad {t} message: {e}"))
        }
        Some(serde_json::Value::String(t)) => {
            (code::UNKNOWN_TYPE, format!("unknown message type {t:?}"))
        }
        Some(_) => (code::UNKNOWN_TYPE, "\"type\" must be a string".into()),
    }
}

/// Client message types, for error reporting.
pub const KNOWN_TYPES: &[&str] = &[
    "auth",
    "ping",
    "queue",
    "cancel_queue",
    "join",
    "spectate",
    "input",
    "resign",
    "leave",
    "where",
    "subscribe",
    "unsubscribe",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_message() {
        let cases = [
            (
                r#"{"type":"auth","token":"abc"}"#,
                ClientMsg::Auth {
                    token: "abc".into(),
                },
            ),
            (
                r#"{"type":"ping","id":3,"client_time":12.5}"#,
                ClientMsg::Ping {
                    id: 3,
                    client_time: 12.5,
                },
            ),
            (
                r#"{"type":"queue"}"#,
                ClientMsg::Queue {
                    game: "pong".into(),
                    size: None,
                },
            ),
            (
                r#"{"type":"queue","game":"cycles","size":4}"#,
                ClientMsg::Queue {
                    game: "cycles".into(),
                    size: Some(4),
                },
            ),
            (r#"{"type":"cancel_queue"}"#, ClientMsg::CancelQueue),
            (
                r#"{"type":"join","code":"ABC123"}"#,
                ClientMsg::Join {
                    room: None,
                    code: Some("ABC123".into()),
                },
            ),
            (
                r#"{"type":"spectate","room":"r"}"#,
                ClientMsg::Spectate {
                    room: Some("r".into()),
                    code: None,
                },
            ),
            (
                r#"{"type":"input","seq":7,"input":"up"}"#,
                ClientMsg::Input {
                    seq: 7,
                    input: serde_json::json!("up"),
                    tick: None,
                },
            ),
            (
                r#"{"type":"input","seq":8,"input":"stop","tick":312}"#,
                ClientMsg::Input {
                    seq: 8,
                    input: serde_json::json!("stop"),
                    tick: Some(312),
                },
            ),
            (r#"{"type":"resign"}"#, ClientMsg::Resign),
            (r#"{"type":"leave"}"#, ClientMsg::Leave),
            (r#"{"type":"where"}"#, ClientMsg::Where),
            (
                r#"{"type":"subscribe","tournament":"t"}"#,
                ClientMsg::Subscribe {
                    tournament: "t".into(),
                },
            ),
            (
                r#"{"type":"unsubscribe","tournament":"t"}"#,
                ClientMsg::Unsubscribe {
                    tournament: "t".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_client(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn classifies_bad_messages() {
        assert_eq!(parse_client("{nope").unwrap_err().0, code::INVALID_JSON);
        assert_eq!(parse_client("[1]").unwrap_err().0, code::INVALID_JSON);
        assert_eq!(parse_client("\"auth\"").unwrap_err().0, code::INVALID_JSON);
        for no_type in [
            "{}",
            r#"{"type":null}"#,
            r#"{"type":7}"#,
            r#"{"token":"x"}"#,
        ] {
            assert_eq!(
                parse_client(no_type).unwrap_err().0,
                code::UNKNOWN_TYPE,
                "{no_type}"
            );
        }
        assert_eq!(
            parse_client(r#"{"type":"dance"}"#).unwrap_err().0,
            code::UNKNOWN_TYPE
        );
        assert_eq!(
            parse_client(r#"{"type":"input","seq":"x","input":"up"}"#)
                .unwrap_err()
                .0,
            code::INVALID_FIELD
        );
        assert_eq!(
            parse_client(r#"{"type":"auth"}"#).unwrap_err().0,
            code::INVALID_FIELD
        );
        assert_eq!(
            parse_client(r#"{"type":"ping","id":-1}"#).unwrap_err().0,
            code::INVALID_FIELD
        );
    }

    #[test]
    fn tournament_events_are_flat_objects() {
        let event = TournamentEvent::RoundComplete { round: 2 };
        let text = ServerMsg::Tournament {
            tournament: "t1",
            event: &event,
        }
        .encode();
        assert_eq!(
            text,
            r#"{"type":"tournament","tournament":"t1","event":"round_complete","round":2}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::from_value::<TournamentEvent>(v).unwrap(), event);
    }

    #[test]
    fn snapshot_frame_embeds_raw_state() {
        let state = RawValue::from_string(r#"{"ball":[1,2]}"#.into()).unwrap();
        let f = snapshot_frame(9, &[3, 0], &[7, 0], &state);
        assert_eq!(
            f,
            r#"{"type":"snapshot","tick":9,"acks":[3,0],"ack_ticks":[7,0],"state":{"ball":[1,2]}}"#
        );
    }
}
