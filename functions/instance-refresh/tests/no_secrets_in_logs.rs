//! Invariant 3, our side: nothing this function does with a job event (parsing, deciding,
//! reporting, at TRACE) logs its artifact credentials; logging the raw event anywhere in
//! the runner or handler would fail here. The runtime's own leak path (lambda_runtime's raw
//! event line) is checked through the real binary at TRACE by `tests/e2e/local_run.py
//! samples`. Alone in its test binary: log capture is per thread, while tracing caches
//! callsite interest process-wide.

mod support;

use shared::testing::LogCapture;
use support::*;

#[tokio::test]
async fn the_artifact_credentials_never_reach_the_logs_even_at_trace() {
    let (logs, _guard) = LogCapture::start();
    for (file, expect) in SAMPLES {
        let event = event(file);
        let job = job_id(&event);
        match expect {
            Expect::Fails(kind, needles) => {
                let answer = expect_failure(&job, kind, needles);
                run(event, &[], &[], &[&answer]).await.unwrap();
            }
            Expect::Valid if *file == "continue.json" => {
                let describe = refresh_by_id("08b91cf7-8fa6-48af-b6a6-d227f40f1b9b", Some(Refresh::new("InProgress")));
                let answer = expect_in_progress(&job, |_, _| true);
                run(event, &[&describe], &[], &[&answer]).await.unwrap();
            }
            Expect::Valid => {
                let answer = expect_failure(&job, "ConfigurationError", &["not found"]);
                run(event, &[&no_group()], &[], &[&answer]).await.unwrap();
            }
        }
    }
    let text = logs.text();
    assert!(text.contains("reporting job result"), "the capture saw the run: {text}");
    assert!(!text.contains("CANARY"), "artifact credentials leaked into the logs");
    assert!(!text.contains("ASIAEXAMPLECANARY000"));
}
