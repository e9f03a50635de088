//! Client-side decoding of server frames into owned types ([`Incoming`]).
//!
//! `protocol::ServerMsg` is the server's encoder (borrowed, serialise-only); this is its mirror
//! for clients. Unknown fields are ignored (a newer server may add some); an unknown `type`
//! decodes to [`Incoming::Unknown`]. Snapshots, the only frequent message, take a fast path that
//! parses the frame once; other messages are parsed twice (tag, then body), which costs nothing
//! at their rate.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::game::{GameEvent, Outcome};
use crate::protocol::{RatingChange, SeatView};

/// `welcome`: authentication succeeded.
#[derive(Clone, Debug, Deserialize)]
pub struct Welcome {
    /// Protocol version (see `protocol::PROTOCOL_VERSION`).
    pub protocol: u32,
    /// This session's id.
    pub session: String,
    /// The authenticated player (at least `id` and `name`).
    pub player: serde_json::Value,
    /// The room this player holds a seat in, if any: rejoin it with `join`.
    pub room: Option<String>,
    /// Server clock, Unix milliseconds.
    pub server_time: u64,
}

/// `pong`: answer to a `ping`.
#[derive(Clone, Debug, Deserialize)]
pub struct PongReply {
    /// The ping's id.
    pub id: u64,
    /// The ping's client time, echoed.
    #[serde(default)]
    pub client_time: f64,
    /// Server clock, Unix milliseconds, when the ping was handled.
    pub server_time: u64,
}

/// `match_found`: a quick match was made.
#[derive(Clone, Debug, Deserialize)]
pub struct MatchFound {
    /// The room to join.
    pub room: String,
    /// Join within this many milliseconds.
    pub join_within_ms: u64,
}

/// `joined`: the session is in a room, as a player or a spectator.
#[derive(Clone, Debug, Deserialize)]
pub struct Joined {
    /// Room id.
    pub room: String,
    /// Match id.
    #[serde(rename = "match")]
    pub match_id: String,
    /// `player` or `spectator`.
    pub role: String,
    /// The seat, for players.
    #[serde(default)]
    pub seat: Option<u8>,
    /// The game's static description (Pong: `game::pong::describe`).
    #[serde(default)]
    pub info: serde_json::Value,
    /// Simulation rate, Hz.
    pub tick_hz: u32,
}

/// `room`: the room's state or seats changed.
#[derive(Clone, Debug, Deserialize)]
pub struct RoomUpdate {
    /// Room id.
    pub room: String,
    /// `waiting`, `countdown`, `playing`, `paused` or `finished`.
    pub state: String,
    /// Seats.
    #[serde(default)]
    pub players: Vec<SeatView>,
    /// Number of spectators.
    #[serde(default)]
    pub spectators: usize,
    /// Milliseconds left in a countdown, or before an absent player forfeits.
    #[serde(default)]
    pub remaining_ms: Option<u64>,
}

/// `snapshot`: the game state after tick `tick`.
#[derive(Debug, Deserialize)]
pub struct Snapshot {
    /// Room tick.
    pub tick: u64,
    /// Last input sequence applied per seat (0 before any).
    #[serde(default)]
    pub acks: Vec<u64>,
    /// The tick each seat's acked input took effect at (0 before any; absent from servers
    /// before this field existed).
    #[serde(default)]
    pub ack_ticks: Vec<u64>,
    /// The game's snapshot, left undecoded (Pong: [`super::brain::PongState`]).
    pub state: Box<RawValue>,
}

/// `event`: something happened in the game.
#[derive(Clone, Debug, Deserialize)]
pub struct EventMsg {
    /// Tick it happened at.
    pub tick: u64,
    /// The event.
    pub event: GameEvent,
}

/// `match_end`: the match is over.
#[derive(Clone, Debug, Deserialize)]
pub struct MatchEnd {
    /// Room id.
    pub room: String,
    /// Match id.
    #[serde(rename = "match")]
    pub match_id: String,
    /// Winner, scores and reason.
    pub outcome: Outcome,
    /// Whether ratings change.
    pub rated: bool,
}

/// `ratings`: rating changes after a rated match was stored.
#[derive(Clone, Debug, Deserialize)]
pub struct Ratings {
    /// Match id.
    #[serde(rename = "match")]
    pub match_id: String,
    /// One entry per seat.
    pub changes: Vec<RatingChange>,
}

/// `error`: the server refused a message (and may close the socket next).
#[derive(Clone, Debug, Deserialize)]
pub struct ServerError {
    /// Machine-readable code (`protocol::code`).
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
}

/// Messages that carry only a room id (`left`) or an optional one (`location`).
#[derive(Clone, Debug, Deserialize)]
struct RoomRef {
    room: Option<String>,
}

/// `tournament`: one event of a tournament (see [`crate::protocol::TournamentEvent`]).
#[derive(Clone, Debug, Deserialize)]
pub struct TournamentMsg {
    /// Tournament id.
    pub tournament: String,
    /// The event, with its own fields.
    #[serde(flatten)]
    pub event: crate::protocol::TournamentEvent,
}

/// `subscribed` / `unsubscribed`.
#[derive(Clone, Debug, Deserialize)]
struct TournamentRef {
    tournament: String,
}

/// `queued`.
#[derive(Clone, Debug, Deserialize)]
struct QueuedMsg {
    game: String,
}

/// One decoded server message.
#[derive(Debug)]
pub enum Incoming {
    /// `welcome`.
    Welcome(Welcome),
    /// `pong`.
    Pong(PongReply),
    /// `queued`, with the game.
    Queued(String),
    /// `queue_left`.
    QueueLeft,
    /// `match_found`.
    MatchFound(MatchFound),
    /// `joined`.
    Joined(Joined),
    /// `room`.
    Room(RoomUpdate),
    /// `snapshot`.
    Snapshot(Snapshot),
    /// `event`.
    Event(EventMsg),
    /// `match_end`.
    MatchEnd(MatchEnd),
    /// `ratings`.
    Ratings(Ratings),
    /// `left`, with the room.
    Left(Option<String>),
    /// `location`, with the room (if any).
    Location(Option<String>),
    /// `error`.
    Error(ServerError),
    /// `tournament`: a tournament event (to subscribers; `match_ready` also to its players).
    Tournament(Box<TournamentMsg>),
    /// `subscribed`, with the tournament id.
    Subscribed(String),
    /// `unsubscribed`, with the tournament id.
    Unsubscribed(String),
    /// A message type this client does not know (newer server); ignored by bots.
    Unknown(String),
}

impl Incoming {
    /// The wire `type` of this message, for logs and error reports.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Welcome(_) => "welcome",
            Self::Pong(_) => "pong",
            Self::Queued(_) => "queued",
            Self::QueueLeft => "queue_left",
            Self::MatchFound(_) => "match_found",
            Self::Joined(_) => "joined",
            Self::Room(_) => "room",
            Self::Snapshot(_) => "snapshot",
            Self::Event(_) => "event",
            Self::MatchEnd(_) => "match_end",
            Self::Ratings(_) => "ratings",
            Self::Left(_) => "left",
            Self::Location(_) => "location",
            Self::Error(_) => "error",
            Self::Tournament(_) => "tournament",
            Self::Subscribed(_) => "subscribed",
            Self::Unsubscribed(_) => "unsubscribed",
            Self::Unknown(t) => t,
        }
    }
}

/// How the server starts every snapshot frame (`protocol::snapshot_frame`); frames that start
/// differently still decode, through the slow path.
const SNAPSHOT_PREFIX: &str = r#"{"type":"snapshot","#;

/// Decodes one text frame.
pub fn decode(text: &str) -> Result<Incoming, serde_json::Error> {
    if text.starts_with(SNAPSHOT_PREFIX) {
        return serde_json::from_str(text).map(Incoming::Snapshot);
    }
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(borrow, rename = "type")]
        kind: Cow<'a, str>,
    }
    let tag: Tag<'_> = serde_json::from_str(text)?;
    Ok(match tag.kind.as_ref() {
        "welcome" => Incoming::Welcome(serde_json::from_str(text)?),
        "pong" => Incoming::Pong(serde_json::from_str(text)?),
        "queued" => Incoming::Queued(serde_json::from_str::<QueuedMsg>(text)?.game),
        "queue_left" => Incoming::QueueLeft,
        "match_found" => Incoming::MatchFound(serde_json::from_str(text)?),
        "joined" => Incoming::Joined(serde_json::from_str(text)?),
        "room" => Incoming::Room(serde_json::from_str(text)?),
        "snapshot" => Incoming::Snapshot(serde_json::from_str(text)?),
        "event" => Incoming::Event(serde_json::from_str(text)?),
        "match_end" => Incoming::MatchEnd(serde_json::from_str(text)?),
        "ratings" => Incoming::Ratings(serde_json::from_str(text)?),
        "left" => Incoming::Left(serde_json::from_str::<RoomRef>(text)?.room),
        "location" => Incoming::Location(serde_json::from_str::<RoomRef>(text)?.room),
        "error" => Incoming::Error(serde_json::from_str(text)?),
        "tournament" => Incoming::Tournament(Box::new(serde_json::from_str(text)?)),
        "subscribed" => {
            Incoming::Subscribed(serde_json::from_str::<TournamentRef>(text)?.tournament)
        }
        "unsubscribed" => {
            Incoming::Unsubscribed(serde_json::from_str::<TournamentRef>(text)?.tournament)
        }
        other => Incoming::Unknown(other.to_owned()),
    })
}

/// Decodes one `rally.v1.bin` frame: the compact snapshot directly (its `state` kept as the
/// game's compact state, a JSON array, which [`super::brain::PongState`] reads by position),
/// anything else through its JSON data model.
pub fn decode_bin(bytes: &[u8]) -> Result<Incoming, String> {
    let mut v = crate::protocol::bin::decode_server(bytes).map_err(|e| e.to_string())?;
    if v.get("type").and_then(|t| t.as_str()) == Some("snapshot") {
        let state = serde_json::value::to_raw_value(&v["state"]).map_err(|e| e.to_string())?;
        let list = |v: &mut serde_json::Value, k: &str| -> Result<Vec<u64>, String> {
            serde_json::from_value(v[k].take()).map_err(|e| format!("snapshot {k}: {e}"))
        };
        return Ok(Incoming::Snapshot(Snapshot {
            tick: v["tick"].as_u64().ok_or("snapshot tick")?,
            acks: list(&mut v, "acks")?,
            ack_ticks: list(&mut v, "ack_ticks")?,
            state,
        }));
    }
    decode(&v.to_string()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::game::EndReason;
    use crate::protocol::{snapshot_frame, ServerMsg};

    #[test]
    fn decodes_tournament_events() {
        use crate::protocol::{TournamentEvent, TournamentPlayer};
        let event = TournamentEvent::MatchReady {
            key: "r1m0".into(),
            round: 1,
            match_id: "m".into(),
            room: "r".into(),
            players: vec![TournamentPlayer {
                id: "p".into(),
                name: "P".into(),
                seed: Some(1),
            }],
            join_within_ms: 1000,
        };
        let text = ServerMsg::Tournament {
            tournament: "t",
            event: &event,
        }
        .encode();
        match decode(&text).unwrap() {
            Incoming::Tournament(t) => {
                assert_eq!(t.tournament, "t");
                assert_eq!(t.event, event);
            }
            other => panic!("{other:?}"),
        }
        let text = ServerMsg::Subscribed { tournament: "t" }.encode();
        assert!(matches!(decode(&text).unwrap(), Incoming::Subscribed(t) if t == "t"));
    }

    #[test]
    fn decodes_what_the_server_encodes() {
        let player = serde_json::json!({"id": "p1", "name": "guest-1"});
        let text = ServerMsg::Welcome {
            protocol: 1,
            session: "s1",
            player: player.clone(),
            room: Some("r1"),
            server_time: 1234,
        }
        .encode();
        match decode(&text).unwrap() {
            Incoming::Welcome(w) => {
                assert_eq!(w.session, "s1");
                assert_eq!(w.room.as_deref(), Some("r1"));
                assert_eq!(w.player, player);
                assert_eq!(w.server_time, 1234);
            }
            other => panic!("{other:?}"),
        }

        let info = serde_json::json!({"kind": "pong"});
        let text = ServerMsg::Joined {
            room: "r1",
            r#match: "m1",
            role: "player",
            seat: Some(1),
            info: &info,
            tick_hz: 60,
        }
        .encode();
        match decode(&text).unwrap() {
            Incoming::Joined(j) => {
                assert_eq!((j.room.as_str(), j.match_id.as_str()), ("r1", "m1"));
                assert_eq!(j.seat, Some(1));
                assert_eq!(j.info, info);
                assert_eq!(j.tick_hz, 60);
            }
            other => panic!("{other:?}"),
        }

        let outcome = Outcome {
            winner: Some(0),
            scores: vec![1, 0],
            reason: EndReason::Score,
            places: vec![1, 2],
        };
        let text = ServerMsg::MatchEnd {
            room: "r1",
            r#match: "m1",
            outcome: &outcome,
            rated: true,
        }
        .encode();
        match decode(&text).unwrap() {
            Incoming::MatchEnd(m) => {
                assert_eq!(m.outcome, outcome);
                assert!(m.rated);
            }
            other => panic!("{other:?}"),
        }

        let event = GameEvent::Custom {
            name: "hit".into(),
            data: serde_json::json!({"seat": 0}),
        };
        let text = ServerMsg::Event {
            tick: 9,
            event: &event,
        }
        .encode();
        assert!(matches!(decode(&text).unwrap(), Incoming::Event(e) if e.event == event));

        for (msg, want) in [
            (
                ServerMsg::Queued {
                    game: "pong",
                    size: 2,
                },
                "queued",
            ),
            (ServerMsg::QueueLeft, "queue_left"),
            (ServerMsg::Left { room: "r1" }, "left"),
            (ServerMsg::Location { room: None }, "location"),
            (
                ServerMsg::MatchFound {
                    room: "r1",
                    join_within_ms: 5000,
                },
                "match_found",
            ),
            (
                ServerMsg::Pong {
                    id: 1,
                    client_time: 2.5,
                    server_time: 3,
                },
                "pong",
            ),
            (
                ServerMsg::Error {
                    code: "room_full",
                    message: "full",
                },
                "error",
            ),
            (
                ServerMsg::Room {
                    room: "r1",
                    state: "playing",
                    players: &[],
                    spectators: 2,
                    remaining_ms: None,
                },
                "room",
            ),
            (
                ServerMsg::Ratings {
                    r#match: "m1",
                    changes: &[],
                },
                "ratings",
            ),
        ] {
            let got = decode(&msg.encode()).unwrap();
            assert_eq!(got.type_name(), want);
        }
    }

    #[test]
    fn snapshots_take_either_path() {
        let state = RawValue::from_string(r#"{"tick":5,"ball":[1,2,3,4]}"#.into()).unwrap();
        let fast = snapshot_frame(5, &[3, 0], &[4, 0], &state);
        let slow = r#"{"tick":5,"type":"snapshot","state":{"tick":5,"ball":[1,2,3,4]},"acks":[3,0],"ack_ticks":[4,0]}"#;
        for text in [fast.as_str(), slow] {
            match decode(text).unwrap() {
                Incoming::Snapshot(s) => {
                    assert_eq!(s.tick, 5);
                    assert_eq!(s.acks, vec![3, 0]);
                    assert_eq!(s.ack_ticks, vec![4, 0]);
                    assert_eq!(s.state.get(), state.get());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bin_frames_decode_like_json_ones() {
        use crate::protocol::bin;
        let mut state = Vec::new();
        crate::protocol::msgpack::values_from_json(
            r#"{"tick":5,"ball":[1,-2,3,4],"paddles":[10,20],"scores":[1,0],"serving_in":0}"#,
            &mut state,
        )
        .unwrap();
        match decode_bin(&bin::snapshot(5, &[3, 0], &[4, 0], &state)).unwrap() {
            Incoming::Snapshot(s) => {
                assert_eq!((s.tick, s.acks, s.ack_ticks), (5, vec![3, 0], vec![4, 0]));
                let pong = super::super::brain::PongState::parse(s.state.get()).unwrap();
                assert_eq!(pong.ball, [1, -2, 3, 4]);
                assert_eq!(pong.paddles, [10, 20]);
            }
            other => panic!("{other:?}"),
        }
        let text = ServerMsg::Left { room: "r1" }.encode();
        let got = decode_bin(&bin::from_server_json(&text)).unwrap();
        assert!(matches!(got, Incoming::Left(Some(r)) if r == "r1"));
        assert!(decode_bin(&[0xc1]).is_err());
        assert!(decode_bin(&[0x91, 0x09]).is_err());
    }

    #[test]
    fn unknown_types_and_bad_frames() {
        assert!(matches!(
            decode(r#"{"type":"fireworks","x":1}"#).unwrap(),
            Incoming::Unknown(t) if t == "fireworks"
        ));
        assert!(decode("not json").is_err());
        assert!(decode(r#"{"no_type":1}"#).is_err());
        assert!(decode(r#"{"type":"joined","room":"r"}"#).is_err());
        assert!(decode(r#"{"type":"snapshot","tick":"x"}"#).is_err());
    }
}
