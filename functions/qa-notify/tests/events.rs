//! Every sample in events/qa-notify is listed here and read the way the function reads it.

use qa_notify::deployed::DeployedParameters;
use qa_notify::settings::Settings;
use qa_notify::trigger::{decide, Decision, Kind};
use serde_json::Value;
use shared::codepipeline::state_change::PipelineEvent;
use shared::codepipeline::CodePipelineJob;

enum Expect {
    Notify(Kind),
    Ignore(&'static str),
    Malformed(&'static str),
    Job,
    BadParameters(&'static str),
}

const SAMPLES: &[(&str, Expect)] = &[
    ("ready-for-qa.json", Expect::Notify(Kind::ReadyForQa)),
    ("approval-rejected.json", Expect::Notify(Kind::ApprovalRejected)),
    ("deployment-failed.json", Expect::Notify(Kind::DeploymentFailed)),
    ("other-pipeline.json", Expect::Ignore("pipeline someone-elses-pipeline is not watched")),
    ("malformed.json", Expect::Malformed("missing field `execution-id`")),
    ("deployed.json", Expect::Job),
    ("deployed-bad-parameters.json", Expect::BadParameters("not resolved")),
];

fn event(file: &str) -> Value {
    let path = format!("{}/../../events/qa-notify/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_sample_is_listed_and_read_as_the_function_reads_it() {
    let dir = format!("{}/../../events/qa-notify", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "every file in events/qa-notify needs a row in SAMPLES");

    let settings = Settings::from_vars(|key| match key {
        "QA_NOTIFY_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:releases".into()),
        "QA_NOTIFY_PIPELINES" => Some("release".into()),
        _ => None,
    })
    .unwrap();
    for (file, expect) in SAMPLES {
        let event = event(file);
        match expect {
            Expect::Notify(kind) => {
                let parsed = PipelineEvent::parse(&event).unwrap_or_else(|e| panic!("{file}: {e}"));
                let Decision::Notify(trigger) = decide(&parsed, &settings.watch) else { panic!("{file} is ignored") };
                assert_eq!(trigger.kind, *kind, "{file}");
            }
            Expect::Ignore(why) => {
                let parsed = PipelineEvent::parse(&event).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!(matches!(decide(&parsed, &settings.watch), Decision::Ignore(r) if r.contains(why)), "{file}");
            }
            Expect::Malformed(why) => {
                let err = PipelineEvent::parse(&event).unwrap_err();
                assert!(err.to_string().contains(why), "{file}: {err}");
            }
            Expect::Job | Expect::BadParameters(_) => {
                let job = CodePipelineJob::from_event(&event).unwrap_or_else(|e| panic!("{file}: {e}"));
                let params = DeployedParameters::parse(job.user_parameters.as_deref());
                match expect {
                    Expect::Job => assert!(params.is_ok(), "{file}: {params:?}"),
                    Expect::BadParameters(why) => assert!(params.unwrap_err().to_string().contains(why), "{file}"),
                    _ => unreachable!(),
                }
            }
        }
    }
}

#[test]
fn the_ready_for_qa_sample_has_todays_float_version_and_string_type_version() {
    let event = event("ready-for-qa.json");
    assert!(event["detail"]["version"].is_f64() && event["detail"]["type"]["version"].is_string());
}
