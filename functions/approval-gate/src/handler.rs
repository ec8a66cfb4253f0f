//! Routing: the QA approval STARTED (EventBridge) → reject it or leave it; an Invoke action →
//! the same checks answer the job, waiting while only the window is closed.

use jiff::Timestamp;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::aws::SdkConfig;
use shared::codepipeline::pipeline_state::{self, ApprovalLookup, ApprovalNotListed};
use shared::codepipeline::state_change::{ExecutionState, PipelineEvent};
use shared::codepipeline::{run_job, CodePipelineJob, JobFailure, JobOutcome, JobReporter, OutputVariables};
use tracing::{info, warn};

use crate::aws::approval::{self, Answered, Approval};
use crate::aws::{alarms, staging};
use crate::checks::{self, Check};
use crate::error::GateError;
use crate::settings::{ActionParameters, CheckSettings, Settings, SettingsError};
use crate::verdict::{decide, Mode, Verdict};

pub struct Gate {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    codepipeline: aws_sdk_codepipeline::Client,
    settings: Result<Settings, SettingsError>,
    clock: fn() -> Timestamp,
}

/// What an in-progress answer hands the next invocation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Waiting {
    v: u8,
    started_at: String,
}

impl Gate {
    pub fn new(config: &SdkConfig, settings: Result<Settings, SettingsError>) -> Self {
        Gate {
            autoscaling: shared::aws_client!(aws_sdk_autoscaling, config),
            ec2: shared::aws_client!(aws_sdk_ec2, config),
            elbv2: shared::aws_client!(aws_sdk_elasticloadbalancingv2, config),
            cloudwatch: shared::aws_client!(aws_sdk_cloudwatch, config),
            codepipeline: shared::aws_client!(aws_sdk_codepipeline, config),
            settings,
            clock: Timestamp::now,
        }
    }

    /// The same gate with another idea of "now" (tests of the window).
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    pub async fn handle(&self, reporter: &JobReporter, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        if event.payload.get("CodePipeline.job").is_some() {
            run_job(reporter, event, |job, _fallback| self.action(job)).await?;
            return Ok(Value::Null);
        }
        self.on_event(&event.payload).await.map_err(|err| {
            warn!(error = %err, "approval not checked");
            err.into()
        })
    }

    /// EventBridge mode: the QA approval of a watched pipeline went STARTED.
    pub async fn on_event(&self, event: &Value) -> Result<Value, GateError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let PipelineEvent::Action(e) = PipelineEvent::parse(event)? else {
            return Ok(ignored("not an action execution event"));
        };
        let d = &e.detail;
        if !settings.watches(&d.pipeline) || d.stage != settings.approval_stage || d.action != settings.approval_action {
            return Ok(ignored(&format!("{}/{}/{} is not the QA approval of a watched pipeline", d.pipeline, d.stage, d.action)));
        }
        if d.state != ExecutionState::Started {
            return Ok(ignored(&format!("the approval went {:?}; only STARTED is checked", d.state)));
        }
        let state = pipeline_state::read(&self.codepipeline, &d.pipeline).await?;
        let token = match pipeline_state::approval(&state, &d.stage, &d.action, &d.execution_id) {
            ApprovalLookup::Waiting { token } => token,
            ApprovalLookup::NotListed => return Err(ApprovalNotListed::new(&d.pipeline, &d.stage, &d.action, &d.execution_id).into()),
            other => return Ok(ignored(&format!("the approval of execution {} is no longer waiting ({other:?})", d.execution_id))),
        };
        let release = pipeline_state::execution_revision(&self.codepipeline, &d.pipeline, &d.execution_id).await?.and_then(|r| r.id);
        let checks = self.run_checks(&settings.checks, release.as_deref()).await?;
        let verdict = decide(checks, settings.checks.window.as_ref(), (self.clock)(), Mode::Approval);
        let approval = Approval { pipeline: &d.pipeline, stage: &d.stage, action: &d.action, token: &token };
        let (outcome, answered) = match &verdict {
            Verdict::Reject { summary, .. } => ("rejected", Some(approval::answer(&self.codepipeline, &approval, false, summary).await?)),
            Verdict::Pass { checks } if settings.auto_approve => {
                ("approved", Some(approval::answer(&self.codepipeline, &approval, true, &passed_summary(checks)).await?))
            }
            _ => ("left to QA", None),
        };
        let checks = checks_of(&verdict);
        let result = match answered {
            Some(Answered::AlreadyAnswered) => "already answered",
            Some(Answered::NoLongerWaiting) => "no longer waiting",
            _ => outcome,
        };
        info!(pipeline = %d.pipeline, execution_id = %d.execution_id, release = ?release, verdict = result, checks = %json!(checks), "approval decision");
        Ok(json!({"result": result, "checks": checks}))
    }

    async fn run_checks(&self, settings: &CheckSettings, release: Option<&str>) -> Result<Vec<Check>, GateError> {
        let mut results = Vec::new();
        if let Some(group) = &settings.staging_group {
            let clients = staging::Clients { autoscaling: &self.autoscaling, ec2: &self.ec2, elbv2: &self.elbv2 };
            let latest = staging::latest_refresh(&clients, group).await?;
            results.push(match release {
                Some(release) => checks::refresh::check(group, latest.as_ref(), release),
                None => Check::fail(checks::refresh::NAME, "the pipeline execution names no source revision to compare with"),
            });
            results.push(match staging::fleet(&clients, group).await? {
                Some(fleet) => checks::fleet::check(&fleet, latest.and_then(|l| l.version)),
                None => Check::fail(checks::fleet::NAME, format!("Auto Scaling group {group} does not exist")),
            });
        }
        if !settings.alarms.is_empty() {
            let found = alarms::describe(&self.cloudwatch, &settings.alarms).await?;
            results.push(checks::alarms::check(&settings.alarms, &found, settings.insufficient_data_passes));
        }
        Ok(results)
    }

    /// Invoke mode, before the production refresh.
    async fn action(&self, job: CodePipelineJob) -> Result<JobOutcome, JobFailure> {
        let decided: Result<JobOutcome, GateError> = async {
            let settings = self.settings.as_ref().map_err(Clone::clone)?;
            let params = ActionParameters::parse(job.user_parameters.as_deref())?;
            let checks_settings = params.checks(&settings.checks)?;
            let now = (self.clock)();
            let started = match job.continuation_token.as_deref() {
                Some(token) => serde_json::from_str::<Waiting>(token)
                    .ok()
                    .and_then(|w| w.started_at.parse::<Timestamp>().ok())
                    .ok_or_else(|| GateError::Token(token.chars().take(80).collect()))?,
                None => now,
            };
            let mut release = params.release.commit_id.clone().or_else(|| job.input_artifacts.iter().find_map(|a| a.revision.clone()));
            if release.is_none() {
                if let Some(execution) = &params.pipeline_execution_id {
                    release = pipeline_state::execution_revision(&self.codepipeline, &params.pipeline, execution).await?.and_then(|r| r.id);
                }
            }
            let checks = self.run_checks(&checks_settings, release.as_deref()).await?;
            let verdict = decide(checks, checks_settings.window.as_ref(), now, Mode::Action { started });
            info!(pipeline = %params.pipeline, release = ?release, checks = %json!(checks_of(&verdict)), "action decision");
            Ok(match verdict {
                Verdict::Pass { checks } => {
                    JobOutcome::Succeeded { summary: passed_summary(&checks), output_variables: OutputVariables::new() }
                }
                Verdict::Wait { summary, .. } => JobOutcome::InProgress {
                    summary,
                    continuation_token: serde_json::to_string(&Waiting { v: 1, started_at: started.to_string() }).expect("plain struct"),
                    percent_complete: 0,
                },
                Verdict::Reject { summary, .. } => JobOutcome::Failed(JobFailure::job_failed(summary)),
            })
        }
        .await;
        decided.map_err(JobFailure::from)
    }
}

fn ignored(reason: &str) -> Value {
    info!(reason, "event ignored");
    json!({"result": "ignored", "reason": reason})
}

fn checks_of(verdict: &Verdict) -> Vec<Value> {
    let checks = match verdict {
        Verdict::Pass { checks } | Verdict::Reject { checks, .. } | Verdict::Wait { checks, .. } => checks,
    };
    checks.iter().map(|c| json!({"check": c.name, "passed": c.passed, "evidence": c.evidence})).collect()
}

fn passed_summary(checks: &[Check]) -> String {
    let text = if checks.is_empty() {
        "approval-gate: no checks are configured".to_owned()
    } else {
        format!(
            "approval-gate: every check passed: {}",
            checks.iter().map(|c| format!("{}: {}", c.name, c.evidence)).collect::<Vec<_>>().join(" | ")
        )
    };
    text.chars().take(crate::verdict::MAX_SUMMARY_CHARS).collect()
}
