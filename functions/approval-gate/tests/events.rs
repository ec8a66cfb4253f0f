//! Every sample in events/approval-gate is listed here and read the way the function reads it.

use approval_gate::settings::{ActionParameters, Settings};
use serde_json::Value;
use shared::codepipeline::state_change::{ExecutionState, PipelineEvent};
use shared::codepipeline::CodePipelineJob;

enum Expect {
    /// The QA approval of a watched pipeline, in this state.
    Approval(ExecutionState),
    /// Another action: ignored.
    OtherAction,
    Malformed(&'static str),
    Job,
    BadParameters(&'static str),
}

const SAMPLES: &[(&str, Expect)] = &[
    ("approval-started.json", Expect::Approval(ExecutionState::Started)),
    ("approval-succeeded.json", Expect::Approval(ExecutionState::Succeeded)),
    ("other-action.json", Expect::OtherAction),
    ("malformed.json", Expect::Malformed("detail.state")),
    ("production-check.json", Expect::Job),
    ("production-check-bad-zone.json", Expect::BadParameters("`CST` is an abbreviation")),
];

fn event(file: &str) -> Value {
    let path = format!("{}/../../events/approval-gate/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_sample_is_listed_and_read_as_the_function_reads_it() {
    let dir = format!("{}/../../events/approval-gate", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "every file in events/approval-gate needs a row in SAMPLES");
    let settings = Settings::from_vars(|key| (key == "GATE_PIPELINES").then(|| "release".to_owned())).unwrap();
    for (file, expect) in SAMPLES {
        let event = event(file);
        match expect {
            Expect::Approval(_) | Expect::OtherAction => {
                let PipelineEvent::Action(e) = PipelineEvent::parse(&event).unwrap_or_else(|e| panic!("{file}: {e}")) else {
                    panic!("{file}")
                };
                let is_qa = settings.watches(&e.detail.pipeline)
                    && e.detail.stage == settings.approval_stage
                    && e.detail.action == settings.approval_action;
                match expect {
                    Expect::Approval(state) => assert!(is_qa && e.detail.state == *state, "{file}"),
                    _ => assert!(!is_qa, "{file}"),
                }
            }
            Expect::Malformed(path) => {
                let err = PipelineEvent::parse(&event).unwrap_err();
                assert!(err.to_string().contains(path), "{file}: {err}");
            }
            Expect::Job | Expect::BadParameters(_) => {
                let job = CodePipelineJob::from_event(&event).unwrap_or_else(|e| panic!("{file}: {e}"));
                let checks = ActionParameters::parse(job.user_parameters.as_deref())
                    .map_err(|e| e.to_string())
                    .and_then(|p| p.checks(&settings.checks).map_err(|e| e.to_string()));
                match expect {
                    Expect::Job => assert!(checks.is_ok(), "{file}: {:?}", checks.err()),
                    Expect::BadParameters(why) => assert!(checks.unwrap_err().contains(why), "{file}"),
                    _ => unreachable!(),
                }
            }
        }
    }
}

#[test]
fn the_approval_sample_has_todays_float_version() {
    assert!(event("approval-started.json")["detail"]["version"].is_f64());
}
