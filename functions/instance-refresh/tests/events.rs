//! Every sample in events/instance-refresh is parsed here, and every bad one is proven to
//! fail its job with an actionable message without touching AWS (invariant 1).

mod support;

use shared::codepipeline::CodePipelineJob;
use support::*;

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
