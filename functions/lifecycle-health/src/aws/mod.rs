//! Adapters: SDK (and HTTP) calls in, plain data out.

pub mod lifecycle;
pub mod probe;
