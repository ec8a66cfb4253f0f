//! AWS call timeouts derived from the invocation's remaining time.
//!
//! A hanging AWS call must never use up the time needed to report: Lambda kills the invocation
//! at its deadline, and whatever was not answered by then waits for CodePipeline's (or the
//! lifecycle hook's) own timeout. So every SDK client the functions build carries
//! [`CallTimeouts`], which gives each operation (and each attempt of it) only the time left in
//! the current invocation minus what the caller keeps back, and the code that knows how much to
//! keep back says so with [`calls_end_before`]: the job runner keeps the time to answer while
//! the handler works, and less while it answers.
//!
//! The deadline lives in a task-local, so it follows the invocation's future and nothing else;
//! outside any scope (tests, `cargo lambda watch`'s fixed deadline) the SDK's own timeouts apply.

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::timeout::TimeoutConfig;

/// The SDK's default connect timeout, kept when the invocation has longer than that left.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    deadline: SystemTime,
    keep: Duration,
}

tokio::task_local! {
    static BUDGET: Budget;
}

/// Runs `work` with every AWS call in it ending `keep` before `deadline` (no bound when there is
/// no deadline). An inner scope replaces an outer one for its own work.
pub async fn calls_end_before<F: Future>(deadline: Option<SystemTime>, keep: Duration, work: F) -> F::Output {
    match deadline {
        Some(deadline) => BUDGET.scope(Budget { deadline, keep }, work).await,
        None => work.await,
    }
}

/// The deadline of the scope this runs in (None outside one).
pub fn current() -> Option<SystemTime> {
    BUDGET.try_with(|budget| budget.deadline).ok()
}

/// When the calls of the scope this runs in must have ended: its deadline less what it keeps
/// back (None outside one). Work that waits (for another invocation, say) waits no longer.
pub fn calls_end_by() -> Option<SystemTime> {
    BUDGET.try_with(|budget| budget.deadline.checked_sub(budget.keep).unwrap_or(budget.deadline)).ok()
}

/// The invocation's deadline from its context: None when the context carries none (0: a
/// hand-made context), or one already past as the invocation starts, which Lambda never sends
/// (`cargo lambda watch` sends a fixed 600000, January 1970): racing it would fail every call.
pub fn of(context: &lambda_runtime::Context) -> Option<SystemTime> {
    let deadline = (context.deadline != 0).then(|| context.deadline())?;
    if deadline <= SystemTime::now() {
        tracing::warn!(deadline_ms = context.deadline, "the runtime's deadline is already past; running without one");
        return None;
    }
    Some(deadline)
}

/// Kept back from an invocation's end by the calls of any work it runs: the time to return.
pub const INVOCATION_KEEP: Duration = Duration::from_secs(1);

/// Runs one invocation's work with its AWS calls ending [`INVOCATION_KEEP`] before its deadline
/// (the outermost scope; the job runner sets tighter ones inside).
pub async fn invocation<F, Fut>(event: lambda_runtime::LambdaEvent<serde_json::Value>, handle: F) -> Fut::Output
where
    F: FnOnce(lambda_runtime::LambdaEvent<serde_json::Value>) -> Fut,
    Fut: Future,
{
    let deadline = of(&event.context);
    // Boxed: a handler's future nested in the scope's makes a type too deep for the compiler's
    // layout queries in a function's main.
    calls_end_before(deadline, INVOCATION_KEEP, Box::pin(handle(event))).await
}

/// How long until `keep` before `deadline` (zero when that is already past).
pub fn time_before(deadline: SystemTime, keep: Duration) -> Duration {
    deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(keep)
}

/// What an AWS call may take when `left` remains for it: the whole operation (retries
/// included) and each attempt end within it, and a connection is given up on sooner.
pub fn call_timeouts(left: Duration) -> TimeoutConfig {
    TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT.min(left)).operation_timeout(left).operation_attempt_timeout(left).build()
}

/// An SDK interceptor that sets each operation's timeouts from the current scope's budget. It
/// runs before the SDK computes the operation's timeout, and its setting is the bag's topmost.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallTimeouts;

impl Intercept for CallTimeouts {
    fn name(&self) -> &'static str {
        "CallTimeouts"
    }

    fn read_before_execution(&self, _context: &BeforeSerializationInterceptorContextRef<'_>, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        if let Ok(budget) = BUDGET.try_with(|budget| *budget) {
            cfg.interceptor_state().store_put(call_timeouts(time_before(budget.deadline, budget.keep)));
        }
        Ok(())
    }
}

/// An SDK client of `$sdk` (a crate, e.g. `aws_sdk_ec2`) from an `SdkConfig`, whose calls end
/// within the invocation's time ([`CallTimeouts`]). Every function builds its clients this way.
#[macro_export]
macro_rules! aws_client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf($sdk::config::Builder::from($config).interceptor($crate::deadline::CallTimeouts).build())
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_gets_the_time_left_and_connects_within_the_sdk_default_or_less() {
        let long = call_timeouts(Duration::from_secs(40));
        assert_eq!(long.operation_timeout(), Some(Duration::from_secs(40)));
        assert_eq!(long.operation_attempt_timeout(), Some(Duration::from_secs(40)));
        assert_eq!(long.connect_timeout(), Some(CONNECT_TIMEOUT));
        let short = call_timeouts(Duration::from_secs(2));
        assert_eq!(short.operation_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(short.connect_timeout(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_time_before_a_deadline_keeps_the_margin_and_never_goes_negative() {
        let deadline = SystemTime::now() + Duration::from_secs(10);
        let left = time_before(deadline, Duration::from_secs(4));
        assert!(left <= Duration::from_secs(6) && left > Duration::from_secs(5), "{left:?}");
        assert_eq!(time_before(deadline, Duration::from_secs(11)), Duration::ZERO);
        assert_eq!(time_before(SystemTime::now() - Duration::from_secs(1), Duration::ZERO), Duration::ZERO);
    }

    #[tokio::test]
    async fn an_inner_scope_replaces_the_outer_one_and_none_leaves_no_budget() {
        let outer = SystemTime::now() + Duration::from_secs(60);
        let inner = outer - Duration::from_secs(30);
        let seen = calls_end_before(Some(outer), Duration::from_secs(1), async {
            let inside = calls_end_before(Some(inner), Duration::from_secs(5), async { BUDGET.with(|b| *b) }).await;
            (BUDGET.with(|b| *b), inside)
        })
        .await;
        assert_eq!(seen.0, Budget { deadline: outer, keep: Duration::from_secs(1) });
        assert_eq!(seen.1, Budget { deadline: inner, keep: Duration::from_secs(5) });
        assert!(calls_end_before(None, Duration::ZERO, async { BUDGET.try_with(|_| ()).is_err() }).await);
        assert_eq!(calls_end_before(Some(outer), Duration::ZERO, async { current() }).await, Some(outer));
        let by = calls_end_before(Some(outer), Duration::from_secs(6), async { calls_end_by() }).await;
        assert_eq!(by, Some(outer - Duration::from_secs(6)));
        assert_eq!(calls_end_by(), None);
        assert_eq!(current(), None);
    }
}
