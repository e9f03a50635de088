//! Tournament records as the actor and the API see them, the rebuild of a bracket from
//! persisted rows, and the tournament view (the JSON of `GET /api/v1/tournaments/{id}`, also
//! pushed to WebSocket subscribers). Pure: no actix, no diesel; `db::tournaments` maps rows to
//! these types.

use super::bracket::{Bracket, BracketError, Format, MatchResult, MatchSlot, MatchState};
use crate::game::Seat;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Shortest no-show timeout: below 100 ms a player cannot even receive the notification.
pub const MIN_NO_SHOW_MS: u64 = 100;
/// Longest no-show timeout: one hour; an evening tournament cannot wait longer for one player.
pub const MAX_NO_SHOW_MS: u64 = 3_600_000;
/// Default no-show timeout (the issue's 60 s).
pub const DEFAULT_NO_SHOW_MS: u64 = 60_000;
/// Longest tournament name, in characters (fits a bracket header).
pub const MAX_NAME_CHARS: usize = 80;

/// Where a tournament stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created; nobody can join yet.
    Draft,
    /// Registration (open or closed, see `registration_open`).
    Registration,
    /// Matches are being played.
    Running,
    /// Over, with a champion.
    Finished,
    /// Stopped by the organiser.
    Cancelled,
}

/// Every status, for metrics and filters.
pub const STATUSES: [Status; 5] = [
    Status::Draft,
    Status::Registration,
    Status::Running,
    Status::Finished,
    Status::Cancelled,
];

impl Status {
    /// Storage / wire / label name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Registration => "registration",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parse a stored or requested status.
    pub fn parse(s: &str) -> Option<Status> {
        STATUSES.into_iter().find(|st| st.as_str() == s)
    }

    /// Finished or cancelled: no actor runs it, nothing changes any more.
    pub fn is_over(self) -> bool {
        matches!(self, Status::Finished | Status::Cancelled)
    }
}

/// Parse the API / storage format name.
pub fn parse_format(name: &str, third_place: bool) -> Option<Format> {
    match name {
        "single_elimination" => Some(Format::SingleElimination { third_place }),
        "round_robin" => Some(Format::RoundRobin),
        _ => None,
    }
}

/// The API / storage name of a format.
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::SingleElimination { .. } => "single_elimination",
        Format::RoundRobin => "round_robin",
    }
}

/// Match settings of every room of a tournament.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Points needed to win a match.
    pub points_to_win: u32,
    /// Room tick rate, Hz.
    pub tick_hz: u32,
    /// How long the two players of a ready match have to join its room.
    pub no_show_timeout_ms: u64,
}

impl Settings {
    /// The game config of a match room.
    pub fn game_config(&self) -> Value {
        json!({"points_to_win": self.points_to_win, "tick_hz": self.tick_hz})
    }
}

/// A tournament's own fields (one `tournaments` row).
#[derive(Clone, Debug)]
pub struct Meta {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Game kind.
    pub game: String,
    /// Format.
    pub format: Format,
    /// Most entrants.
    pub capacity: u32,
    /// Status.
    pub status: Status,
    /// While in registration: whether players may join now.
    pub registration_open: bool,
    /// Registration opens by itself at this Unix ms.
    pub registration_opens_at: Option<i64>,
    /// Registration closes by itself at this Unix ms.
    pub registration_closes_at: Option<i64>,
    /// Match settings.
    pub settings: Settings,
    /// The winner, once finished.
    pub champion: Option<String>,
    /// The organiser who created it.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms (finished or cancelled).
    pub finished_at: Option<i64>,
}

/// One entrant.
#[derive(Clone, Debug, PartialEq)]
pub struct Entrant {
    /// Player id.
    pub player: String,
    /// Display name.
    pub name: String,
    /// Current rating (seeding).
    pub rating: f64,
    /// Explicit seed before the start, final seed from the start; `None` = by rating.
    pub seed: Option<u32>,
    /// Disqualified.
    pub disqualified: bool,
    /// Unix ms.
    pub joined_at: i64,
}

/// A match row's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStatus {
    /// Room created, not started.
    Created,
    /// Being played.
    Playing,
    /// Result recorded.
    Finished,
    /// No result: interrupted by a restart, or the tournament was cancelled.
    Abandoned,
}

impl RowStatus {
    /// Parse the `matches.status` column.
    pub fn parse(s: &str) -> Option<RowStatus> {
        Some(match s {
            "created" => RowStatus::Created,
            "playing" => RowStatus::Playing,
            "finished" => RowStatus::Finished,
            "abandoned" => RowStatus::Abandoned,
            _ => return None,
        })
    }

    /// A room still owns it.
    pub fn is_live(self) -> bool {
        matches!(self, RowStatus::Created | RowStatus::Playing)
    }
}

/// A tournament match row, as far as the tournament cares.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchRecord {
    /// Match id.
    pub id: String,
    /// Room id (a walkover decided without a room has an id no room ever had).
    pub room: String,
    /// Bracket slot.
    pub slot: MatchSlot,
    /// Row status.
    pub status: RowStatus,
    /// Players by seat (seat = bracket seat).
    pub players: [Option<String>; 2],
    /// Winning seat; `None` for a draw.
    pub winner_seat: Option<Seat>,
    /// Points by seat.
    pub scores: [u32; 2],
    /// `score`, `forfeit`, `resign`, `abandoned` (time limit), `settled`, `interrupted`, …
    pub end_reason: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// End reasons that mean the loser did not play the match out.
pub const FORFEIT_REASONS: [&str; 2] = ["forfeit", "resign"];

/// The end reason an organiser's settlement is stored with (unless it is a forfeit).
pub const SETTLED_REASON: &str = "settled";

/// The end reason of a match interrupted by a restart (replayed from scratch).
pub const INTERRUPTED_REASON: &str = "interrupted";

/// The end reason of a match stopped because its tournament was cancelled.
pub const CANCELLED_REASON: &str = "cancelled";

/// Slot key stored on match rows: `r2m1`, or `r3third` for the third-place match.
pub fn slot_key(slot: MatchSlot) -> String {
    if slot.third_place {
        format!("r{}third", slot.round)
    } else {
        format!("r{}m{}", slot.round, slot.index)
    }
}

/// Parse a slot key made by [`slot_key`].
pub fn parse_slot_key(key: &str) -> Option<MatchSlot> {
    let rest = key.strip_prefix('r')?;
    if let Some(round) = rest.strip_suffix("third") {
        return Some(MatchSlot::third_place(round.parse().ok()?));
    }
    let (round, index) = rest.split_once('m')?;
    Some(MatchSlot::new(round.parse().ok()?, index.parse().ok()?))
}

/// The seat of the better seed of a match (seat 0 when unknown): it advances when neither
/// player shows up, and on a draw.
pub fn better_seed_seat(seeds: [Option<u32>; 2]) -> Seat {
    match seeds {
        [Some(a), Some(b)] if b < a => 1,
        [None, Some(_)] => 1,
        _ => 0,
    }
}

/// The bracket result of a finished match row. A draw (time limit, level scores) goes to the
/// better seed, as a played result.
pub fn result_of(record: &MatchRecord, better_seed: Seat) -> Option<MatchResult> {
    if record.status != RowStatus::Finished {
        return None;
    }
    let forfeit = record
        .end_reason
        .as_deref()
        .is_some_and(|r| FORFEIT_REASONS.contains(&r));
    Some(MatchResult {
        winner: record.winner_seat.unwrap_or(better_seed).min(1),
        scores: record.scores,
        forfeit,
    })
}

/// Entrants in seed order for the draw: explicit seeds first (ascending), then by rating
/// (best first), then by who joined first. Entrants disqualified before the start are left
/// out.
pub fn seed_order(entrants: &[Entrant]) -> Vec<&Entrant> {
    let mut list: Vec<&Entrant> = entrants.iter().filter(|e| !e.disqualified).collect();
    list.sort_by(|a, b| {
        let seed = |e: &Entrant| e.seed.unwrap_or(u32::MAX);
        seed(a)
            .cmp(&seed(b))
            .then(b.rating.total_cmp(&a.rating))
            .then(a.joined_at.cmp(&b.joined_at))
            .then(a.player.cmp(&b.player))
    });
    list
}

/// A bracket rebuilt from rows, with the walkovers still to persist.
#[derive(Debug)]
pub struct Rebuilt {
    /// The bracket; live matches (created or playing rows) are marked started.
    pub bracket: Bracket,
    /// Walkovers due against disqualified players that no row records yet (a crash kept them
    /// from being persisted): persist and record each.
    pub due: Vec<(MatchSlot, MatchResult)>,
}

/// Rebuild a running or finished tournament's bracket: the seeded entrants (seed order),
/// their disqualifications, then every finished row in slot order (see the recipe in
/// [`super::bracket`]).
pub fn rebuild(
    format: Format,
    entrants: &[Entrant],
    records: &[MatchRecord],
) -> Result<Rebuilt, BracketError> {
    let mut seeded: Vec<&Entrant> = entrants.iter().filter(|e| e.seed.is_some()).collect();
    seeded.sort_by_key(|e| e.seed);
    let ids = seeded.iter().map(|e| e.player.clone()).collect();
    let mut bracket = Bracket::new(format, ids)?;
    for e in seeded.iter().filter(|e| e.disqualified) {
        bracket.disqualify(&e.player)?;
    }
    let mut finished: Vec<&MatchRecord> = records
        .iter()
        .filter(|r| r.status == RowStatus::Finished)
        .collect();
    finished.sort_by_key(|r| r.slot);
    for record in finished {
        let seeds = bracket
            .get_match(record.slot)
            .ok_or(BracketError::UnknownMatch(record.slot))?
            .seeds;
        if let Some(result) = result_of(record, better_seed_seat(seeds)) {
            bracket.record_result(record.slot, result)?;
        }
    }
    let due = bracket.pending_forfeits();
    for r in records.iter().filter(|r| r.status.is_live()) {
        // A live row for a match the bracket does not offer (it was decided meanwhile) is
        // simply not shown as in progress.
        let _ = bracket.mark_started(r.slot);
    }
    Ok(Rebuilt { bracket, due })
}

/// The row that speaks for a slot: its finished row, else its newest live row.
pub fn row_for(records: &[MatchRecord], slot: MatchSlot) -> Option<&MatchRecord> {
    let of_slot = || records.iter().filter(move |r| r.slot == slot);
    of_slot()
        .find(|r| r.status == RowStatus::Finished)
        .or_else(|| {
            of_slot()
                .filter(|r| r.status.is_live())
                .max_by_key(|r| r.created_at)
        })
}

/// The tournament view: the document of `GET /api/v1/tournaments/{id}` and of the `state`
/// event. `bracket` is `None` before the start.
pub fn render(
    meta: &Meta,
    entrants: &[Entrant],
    bracket: Option<&Bracket>,
    records: &[MatchRecord],
) -> Value {
    let names: HashMap<&str, &str> = entrants
        .iter()
        .map(|e| (e.player.as_str(), e.name.as_str()))
        .collect();
    let player = |id: &str| json!({"id": id, "name": names.get(id).copied().unwrap_or("")});
    let mut listed: Vec<&Entrant> = entrants.iter().collect();
    if bracket.is_some() {
        listed.sort_by_key(|e| (e.seed.unwrap_or(u32::MAX), e.joined_at));
    } else {
        listed.sort_by_key(|e| e.joined_at);
    }
    let eliminated: Vec<String> = bracket.map(eliminated_players).unwrap_or_default();
    let entrants_json: Vec<Value> = listed
        .iter()
        .map(|e| {
            json!({
                "id": e.player, "name": e.name, "rating": e.rating.round() as i64,
                "seed": e.seed, "disqualified": e.disqualified,
                "eliminated": eliminated.contains(&e.player),
            })
        })
        .collect();
    let (rounds, standings, current_round, round_count) = match bracket {
        None => (Value::Null, Value::Null, Value::Null, Value::Null),
        Some(b) => {
            let rounds: Vec<Value> = b
                .matches()
                .into_iter()
                .map(|round| {
                    let matches: Vec<Value> = round
                        .matches
                        .iter()
                        .map(|m| {
                            let row = row_for(records, m.slot);
                            let players: Vec<Value> = (0..2)
                                .map(|i| match &m.players[i] {
                                    Some(id) => json!({
                                        "id": id,
                                        "name": names.get(id.as_str()).copied().unwrap_or(""),
                                        "seed": m.seeds[i],
                                    }),
                                    None => Value::Null,
                                })
                                .collect();
                            let (state, result) = match m.state {
                                MatchState::Pending => ("pending", Value::Null),
                                MatchState::Ready => ("ready", Value::Null),
                                MatchState::InProgress => ("in_progress", Value::Null),
                                MatchState::Finished { result } => (
                                    "finished",
                                    json!({
                                        "winner": m.players[usize::from(result.winner.min(1))],
                                        "scores": result.scores,
                                        "forfeit": result.forfeit,
                                        "reason": row.and_then(|r| r.end_reason.clone()),
                                    }),
                                ),
                            };
                            let live = row.filter(|r| r.status.is_live());
                            json!({
                                "key": slot_key(m.slot),
                                "round": m.slot.round,
                                "index": m.slot.index,
                                "third_place": m.slot.third_place,
                                "players": players,
                                "state": state,
                                "result": result,
                                "match_id": row.map(|r| r.id.clone()),
                                "room": live.map(|r| r.room.clone()),
                            })
                        })
                        .collect();
                    json!({"round": round.round, "matches": matches})
                })
                .collect();
            let standings: Vec<Value> = b
                .standings()
                .into_iter()
                .map(|s| {
                    json!({
                        "player": player(&s.player), "seed": s.seed, "rank": s.rank,
                        "wins": s.wins, "losses": s.losses, "points_for": s.points_for,
                        "points_against": s.points_against, "disqualified": s.disqualified,
                    })
                })
                .collect();
            (
                Value::from(rounds),
                Value::from(standings),
                json!(b.current_round()),
                json!(b.rounds()),
            )
        }
    };
    let third_place = matches!(meta.format, Format::SingleElimination { third_place: true });
    json!({
        "id": meta.id,
        "name": meta.name,
        "game": meta.game,
        "format": format_name(meta.format),
        "third_place": third_place,
        "capacity": meta.capacity,
        "status": meta.status.as_str(),
        "registration_open": meta.status == Status::Registration && meta.registration_open,
        "registration_opens_at": meta.registration_opens_at,
        "registration_closes_at": meta.registration_closes_at,
        "settings": meta.settings,
        "created_by": meta.created_by,
        "created_at": meta.created_at,
        "started_at": meta.started_at,
        "finished_at": meta.finished_at,
        "entrants": entrants_json,
        "rounds": round_count,
        "current_round": current_round,
        "bracket": rounds,
        "standings": standings,
        "champion": meta.champion.as_deref().map(player),
    })
}

/// Single elimination: players knocked out of the main bracket (a third-place match does not
/// count); round robin: nobody.
fn eliminated_players(bracket: &Bracket) -> Vec<String> {
    if bracket.format() == Format::RoundRobin {
        return Vec::new();
    }
    bracket
        .matches()
        .into_iter()
        .flat_map(|r| r.matches)
        .filter(|m| !m.slot.third_place)
        .filter_map(|m| match m.state {
            MatchState::Finished { result } => {
                m.players[usize::from(1 - result.winner.min(1))].clone()
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entrant(id: &str, rating: f64, seed: Option<u32>, joined_at: i64) -> Entrant {
        Entrant {
            player: id.into(),
            name: id.to_uppercase(),
            rating,
            seed,
            disqualified: false,
            joined_at,
        }
    }

    fn finished(id: &str, slot: MatchSlot, winner: Option<u8>, reason: &str) -> MatchRecord {
        MatchRecord {
            id: id.into(),
            room: format!("room-{id}"),
            slot,
            status: RowStatus::Finished,
            players: [None, None],
            winner_seat: winner,
            scores: [1, 0],
            end_reason: Some(reason.into()),
            created_at: 0,
        }
    }

    #[test]
    fn slot_keys_round_trip() {
        for slot in [
            MatchSlot::new(1, 0),
            MatchSlot::new(12, 345),
            MatchSlot::third_place(3),
        ] {
            assert_eq!(parse_slot_key(&slot_key(slot)), Some(slot));
        }
        assert_eq!(slot_key(MatchSlot::new(2, 1)), "r2m1");
        for bad in ["", "r", "2m1", "r2", "rxm1", "r2m", "r2mx", "rthird"] {
            assert_eq!(parse_slot_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn seed_order_explicit_then_rating_then_join_time() {
        let mut dq = entrant("x", 3000.0, None, 0);
        dq.disqualified = true;
        let list = vec![
            entrant("a", 1500.0, None, 3),
            entrant("b", 1700.0, None, 4),
            entrant("c", 1500.0, None, 1),
            entrant("d", 1200.0, Some(1), 9),
            dq,
        ];
        let order: Vec<&str> = seed_order(&list)
            .iter()
            .map(|e| e.player.as_str())
            .collect();
        assert_eq!(order, ["d", "b", "c", "a"]);
    }

    #[test]
    fn results_map_reasons_and_draws() {
        let slot = MatchSlot::new(1, 0);
        let r = result_of(&finished("m", slot, Some(1), "forfeit"), 0).unwrap();
        assert_eq!((r.winner, r.forfeit), (1, true));
        let r = result_of(&finished("m", slot, Some(0), "score"), 1).unwrap();
        assert_eq!((r.winner, r.forfeit), (0, false));
        // A draw goes to the better seed.
        let r = result_of(&finished("m", slot, None, "abandoned"), 1).unwrap();
        assert_eq!((r.winner, r.forfeit), (1, false));
        let mut live = finished("m", slot, Some(0), "score");
        live.status = RowStatus::Playing;
        assert_eq!(result_of(&live, 0), None);
        assert_eq!(better_seed_seat([Some(4), Some(1)]), 1);
        assert_eq!(better_seed_seat([Some(2), Some(3)]), 0);
    }

    #[test]
    fn rebuild_replays_rows_and_reports_due_walkovers() {
        let mut list: Vec<Entrant> = (1..=4)
            .map(|i| entrant(&format!("p{i}"), 1500.0, Some(i), i64::from(i)))
            .collect();
        let format = Format::SingleElimination { third_place: false };
        // Seeds 1v4 in r1m0, 2v3 in r1m1. p1 won; p3 is disqualified with r1m1 unplayed.
        list[2].disqualified = true;
        let records = vec![
            finished("a", MatchSlot::new(1, 0), Some(0), "score"),
            MatchRecord {
                status: RowStatus::Abandoned,
                ..finished("old", MatchSlot::new(1, 1), None, INTERRUPTED_REASON)
            },
        ];
        let rebuilt = rebuild(format, &list, &records).unwrap();
        assert_eq!(rebuilt.due.len(), 1);
        let (slot, result) = rebuilt.due[0];
        assert_eq!(slot, MatchSlot::new(1, 1));
        let m = rebuilt.bracket.get_match(slot).unwrap();
        assert_eq!(m.players[usize::from(result.winner)].as_deref(), Some("p2"));
        let view = render(
            &Meta {
                id: "t".into(),
                name: "T".into(),
                game: "pong".into(),
                format,
                capacity: 8,
                status: Status::Running,
                registration_open: false,
                registration_opens_at: None,
                registration_closes_at: None,
                settings: Settings {
                    points_to_win: 1,
                    tick_hz: 60,
                    no_show_timeout_ms: 1000,
                },
                champion: None,
                created_by: "o".into(),
                created_at: 0,
                started_at: Some(1),
                finished_at: None,
            },
            &list,
            Some(&rebuilt.bracket),
            &records,
        );
        assert_eq!(view["current_round"], 1);
        assert_eq!(view["bracket"][0]["matches"][0]["state"], "finished");
        assert_eq!(view["bracket"][0]["matches"][0]["result"]["winner"], "p1");
        assert_eq!(view["bracket"][0]["matches"][0]["match_id"], "a");
        assert_eq!(view["bracket"][0]["matches"][1]["match_id"], Value::Null);
        assert_eq!(view["entrants"][3]["eliminated"], true);
        assert_eq!(view["entrants"][3]["id"], "p4");
    }
}
