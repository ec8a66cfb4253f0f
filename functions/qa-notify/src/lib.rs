//! qa-notify: one message engine for four triggers.
//!
//! - EventBridge `CodePipeline Action Execution State Change` of the QA approval action:
//!   STARTED → **ready-for-qa**, FAILED → **approval-rejected**;
//! - EventBridge `CodePipeline Pipeline Execution State Change` FAILED → **deployment-failed**;
//! - a CodePipeline Invoke action → **deployed** (answered through the shared runner).
//!
//! [`trigger`] decides what an event means, [`aws`] gathers the facts, [`notice`] is what
//! happened as plain data, [`render`] turns it into one SNS message for every protocol.

pub mod aws;
pub mod compose;
pub mod deployed;
pub mod error;
pub mod facts;
pub mod handler;
pub mod links;
pub mod notice;
pub mod once;
pub mod render;
pub mod settings;
pub mod trigger;

pub use handler::Notifier;
