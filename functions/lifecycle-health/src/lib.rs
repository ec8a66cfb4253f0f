//! lifecycle-health: holds each new instance in Pending:Wait until it is really healthy,
//! then completes the lifecycle action with CONTINUE or ABANDON.
//!
//! Pure: [`event`], [`settings`], [`decision`], [`schedule`]. Adapters: [`aws`], [`clock`]. Flow: [`handler`].

pub mod aws;
pub mod clock;
pub mod decision;
pub mod event;
pub mod handler;
pub mod schedule;
pub mod settings;

pub use handler::{HealthError, HealthGate};
