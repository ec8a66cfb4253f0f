//! Hostile input, generated: every event parser and every `UserParameters` parser, given
//! arbitrary JSON and the sample events (`events/`) with parts replaced by arbitrary JSON or
//! removed, never panics, and every rejection is a message a person can read.
//!
//! Cases per property: `HOSTILE_INPUT_CASES` (default 25,000; four properties, so 100,000 in
//! the test command). A long run: `HOSTILE_INPUT_CASES=250000 cargo test --release -p
//! integration-tests --test hostile_input`.

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};
use shared::codepipeline::state_change::PipelineEvent;
use shared::codepipeline::CodePipelineJob;

fn config() -> Config {
    let cases = std::env::var("HOSTILE_INPUT_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(25_000);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Every sample event, and every key any of them uses (so generated objects reach past the
/// first missing field).
static SAMPLES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let root = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut samples = Vec::new();
    for function in std::fs::read_dir(root).unwrap() {
        for file in std::fs::read_dir(function.unwrap().path()).unwrap() {
            samples.push(serde_json::from_str(&std::fs::read_to_string(file.unwrap().path()).unwrap()).unwrap());
        }
    }
    samples
});

static KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn walk(value: &Value, keys: &mut Vec<String>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                keys.push(k.clone());
                walk(v, keys);
            }),
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    SAMPLES.iter().for_each(|s| walk(s, &mut keys));
    keys.sort();
    keys.dedup();
    keys
});

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(KEYS.clone()), 1 => ".{0,12}"]
}

/// The values that most often break a parser: wrong types, empty and oversized ones.
fn awkward() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::from("")),
        Just(Value::from(0)),
        Just(Value::from(-1)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1e300)),
        Just(Value::from(true)),
        Just(Value::Array(Vec::new())),
        Just(Value::Object(Map::new())),
        Just(Value::from("x".repeat(5_000))),
        Just(Value::from("#{SourceVariables.CommitId}")),
        Just(Value::from("\u{0}\n\t\"'")),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop::sample::select(vec!["", "aws.codepipeline", "aws.autoscaling", "STARTED", "FAILED", "{}", "#{x.y}", "2026-11-25T10:00:00Z"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A path into `value`, chosen by `pick` among all of its paths.
fn paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| paths(v, [prefix.clone(), vec![k.clone()]].concat(), out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| paths(v, [prefix.clone(), vec![i.to_string()]].concat(), out)),
        _ => {}
    }
}

fn mutate(mut value: Value, edits: &[(usize, Option<Value>)]) -> Value {
    for (pick, replacement) in edits {
        let mut all = Vec::new();
        paths(&value, Vec::new(), &mut all);
        let path = &all[pick % all.len()];
        let pointer: String = path.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect();
        match (replacement, path.split_last()) {
            (Some(new), _) => *value.pointer_mut(&pointer).unwrap() = new.clone(),
            (None, Some((last, parent))) => {
                let parent: String = parent.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect();
                match value.pointer_mut(&parent) {
                    Some(Value::Object(map)) => drop(map.remove(last)),
                    Some(Value::Array(items)) => drop(items.remove(last.parse::<usize>().unwrap())),
                    _ => {}
                }
            }
            (None, None) => {}
        }
    }
    value
}

/// One of `samples` with up to three parts replaced (by an awkward value, or any JSON) or removed.
fn mutated(samples: Vec<Value>) -> impl Strategy<Value = Value> {
    let replacement = prop_oneof![2 => Just(None), 4 => awkward().prop_map(Some), 3 => json().prop_map(Some)];
    (prop::sample::select(samples), prop::collection::vec((any::<usize>(), replacement), 1..4))
        .prop_map(|(sample, edits)| mutate(sample, &edits))
}

/// The samples `keep` selects, mutated, or any JSON at all.
fn event(keep: fn(&Value) -> bool) -> impl Strategy<Value = Value> {
    let samples: Vec<Value> = SAMPLES.iter().filter(|s| keep(s)).cloned().collect();
    assert!(!samples.is_empty(), "no sample event to start from");
    prop_oneof![6 => mutated(samples), 1 => json()]
}

fn lifecycle(v: &Value) -> bool {
    v.get("source").and_then(Value::as_str) == Some("aws.autoscaling")
}

fn job(v: &Value) -> bool {
    v.get("CodePipeline.job").is_some()
}

fn pipeline(v: &Value) -> bool {
    v.get("source").and_then(Value::as_str) == Some("aws.codepipeline")
}

/// A rejection a person can act on: some words, not a serde type dump.
fn readable(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(message.trim().len() >= 10, "too short to act on: {message:?}");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_lifecycle_event_parser_never_panics_and_names_what_is_wrong(event in event(lifecycle)) {
        if let Err(err) = lifecycle_health::event::parse(event, chrono::Utc::now()) {
            readable(&err.to_string())?;
        }
    }

    #[test]
    fn the_codepipeline_job_parser_never_panics_and_names_what_is_wrong(event in event(job)) {
        match CodePipelineJob::from_event(&event) {
            Err(err) => readable(&err.to_string())?,
            Ok(job) => {
                // Each function then reads its UserParameters from the job.
                let raw = job.user_parameters.as_deref();
                for result in [
                    instance_refresh::parameters::RefreshParameters::parse(raw).map(drop),
                    approval_gate::settings::ActionParameters::parse(raw).map(drop),
                    qa_notify::deployed::DeployedParameters::parse(raw).map(drop),
                ] {
                    if let Err(err) = result {
                        readable(&err.to_string())?;
                    }
                }
            }
        }
    }

    #[test]
    fn the_pipeline_event_parser_never_panics_and_names_what_is_wrong(event in event(pipeline)) {
        if let Err(err) = PipelineEvent::parse(&event) {
            readable(&err.to_string())?;
        }
    }

    #[test]
    fn user_parameters_that_are_not_an_object_say_so_and_others_never_panic(value in json(), text in ".{0,60}") {
        let raw = value.to_string();
        for input in [raw.as_str(), text.as_str()] {
            for result in [
                instance_refresh::parameters::RefreshParameters::parse(Some(input)).map(drop),
                approval_gate::settings::ActionParameters::parse(Some(input)).map(drop),
                qa_notify::deployed::DeployedParameters::parse(Some(input)).map(drop),
            ] {
                if let Err(err) = result {
                    let message = err.to_string();
                    readable(&message)?;
                    if input == raw && !value.is_object() {
                        prop_assert!(message.starts_with("UserParameters must be a JSON object"), "{message}");
                    }
                }
            }
        }
    }
}

/// Each parser fed every sample grown to Lambda's 6 MB synchronous payload limit.
#[test]
fn events_at_lambdas_payload_limit_are_read_or_refused_cleanly() {
    let padding = Value::from("x".repeat(6 * 1024 * 1024 - 16 * 1024));
    for sample in SAMPLES.iter() {
        let mut event = sample.clone();
        if let Value::Object(map) = &mut event {
            map.insert("padding".into(), padding.clone());
        }
        let readable = |message: String| assert!(message.trim().len() >= 10, "{message:?}");
        if let Err(err) = lifecycle_health::event::parse(event.clone(), chrono::Utc::now()) {
            readable(err.to_string());
        }
        if let Err(err) = CodePipelineJob::from_event(&event) {
            readable(err.to_string());
        }
        if let Err(err) = PipelineEvent::parse(&event) {
            readable(err.to_string());
        }
    }
}

#[test]
fn oversized_user_parameters_are_refused_naming_what_aws_allows() {
    let start = SAMPLES
        .iter()
        .find(|s| {
            s.pointer("/CodePipeline.job/data/actionConfiguration/configuration/UserParameters")
                .and_then(Value::as_str)
                .is_some_and(|p| p.contains("autoScalingGroupName"))
        })
        .expect("an instance-refresh job sample");
    let raw = start.pointer("/CodePipeline.job/data/actionConfiguration/configuration/UserParameters").unwrap().as_str().unwrap();
    let mut params: Value = serde_json::from_str(raw).unwrap();
    params["autoScalingGroupName"] = Value::from("g".repeat(5_000));
    let err = instance_refresh::parameters::RefreshParameters::parse(Some(&params.to_string())).unwrap_err().to_string();
    assert!(err.contains("Auto Scaling group names are at most 255 characters"), "{err}");
    // A megabyte of parameters: refused by what is wrong in it, without a panic.
    params["autoScalingGroupName"] = Value::from("web");
    params["padding"] = Value::from("p".repeat(1024 * 1024));
    let err = instance_refresh::parameters::RefreshParameters::parse(Some(&params.to_string())).unwrap_err().to_string();
    assert!(err.contains("unknown field `padding`"), "{err}");
}
