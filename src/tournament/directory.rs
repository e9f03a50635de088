//! The tournament actors running in this process, by id. The registry knows a tournament only
//! as a port (subscriptions, room reports: what it routes); the organiser and player actions
//! of the HTTP API reach the actor itself, through this table. Both are written together, by
//! [`Tournaments::claim`] and [`Tournaments::release`].

use super::actor::TournamentActor;
use crate::ids::TournamentId;
use crate::registry::{Registry, TournamentHandle, TournamentPort};
use actix::prelude::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// This instance's tournament actors (cheap to clone; one per process).
#[derive(Clone, Default)]
pub struct Tournaments {
    running: Arc<Mutex<HashMap<TournamentId, Addr<TournamentActor>>>>,
}

impl Tournaments {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live actor of `id`, when it runs here.
    pub fn get(&self, id: &TournamentId) -> Option<Addr<TournamentActor>> {
        self.running
            .lock()
            .get(id)
            .filter(|a| a.connected())
            .cloned()
    }

    /// Register a started actor here and its port in the registry; false (nothing registered)
    /// when a live actor of `id` already runs here.
    pub(super) fn claim(
        &self,
        registry: &Registry,
        id: &TournamentId,
        addr: &Addr<TournamentActor>,
    ) -> bool {
        let mut g = self.running.lock();
        if g.get(id).is_some_and(|a| a.connected()) {
            return false;
        }
        let port = TournamentPort {
            subscribe: addr.clone().recipient(),
            unsubscribe: addr.clone().recipient(),
            report: addr.clone().recipient(),
        };
        if !registry.claim_tournament(TournamentHandle::local(id.clone(), port)) {
            return false;
        }
        g.insert(id.clone(), addr.clone());
        true
    }

    /// Forget the actor `addr` of `id` (it stopped); a newer actor of the same id stays.
    pub(super) fn release(
        &self,
        registry: &Registry,
        id: &TournamentId,
        addr: &Addr<TournamentActor>,
    ) {
        let mut g = self.running.lock();
        if g.get(id).is_some_and(|a| a == addr) {
            g.remove(id);
            registry.release_tournament(id);
        }
    }
}
