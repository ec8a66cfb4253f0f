//! The AWS calls qa-notify makes, each mapped to plain data.

pub mod pipeline;
pub mod sent;
pub mod sns;
