//! Tournaments. The bracket and standings logic is a pure state machine ([`bracket`]); the
//! tournament actor that drives it through rooms arrives with the tournaments issue.

pub mod bracket;
pub mod round_robin;
mod single_elimination;
