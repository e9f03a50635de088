//! Messages of the room actor. What sessions, tournaments and the shutdown send a room are the
//! registry's types ([`crate::registry::messages`], re-exported here); the room's own are the
//! ones only the matchmaker and the room itself use.

pub use crate::registry::messages::{
    AccountChange, Conclude, Detach, ForfeitPlayer, HandOver, Input, Join, JoinAccepted, JoinRole,
    Leave, Outbound, PlayerInfo, Resign, RoomRefusal, SessionEvent,
};
use actix::prelude::*;

/// Players to put back at the front of the quick-match queue (their opponent never came).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Requeue {
    /// The players who did join.
    pub players: Vec<PlayerInfo>,
    /// The game they queued for.
    pub game: String,
    /// The group size they queued for.
    pub size: u8,
}
