//! Matchmaking: rating maths (pure, [`rating`]) and the quick-match queue actor.

pub mod queue;
pub mod rating;
