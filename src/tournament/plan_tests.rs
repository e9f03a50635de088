use super::*;
use crate::error::ErrorKind;
use crate::tournament::bracket::Format;
use crate::tournament::model::Settings;

fn caller() -> Caller {
    Caller {
        id: PlayerId("org".into()),
        name: "Org".into(),
    }
}

fn state(format: Format, players: usize, status: Status, open: bool) -> State {
    State {
        meta: Meta {
            id: "t".into(),
            name: "T".into(),
            game: "pong".into(),
            format,
            capacity: 8,
            status,
            registration_open: open,
            registration_opens_at: None,
            registration_closes_at: None,
            settings: Settings {
                points_to_win: 1,
                tick_hz: 60,
                no_show_timeout_ms: 1000,
            },
            champion: None,
            created_by: "org".into(),
            created_at: 0,
            started_at: None,
            finished_at: None,
        },
        entrants: (0..players)
            .map(|i| Entrant {
                player: format!("p{}", i + 1),
                name: format!("P{}", i + 1),
                rating: 2000.0 - i as f64,
                seed: None,
                disqualified: false,
                joined_at: i as i64,
            })
            .collect(),
        records: Vec::new(),
        bracket: None,
    }
}

fn single() -> Format {
    Format::SingleElimination { third_place: false }
}

fn started(players: usize) -> State {
    let s = state(single(), players, Status::Registration, false);
    s.plan_admin(&caller(), &AdminAction::Start, 10)
        .unwrap()
        .next
}

fn live(s: &mut State, slot: MatchSlot, id: &str) {
    let m = s.bracket.as_ref().unwrap().get_match(slot).unwrap();
    s.records.push(MatchRecord {
        id: id.into(),
        room: format!("room-{id}"),
        slot,
        status: RowStatus::Created,
        players: m.players.clone(),
        winner_seat: None,
        scores: [0, 0],
        end_reason: None,
        created_at: 1,
    });
    s.bracket.as_mut().unwrap().mark_started(slot).unwrap();
}

#[test]
fn invalid_transitions_are_refused_without_a_plan() {
    let draft = state(single(), 0, Status::Draft, false);
    let e = draft
        .plan_admin(&caller(), &AdminAction::Start, 1)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    let e = draft
        .plan_admin(&caller(), &AdminAction::Close, 1)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    let one = state(single(), 1, Status::Registration, true);
    let e = one
        .plan_admin(&caller(), &AdminAction::Start, 1)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(e.message.contains("at least 2"), "{}", e.message);
    let closed = state(single(), 2, Status::Registration, false);
    let e = closed
        .plan_join(&PlayerId("new".into()), "New", 1500.0, 1)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    let e = closed
        .plan_admin(
            &caller(),
            &AdminAction::Disqualify {
                player: PlayerId("nobody".into()),
            },
            1,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    let e = closed
        .plan_admin(
            &caller(),
            &AdminAction::Seeding {
                order: vec![PlayerId("p1".into()), PlayerId("ghost".into())],
            },
            1,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Validation);
    assert!(e.message.contains("ghost"));
}

#[test]
fn open_close_and_join_respect_capacity() {
    let draft = state(single(), 0, Status::Draft, false);
    let open = draft.plan_admin(&caller(), &AdminAction::Open, 1).unwrap();
    assert_eq!(open.change.status, Some(Status::Registration));
    assert_eq!(open.change.registration_open, Some(true));
    assert!(open.change.audit.is_some());
    let mut s = open.next;
    for i in 0..8 {
        s = s
            .plan_join(&PlayerId(format!("x{i}")), "X", 1500.0, i)
            .unwrap()
            .next;
    }
    // Joining again is a no-op; a ninth player is refused.
    let again = s.plan_join(&PlayerId("x0".into()), "X", 1500.0, 9).unwrap();
    assert!(again.change.is_empty());
    let e = s
        .plan_join(&PlayerId("x9".into()), "X", 1500.0, 9)
        .unwrap_err();
    assert!(e.message.contains("full"));
    let left = s.plan_leave(&PlayerId("x3".into())).unwrap();
    assert_eq!(left.next.entrants.len(), 7);
    // A disqualified entrant can neither withdraw nor enter again.
    let dq = s
        .plan_admin(
            &caller(),
            &AdminAction::Disqualify {
                player: PlayerId("x2".into()),
            },
            3,
        )
        .unwrap()
        .next;
    assert!(dq.plan_leave(&PlayerId("x2".into())).is_err());
    assert!(dq
        .plan_join(&PlayerId("x2".into()), "X", 1500.0, 4)
        .is_err());
    assert_eq!(seed_order(&dq.entrants).len(), 7);
    let closed = s.plan_admin(&caller(), &AdminAction::Close, 2).unwrap();
    assert!(closed.events.iter().any(|e| matches!(
        e,
        TournamentEvent::Status {
            registration_open: false,
            ..
        }
    )));
}

#[test]
fn start_seeds_explicit_order_then_rating() {
    let s = state(single(), 4, Status::Registration, true);
    let seeded = s
        .plan_admin(
            &caller(),
            &AdminAction::Seeding {
                order: vec![PlayerId("p4".into())],
            },
            1,
        )
        .unwrap()
        .next;
    let plan = seeded
        .plan_admin(&caller(), &AdminAction::Start, 2)
        .unwrap();
    let seeds: Vec<(String, Option<u32>)> = plan.change.seeds.clone();
    assert!(seeds.contains(&("p4".into(), Some(1))));
    assert!(seeds.contains(&("p1".into(), Some(2))));
    assert!(seeds.contains(&("p3".into(), Some(4))));
    assert_eq!(plan.next.meta.status, Status::Running);
    assert_eq!(plan.next.startable().len(), 2);
}

#[test]
fn disqualifying_forfeits_through_the_room_or_by_walkover() {
    let mut s = started(4);
    // r1m0 (p1 v p4) has a room; r1m1 (p2 v p3) does not yet.
    live(&mut s, MatchSlot::new(1, 0), "m0");
    let plan = s
        .plan_admin(
            &caller(),
            &AdminAction::Disqualify {
                player: PlayerId("p4".into()),
            },
            5,
        )
        .unwrap();
    assert_eq!(
        plan.effects,
        vec![Effect::Forfeit {
            room: RoomId("room-m0".into()),
            player: PlayerId("p4".into())
        }]
    );
    assert!(plan.change.walkovers.is_empty());
    let plan = s
        .plan_admin(
            &caller(),
            &AdminAction::Disqualify {
                player: PlayerId("p3".into()),
            },
            5,
        )
        .unwrap();
    assert_eq!(plan.change.walkovers.len(), 1);
    assert_eq!(
        plan.change.walkovers[0].players,
        ["p2".to_string(), "p3".to_string()]
    );
    assert_eq!(plan.change.walkovers[0].winner_seat, 0);
    assert_eq!(plan.counted, ["forfeited"]);
}

#[test]
fn results_chain_into_walkovers_and_a_champion() {
    let mut s = started(4);
    // p3 is disqualified before anything is played: r1m1 is a walkover for p2.
    s = s
        .plan_admin(
            &caller(),
            &AdminAction::Disqualify {
                player: PlayerId("p3".into()),
            },
            3,
        )
        .unwrap()
        .next;
    live(&mut s, MatchSlot::new(1, 0), "m0");
    let mut record = s.records[1].clone();
    assert_eq!(record.id, "m0");
    record.status = RowStatus::Finished;
    record.winner_seat = Some(0);
    record.scores = [1, 0];
    record.end_reason = Some("score".into());
    let plan = s.plan_result(record, 4).unwrap();
    assert!(plan.change.is_empty(), "the room wrote the row");
    assert!(plan
        .events
        .iter()
        .any(|e| matches!(e, TournamentEvent::RoundComplete { round: 1 })));
    s = plan.next;
    live(&mut s, MatchSlot::new(2, 0), "final");
    let e = s
        .plan_admin(
            &caller(),
            &AdminAction::Settle {
                match_id: MatchId("final".into()),
                winner: PlayerId("p9".into()),
                scores: None,
                forfeit: false,
            },
            5,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Validation);
    let plan = s
        .plan_admin(
            &caller(),
            &AdminAction::Settle {
                match_id: MatchId("final".into()),
                winner: PlayerId("p2".into()),
                scores: Some([1, 0]),
                forfeit: false,
            },
            6,
        )
        .unwrap_err();
    assert_eq!(plan.kind, ErrorKind::Validation, "winner with fewer points");
    let plan = s
        .plan_admin(
            &caller(),
            &AdminAction::Settle {
                match_id: MatchId("final".into()),
                winner: PlayerId("p2".into()),
                scores: Some([0, 2]),
                forfeit: false,
            },
            6,
        )
        .unwrap();
    assert_eq!(plan.change.status, Some(Status::Finished));
    assert_eq!(plan.change.champion.as_deref(), Some("p2"));
    assert!(plan.change.settle.is_some());
    assert!(matches!(
        plan.effects[0],
        Effect::Conclude {
            winner: Some(1),
            ..
        }
    ));
    // Settling the same way again is a no-op; differently, a conflict.
    let done = plan.next;
    assert!(done.meta.status.is_over());
}
