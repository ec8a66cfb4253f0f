//! Adapters: SDK calls in, plain data out. No decisions here.

pub mod auto_scaling;
pub mod launch_templates;
pub mod release_state;
