//! Light-cycles snapshots: the full state, the delta since a tick, and their compact MessagePack
//! forms (docs/protocol.md §10a and §13.4).
//!
//! Full:
//! ```json
//! {"tick":T,"full":true,"round":1,"starts_in":0,"scores":[0,1,0,0],"status":[0,1,0,2],
//!  "heads":[[x,y,dir],null,…],"trails":[[x0,y0,x1,y1,…],[],…]}
//! ```
//! Delta (what changed after tick `since`):
//! ```json
//! {"tick":T,"full":false,"since":S,"round":1,"starts_in":0,"scores":[…],"status":[…],
//!  "heads":[…],"cells":[seat,x,y,seat,x,y,…]}
//! ```
//! `status[seat]`: 0 riding, 1 crashed this round, 2 out of the match. `heads[seat]` is `null`
//! for a seat without a cycle this round (it left before the round started). `cells` are the
//! trail cells added after tick `since`, in the order they were added (move by move, seat by seat
//! within a move). A delta is only produced within one round and when `tick` and `since` lie in
//! the same window of [`FULL_EVERY_TICKS`]; otherwise [`Game::snapshot_since`] returns the full
//! form. The MessagePack forms are the same values in the same order as an array (the JSON
//! object's values, as for every `rally.v1.bin` snapshot), with `nil` for a `null` head.
//!
//! [`Game::snapshot_since`]: crate::game::Game::snapshot_since

use std::fmt::Write as _;

use serde_json::value::RawValue;

use super::{Cycles, FULL_EVERY_TICKS};
use crate::protocol::msgpack::{write_array_len, write_bool, write_nil, write_uint};

/// Whether a snapshot for a client that holds tick `since` must be full: `since` is in the future
/// or before the current round started, or a multiple of [`FULL_EVERY_TICKS`] lies in
/// `since + 1 ..= tick`.
pub fn needs_full(game: &Cycles, since: u64) -> bool {
    since > game.tick
        || since < game.round_tick
        || game.tick / FULL_EVERY_TICKS != since / FULL_EVERY_TICKS
}

/// The trail cells `(seat, x, y)` added after tick `since` in the current round, in the order
/// they were added. Move `k` (from 1) happened at `first_move_tick + (k - 1) × move_every` and
/// added cell `k` of every trail that has one.
pub fn new_cells(game: &Cycles, since: u64) -> impl Iterator<Item = (u8, u16, u16)> + '_ {
    let first = game.first_move_tick();
    let every = u64::from(game.config.move_every);
    let k_min = if since < first {
        1
    } else {
        (since - first) / every + 2
    };
    let k_min = usize::try_from(k_min).unwrap_or(usize::MAX);
    let moves = usize::try_from(game.moves).unwrap_or(0);
    (k_min..=moves).flat_map(move |k| {
        game.riders.iter().enumerate().filter_map(move |(seat, r)| {
            let x = *r.trail.get(2 * k)?;
            let y = *r.trail.get(2 * k + 1)?;
            Some((super::seat_of(seat), x, y))
        })
    })
}

/// Writes the fields every snapshot shares, after `"tick"` / `"full"` (/ `"since"`).
fn common_json(game: &Cycles, s: &mut String) {
    let _ = write!(
        s,
        ",\"round\":{},\"starts_in\":{},\"scores\":[",
        game.round,
        game.starts_in()
    );
    join(s, game.scores.iter());
    s.push_str("],\"status\":[");
    join(s, game.riders.iter().map(|r| r.status.code()));
    s.push_str("],\"heads\":[");
    for (i, head) in game.heads().into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match head {
            Some((x, y, dir)) => {
                let _ = write!(s, "[{x},{y},{dir}]");
            }
            None => s.push_str("null"),
        }
    }
    s.push(']');
}

/// The full snapshot as JSON.
pub fn full_json(game: &Cycles) -> Box<RawValue> {
    let cells: usize = game.riders.iter().map(|r| r.trail.len()).sum();
    let mut s = String::with_capacity(128 + cells * 4);
    let _ = write!(s, "{{\"tick\":{},\"full\":true", game.tick);
    common_json(game, &mut s);
    s.push_str(",\"trails\":[");
    for (i, rider) in game.riders.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('[');
        join(&mut s, rider.trail.iter());
        s.push(']');
    }
    s.push_str("]}");
    raw(s)
}

/// The delta since tick `since` as JSON (see [`needs_full`] for when it is allowed).
pub fn delta_json(game: &Cycles, since: u64) -> Box<RawValue> {
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "{{\"tick\":{},\"full\":false,\"since\":{since}",
        game.tick
    );
    common_json(game, &mut s);
    s.push_str(",\"cells\":[");
    for (i, (seat, x, y)) in new_cells(game, since).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{seat},{x},{y}");
    }
    s.push_str("]}");
    raw(s)
}

/// Writes the values every snapshot shares, after tick / full (/ since).
fn common_bin(game: &Cycles, out: &mut Vec<u8>) {
    write_uint(out, u64::from(game.round));
    write_uint(out, game.starts_in());
    write_array_len(out, game.scores.len());
    for &score in &game.scores {
        write_uint(out, u64::from(score));
    }
    write_array_len(out, game.riders.len());
    for rider in &game.riders {
        write_uint(out, u64::from(rider.status.code()));
    }
    write_array_len(out, game.riders.len());
    for head in game.heads() {
        match head {
            Some((x, y, dir)) => {
                write_array_len(out, 3);
                write_uint(out, u64::from(x));
                write_uint(out, u64::from(y));
                write_uint(out, u64::from(dir));
            }
            None => write_nil(out),
        }
    }
}

/// The full snapshot in its MessagePack form, appended to `out`.
pub fn full_bin(game: &Cycles, out: &mut Vec<u8>) {
    write_array_len(out, 8);
    write_uint(out, game.tick);
    write_bool(out, true);
    common_bin(game, out);
    write_array_len(out, game.riders.len());
    for rider in &game.riders {
        write_array_len(out, rider.trail.len());
        for &v in &rider.trail {
            write_uint(out, u64::from(v));
        }
    }
}

/// The delta since tick `since` in its MessagePack form, appended to `out`.
pub fn delta_bin(game: &Cycles, since: u64, out: &mut Vec<u8>) {
    write_array_len(out, 9);
    write_uint(out, game.tick);
    write_bool(out, false);
    write_uint(out, since);
    common_bin(game, out);
    let count = new_cells(game, since).count();
    write_array_len(out, count * 3);
    for (seat, x, y) in new_cells(game, since) {
        write_uint(out, u64::from(seat));
        write_uint(out, u64::from(x));
        write_uint(out, u64::from(y));
    }
}

/// Appends `items` separated by commas.
fn join<T: std::fmt::Display>(s: &mut String, items: impl Iterator<Item = T>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{item}");
    }
}

/// Wraps JSON text written above (always valid: numbers, booleans, null, arrays).
fn raw(s: String) -> Box<RawValue> {
    RawValue::from_string(s).unwrap_or_else(|_| RawValue::NULL.to_owned())
}
