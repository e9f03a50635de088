//! Bot clients that speak the wire protocol (`crate::protocol`, `docs/protocol.md`). The
//! end-to-end tests and `rally loadgen` use them; they are written against the documented
//! protocol only, never against server internals.
//!
//! # Layout
//! - [`error`]: [`BotError`], typed; a server `error` message or an unexpected close is one.
//! - [`wire`]: client-side decoding of server frames into owned [`Incoming`] messages.
//! - [`http`]: [`Api`], the HTTP calls a bot needs (guest account, private room).
//! - [`client`]: [`BotClient`], one WebSocket session: connect + auth, typed send/recv with
//!   timeouts, ping/RTT and clock offset.
//! - [`brain`]: [`PongBrain`], pure and seeded: up/down/stop from snapshots with a miss rate.
//! - [`cycles_brain`]: [`CyclesModel`] (light cycles rebuilt from full and delta snapshots) and
//!   [`CyclesBrain`], pure: turns that avoid walls and trails.
//! - [`play`]: [`play_match`], one match from `join` to `match_end`, measured
//!   ([`MatchSummary`]).
//! - [`stats`]: histograms and trackers (pure): input→ack latency, snapshot intervals, tick gaps.
//! - [`cpu`]: this process's CPU time.
//! - [`loadgen`]: `rally loadgen`: many bots, progress lines, a final JSON [`loadgen::Report`].

pub mod brain;
pub mod client;
pub mod cpu;
pub mod cycles_brain;
pub mod error;
pub mod http;
pub mod loadgen;
pub mod play;
pub mod stats;
pub mod wire;

pub use brain::{PongBrain, PongInfo, PongState};
pub use client::{BotClient, ClientConfig};
pub use cycles_brain::{Applied, CyclesBrain, CyclesInfo, CyclesModel};
pub use error::{BotError, BotResult};
pub use http::{Account, Api, CreatedRoom};
pub use play::{play_match, JoinTarget, LiveCounters, MatchSummary, PlayOptions};
pub use wire::Incoming;
