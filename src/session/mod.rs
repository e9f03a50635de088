//! WebSocket sessions: rally's own transport on the raw connection (no actix-web-actors) and
//! the session actor that speaks the protocol over it.
//!
//! - [`upgrade`]: the upgrade service actix-http hands WebSocket requests to, with the raw
//!   socket: JSON errors, admission of not-yet-authenticated connections, the `101`.
//! - [`frame`]: RFC 6455 framing — limits enforced from the frame header, bounded reassembly,
//!   UTF-8 — pure.
//! - [`conn`]: the socket's reader (no buffer while idle) and outlet (direct `writev`, a
//!   bounded queue only for what the kernel does not take, close-in-place for slow readers).
//! - [`pacing`]: the message rate limit with stall credit (a backlog the server's own stall
//!   created is not a burst) — pure.
//! - [`admission`]: bounds on connections waiting to authenticate, per address and in total.
//! - [`actor`]: the session actor's transport side (heartbeat, slow readers, closing).
//! - [`handlers`]: the session's protocol handling (auth, queue, rooms, inputs, tournaments).

mod account;
pub mod actor;
pub mod admission;
pub mod conn;
pub mod frame;
mod handlers;
pub mod pacing;
mod subscriptions;
pub mod upgrade;

pub use actor::Session;
pub use upgrade::{Upgrades, WS_PATH};
