//! The one tracing setup for every function.
//!
//! - JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON` (Lambda's advanced logging controls), text
//!   otherwise; level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (a level, or `target=level`
//!   directives), else INFO. The filter is `tracing_subscriber`'s `Targets`, not `EnvFilter`:
//!   `EnvFilter` brings a regex engine (about 0.3 MB of binary) for span and field directives a
//!   Lambda function has no use for.
//! - `lambda_runtime` logs every raw event at TRACE. A CodePipeline event carries artifact
//!   credentials, so the runtime's crates are capped at DEBUG whatever is asked for: by a
//!   filter of its own beside the level filter, which no `RUST_LOG` directive (span-scoped
//!   ones included) can override.

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The runtime's crates (`lambda_runtime`, `lambda_runtime_api_client`): where raw events
/// and responses are printed at TRACE.
const RUNTIME_TARGETS: &str = "lambda_runtime";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub json: bool,
    /// A level (`debug`) or comma-separated `target=level` directives.
    pub filter: String,
}

impl LogSettings {
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the process environment at run time); a blank
    /// variable counts as unset.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name| lookup(name).filter(|v: &String| !v.trim().is_empty());
        LogSettings {
            json: var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")),
            filter: filter_expression(var("AWS_LAMBDA_LOG_LEVEL"), var("RUST_LOG")),
        }
    }
}

/// Lambda's level wins; it must be a level (Lambda's FATAL is tracing's ERROR), and anything
/// else falls back to INFO rather than silencing the function. `RUST_LOG` is a full filter.
fn filter_expression(lambda_level: Option<String>, rust_log: Option<String>) -> String {
    match lambda_level.map(|l| l.trim().to_ascii_lowercase()) {
        Some(level) if level == "fatal" => "error".to_owned(),
        Some(level) if level.parse::<LevelFilter>().is_ok() => level,
        Some(_) => "info".to_owned(),
        None => rust_log.unwrap_or_else(|| "info".to_owned()),
    }
}

/// Installs the global subscriber for a function binary, writing to stdout.
pub fn init() {
    // A second call (tests, or a function that calls it twice) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(&LogSettings::from_env(), std::io::stdout));
}

/// Builds the subscriber; tests pass their own writer to capture and inspect log lines.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(false)
        // Lambda stamps every line itself.
        .without_time();
    let levels = filter(&settings.filter);
    let cap = filter_fn(|meta: &Metadata<'_>| !is_raw_runtime_trace(meta));
    if settings.json {
        Box::new(builder.json().with_current_span(true).with_span_list(false).flatten_event(true).finish().with(levels).with(cap))
    } else {
        Box::new(builder.finish().with(levels).with(cap))
    }
}

fn is_raw_runtime_trace(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::TRACE && meta.target().starts_with(RUNTIME_TARGETS)
}

/// The directives that parse, the others ignored (a typo in `RUST_LOG` must not silence the
/// function); INFO when none does.
fn filter(expression: &str) -> Targets {
    let usable: Vec<&str> = expression.split(',').map(str::trim).filter(|d| usable(d)).collect();
    match usable.join(",").parse::<Targets>() {
        Ok(targets) if !usable.is_empty() => targets,
        _ => Targets::new().with_default(LevelFilter::INFO),
    }
}

/// A level or `target=level`. Not a span-scoped directive (`[span]=level`, `EnvFilter`'s) nor
/// one with an empty target (`=`): `Targets` would read either as a target nothing logs to and
/// silence everything else.
fn usable(directive: &str) -> bool {
    !directive.is_empty() && !directive.starts_with(['[', '=']) && directive.parse::<Targets>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{vars, LogCapture};

    fn capture(settings: LogSettings, emit: impl FnOnce()) -> String {
        let buffer = LogCapture::default();
        let sink = buffer.clone();
        tracing::subscriber::with_default(subscriber(&settings, move || sink.clone()), emit);
        buffer.text()
    }

    #[test]
    fn json_lines_carry_the_job_span_fields() {
        let out = capture(LogSettings { json: true, filter: "info".into() }, || {
            let span = tracing::info_span!("job", job_id = "job-1", pipeline_execution_id = "exec-9");
            let _g = span.enter();
            tracing::info!(answer = 42, "decided");
        });
        let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(line["span"]["job_id"], "job-1");
        assert_eq!(line["span"]["pipeline_execution_id"], "exec-9");
        assert_eq!(line["answer"], 42);
    }

    #[test]
    fn the_runtime_raw_event_line_is_suppressed_even_at_trace() {
        for filter in ["trace", "lambda_runtime=trace"] {
            let out = capture(LogSettings { json: false, filter: filter.into() }, || {
                tracing::trace!(target: "lambda_runtime::layers::api_response", body = "CANARY", "raw JSON event received from Lambda");
                tracing::debug!(target: "lambda_runtime::runtime", "runtime debug line");
            });
            assert!(!out.contains("CANARY"), "{filter}: {out}");
            assert!(out.contains("runtime debug line"), "{filter}: the runtime still logs up to DEBUG: {out}");
        }
    }

    #[test]
    fn no_filter_directive_can_lift_the_cap() {
        // Finding 13: EnvFilter judged span directives apart from target ones; `Targets` has no
        // span directives (they are skipped), and no target directive lifts the cap either.
        for filter in [
            "lambda_runtime::layers::api_response=trace,aws_smithy_runtime=trace",
            "trace,lambda_runtime=trace",
            "trace,[Lambda runtime invoke]=trace,[{requestId}]=trace",
        ] {
            let out = capture(LogSettings { json: false, filter: filter.into() }, || {
                let span = tracing::info_span!("Lambda runtime invoke", requestId = "r-1");
                let _g = span.enter();
                tracing::trace!(target: "lambda_runtime::layers::api_response", body = "CANARY", "raw JSON event received from Lambda");
                tracing::trace!(target: "lambda_runtime::some_future_module", body = "CANARY", "raw event, elsewhere");
                tracing::trace!(target: "aws_smithy_runtime::client", "an SDK trace line");
            });
            assert!(!out.contains("CANARY"), "{filter}: {out}");
            assert!(out.contains("an SDK trace line"), "{filter}: other targets still log at TRACE: {out}");
        }
    }

    #[test]
    fn a_span_scoped_directive_is_skipped_not_read_as_a_target() {
        for filter in ["[Lambda runtime invoke]=trace", "[{requestId}]=trace"] {
            let out = capture(LogSettings { json: false, filter: filter.into() }, || {
                let span = tracing::info_span!("Lambda runtime invoke", requestId = "r-1");
                let _g = span.enter();
                tracing::debug!(target: "aws_smithy_runtime::client", "an SDK debug line");
                tracing::info!(target: "instance_refresh::handler", "an info line");
            });
            assert!(out.contains("an info line") && !out.contains("an SDK debug line"), "{filter}: INFO, as if unset: {out}");
        }
    }

    #[test]
    fn rust_log_directives_set_each_targets_level_and_a_typo_among_them_is_skipped() {
        let out = capture(LogSettings { json: false, filter: "warn,instance_refresh=debug,bogus=loud".into() }, || {
            tracing::debug!(target: "instance_refresh::handler", "our debug line");
            tracing::info!(target: "aws_smithy_runtime::client", "an SDK info line");
            tracing::warn!(target: "aws_smithy_runtime::client", "an SDK warning");
        });
        assert!(out.contains("our debug line"), "{out}");
        assert!(!out.contains("an SDK info line"), "the default level is warn: {out}");
        assert!(out.contains("an SDK warning"), "{out}");
    }

    #[test]
    fn a_filter_with_nothing_valid_in_it_logs_at_info() {
        let out = capture(LogSettings { json: false, filter: "=,a=b=c,x=loud,[span]=debug".into() }, || {
            tracing::debug!("a debug line");
            tracing::info!("an info line");
        });
        assert!(out.contains("an info line") && !out.contains("a debug line"), "{out}");
    }

    #[test]
    fn lambdas_log_controls_are_read_and_blank_ones_ignored() {
        let s = LogSettings::from_vars(vars(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", " "), ("RUST_LOG", "warn")]));
        assert_eq!(s, LogSettings { json: true, filter: "warn".into() });
        assert_eq!(LogSettings::from_vars(vars(&[("AWS_LAMBDA_LOG_FORMAT", "Text")])), LogSettings { json: false, filter: "info".into() });
    }

    #[test]
    fn lambda_log_level_wins_and_a_bad_one_falls_back_to_info() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(filter_expression(some("DEBUG"), some("trace")), "debug");
        assert_eq!(filter_expression(some("FATAL"), None), "error");
        assert_eq!(filter_expression(some("loud"), None), "info");
        assert_eq!(filter_expression(None, some("instance_refresh=debug")), "instance_refresh=debug");
        assert_eq!(filter_expression(None, None), "info");
    }
}
