//! Tests of the format-agnostic bracket API, and the test kit the format modules' property
//! tests share (random play-through, rebuild from results).

use super::*;

/// SplitMix64: a tiny deterministic generator, seeded by proptest.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Entrant ids `p01`, `p02`, ... in seed order.
pub(crate) fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("p{i:02}")).collect()
}

/// What [`play`] recorded.
pub(crate) struct Run {
    /// Every recorded result, in recording order (what the server would persist).
    pub(crate) log: Vec<(MatchSlot, MatchResult)>,
    /// Every event returned.
    pub(crate) events: Vec<BracketEvent>,
}

/// Drives the bracket as the tournament actor would, for at most `steps` steps or to the end:
/// each step either disqualifies a random entrant (chance `dq_per_mille` / 1000) or starts a
/// random ready match and records a random result; due walkovers are recorded at once. Checks
/// on the way that it never stalls and that no player is offered two matches at once.
pub(crate) fn play(b: &mut Bracket, rng: &mut Rng, steps: usize, dq_per_mille: usize) -> Run {
    let mut run = Run {
        log: Vec::new(),
        events: Vec::new(),
    };
    let mut due = Vec::new();
    for _ in 0..steps {
        if b.is_finished() {
            break;
        }
        if rng.below(1000) < dq_per_mille {
            let player = b.entrants()[rng.below(b.entrants().len())].clone();
            due = b.disqualify(&player).unwrap();
        } else {
            let ready = b.ready_matches();
            assert!(!ready.is_empty(), "stalled: {b:?}");
            let mut busy = vec![false; b.entrants.len()];
            for slot in &ready {
                for e in b.game(*slot).unwrap().seats {
                    let e = e.unwrap() as usize;
                    assert!(!busy[e], "a player offered two matches");
                    busy[e] = true;
                }
            }
            let slot = ready[rng.below(ready.len())];
            b.mark_started(slot).unwrap();
            let winner = rng.below(2) as u8;
            let high = 1 + rng.below(11) as u32;
            let mut scores = [rng.below(high as usize + 1) as u32; 2];
            scores[usize::from(winner)] = high;
            due.push((slot, MatchResult::played(winner, scores)));
        }
        while let Some((slot, result)) = due.pop() {
            let events = b.record_result(slot, result).unwrap();
            run.log.push((slot, result));
            for event in &events {
                if let BracketEvent::ForfeitDue { slot, result } = event {
                    due.push((*slot, *result));
                }
            }
            run.events.extend(events);
        }
    }
    assert!(b.pending_forfeits().is_empty());
    run
}

/// Rebuilds `b` the way the server does after a restart: new bracket, disqualifications,
/// persisted results in slot order.
pub(crate) fn rebuild(b: &Bracket, log: &[(MatchSlot, MatchResult)]) -> Bracket {
    let mut rebuilt = Bracket::new(b.format(), b.entrants().to_vec()).unwrap();
    for player in b.entrants().iter().filter(|p| b.is_disqualified(p)) {
        rebuilt.disqualify(player).unwrap();
    }
    let mut rows = log.to_vec();
    rows.sort_by_key(|(slot, _)| *slot);
    for (slot, result) in rows {
        rebuilt.record_result(slot, result).unwrap();
    }
    assert!(rebuilt.pending_forfeits().is_empty());
    rebuilt
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const SINGLE: Format = Format::SingleElimination { third_place: false };

#[test]
fn new_rejects_bad_entrant_lists() {
    assert_eq!(
        Bracket::new(SINGLE, vec![]),
        Err(BracketError::TooFewEntrants { count: 0 })
    );
    assert_eq!(
        Bracket::new(Format::RoundRobin, names(&["a"])),
        Err(BracketError::TooFewEntrants { count: 1 })
    );
    assert_eq!(
        Bracket::new(SINGLE, names(&["a", "b", "a"])),
        Err(BracketError::DuplicateEntrant("a".into()))
    );
    assert_eq!(
        Bracket::new(Format::RoundRobin, ids(MAX_ROUND_ROBIN_ENTRANTS + 1)),
        Err(BracketError::TooManyEntrants {
            count: MAX_ROUND_ROBIN_ENTRANTS + 1,
            max: MAX_ROUND_ROBIN_ENTRANTS
        })
    );
    let b = Bracket::new(SINGLE, ids(MAX_ELIMINATION_ENTRANTS)).unwrap();
    assert_eq!(b.rounds(), 10);
}

#[test]
fn record_result_validates_and_is_idempotent() {
    let mut b = Bracket::new(SINGLE, ids(4)).unwrap();
    let semi = MatchSlot::new(1, 0);
    let final_ = MatchSlot::new(2, 0);
    let unknown = MatchSlot::new(1, 2);
    let won = MatchResult::played(0, [5, 2]);
    assert_eq!(
        b.record_result(unknown, won),
        Err(BracketError::UnknownMatch(unknown))
    );
    assert_eq!(
        b.record_result(final_, won),
        Err(BracketError::NotReady(final_))
    );
    assert_eq!(
        b.record_result(final_, MatchResult::walkover(0)),
        Err(BracketError::NotReady(final_))
    );
    assert!(matches!(
        b.record_result(semi, MatchResult::played(2, [5, 2])),
        Err(BracketError::InvalidResult { .. })
    ));
    assert!(matches!(
        b.record_result(semi, MatchResult::played(0, [2, 5])),
        Err(BracketError::InvalidResult { .. })
    ));
    let eliminated = BracketEvent::Eliminated {
        player: "p04".into(),
    };
    assert_eq!(b.record_result(semi, won), Ok(vec![eliminated]));
    assert_eq!(b.record_result(semi, won), Ok(vec![]));
    assert_eq!(
        b.record_result(semi, MatchResult::played(1, [2, 5])),
        Err(BracketError::ResultConflict(semi))
    );
    let events = b
        .record_result(MatchSlot::new(1, 1), MatchResult::played(1, [0, 0]))
        .unwrap();
    assert!(events.contains(&BracketEvent::MatchReady { slot: final_ }));
    assert_eq!(b.current_round(), Some(2));
    let events = b.record_result(final_, MatchResult::walkover(1)).unwrap();
    assert!(events.contains(&BracketEvent::Finished {
        champion: "p03".into()
    }));
    assert_eq!(b.current_round(), None);
    assert_eq!(b.champion(), Some("p03".into()));
    assert_eq!(
        b.record_result(final_, MatchResult::walkover(1)),
        Ok(vec![])
    );
}

#[test]
fn started_matches_are_not_offered_again() {
    let mut b = Bracket::new(SINGLE, ids(2)).unwrap();
    let only = MatchSlot::new(1, 0);
    assert_eq!(b.ready_matches(), vec![only]);
    b.mark_started(only).unwrap();
    assert!(b.ready_matches().is_empty());
    assert_eq!(
        b.mark_started(only),
        Err(BracketError::AlreadyStarted(only))
    );
    b.cancel_start(only).unwrap();
    assert_eq!(b.ready_matches(), vec![only]);
    b.mark_started(only).unwrap();
    b.record_result(only, MatchResult::played(0, [1, 0]))
        .unwrap();
    assert_eq!(
        b.mark_started(only),
        Err(BracketError::AlreadyFinished(only))
    );
    assert!(b.is_finished());
    assert_eq!(b.disqualify("p02"), Err(BracketError::TournamentFinished));
    assert_eq!(
        b.disqualify("nobody"),
        Err(BracketError::UnknownPlayer("nobody".into()))
    );
}

#[test]
fn disqualifying_a_player_mid_match_forfeits_it() {
    let mut b = Bracket::new(SINGLE, ids(4)).unwrap();
    let semi = MatchSlot::new(1, 0);
    b.mark_started(semi).unwrap();
    let forfeits = b.disqualify("p01").unwrap();
    assert_eq!(forfeits, vec![(semi, MatchResult::walkover(1))]);
    assert_eq!(b.disqualify("p01").unwrap(), forfeits);
    assert!(b.is_disqualified("p01"));
    assert_eq!(b.ready_matches(), vec![MatchSlot::new(1, 1)]);
    b.record_result(semi, forfeits[0].1).unwrap();
    assert_eq!(
        b.get_match(MatchSlot::new(2, 0)).unwrap().seeds,
        [Some(4), None]
    );
}

#[test]
fn serde_shapes_and_round_trip() {
    let format: Format = serde_json::from_str(r#"{"kind":"single_elimination"}"#).unwrap();
    assert_eq!(format, SINGLE);
    assert_eq!(
        serde_json::to_string(&Format::RoundRobin).unwrap(),
        r#"{"kind":"round_robin"}"#
    );
    assert_eq!(
        serde_json::to_string(&MatchSlot::third_place(3)).unwrap(),
        r#"{"round":3,"index":0,"third_place":true}"#
    );
    let slot: MatchSlot = serde_json::from_str(r#"{"round":2,"index":1}"#).unwrap();
    assert_eq!(slot, MatchSlot::new(2, 1));
    assert_eq!(
        serde_json::to_value(MatchState::Finished {
            result: MatchResult::walkover(1)
        })
        .unwrap(),
        serde_json::json!({"state":"finished","result":{"winner":1,"scores":[0,0],"forfeit":true}})
    );

    let mut b = Bracket::new(Format::SingleElimination { third_place: true }, ids(6)).unwrap();
    play(&mut b, &mut Rng::new(7), 3, 0);
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(serde_json::from_str::<Bracket>(&json).unwrap(), b);
    let view = serde_json::to_value(b.matches()).unwrap();
    assert_eq!(view[0]["round"], 1);
    assert!(view[0]["matches"][0]["players"].is_array());
}

#[test]
fn replay_in_round_order_reproduces_the_bracket() {
    for format in [
        SINGLE,
        Format::SingleElimination { third_place: true },
        Format::RoundRobin,
    ] {
        for n in [2, 3, 5, 8, 9] {
            let mut b = Bracket::new(format, ids(n)).unwrap();
            let mut rng = Rng::new(n as u64);
            let mut log = play(&mut b, &mut rng, 2, 0).log;
            log.extend(play(&mut b, &mut rng, 1, 1000).log);
            assert_eq!(rebuild(&b, &log), b);
            log.extend(play(&mut b, &mut rng, usize::MAX, 0).log);
            log.reverse();
            assert_eq!(rebuild(&b, &log), b);
        }
    }
}
