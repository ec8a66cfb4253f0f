//! approval-gate: one check engine, two entry points.
//!
//! - EventBridge: the QA approval went STARTED → run the checks; any failure rejects the
//!   approval with the reasons, otherwise it is left to QA (or approved, when configured).
//! - CodePipeline Invoke action (before production): the same checks answer the job; a
//!   deployment window that is only closed for now is waited for with continuation tokens.
//!
//! [`checks`] and [`verdict`] decide over plain data; [`aws`] reads and answers.

pub mod aws;
pub mod checks;
pub mod error;
pub mod handler;
pub mod settings;
pub mod verdict;

pub use handler::Gate;
