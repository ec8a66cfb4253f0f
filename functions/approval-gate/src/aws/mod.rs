//! The AWS reads the checks need and the one write: the approval's answer.

pub mod alarms;
pub mod approval;
pub mod staging;
