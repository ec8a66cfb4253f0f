//! instance-refresh: a CodePipeline Invoke action that pins a release in a new launch
//! template version and rolls it out with an ASG instance refresh, tracked through
//! continuation tokens.
//!
//! Pure decisions: [`parameters`], [`preferences`], [`duration`], [`release`], [`running`], [`pruning`],
//! [`tracking`], [`continuation`], [`desired`]. AWS adapters: [`aws`]. The flow: [`handler`].

pub mod aws;
pub mod continuation;
pub mod desired;
pub mod duration;
pub mod error;
pub mod handler;
pub mod parameters;
pub mod preferences;
pub mod pruning;
pub mod release;
pub mod running;
pub mod tracking;

pub use handler::RefreshAction;
