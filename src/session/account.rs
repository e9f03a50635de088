//! A role change pushed to a live session (see `crate::roles`): the session updates its
//! principal and, when its token was not attenuated, swaps it for a fresh one carrying the new
//! role, then tells the client with an `account` message.

use super::actor::{Ctx, Session};
use crate::auth;
use crate::protocol::ServerMsg;
use crate::room::messages::AccountChange;

impl Session {
    /// Apply `change` to this session and tell the client.
    pub(super) fn account_changed(&mut self, change: AccountChange, ctx: &mut Ctx) {
        let Some(principal) = self.principal.as_mut() else {
            return;
        };
        if principal.player_id != change.player {
            return;
        }
        principal.role = change.role;
        // One block: a token as issued. More: the holder attenuated it (e.g. spectate only),
        // and a fresh token would widen what this session may do, so it gets none.
        let token = if principal.revocation_ids.len() == 1 {
            match auth::issue(
                &self.app.key,
                principal.player_id.as_str(),
                change.role,
                change.epoch,
                self.app.config.token_ttl,
            ) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(error = ?e, "cannot issue a token after a role change");
                    None
                }
            }
        } else {
            None
        };
        // Later joins re-check the session's token: the fresh one when there is one. An
        // attenuated session keeps its old token, which now fails those checks (outdated
        // epoch) rather than passing unchecked: its holder must sign in again.
        if let Some(t) = &token {
            self.token = Some(t.clone());
        }
        let player = serde_json::json!({
            "id": principal.player_id, "name": principal.name, "role": principal.role,
            "rating": principal.rating.round() as i64,
        });
        self.send(
            ctx,
            ServerMsg::Account {
                player,
                token: token.as_deref(),
            },
        );
    }
}
