//! Single-elimination pieces of the bracket state machine ([`super::bracket`]): the seeded draw
//! (with byes for the top seeds), advancement, and ranking by elimination round.

use super::bracket::{position, Game, MatchSlot, MatchState, Standing};
use std::cmp::Reverse;

/// Bracket line order for a power-of-two `size`: entrant indices (0 = seed 1) from top to
/// bottom. Consecutive pairs are the round-one matches, and seeds `1..=2^k` cannot meet before
/// the round with `2^k` players left (1 and 2 only in the final, 1 to 4 in the semi-finals at
/// the earliest). Built by doubling: each seed `s` of the bracket half the size becomes the pair
/// `s` vs `len + 1 - s` (1 v 8, 4 v 5, 2 v 7, 3 v 6 for eight).
fn seeding_order(size: usize) -> Vec<u32> {
    let mut order = vec![0u32];
    let mut len = 1u32;
    while (len as usize) < size {
        len *= 2;
        order = order.iter().flat_map(|&s| [s, len - 1 - s]).collect();
    }
    order
}

/// The matches for `count` entrants (2 ..= 1024), with the number of rounds.
///
/// The bracket has the next power of two of lines; the lines past `count` are byes, and each
/// bye faces one of the top seeds (the order pairs seed `s` with `size + 1 - s`). A bye is an
/// automatic advance, not a match: round one holds only real matches and the seeds with a bye
/// start seated in round two. Since more than half the lines hold entrants, every round-one pair
/// has at least one entrant, so byes happen in round one only.
pub(super) fn draw(count: usize, third_place: bool) -> (u32, Vec<Game>) {
    let size = count.next_power_of_two();
    let rounds = size.trailing_zeros();
    let mut games = Vec::with_capacity(size);
    let mut byes = Vec::new();
    for (index, pair) in seeding_order(size).chunks_exact(2).enumerate() {
        let (top, bottom) = (pair[0], pair[1]);
        if (bottom as usize) < count {
            games.push(Game {
                slot: MatchSlot::new(1, index as u32),
                seats: [Some(top), Some(bottom)],
                state: MatchState::Pending,
            });
        } else {
            byes.push((index, top));
        }
    }
    for round in 2..=rounds {
        for index in 0..(size >> round) as u32 {
            games.push(Game::empty(MatchSlot::new(round, index)));
        }
    }
    // With three entrants one semi-final is a bye: only one semi-final loser.
    if third_place && count >= 4 {
        games.push(Game::empty(MatchSlot::third_place(rounds)));
    }
    // `games` is in slot order (the third-place match sorts after the final).
    for (index, entrant) in byes {
        seat(
            &mut games,
            MatchSlot::new(2, (index / 2) as u32),
            index % 2,
            entrant,
        );
    }
    (rounds, games)
}

/// After `slot` finished: seats the winner in the next round and, from a semi-final with a
/// third-place match, the loser there. Returns whether the loser is out (has no match left).
pub(super) fn advance(
    games: &mut [Game],
    rounds: u32,
    slot: MatchSlot,
    winner: u32,
    loser: u32,
) -> bool {
    if slot.third_place || slot.round >= rounds {
        return true;
    }
    let side = (slot.index % 2) as usize;
    seat(
        games,
        MatchSlot::new(slot.round + 1, slot.index / 2),
        side,
        winner,
    );
    let third = MatchSlot::third_place(rounds);
    if slot.round + 1 == rounds && position(games, third).is_some() {
        seat(games, third, side, loser);
        return false;
    }
    true
}

fn seat(games: &mut [Game], slot: MatchSlot, seat: usize, entrant: u32) {
    let game = position(games, slot).and_then(|i| games.get_mut(i));
    if let Some(s) = game.and_then(|g| g.seats.get_mut(seat)) {
        *s = Some(entrant);
    }
}

/// Sorts `lines` (indexed by entrant on entry) by place and sets `rank`: players knocked out
/// in the same round share a place (competition ranking: 1, 2, 3, 3, 5, ...), the third-place
/// match (once played) puts its loser below its winner, and players still in share the top.
pub(super) fn rank(games: &[Game], rounds: u32, lines: &mut [Standing]) {
    // Per entrant: the round lost in (still in: past the final), and 1 for losing the
    // third-place match. Higher round, then lower second number, is better.
    let mut depth = vec![(rounds + 1, 0u8); lines.len()];
    for game in games {
        let Some(d) = game.outcome().and_then(|(_, l)| depth.get_mut(l as usize)) else {
            continue;
        };
        if game.slot.third_place {
            d.1 = 1;
        } else {
            d.0 = game.slot.round;
        }
    }
    let key = |s: &Standing| {
        let (round, third_place_loss) = depth
            .get(s.seed as usize - 1)
            .copied()
            .unwrap_or((0, u8::MAX));
        (Reverse(round), third_place_loss)
    };
    lines.sort_by_key(|s| (key(s), s.seed));
    let mut rank = 1;
    for i in 0..lines.len() {
        if i > 0 && key(&lines[i]) != key(&lines[i - 1]) {
            rank = i as u32 + 1;
        }
        lines[i].rank = rank;
    }
}

#[cfg(test)]
mod tests {
    use super::super::bracket::tests::{ids, play, rebuild, Rng};
    use super::super::bracket::{
        Bracket, BracketEvent, Format, MatchResult, MatchState, MatchView,
    };
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    fn single(third_place: bool) -> Format {
        Format::SingleElimination { third_place }
    }

    fn seeds_of(b: &Bracket, round: u32) -> Vec<(u32, [Option<u32>; 2])> {
        b.matches()[round as usize - 1]
            .matches
            .iter()
            .map(|m| (m.slot.index, m.seeds))
            .collect()
    }

    fn win(b: &mut Bracket, slot: MatchSlot, seat: u8) -> Vec<BracketEvent> {
        let mut scores = [3, 3];
        scores[usize::from(seat)] = 5;
        b.record_result(slot, MatchResult::played(seat, scores))
            .unwrap()
    }

    #[test]
    fn seeding_order_sixteen() {
        let seeds: Vec<u32> = seeding_order(16).iter().map(|s| s + 1).collect();
        assert_eq!(
            seeds,
            vec![1, 16, 8, 9, 4, 13, 5, 12, 2, 15, 7, 10, 3, 14, 6, 11]
        );
    }

    #[test]
    fn eight_entrants_standard_placement() {
        let b = Bracket::new(single(false), ids(8)).unwrap();
        assert_eq!(b.rounds(), 3);
        assert_eq!(
            seeds_of(&b, 1),
            vec![
                (0, [Some(1), Some(8)]),
                (1, [Some(4), Some(5)]),
                (2, [Some(2), Some(7)]),
                (3, [Some(3), Some(6)]),
            ]
        );
        assert_eq!(b.ready_matches().len(), 4);
    }

    #[test]
    fn five_entrants_give_byes_to_seeds_one_to_three() {
        let mut b = Bracket::new(single(true), ids(5)).unwrap();
        assert_eq!(seeds_of(&b, 1), vec![(1, [Some(4), Some(5)])]);
        assert_eq!(
            seeds_of(&b, 2),
            vec![(0, [Some(1), None]), (1, [Some(2), Some(3)])]
        );
        assert_eq!(
            b.ready_matches(),
            vec![MatchSlot::new(1, 1), MatchSlot::new(2, 1)]
        );
        let events = win(&mut b, MatchSlot::new(1, 1), 1);
        assert_eq!(
            events,
            vec![
                BracketEvent::Eliminated {
                    player: "p04".into()
                },
                BracketEvent::MatchReady {
                    slot: MatchSlot::new(2, 0)
                },
                BracketEvent::RoundComplete { round: 1 },
            ]
        );
        assert_eq!(seeds_of(&b, 2)[0], (0, [Some(1), Some(5)]));
        // 4 matches + third place.
        assert_eq!(
            b.matches().iter().map(|r| r.matches.len()).sum::<usize>(),
            5
        );
    }

    #[test]
    fn three_entrants_have_no_third_place_match() {
        let b = Bracket::new(single(true), ids(3)).unwrap();
        assert!(!b.has_third_place_match());
        assert_eq!(seeds_of(&b, 2), vec![(0, [Some(1), None])]);
        assert_eq!(seeds_of(&b, 1), vec![(1, [Some(2), Some(3)])]);
    }

    #[test]
    fn third_place_match_decides_three_and_four() {
        let mut b = Bracket::new(single(true), ids(4)).unwrap();
        let third = MatchSlot::third_place(2);
        let events = win(&mut b, MatchSlot::new(1, 0), 1); // 4 beats 1
        assert!(!events
            .iter()
            .any(|e| matches!(e, BracketEvent::Eliminated { .. })));
        win(&mut b, MatchSlot::new(1, 1), 0); // 2 beats 3
        assert_eq!(b.get_match(third).unwrap().seeds, [Some(1), Some(3)]);
        let events = win(&mut b, MatchSlot::new(2, 0), 0); // 4 beats 2 in the final
        assert!(!b.is_finished());
        assert!(!events
            .iter()
            .any(|e| matches!(e, BracketEvent::Finished { .. })));
        let events = win(&mut b, third, 1); // 3 beats 1
        assert_eq!(
            events,
            vec![
                BracketEvent::Eliminated {
                    player: "p01".into()
                },
                BracketEvent::RoundComplete { round: 2 },
                BracketEvent::Finished {
                    champion: "p04".into()
                },
            ]
        );
        let places: Vec<(u32, u32)> = b.standings().iter().map(|s| (s.seed, s.rank)).collect();
        assert_eq!(places, vec![(4, 1), (2, 2), (3, 3), (1, 4)]);
    }

    #[test]
    fn ranks_by_elimination_round() {
        let mut b = Bracket::new(single(false), ids(8)).unwrap();
        while let Some(&slot) = b.ready_matches().first() {
            win(&mut b, slot, 0);
        }
        let places: Vec<(u32, u32)> = b.standings().iter().map(|s| (s.seed, s.rank)).collect();
        assert_eq!(
            places,
            vec![
                (1, 1),
                (2, 2),
                (3, 3),
                (4, 3),
                (5, 5),
                (6, 5),
                (7, 5),
                (8, 5)
            ]
        );
        let top = &b.standings()[0];
        assert_eq!(
            (top.wins, top.losses, top.points_for, top.points_against),
            (3, 0, 15, 9)
        );
    }

    #[test]
    fn disqualified_player_forfeits_once_the_opponent_is_known() {
        let mut b = Bracket::new(single(false), ids(5)).unwrap();
        assert!(b.disqualify("p01").unwrap().is_empty());
        let events = win(&mut b, MatchSlot::new(1, 1), 0);
        let due = (MatchSlot::new(2, 0), MatchResult::walkover(1));
        assert!(events.contains(&BracketEvent::ForfeitDue {
            slot: due.0,
            result: due.1
        }));
        assert_eq!(b.pending_forfeits(), vec![due]);
        assert_eq!(b.ready_matches(), vec![MatchSlot::new(2, 1)]);
        let events = b.record_result(due.0, due.1).unwrap();
        assert!(events.contains(&BracketEvent::Eliminated {
            player: "p01".into()
        }));
        assert!(b.pending_forfeits().is_empty());
        let forfeited = b.get_match(due.0).unwrap();
        assert_eq!(forfeited.state, MatchState::Finished { result: due.1 });
    }

    /// The half of the bracket (0 top, 1 bottom) holding the first match `seed` plays: its
    /// line block `(2 * index + seat) >> (rounds - round)`.
    fn half_of(views: &[MatchView], rounds: u32, seed: u32) -> Option<u32> {
        let m = views.iter().find(|m| m.seeds.contains(&Some(seed)))?;
        let seat = u32::from(m.seeds[1] == Some(seed));
        Some((2 * m.slot.index + seat) >> (rounds - m.slot.round))
    }

    fn check_single_elimination(n: usize, third: bool, dq_per_mille: usize, rng: &mut Rng) {
        let mut b = Bracket::new(single(third), ids(n)).unwrap();
        let size = n.next_power_of_two();
        let rounds = size.trailing_zeros();
        let has_third = third && n >= 4;
        assert_eq!((b.rounds(), b.has_third_place_match()), (rounds, has_third));

        let halfway = rng.below(n);
        let first = play(&mut b, rng, halfway, dq_per_mille);
        assert_eq!(rebuild(&b, &first.log), b);
        let rest = play(&mut b, rng, usize::MAX, dq_per_mille);
        let log: Vec<_> = first.log.into_iter().chain(rest.log).collect();
        let events: Vec<_> = first.events.into_iter().chain(rest.events).collect();
        assert!(b.is_finished());
        assert_eq!(rebuild(&b, &log), b);

        let views: Vec<MatchView> = b.matches().into_iter().flat_map(|r| r.matches).collect();
        assert_eq!(views.len(), n - 1 + usize::from(has_third));

        // Byes in round one only, and only for the top seeds.
        let round_one: HashSet<u32> = views
            .iter()
            .filter(|m| m.slot.round == 1)
            .flat_map(|m| m.seeds.into_iter().flatten())
            .collect();
        assert_eq!(round_one.len(), 2 * (n - size / 2));
        for seed in 1..=n as u32 {
            assert_eq!(round_one.contains(&seed), seed as usize > size - n);
        }

        // One champion; everyone else loses exactly once in the main bracket, and plays every
        // round from their first one up to that loss.
        let champion = b.champion().unwrap();
        let mut losses: HashMap<String, u32> = HashMap::new();
        let mut played: HashMap<u32, Vec<u32>> = HashMap::new();
        for m in views.iter().filter(|m| !m.slot.third_place) {
            let MatchState::Finished { result } = m.state else {
                panic!("unfinished match in a finished bracket");
            };
            let loser = m.players[1 - usize::from(result.winner)].clone().unwrap();
            *losses.entry(loser).or_default() += 1;
            for seed in m.seeds {
                played.entry(seed.unwrap()).or_default().push(m.slot.round);
            }
            // Seeds 1..=2^k meet no earlier than the round with 2^k players left.
            let worse = m.seeds.into_iter().flatten().max().unwrap();
            let k = u32::BITS - (worse - 1).leading_zeros();
            assert!(m.slot.round + k > rounds, "seed {worse} met too early");
        }
        assert!(!losses.contains_key(&champion));
        assert_eq!(losses.len(), n - 1);
        assert!(losses.values().all(|&l| l == 1));
        for (seed, rounds_played) in &played {
            let start = if *seed as usize > size - n { 1 } else { 2 };
            let expected: Vec<u32> = (start..start + rounds_played.len() as u32).collect();
            assert_eq!(rounds_played, &expected);
        }
        if n >= 3 {
            assert_ne!(half_of(&views, rounds, 1), half_of(&views, rounds, 2));
        }

        let completed: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                BracketEvent::RoundComplete { round } => Some(*round),
                _ => None,
            })
            .collect();
        assert_eq!(completed, (1..=rounds).collect::<Vec<_>>());
        assert_eq!(
            events.last(),
            Some(&BracketEvent::Finished {
                champion: champion.clone()
            })
        );
        let standings = b.standings();
        assert_eq!(
            (standings[0].player.as_str(), standings[0].rank),
            (champion.as_str(), 1)
        );
        assert_eq!(standings[1].rank, 2);
        assert!(standings.windows(2).all(|w| w[0].rank <= w[1].rank));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Every entrant count 2..=64, random results in random order, some disqualifications.
        #[test]
        fn single_elimination_invariants(
            seed in any::<u64>(),
            third in any::<bool>(),
            dq_per_mille in 0usize..20,
        ) {
            let mut rng = Rng::new(seed);
            for n in 2..=64 {
                check_single_elimination(n, third, dq_per_mille, &mut rng);
            }
        }
    }
}
