//! What every deployment function shares.
//!
//! - [`codepipeline`]: the CodePipeline job event, the job outcome, the one place that reports
//!   it, and the runner that guarantees every job gets an answer (DESIGN.md invariant 1).
//! - [`parameters`]: typed `UserParameters` parsing with errors that name the field.
//! - [`aws`]: AWS config loaded once, and AWS call failures turned into messages a person can act on.
//! - [`deadline`]: AWS call timeouts from the invocation's remaining time, and the one way to
//!   build an SDK client ([`aws_client!`]).
//! - [`release`]: how a release is tagged on AWS resources.
//! - [`telemetry`]: the one tracing setup.

pub mod aws;
pub mod codepipeline;
pub mod deadline;
pub mod parameters;
pub mod release;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;
