//! Routing: a CodePipeline job is the **deployed** action, answered through the shared
//! runner; anything else is an EventBridge event, decided by [`trigger::decide`].

use std::time::{Duration, SystemTime};

use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use shared::aws::SdkConfig;
use shared::codepipeline::state_change::PipelineEvent;
use shared::codepipeline::{run_job, CodePipelineJob, JobFailure, JobOutcome, JobReporter, OutputVariables};
use tracing::{error, info, warn};

use crate::aws::sent::SentRecord;
use crate::aws::sns::Published;
use crate::aws::{pipeline, sns};
use crate::compose;
use crate::deployed::DeployedParameters;
use crate::error::NotifyError;
use crate::facts;
use crate::notice::{Notice, Release};
use crate::once::{self, Claim};
use crate::render::render;
use crate::settings::{Settings, SettingsError};
use crate::trigger::{decide, Decision, Kind, Trigger};
use shared::codepipeline::pipeline_state::{self, ApprovalLookup, ApprovalNotListed};

/// The SDK clients (built once) and the settings (or why they are unusable).
pub struct Notifier {
    codepipeline: aws_sdk_codepipeline::Client,
    sns: aws_sdk_sns::Client,
    /// The record of notices sent (used when the settings name its table).
    dynamodb: aws_sdk_dynamodb::Client,
    settings: Result<Settings, SettingsError>,
    region: String,
}

/// While another invocation sends a notice, look again this often.
const IN_FLIGHT_POLL: Duration = Duration::from_secs(1);
const IN_FLIGHT_WAIT_WITHOUT_DEADLINE: Duration = Duration::from_secs(30);

/// How a notice reached QA.
enum Told {
    Now(Published),
    /// An earlier delivery of the same event or job sent it.
    Already,
}

impl Notifier {
    pub fn new(config: &SdkConfig, settings: Result<Settings, SettingsError>) -> Self {
        let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_owned());
        Notifier {
            codepipeline: shared::aws_client!(aws_sdk_codepipeline, config),
            sns: shared::aws_client!(aws_sdk_sns, config),
            dynamodb: shared::aws_client!(aws_sdk_dynamodb, config),
            settings,
            region,
        }
    }

    pub async fn handle(&self, reporter: &JobReporter, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        if event.payload.get("CodePipeline.job").is_some() {
            run_job(reporter, event, |job, _fallback| self.deployed(job)).await?;
            return Ok(Value::Null);
        }
        self.on_event(&event.payload).await.map_err(|err| {
            warn!(error = %err, "notification not sent");
            err.into()
        })
    }

    /// EventBridge mode: a message, or a reason to send none.
    pub async fn on_event(&self, event: &Value) -> Result<Value, NotifyError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let parsed = PipelineEvent::parse(event)?;
        let trigger = match decide(&parsed, &settings.watch) {
            Decision::Notify(trigger) => trigger,
            Decision::Ignore(reason) => {
                info!(%reason, "event ignored");
                return Ok(json!({"result": "ignored", "reason": reason}));
            }
        };
        let region = trigger.region.clone().unwrap_or_else(|| self.region.clone());
        let Some(notice) = self.notice_for(&trigger, settings, &region).await? else {
            return Ok(
                json!({"result": "ignored", "reason": "the approval is no longer this execution's, or its rejection told QA already"}),
            );
        };
        Ok(match self.tell(settings, once::event_key(event).as_deref(), &notice).await? {
            Told::Already => json!({"result": "sent already", "kind": notice.kind.as_str()}),
            Told::Now(published @ Published::Confirmed(_)) => {
                json!({"result": "published", "kind": notice.kind.as_str(), "messageId": published.message_id()})
            }
            Told::Now(Published::Unconfirmed(_)) => json!({"result": "published, unconfirmed", "kind": notice.kind.as_str()}),
        })
    }

    async fn notice_for(&self, t: &Trigger, settings: &Settings, region: &str) -> Result<Option<Notice>, NotifyError> {
        let w = &settings.watch;
        let state = pipeline_state::read(&self.codepipeline, &t.pipeline).await?;
        let release = || pipeline::release(&self.codepipeline, &t.pipeline, &t.execution_id);
        Ok(Some(match t.kind {
            Kind::ReadyForQa => match pipeline_state::approval(&state, &w.approval_stage, &w.approval_action, &t.execution_id) {
                ApprovalLookup::Waiting { token } => {
                    let timeout =
                        pipeline::approval_timeout_minutes(&self.codepipeline, &t.pipeline, &w.approval_stage, &w.approval_action).await?;
                    compose::ready_for_qa(t, settings, region, release().await?, &token, timeout)
                }
                ApprovalLookup::NotListed => {
                    return Err(ApprovalNotListed::new(&t.pipeline, &w.approval_stage, &w.approval_action, &t.execution_id).into())
                }
                // Stale: a newer execution waits (its own event tells QA), or it is answered already.
                other => {
                    info!(execution_id = %t.execution_id, lookup = ?other, "the approval is no longer waiting for this execution; nothing sent");
                    return Ok(None);
                }
            },
            Kind::ApprovalRejected => {
                let lookup = pipeline_state::approval(&state, &w.approval_stage, &w.approval_action, &t.execution_id);
                compose::rejected(t, settings, region, release().await?, &lookup)
            }
            Kind::DeploymentFailed => {
                let failure = facts::failure(&state, &t.execution_id);
                if facts::is_the_qa_approval(failure.as_ref(), &w.approval_stage, &w.approval_action) {
                    info!(execution_id = %t.execution_id, "the execution failed at the QA approval; its rejection notice told QA already");
                    return Ok(None);
                }
                compose::failed(t, settings, region, release().await?, failure)
            }
            Kind::Deployed => unreachable!("deployed is an Invoke action, never an event"),
        }))
    }

    /// Publishes `notice` once per `key` (the event's or job's): claimed in the record first,
    /// marked sent after, released when publishing failed (see [`once`]). Without a table or a
    /// key it publishes.
    async fn tell(&self, settings: &Settings, key: Option<&str>, notice: &Notice) -> Result<Told, NotifyError> {
        let (Some(table), Some(key)) = (settings.sent_table.as_deref(), key) else {
            return self.publish(settings, notice).await.map(Told::Now);
        };
        let record = SentRecord { client: self.dynamodb.clone(), table: table.to_owned() };
        let deadline = shared::deadline::current();
        // As long as this invocation's calls may run (the job runner keeps its time to answer);
        // without a deadline (no runtime's), bounded all the same.
        let wait_until = shared::deadline::calls_end_by().unwrap_or_else(|| SystemTime::now() + IN_FLIGHT_WAIT_WITHOUT_DEADLINE);
        loop {
            match record.claim(key, SystemTime::now(), deadline).await? {
                Claim::Ours => break,
                Claim::Sent => {
                    info!(key, kind = notice.kind.as_str(), "notice sent already by an earlier delivery; not sent again");
                    return Ok(Told::Already);
                }
                Claim::InFlight => {
                    if SystemTime::now() + IN_FLIGHT_POLL > wait_until {
                        return Err(NotifyError::InFlight { key: key.to_owned() });
                    }
                    info!(key, "another invocation is sending this notice; waiting for it");
                    tokio::time::sleep(IN_FLIGHT_POLL).await;
                }
            }
        }
        match self.publish(settings, notice).await {
            Ok(published) => {
                if let Err(err) = record.mark_sent(key, SystemTime::now()).await {
                    warn!(error = %err, key, "notice sent, but not recorded: a delivery after this invocation's deadline could send it again");
                }
                Ok(Told::Now(published))
            }
            Err(err) => {
                if let Err(release) = record.release(key).await {
                    warn!(error = %release, key, "the claim could not be given up: a retry takes it over after this invocation's deadline");
                }
                Err(err)
            }
        }
    }

    async fn publish(&self, settings: &Settings, notice: &Notice) -> Result<Published, NotifyError> {
        let message = render(notice);
        let published = sns::publish(&self.sns, &settings.topic_arn, &message).await?;
        let message_id = published.message_id();
        if let Published::Unconfirmed(detail) = &published {
            error!(
                kind = notice.kind.as_str(),
                pipeline = %notice.pipeline,
                subject = %message.subject,
                %detail,
                "notification sent but not confirmed: SNS may have accepted it. Not retried, so QA is not told twice; \
                 if QA did not receive it, look at the pipeline's state"
            );
            return Ok(published);
        }
        info!(
            kind = notice.kind.as_str(),
            pipeline = %notice.pipeline,
            execution_id = ?notice.execution_id,
            environment = ?notice.environment,
            release = ?notice.release.commit_id,
            subject = %message.subject,
            bytes = message.size_bytes(),
            %message_id,
            "notification published"
        );
        Ok(published)
    }

    /// Invoke mode: tell the topic the release is live, then succeed the job.
    async fn deployed(&self, job: CodePipelineJob) -> Result<JobOutcome, JobFailure> {
        let result: Result<JobOutcome, NotifyError> = async {
            let settings = self.settings.as_ref().map_err(Clone::clone)?;
            let params = DeployedParameters::parse(job.user_parameters.as_deref())?;
            let mut release = params.release(&job.input_artifacts);
            if let Some(execution) = &params.pipeline_execution_id {
                // The execution knows the commit's message and URL when the parameters do not.
                if release.message.is_none() || release.commit_id.is_none() {
                    release = release.or(pipeline::release(&self.codepipeline, &params.pipeline, execution).await.unwrap_or_else(|err| {
                        warn!(error = %err, "the execution's release could not be read; the message goes without it");
                        Release::default()
                    }));
                }
            }
            let notice = compose::deployed(
                &params.pipeline,
                &params.stage,
                params.pipeline_execution_id.as_deref(),
                settings,
                &self.region,
                release,
            );
            let (note, message_id) = match self.tell(settings, Some(&once::job_key(&job.id)), &notice).await? {
                Told::Now(published @ Published::Confirmed(_)) => ("", published.message_id().to_owned()),
                Told::Now(published @ Published::Unconfirmed(_)) => {
                    (" (SNS did not confirm it in time)", published.message_id().to_owned())
                }
                Told::Already => (" (by an earlier delivery of this job)", "sent already".to_owned()),
            };
            Ok(JobOutcome::Succeeded {
                summary: format!("Told {}{note}: {}", settings.topic_name(), crate::render::headline(&notice)),
                output_variables: OutputVariables::from([("MessageId".to_owned(), message_id)]),
            })
        }
        .await;
        result.map_err(JobFailure::from)
    }
}
