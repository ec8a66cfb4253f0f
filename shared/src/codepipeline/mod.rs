//! CodePipeline Invoke actions: the job event we receive, the outcome we answer with, and
//! the runner that ties them together so no job is ever left waiting; and CodePipeline's
//! EventBridge events ([`state_change`]), one definition for every function that reads them.

mod event;
mod outcome;
pub mod pipeline_state;
mod reporter;
mod runner;
pub mod state_change;

pub use event::{CodePipelineJob, InputArtifact, JobEventError, S3Location};
pub use outcome::{FailureKind, JobFailure, JobOutcome, OutputVariables, MAX_CONTINUATION_TOKEN_CHARS};
pub use reporter::{JobReporter, ReportError, Reported};
pub use runner::{run_job, Answer, Fallback, ANSWER_MARGIN};
