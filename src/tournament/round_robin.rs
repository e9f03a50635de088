//! Round robin pieces of the bracket state machine ([`super::bracket`]): the schedule (circle
//! method) and the standings order. Pure functions over entrant indices (0 = seed 1).

use super::bracket::{Game, MatchSlot, MatchState, Standing};
use std::cmp::Reverse;

/// The matches for `count` entrants (2 ..= 128), with the number of rounds: [`schedule`], with
/// match indices counting from 0 in each round. Every match starts pending; the bracket makes a
/// match ready once both players have finished their earlier rounds.
pub(super) fn draw(count: usize) -> (u32, Vec<Game>) {
    let schedule = schedule(count);
    let rounds = schedule.len() as u32;
    let mut games = Vec::with_capacity(count * count.saturating_sub(1) / 2);
    for (round, pairs) in schedule.into_iter().enumerate() {
        for (index, [a, b]) in pairs.into_iter().enumerate() {
            games.push(Game {
                slot: MatchSlot::new(round as u32 + 1, index as u32),
                seats: [Some(a), Some(b)],
                state: MatchState::Pending,
            });
        }
    }
    (rounds, games)
}

/// The circle-method schedule for `count` entrants: one list of `[seat 0, seat 1]` pairs per
/// round, so that every two entrants meet exactly once and nobody plays twice in a round.
///
/// Entrant 0 stays fixed while the others rotate one place per round. With an odd count a
/// phantom entrant is added and whoever is drawn against it has that round off (a bye, not a
/// match), so everyone sits out exactly once. `count` rounds when odd, `count - 1` when even.
/// The fixed entrant changes seat every round, so seed 1 is not always in seat 0.
pub fn schedule(count: usize) -> Vec<Vec<[u32; 2]>> {
    let slots = count + count % 2;
    let mut ring: Vec<u32> = (0..slots as u32).collect();
    let mut rounds = Vec::with_capacity(slots.saturating_sub(1));
    for round in 0..slots.saturating_sub(1) {
        let mut pairs = Vec::with_capacity(slots / 2);
        for board in 0..slots / 2 {
            let (a, b) = (ring[board], ring[slots - 1 - board]);
            if a as usize >= count || b as usize >= count {
                continue;
            }
            if board == 0 && round % 2 == 1 {
                pairs.push([b, a]);
            } else {
                pairs.push([a, b]);
            }
        }
        rounds.push(pairs);
        if let Some(rest) = ring.get_mut(1..) {
            rest.rotate_right(1);
        }
    }
    rounds
}

/// Round robin standings order: entrant indices, best first.
///
/// `lines` holds every entrant's totals, indexed by entrant; `outcomes` holds `(winner, loser)`
/// of every finished match. Disqualified entrants go below everyone else; then most wins; among
/// entrants tied on wins, most wins in the matches between those tied entrants (head-to-head,
/// applied once to the whole tied group); then best point difference over all matches; then
/// better seed, so the order is total.
pub(crate) fn order(lines: &[Standing], outcomes: &[(u32, u32)]) -> Vec<usize> {
    let primary = |i: usize| {
        lines
            .get(i)
            .map(|s| (s.disqualified, Reverse(s.wins)))
            .unwrap_or((true, Reverse(0)))
    };
    let difference = |i: usize| {
        lines.get(i).map_or(0, |s| {
            i128::from(s.points_for) - i128::from(s.points_against)
        })
    };
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| (primary(i), i));

    let mut start = 0;
    while start < order.len() {
        let key = primary(order[start]);
        let len = order[start..]
            .iter()
            .take_while(|&&i| primary(i) == key)
            .count();
        let group = &mut order[start..start + len];
        if len > 1 {
            let mut tied = vec![false; lines.len()];
            for &i in group.iter() {
                tied[i] = true;
            }
            let mut head_to_head = vec![0u32; lines.len()];
            for &(w, l) in outcomes {
                let (w, l) = (w as usize, l as usize);
                if tied.get(w) == Some(&true) && tied.get(l) == Some(&true) {
                    head_to_head[w] += 1;
                }
            }
            group.sort_by_key(|&i| (Reverse(head_to_head[i]), Reverse(difference(i)), i));
        }
        start += len;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::super::bracket::tests::{ids, play, rebuild, Rng};
    use super::super::bracket::{Bracket, BracketError, Format, MatchResult};
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn schedule_even_and_odd() {
        let four = schedule(4);
        assert_eq!(four.len(), 3);
        assert!(four.iter().all(|r| r.len() == 2));
        assert_eq!(four[0], vec![[0, 3], [1, 2]]);

        let five = schedule(5);
        assert_eq!(five.len(), 5);
        assert!(five.iter().all(|r| r.len() == 2));
        let mut byes = vec![0; 5];
        for round in &five {
            let playing: HashSet<u32> = round.iter().flatten().copied().collect();
            for (e, b) in byes.iter_mut().enumerate() {
                if !playing.contains(&(e as u32)) {
                    *b += 1;
                }
            }
        }
        assert_eq!(byes, vec![1; 5]);
    }

    /// Records `winner` beating `loser` `scores.0`–`scores.1` in their (ready) match.
    fn beat(b: &mut Bracket, winner: &str, loser: &str, scores: (u32, u32)) {
        let view = b
            .matches()
            .into_iter()
            .flat_map(|r| r.matches)
            .find(|m| {
                m.players.contains(&Some(winner.to_owned()))
                    && m.players.contains(&Some(loser.to_owned()))
            })
            .unwrap();
        let seat = u8::from(view.players[1].as_deref() == Some(winner));
        let mut s = [scores.1, scores.1];
        s[usize::from(seat)] = scores.0;
        b.record_result(view.slot, MatchResult::played(seat, s))
            .unwrap();
    }

    fn order_of(b: &Bracket) -> Vec<String> {
        b.standings().into_iter().map(|s| s.player).collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn head_to_head_beats_point_difference() {
        let mut b = Bracket::new(Format::RoundRobin, names(&["a", "b", "c", "d"])).unwrap();
        beat(&mut b, "a", "d", (10, 0));
        beat(&mut b, "c", "b", (5, 0));
        beat(&mut b, "a", "c", (10, 0));
        beat(&mut b, "b", "d", (5, 4));
        beat(&mut b, "b", "a", (5, 4));
        beat(&mut b, "d", "c", (5, 4));
        // a and b have 2 wins, a the better difference, but b beat a; d beat c.
        assert_eq!(order_of(&b), names(&["b", "a", "d", "c"]));
        let s = b.standings();
        assert_eq!(
            s.iter()
                .map(|s| (s.rank, s.wins, s.losses))
                .collect::<Vec<_>>(),
            vec![(1, 2, 1), (2, 2, 1), (3, 1, 2), (4, 1, 2)]
        );
        assert_eq!((s[1].points_for, s[1].points_against), (24, 5));
        assert_eq!(b.champion(), Some("b".to_owned()));
    }

    #[test]
    fn three_way_cycle_falls_to_point_difference_then_seed() {
        let mut b = Bracket::new(Format::RoundRobin, names(&["a", "b", "c", "d"])).unwrap();
        beat(&mut b, "a", "d", (5, 0));
        beat(&mut b, "b", "c", (5, 4));
        beat(&mut b, "c", "a", (5, 3));
        beat(&mut b, "b", "d", (5, 0));
        beat(&mut b, "a", "b", (5, 0));
        beat(&mut b, "c", "d", (5, 0));
        // Head-to-head 1-1-1; differences a +8, c +6, b +1.
        assert_eq!(order_of(&b), names(&["a", "c", "b", "d"]));

        let mut b = Bracket::new(Format::RoundRobin, names(&["a", "b", "c"])).unwrap();
        beat(&mut b, "b", "c", (5, 3));
        beat(&mut b, "c", "a", (5, 3));
        beat(&mut b, "a", "b", (5, 3));
        assert_eq!(order_of(&b), names(&["a", "b", "c"]));
        assert!(b.is_finished());
    }

    #[test]
    fn disqualified_rank_last_and_forfeit_all_remaining() {
        let mut b = Bracket::new(Format::RoundRobin, names(&["a", "b", "c", "d"])).unwrap();
        beat(&mut b, "c", "b", (5, 0));
        beat(&mut b, "d", "a", (5, 0));
        let forfeits = b.disqualify("d").unwrap();
        assert_eq!(forfeits.len(), 2);
        for (slot, result) in forfeits {
            let view = b.get_match(slot).unwrap();
            let winner = view.players[usize::from(result.winner)].clone().unwrap();
            assert_ne!(winner, "d");
            assert!(result.forfeit);
            b.record_result(slot, result).unwrap();
        }
        assert!(b.disqualify("d").unwrap().is_empty());
        assert!(b.ready_matches().iter().all(|s| {
            let players = b.get_match(*s).unwrap().players;
            !players.contains(&Some("d".to_owned()))
        }));
        beat(&mut b, "a", "c", (5, 0));
        beat(&mut b, "a", "b", (5, 0));
        assert!(b.is_finished());
        let last = b.standings().pop().unwrap();
        assert_eq!(
            (last.player.as_str(), last.wins, last.disqualified),
            ("d", 1, true)
        );
        assert_eq!(b.champion(), Some("a".to_owned()));
        assert_eq!(b.disqualify("a"), Err(BracketError::TournamentFinished));
    }

    fn check_round_robin(n: usize, dq_per_mille: usize, rng: &mut Rng) {
        let mut b = Bracket::new(Format::RoundRobin, ids(n)).unwrap();
        let expected_rounds = if n % 2 == 0 { n - 1 } else { n };
        assert_eq!(b.rounds() as usize, expected_rounds);

        // Stop halfway once: the rebuilt bracket must equal the live one.
        let total = n * (n - 1) / 2;
        let halfway = rng.below(total + 1);
        let run = play(&mut b, rng, halfway, dq_per_mille);
        assert_eq!(rebuild(&b, &run.log), b);
        let mut log = run.log;
        log.extend(play(&mut b, rng, usize::MAX, dq_per_mille).log);
        assert!(b.is_finished());
        assert_eq!(rebuild(&b, &log), b);

        let mut pairs = HashMap::new();
        let rounds = b.matches();
        assert_eq!(rounds.len(), expected_rounds);
        for round in &rounds {
            assert_eq!(round.matches.len(), n / 2);
            let mut seen = HashSet::new();
            for m in &round.matches {
                let [Some(x), Some(y)] = m.players.clone() else {
                    panic!("round robin match without players");
                };
                assert!(seen.insert(x.clone()) && seen.insert(y.clone()));
                *pairs
                    .entry((x.clone().min(y.clone()), x.max(y)))
                    .or_insert(0) += 1;
            }
        }
        assert_eq!(pairs.len(), total);
        assert!(pairs.values().all(|&c| c == 1));

        let standings = b.standings();
        let ranks: Vec<u32> = standings.iter().map(|s| s.rank).collect();
        assert_eq!(ranks, (1..=n as u32).collect::<Vec<_>>());
        assert_eq!(
            standings.iter().map(|s| s.wins as usize).sum::<usize>(),
            total
        );
        assert_eq!(b.champion(), Some(standings[0].player.clone()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4))]

        /// Every entrant count 2..=64, random results in random order, some disqualifications.
        #[test]
        fn round_robin_invariants(seed in any::<u64>(), dq_per_mille in 0usize..10) {
            let mut rng = Rng::new(seed);
            for n in 2..=64 {
                check_round_robin(n, dq_per_mille, &mut rng);
            }
        }
    }
}
