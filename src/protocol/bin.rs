//! `rally.v1.bin`, the compact binary encoding of the same messages (docs/protocol.md §13),
//! and the negotiation between it and `rally.v1.json` (`Sec-WebSocket-Protocol`). Pure.
//!
//! Every message is one binary WebSocket frame holding one MessagePack value:
//! - the **map form** of any message: the JSON object as a MessagePack map, same keys in the
//!   same order, same values (`type` first);
//! - the **compact form** of the two frequent ones: an array whose first element is a type
//!   code ([`SNAPSHOT`] from the server, [`INPUT`] from the client), then the fields by
//!   position. The server always sends snapshots compact; clients may send `input` either way.

use super::msgpack::{self, ReadError};
use super::{code, ClientMsg};
use serde_json::value::RawValue;

/// The subprotocol of the JSON encoding (the default).
pub const JSON_SUBPROTOCOL: &str = "rally.v1.json";
/// The subprotocol of the binary encoding.
pub const BIN_SUBPROTOCOL: &str = "rally.v1.bin";

/// Compact-form type code of `snapshot`: `[1, tick, acks, ack_ticks, state]`.
pub const SNAPSHOT: u8 = 1;
/// Compact-form type code of `input`: `[2, seq, input]` or `[2, seq, input, tick]`.
pub const INPUT: u8 = 2;

/// A connection's encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `rally.v1.json`: JSON text frames.
    #[default]
    Json,
    /// `rally.v1.bin`: MessagePack binary frames.
    Bin,
}

impl Encoding {
    /// The subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Json => JSON_SUBPROTOCOL,
            Encoding::Bin => BIN_SUBPROTOCOL,
        }
    }

    /// `json` / `bin` (command-line values, metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Bin => "bin",
        }
    }

    /// Parse `json` / `bin`.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "json" => Some(Encoding::Json),
            "bin" => Some(Encoding::Bin),
            _ => None,
        }
    }
}

/// The outcome of the subprotocol negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The encoding the connection speaks.
    pub encoding: Encoding,
    /// The `Sec-WebSocket-Protocol` to answer with (None: the header is left out, because the
    /// client offered none, or none that this server speaks).
    pub answer: Option<&'static str>,
}

/// Choose the encoding from the values of the client's `Sec-WebSocket-Protocol` headers (each
/// a comma-separated list, in the client's order of preference): the first offered one this
/// server speaks. No header, or only unknown names: JSON, and no header in the answer (a
/// client that insisted on one of its names then fails the connection, RFC 6455 §4.1).
pub fn negotiate<'a>(offers: impl IntoIterator<Item = &'a str>) -> Negotiated {
    for name in offers.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
        let encoding = match name {
            JSON_SUBPROTOCOL => Encoding::Json,
            BIN_SUBPROTOCOL => Encoding::Bin,
            _ => continue,
        };
        return Negotiated {
            encoding,
            answer: Some(encoding.subprotocol()),
        };
    }
    Negotiated {
        encoding: Encoding::Json,
        answer: None,
    }
}

/// The compact `snapshot`: `[1, tick, acks, ack_ticks, state]`, where `state` is the game's
/// compact state, already encoded ([`crate::game::Game::snapshot_bin`]).
pub fn snapshot(tick: u64, acks: &[u64], ack_ticks: &[u64], state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 2 * 9 * acks.len() + state.len());
    snapshot_head(&mut out, tick, acks, ack_ticks);
    out.extend_from_slice(state);
    out
}

/// The compact `snapshot` up to its state, which the caller appends (one value). Called once
/// per room and tick with bin recipients; never inlined, so that `benches/callgrind.sh` can
/// count room-ticks by its calls.
#[inline(never)]
pub fn snapshot_head(out: &mut Vec<u8>, tick: u64, acks: &[u64], ack_ticks: &[u64]) {
    msgpack::write_array_len(out, 5);
    msgpack::write_uint(out, u64::from(SNAPSHOT));
    msgpack::write_uint(out, tick);
    msgpack::write_uints(out, acks);
    msgpack::write_uints(out, ack_ticks);
}

/// How the JSON encoder starts every snapshot ([`super::snapshot_frame`]).
const SNAPSHOT_PREFIX: &str = r#"{"type":"snapshot","#;

/// The `rally.v1.bin` form of a server message encoded as JSON: a snapshot in its compact form
/// (the state as the array of its values, [`crate::game::Game::snapshot_bin`]'s default),
/// anything else in the map form. Used for the frames that are encoded once as JSON and
/// reach a binary client rarely or from another instance (room states, errors, results,
/// tournament events, frames relayed between instances).
pub fn from_server_json(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    if json.starts_with(SNAPSHOT_PREFIX) {
        #[derive(serde::Deserialize)]
        struct Snapshot<'a> {
            tick: u64,
            acks: Vec<u64>,
            ack_ticks: Vec<u64>,
            #[serde(borrow)]
            state: &'a RawValue,
        }
        if let Ok(s) = serde_json::from_str::<Snapshot<'_>>(json) {
            let mut state = Vec::new();
            if msgpack::values_from_json(s.state.get(), &mut state).is_ok() {
                return snapshot(s.tick, &s.acks, &s.ack_ticks, &state);
            }
        }
    }
    if msgpack::from_json(json, &mut out).is_err() {
        out.clear();
        // Unreachable for frames the server encoded; say so rather than send nothing.
        msgpack::write_map_len(&mut out, 3);
        for (k, v) in [
            ("type", "error"),
            ("code", code::INTERNAL),
            ("message", "encoding failed"),
        ] {
            msgpack::write_str(&mut out, k);
            msgpack::write_str(&mut out, v);
        }
    }
    out
}

/// Parse a client's binary message: the map form of any client message, or the compact
/// `input`. Errors as [`super::parse_client`]'s, plus `invalid_bin` for bytes that are not
/// one MessagePack value of the accepted subset, or a value that is neither a map nor an
/// array.
pub fn parse_client(bytes: &[u8]) -> Result<ClientMsg, (&'static str, String)> {
    let value = msgpack::read_value(bytes).map_err(|ReadError(why)| {
        (
            code::INVALID_BIN,
            format!("not a rally.v1.bin message: {why}"),
        )
    })?;
    match value {
        serde_json::Value::Object(_) => super::parse_client_value(value),
        serde_json::Value::Array(a) => parse_compact(a),
        _ => Err((
            code::INVALID_BIN,
            "expected a map (with a \"type\") or an array (with a type code)".into(),
        )),
    }
}

fn parse_compact(a: Vec<serde_json::Value>) -> Result<ClientMsg, (&'static str, String)> {
    let mut it = a.into_iter();
    let Some(kind) = it.next().and_then(|k| k.as_u64()) else {
        return Err((
            code::UNKNOWN_TYPE,
            "a compact message starts with its type code (an unsigned integer)".into(),
        ));
    };
    if kind != u64::from(INPUT) {
        return Err((
            code::UNKNOWN_TYPE,
            format!("unknown compact type code {kind}"),
        ));
    }
    let bad = |why: &str| (code::INVALID_FIELD, format!("bad compact input: {why}"));
    let seq = it
        .next()
        .and_then(|s| s.as_u64())
        .ok_or_else(|| bad("seq must be an unsigned integer"))?;
    let input = it.next().ok_or_else(|| bad("input is missing"))?;
    let tick = match it.next() {
        None | Some(serde_json::Value::Null) => None,
        Some(t) => Some(
            t.as_u64()
                .ok_or_else(|| bad("tick must be an unsigned integer or nil"))?,
        ),
    };
    if it.next().is_some() {
        return Err(bad("at most four elements: [2, seq, input, tick]"));
    }
    Ok(ClientMsg::Input { seq, input, tick })
}

/// A client message in `rally.v1.bin`: `input` in its compact form, the rest in the map form.
/// (What the bots send; any client may do the same.)
pub fn encode_client(msg: &ClientMsg) -> Vec<u8> {
    let mut out = Vec::new();
    if let ClientMsg::Input { seq, input, tick } = msg {
        msgpack::write_array_len(&mut out, if tick.is_some() { 4 } else { 3 });
        msgpack::write_uint(&mut out, u64::from(INPUT));
        msgpack::write_uint(&mut out, *seq);
        msgpack::write_value(&mut out, input);
        if let Some(t) = tick {
            msgpack::write_uint(&mut out, *t);
        }
        return out;
    }
    // Serialising a ClientMsg cannot fail (no maps with non-string keys, no non-finite floats).
    let json = serde_json::to_string(msg).unwrap_or_default();
    if msgpack::from_json(&json, &mut out).is_err() {
        out.clear();
    }
    out
}

/// A server message in `rally.v1.bin`, decoded into the JSON data model with the compact
/// snapshot expanded to its named fields (`state` stays the game's compact state, an array):
/// what a client that reads both encodings works on. Errors: not one value of the subset, or
/// an unknown compact code.
pub fn decode_server(bytes: &[u8]) -> Result<serde_json::Value, ReadError> {
    let v = msgpack::read_value(bytes)?;
    let serde_json::Value::Array(a) = v else {
        return Ok(v);
    };
    match a.as_slice() {
        [kind, tick, acks, ack_ticks, state] if kind.as_u64() == Some(u64::from(SNAPSHOT)) => {
            Ok(serde_json::json!({
                "type": "snapshot",
                "tick": tick,
                "acks": acks,
                "ack_ticks": ack_ticks,
                "state": state,
            }))
        }
        _ => Err(ReadError("unknown compact message".into())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::game::{EndReason, GameEvent, Outcome};
    use crate::protocol::{RatingChange, SeatView, ServerMsg, TournamentEvent, TournamentPlayer};
    use serde_json::json;

    #[test]
    fn negotiation_takes_the_clients_first_known_offer() {
        let n = |offers: &[&str]| negotiate(offers.iter().copied());
        assert_eq!(
            n(&[]),
            Negotiated {
                encoding: Encoding::Json,
                answer: None
            }
        );
        assert_eq!(n(&["rally.v1.bin"]).encoding, Encoding::Bin);
        assert_eq!(n(&["rally.v1.bin"]).answer, Some("rally.v1.bin"));
        assert_eq!(
            n(&["chat, rally.v1.json ,rally.v1.bin"]).answer,
            Some("rally.v1.json")
        );
        assert_eq!(n(&["chat", "rally.v1.bin"]).encoding, Encoding::Bin);
        assert_eq!(
            n(&["rally.v2.bin, chat"]),
            Negotiated {
                encoding: Encoding::Json,
                answer: None
            }
        );
    }

    /// Every client message survives bin encoding and parsing, in both forms.
    #[test]
    fn every_client_message_round_trips() {
        let msgs = [
            ClientMsg::Auth {
                token: "t".repeat(300),
            },
            ClientMsg::Ping {
                id: 7,
                client_time: 1.7e12 + 0.25,
            },
            ClientMsg::Queue {
                game: "pong".into(),
                size: None,
            },
            ClientMsg::Queue {
                game: "cycles".into(),
                size: Some(6),
            },
            ClientMsg::CancelQueue,
            ClientMsg::Join {
                room: None,
                code: Some("ABC123".into()),
            },
            ClientMsg::Spectate {
                room: Some("r".into()),
                code: None,
            },
            ClientMsg::Input {
                seq: 300,
                input: json!("up"),
                tick: None,
            },
            ClientMsg::Input {
                seq: 1 << 40,
                input: json!({"dx": -3}),
                tick: Some(70_000),
            },
            ClientMsg::Resign,
            ClientMsg::Leave,
            ClientMsg::Where,
            ClientMsg::Subscribe {
                tournament: "t".into(),
            },
            ClientMsg::Unsubscribe {
                tournament: "t".into(),
            },
        ];
        for msg in msgs {
            let bin = encode_client(&msg);
            assert_eq!(parse_client(&bin).unwrap(), msg, "{bin:x?}");
            // The map form of every message, input included.
            let mut map = Vec::new();
            msgpack::from_json(&serde_json::to_string(&msg).unwrap(), &mut map).unwrap();
            assert_eq!(parse_client(&map).unwrap(), msg);
        }
    }

    #[test]
    fn compact_input_is_tiny_and_exact() {
        let bin = encode_client(&ClientMsg::Input {
            seq: 57,
            input: json!("up"),
            tick: None,
        });
        assert_eq!(bin, [0x93, 0x02, 0x39, 0xa2, b'u', b'p']);
        let bin = encode_client(&ClientMsg::Input {
            seq: 58,
            input: json!("stop"),
            tick: Some(312),
        });
        assert_eq!(
            bin,
            [0x94, 0x02, 0x3a, 0xa4, b's', b't', b'o', b'p', 0xcd, 0x01, 0x38]
        );
        // nil tick = no tick.
        assert_eq!(
            parse_client(&[0x94, 0x02, 0x01, 0xc0, 0xc0]).unwrap(),
            ClientMsg::Input {
                seq: 1,
                input: serde_json::Value::Null,
                tick: None
            }
        );
    }

    #[test]
    fn classifies_bad_messages_like_json() {
        let cases: &[(&[u8], &str)] = &[
            (b"", code::INVALID_BIN),
            (&[0x92, 0x02], code::INVALID_BIN),
            (&[0xc4, 0x01, 0x00], code::INVALID_BIN),
            (&[0x05], code::INVALID_BIN),
            (&[0xa2, b'h', b'i'], code::INVALID_BIN),
            (&[0x80], code::UNKNOWN_TYPE),
            (
                &[0x81, 0xa4, b't', b'y', b'p', b'e', 0x07],
                code::UNKNOWN_TYPE,
            ),
            (&[0x90], code::UNKNOWN_TYPE),
            (&[0x91, 0x09], code::UNKNOWN_TYPE),
            (&[0x91, 0xa1, b'x'], code::UNKNOWN_TYPE),
            (&[0x92, 0x02, 0x01], code::INVALID_FIELD),
            (&[0x93, 0x02, 0xff, 0xa2, b'u', b'p'], code::INVALID_FIELD),
            (&[0x94, 0x02, 0x01, 0xc0, 0xa1, b'x'], code::INVALID_FIELD),
            (&[0x95, 0x02, 0x01, 0xc0, 0x01, 0x01], code::INVALID_FIELD),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_client(bytes).unwrap_err().0, *want, "{bytes:x?}");
        }
        let mut dance = Vec::new();
        msgpack::from_json(r#"{"type":"dance"}"#, &mut dance).unwrap();
        assert_eq!(parse_client(&dance).unwrap_err().0, code::UNKNOWN_TYPE);
        let mut bad = Vec::new();
        msgpack::from_json(r#"{"type":"auth"}"#, &mut bad).unwrap();
        assert_eq!(parse_client(&bad).unwrap_err().0, code::INVALID_FIELD);
        let mut extra = Vec::new();
        msgpack::from_json(r#"{"type":"join","x":1}"#, &mut extra).unwrap();
        assert_eq!(parse_client(&extra).unwrap_err().0, code::INVALID_FIELD);
    }

    /// Every server message: its bin form decodes to the same JSON data as its JSON form.
    #[test]
    fn every_server_message_round_trips() {
        let player = json!({"id": "p1", "name": "guest-1", "role": "player"});
        let info = json!({"kind": "pong", "field": {"width": 16000}});
        let seats = [SeatView {
            seat: 0,
            id: "p1".into(),
            name: "Ann".into(),
            connected: true,
            rating: 1500,
        }];
        let outcome = Outcome {
            winner: Some(1),
            scores: vec![2, 5],
            reason: EndReason::Score,
            places: vec![2, 1],
        };
        let event = GameEvent::Scored {
            seat: 1,
            scores: vec![2, 5],
        };
        let changes = [RatingChange {
            seat: 0,
            player: "p1".into(),
            before: 1500,
            after: -1484,
        }];
        let t_event = TournamentEvent::MatchReady {
            key: "r1m0".into(),
            round: 1,
            match_id: "m".into(),
            room: "r".into(),
            players: vec![TournamentPlayer {
                id: "p".into(),
                name: "P".into(),
                seed: None,
            }],
            join_within_ms: 30_000,
        };
        let msgs = [
            ServerMsg::Welcome {
                protocol: 1,
                session: "s",
                player: player.clone(),
                room: None,
                server_time: 1_764_000_000_000,
            },
            ServerMsg::Pong {
                id: 1,
                client_time: 12.5,
                server_time: 3,
            },
            ServerMsg::Queued {
                game: "pong",
                size: 2,
            },
            ServerMsg::QueueLeft,
            ServerMsg::MatchFound {
                room: "r",
                join_within_ms: 10_000,
            },
            ServerMsg::Joined {
                room: "r",
                r#match: "m",
                role: "player",
                seat: Some(0),
                info: &info,
                tick_hz: 60,
            },
            ServerMsg::Room {
                room: "r",
                state: "countdown",
                players: &seats,
                spectators: 2,
                remaining_ms: Some(2999),
            },
            ServerMsg::Event {
                tick: 400,
                event: &event,
            },
            ServerMsg::MatchEnd {
                room: "r",
                r#match: "m",
                outcome: &outcome,
                rated: true,
            },
            ServerMsg::Ratings {
                r#match: "m",
                changes: &changes,
            },
            ServerMsg::Left { room: "r" },
            ServerMsg::Location { room: Some("r") },
            ServerMsg::Subscribed { tournament: "t" },
            ServerMsg::Unsubscribed { tournament: "t" },
            ServerMsg::Tournament {
                tournament: "t",
                event: &t_event,
            },
            ServerMsg::Error {
                code: "room_full",
                message: "every seat is taken",
            },
            ServerMsg::Account {
                player,
                token: None,
            },
        ];
        for msg in msgs {
            let json = msg.encode();
            let bin = from_server_json(&json);
            let want: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(decode_server(&bin).unwrap(), want, "{json}");
            // Map form, "type" first.
            assert_eq!(&bin[1..6], &[0xa4, b't', b'y', b'p', b'e'], "{json}");
        }
    }

    /// The hex of docs/protocol.md §13.5 (spaces and line breaks ignored).
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// Every example of docs/protocol.md §13.5, byte for byte, in both directions: what the
    /// server and the bots write, and what the server reads back.
    #[test]
    fn the_documented_examples_byte_for_byte() {
        // The snapshot of §4, compact.
        let snapshot = hex("95 01 cd 01 38 92 39 3d 92 cd 01 36 cd 01 29
             95 cd 01 38 94 cd 1e 20 cd 0c 30 d1 dc ce cd 14 00 92 cd 0b 7c cd 11 94 92 01 00 00");
        assert_eq!(snapshot.len(), 43);
        let json = r#"{"type":"snapshot","tick":312,"acks":[57,61],"ack_ticks":[310,297],"state":{"tick":312,"ball":[7712,3120,-9010,5120],"paddles":[2940,4500],"scores":[1,0],"serving_in":0}}"#;
        assert_eq!(json.len(), 170);
        assert_eq!(from_server_json(json), snapshot);

        // Inputs, compact.
        let up = ClientMsg::Input {
            seq: 57,
            input: json!("up"),
            tick: None,
        };
        let stop = ClientMsg::Input {
            seq: 58,
            input: json!("stop"),
            tick: Some(312),
        };
        for (msg, bytes) in [
            (up, "93 02 39 a2 75 70"),
            (stop, "94 02 3a a4 73 74 6f 70 cd 01 38"),
        ] {
            assert_eq!(encode_client(&msg), hex(bytes), "{msg:?}");
            assert_eq!(parse_client(&hex(bytes)).unwrap(), msg);
        }

        // Client messages, map form.
        for (msg, bytes) in [
            (
                ClientMsg::Auth {
                    token: "abc".into(),
                },
                "82 a4 74 79 70 65 a4 61 75 74 68 a5 74 6f 6b 65 6e a3 61 62 63",
            ),
            (ClientMsg::Where, "81 a4 74 79 70 65 a5 77 68 65 72 65"),
            (
                ClientMsg::Ping {
                    id: 3,
                    client_time: 12.5,
                },
                "83 a4 74 79 70 65 a4 70 69 6e 67 a2 69 64 03 ab 63 6c 69 65 6e 74 5f 74 69 6d 65
                 cb 40 29 00 00 00 00 00 00",
            ),
        ] {
            assert_eq!(encode_client(&msg), hex(bytes), "{msg:?}");
            assert_eq!(parse_client(&hex(bytes)).unwrap(), msg);
        }

        // Server messages, map form.
        let scored = GameEvent::Scored {
            seat: 1,
            scores: vec![2, 5],
        };
        let event = ServerMsg::Event {
            tick: 400,
            event: &scored,
        };
        assert_eq!(
            from_server_json(&event.encode()),
            hex("83 a4 74 79 70 65 a5 65 76 65 6e 74 a4 74 69 63 6b cd 01 90 a5 65 76 65 6e 74
                 83 a4 74 79 70 65 a6 73 63 6f 72 65 64 a4 73 65 61 74 01 a6 73 63 6f 72 65 73 92 02 05")
        );
        let error = ServerMsg::Error {
            code: "invalid_bin",
            message: "x",
        };
        assert_eq!(
            from_server_json(&error.encode()),
            hex("83 a4 74 79 70 65 a5 65 72 72 6f 72 a4 63 6f 64 65 ab 69 6e 76 61 6c 69 64 5f 62 69 6e
                 a7 6d 65 73 73 61 67 65 a1 78")
        );
    }

    #[test]
    fn snapshots_are_compact_with_the_state_as_values() {
        let state = RawValue::from_string(
            r#"{"tick":312,"ball":[7712,3120,-9010,5120],"paddles":[2940,4500],"scores":[1,0],"serving_in":0}"#
                .into(),
        )
        .unwrap();
        let json = crate::protocol::snapshot_frame(312, &[57, 61], &[310, 297], &state);
        let bin = from_server_json(&json);
        let mut st = Vec::new();
        msgpack::values_from_json(state.get(), &mut st).unwrap();
        assert_eq!(bin, snapshot(312, &[57, 61], &[310, 297], &st));
        assert_eq!(
            decode_server(&bin).unwrap(),
            json!({"type":"snapshot","tick":312,"acks":[57,61],"ack_ticks":[310,297],
                   "state":[312,[7712,3120,-9010,5120],[2940,4500],[1,0],0]})
        );
        assert!(
            bin.len() * 3 < json.len(),
            "{} bytes vs {}",
            bin.len(),
            json.len()
        );
    }
}
