//! The checks, each a plain function over plain data that says whether it passed and why.

pub mod alarms;
pub mod fleet;
pub mod refresh;
pub mod window;

/// One check's result, named as the rejection summary names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// What was seen: the reason it failed, or what it found in order.
    pub evidence: String,
}

impl Check {
    pub fn pass(name: &'static str, evidence: impl Into<String>) -> Check {
        Check { name, passed: true, evidence: evidence.into() }
    }

    pub fn fail(name: &'static str, evidence: impl Into<String>) -> Check {
        Check { name, passed: false, evidence: evidence.into() }
    }
}
