//! What instances say to each other over Redis pub/sub (one channel per instance). JSON
//! envelopes; every one carries its sender and send time (for the latency histogram).

use super::messages::{Detach, Input, Join, Leave, PlayerInfo, Resign, SessionEvent};
use crate::ids::{InstanceId, MatchId, PlayerId, RoomId, TournamentId};
use crate::protocol::code;
use serde::{Deserialize, Serialize};

/// One message between instances.
#[derive(Serialize, Deserialize, Debug)]
pub struct Envelope {
    /// Sending instance.
    pub from: String,
    /// Send time, Unix µs (same-host clocks in tests; skew shows up in the latency metric).
    pub sent_us: u64,
    /// Payload.
    pub body: Body,
}

/// Payloads.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Body {
    /// A session's message to a room owned by the receiver; `corr` when an answer is awaited.
    Room {
        /// Room.
        room: RoomId,
        /// Correlation id of a request.
        corr: Option<u64>,
        /// The message.
        msg: RoomMsg,
    },
    /// The answer to a request.
    Reply {
        /// Correlation id.
        corr: u64,
        /// The answer, JSON.
        value: serde_json::Value,
    },
    /// A droppable frame (snapshot) for a session on the receiver.
    Frame {
        /// Session id.
        session: String,
        /// Pre-encoded text frame.
        frame: String,
    },
    /// A control event for a session on the receiver (never dropped).
    Event {
        /// Session id.
        session: String,
        /// Event.
        event: WireEvent,
    },
    /// A control event for a player connected to the receiver (presence-addressed).
    Player {
        /// Player.
        player: PlayerId,
        /// Only deliver to this session (takeover kicks); None: the current one.
        session: Option<String>,
        /// Event.
        event: WireEvent,
    },
    /// Create a room here (placement on the least-loaded instance).
    Create {
        /// Correlation id.
        corr: u64,
        /// What to create.
        spec: WireSpec,
    },
    /// Rooms just released by a draining instance: claim them now.
    Adopt {
        /// Rooms.
        rooms: Vec<RoomId>,
    },
    /// The owner of `room` no longer carries `session`'s traffic (it has no proxy for it any
    /// more, or the room is not here): if the session still plays there, it must reconnect.
    RouteLost {
        /// Session on the receiver.
        session: String,
        /// Room.
        room: RoomId,
    },
    /// Are these sessions of the sender still carried by your rooms? (Sent after the sender
    /// was unreachable for longer than its lease.) Answered with a `RouteLost` per lost one.
    CheckRoutes {
        /// (session, room) pairs.
        routes: Vec<(String, RoomId)>,
    },
    /// `room` was adopted by `owner` after its previous owner died: sessions routed to the old
    /// owner must reconnect.
    Moved {
        /// Room.
        room: RoomId,
        /// Its new owner.
        owner: InstanceId,
    },
    /// A session on the sender subscribes to a tournament running on the receiver. With
    /// `corr`, answered with the view (or null); without, the view is sent as a `state` event
    /// (a re-subscription after the tournament moved).
    Subscribe {
        /// Tournament.
        tournament: TournamentId,
        /// Session on the sender.
        session: String,
        /// Correlation id.
        corr: Option<u64>,
    },
    /// The session stops listening.
    Unsubscribe {
        /// Tournament.
        tournament: TournamentId,
        /// Session on the sender.
        session: String,
    },
}

/// The room messages a session sends.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum RoomMsg {
    /// Take a seat or watch.
    Join(Join),
    /// Game input.
    Input(Input),
    /// Leave.
    Leave(Leave),
    /// Concede.
    Resign(Resign),
    /// Connection dropped.
    Detach(Detach),
}

impl std::fmt::Debug for Join {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join")
            .field("player", &self.player.id)
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("seq", &self.seq)
            .field("tick", &self.tick)
            .finish()
    }
}

impl std::fmt::Debug for Leave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leave")
            .field("player", &self.player)
            .finish()
    }
}

impl std::fmt::Debug for Resign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resign")
            .field("player", &self.player)
            .finish()
    }
}

impl std::fmt::Debug for Detach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detach")
            .field("player", &self.player)
            .finish()
    }
}

/// [`SessionEvent`] on the wire.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum WireEvent {
    /// Matched.
    MatchFound {
        /// Room.
        room: RoomId,
        /// Join window.
        join_within_ms: u64,
    },
    /// Close with a code.
    Kick {
        /// Close code.
        code: u16,
        /// Error code.
        error: String,
        /// Message.
        message: String,
    },
    /// Released by the room.
    Detached {
        /// Room.
        room: RoomId,
    },
    /// Released at the end of the match, then the `match_end` frame.
    Released {
        /// Room.
        room: RoomId,
        /// Frame.
        frame: String,
    },
    /// A frame that must arrive.
    Frame {
        /// Text.
        frame: String,
    },
    /// The player's role changed (normally delivered by each instance to its own sessions).
    Account {
        /// Player.
        player: PlayerId,
        /// Stored role (`guest`, `player`, `organiser`).
        role: String,
        /// Stored token epoch.
        epoch: i64,
    },
}

impl From<SessionEvent> for WireEvent {
    fn from(e: SessionEvent) -> Self {
        match e {
            SessionEvent::MatchFound {
                room,
                join_within_ms,
            } => WireEvent::MatchFound {
                room,
                join_within_ms,
            },
            SessionEvent::Kick {
                code,
                error,
                message,
            } => WireEvent::Kick {
                code,
                error: error.to_string(),
                message,
            },
            SessionEvent::Detached { room } => WireEvent::Detached { room },
            SessionEvent::Released { room, frame } => WireEvent::Released {
                room,
                frame: frame.to_string(),
            },
            SessionEvent::Frame(f) => WireEvent::Frame {
                frame: f.to_string(),
            },
            SessionEvent::Account(a) => WireEvent::Account {
                player: a.player,
                role: a.role.as_str().to_string(),
                epoch: a.epoch,
            },
        }
    }
}

impl From<WireEvent> for SessionEvent {
    fn from(e: WireEvent) -> Self {
        match e {
            WireEvent::MatchFound {
                room,
                join_within_ms,
            } => SessionEvent::MatchFound {
                room,
                join_within_ms,
            },
            WireEvent::Kick {
                code,
                error,
                message,
            } => SessionEvent::Kick {
                code,
                error: static_code(&error),
                message,
            },
            WireEvent::Detached { room } => SessionEvent::Detached { room },
            WireEvent::Released { room, frame } => SessionEvent::Released {
                room,
                frame: frame.into(),
            },
            WireEvent::Frame { frame } => SessionEvent::Frame(frame.into()),
            WireEvent::Account {
                player,
                role,
                epoch,
            } => SessionEvent::Account(super::messages::AccountChange {
                player,
                // An unknown role grants nothing.
                role: crate::db::players::Role::parse(&role)
                    .unwrap_or(crate::db::players::Role::Guest),
                epoch,
            }),
        }
    }
}

/// Map an error code received from another instance back to the protocol's constant.
fn static_code(s: &str) -> &'static str {
    [
        code::CONFLICT,
        code::RATE_LIMITED,
        code::UNAVAILABLE,
        code::FORBIDDEN,
        code::UNAUTHORIZED,
        code::NOT_FOUND,
        code::INTERNAL,
    ]
    .into_iter()
    .find(|c| *c == s)
    .unwrap_or(code::UNAVAILABLE)
}

/// A room to create on the receiving instance.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct WireSpec {
    /// Game kind.
    pub game: String,
    /// Game config.
    pub config: serde_json::Value,
    /// `quick` | `private` | `tournament`.
    pub mode: String,
    /// Rated.
    pub rated: bool,
    /// Seats assigned in advance.
    pub seats: Option<Vec<PlayerInfo>>,
    /// Private (join code, unlisted).
    pub private: bool,
    /// No-show survivors go back to the quick-match queue.
    pub requeue: bool,
    /// The room id chosen by the placer (see [`super::placement`]).
    #[serde(default)]
    pub room: Option<RoomId>,
    /// The match id chosen by the placer.
    #[serde(default)]
    pub match_id: Option<MatchId>,
    /// The join code the placer reserved (private rooms).
    #[serde(default)]
    pub code: Option<String>,
}

/// The answer to [`Body::Create`].
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct WireCreated {
    /// Room.
    pub room: RoomId,
    /// Match.
    pub match_id: MatchId,
    /// Code.
    pub code: Option<String>,
    /// The creator's count of rooms started, this one included (placement accounting).
    #[serde(default)]
    pub created: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::protocol::close;

    #[test]
    fn envelopes_round_trip_as_json() {
        let env = Envelope {
            from: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            sent_us: 42,
            body: Body::Room {
                room: RoomId("R".into()),
                corr: Some(7),
                msg: RoomMsg::Input(Input {
                    player: PlayerId("P".into()),
                    session_id: "S".into(),
                    seq: 3,
                    input: serde_json::json!("up"),
                    tick: Some(12),
                }),
            },
        };
        let text = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&text).unwrap();
        match back.body {
            Body::Room {
                corr: Some(7),
                msg: RoomMsg::Input(i),
                ..
            } => assert_eq!(
                (i.seq, i.input, i.tick),
                (3, serde_json::json!("up"), Some(12))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn session_events_survive_the_wire() {
        let kick = SessionEvent::Kick {
            code: close::SESSION_REPLACED,
            error: code::CONFLICT,
            message: "newer".into(),
        };
        let text = serde_json::to_string(&WireEvent::from(kick)).unwrap();
        let back: SessionEvent = serde_json::from_str::<WireEvent>(&text).unwrap().into();
        match back {
            SessionEvent::Kick { code: c, error, .. } => {
                assert_eq!((c, error), (close::SESSION_REPLACED, code::CONFLICT))
            }
            other => panic!("{other:?}"),
        }
        // An unknown error code falls back to `unavailable`, never a made-up static.
        assert_eq!(static_code("nonsense"), code::UNAVAILABLE);
        let released = WireEvent::from(SessionEvent::Released {
            room: RoomId("R".into()),
            frame: "{}".into(),
        });
        assert!(matches!(
            SessionEvent::from(released),
            SessionEvent::Released { .. }
        ));
    }
}
