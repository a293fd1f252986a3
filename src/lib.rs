//! understudy: prove an auto-remediation policy safe before it touches production, then run
//! the same policy live.
//!
//! One decision pipeline ([`decide`]) is driven four ways (simulate, replay, shadow, live);
//! only the [`clock::Clock`] and the executor change. See ARCHITECTURE.md for the map.

pub mod audit;
pub mod bench;
pub mod classify;
pub mod clock;
pub mod decide;
pub mod diag;
pub mod escalate;
pub mod fit;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod grid;
pub mod jsonl;
pub mod kind;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod policy;
pub mod replay;
pub mod report;
pub mod secrets;
pub mod sim;
pub mod sweep;
pub mod trace;
pub mod twin;
pub mod yaml;
