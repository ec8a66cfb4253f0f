//! Every sample in events/instance-refresh is parsed here, and every bad one is proven to
//! fail its job with an actionable message (invariant 1) without touching AWS and without
//! logging the artifact credentials (invariant 3).

mod support;

use shared::codepipeline::CodePipelineJob;
use shared::testing::LogCapture;
use support::*;

/// Each sample, and how its job must end. A new file without a row here fails the test.
const SAMPLES: &[(&str, Expect)] = &[
    ("start.json", Expect::Valid),
    ("continue.json", Expect::Valid),
    ("bad-preferences.json", Expect::Fails("ConfigurationError", &["UserParameters field `preferences.maxHealthyPercentage`: 250 is outside 100–200"])),
    ("unquoted-variable.json", Expect::Fails("ConfigurationError", &["not valid JSON", "inside quoted strings"])),
    ("no-release.json", Expect::Fails("ConfigurationError", &["no release to deploy", "release.commitId"])),
    ("malformed-job.json", Expect::Fails("JobFailed", &["malformed at `CodePipeline.job.data.inputArtifacts`", "expected a sequence"])),
];

enum Expect {
    Valid,
    Fails(&'static str, &'static [&'static str]),
}

#[test]
fn every_sample_event_is_listed_and_parses_as_json() {
    let dir = format!("{}/../../events/instance-refresh", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "every file in events/instance-refresh needs a row in SAMPLES");
    for (file, expect) in SAMPLES {
        let parsed = CodePipelineJob::from_event(&event(file));
        match expect {
            Expect::Valid => assert!(parsed.is_ok(), "{file}: {parsed:?}"),
            Expect::Fails(..) => {} // proven below, through the whole runner
        }
    }
}

#[tokio::test]
async fn each_bad_sample_fails_its_job_with_a_message_a_person_can_act_on_and_calls_no_aws_api() {
    for (file, expect) in SAMPLES {
        let Expect::Fails(kind, needles) = expect else { continue };
        let event = event(file);
        let answer = expect_failure(&job_id(&event), kind, needles);
        run(event, &[], &[], &[&answer]).await.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(answer.num_calls(), 1, "{file} must get exactly one answer");
    }
}

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
