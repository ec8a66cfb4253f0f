//! lifecycle-health: holds each new instance in Pending:Wait until it is really healthy,
//! then completes the lifecycle action with CONTINUE or ABANDON.
//!
//! Pure: [`event`], [`settings`], [`bootstrap`], [`release`], [`decision`], [`schedule`]. Adapters: [`aws`], [`clock`]. Flow: [`handler`].

pub mod aws;
pub mod bootstrap;
pub mod clock;
pub mod decision;
pub mod event;
pub mod handler;
pub mod release;
pub mod schedule;
pub mod settings;

pub use handler::{HealthError, HealthGate};
