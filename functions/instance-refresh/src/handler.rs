//! The action: start a refresh on the first invocation, track it on every re-invocation.

use std::time::SystemTime;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use shared::aws::SdkConfig;
use shared::codepipeline::{Answer, CodePipelineJob, Fallback, JobFailure, JobOutcome};
use tracing::{info, warn};

use crate::aws::auto_scaling::{self, GroupLookup, StartResult};
use crate::aws::launch_templates::{self, TemplateVersion};
use crate::aws::release_state;
use crate::continuation::{TrackedRefresh, TOKEN_VERSION};
use crate::desired::{check_overrides, desired_configuration, PinnedTemplate};
use crate::duration::worst_case;
use crate::error::RefreshError;
use crate::parameters::RefreshParameters;
use crate::pruning::{protected_versions, versions_to_prune};
use crate::release::{merge_release_tags, release_of, resolve_release, Release};
use crate::running::{decide_on_running, made_by_job, version_description, RunningDecision};
use crate::tracking::{outcome_for, release_state_to_record, RefreshSnapshot};

/// The SDK clients, built once per execution environment.
#[derive(Clone, Debug)]
pub struct RefreshAction {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
}

impl RefreshAction {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_clients(
            shared::aws_client!(aws_sdk_autoscaling, config),
            shared::aws_client!(aws_sdk_ec2, config),
            shared::aws_client!(aws_sdk_ssm, config),
        )
    }

    pub fn from_clients(autoscaling: aws_sdk_autoscaling::Client, ec2: aws_sdk_ec2::Client, ssm: aws_sdk_ssm::Client) -> Self {
        RefreshAction { autoscaling, ec2, ssm }
    }

    /// `fallback` is set to "in progress" as soon as a refresh has started, so that running
    /// out of time after that still hands CodePipeline the refresh to track.
    pub async fn handle(&self, job: CodePipelineJob, fallback: Fallback) -> Result<Answer<'_>, JobFailure> {
        let result = match job.continuation_token.as_deref() {
            Some(token) => self.track(token).await.map(Answer::from),
            None => self.start(&job, &fallback).await,
        };
        result.map_err(JobFailure::from)
    }

    /// One `DescribeInstanceRefreshes`, mapped to the job's outcome. No waiting here:
    /// CodePipeline re-invokes us while the answer is "in progress".
    async fn track(&self, token: &str) -> Result<JobOutcome, RefreshError> {
        let tracked = TrackedRefresh::from_token(token)?;
        let snapshot =
            auto_scaling::refresh(&self.autoscaling, &tracked.auto_scaling_group_name, &tracked.refresh_id).await?.ok_or_else(|| {
                RefreshError::RefreshVanished { group: tracked.auto_scaling_group_name.clone(), refresh_id: tracked.refresh_id.clone() }
            })?;
        info!(refresh_id = %snapshot.id, status = %snapshot.status_text, percent = ?snapshot.percent_complete, "refresh tracked");
        let outcome = outcome_for(&snapshot, &tracked, SystemTime::now())?;
        self.record_release_state(outcome, &tracked).await
    }

    /// Once the whole group runs the new version, records it where a stack's group takes its
    /// version from. A success that cannot be recorded fails the job: left unrecorded, a later
    /// stack update could point the group back at the previous release.
    async fn record_release_state(&self, outcome: JobOutcome, tracked: &TrackedRefresh) -> Result<JobOutcome, RefreshError> {
        let Some((parameter, version)) = release_state_to_record(&outcome, tracked) else { return Ok(outcome) };
        let description =
            format!("release {} ({}), instance refresh {}", tracked.release_id, tracked.auto_scaling_group_name, tracked.refresh_id);
        release_state::record(&self.ssm, parameter, version, &description)
            .await
            .map_err(|source| RefreshError::ReleaseStateNotRecorded { parameter: parameter.to_owned(), version, source })?;
        info!(parameter, version, "release state recorded");
        Ok(match outcome {
            JobOutcome::Succeeded { summary, output_variables } => {
                JobOutcome::Succeeded { summary: format!("{summary}; release state {parameter} = {version}"), output_variables }
            }
            other => other,
        })
    }

    async fn start(&self, job: &CodePipelineJob, fallback: &Fallback) -> Result<Answer<'_>, RefreshError> {
        let params = RefreshParameters::parse(job.user_parameters.as_deref())?;
        let preferences = params.preferences.validate()?;
        preferences.check_rollout_extent(params.partial_rollout)?;
        let release = resolve_release(
            params.release.commit_id.as_deref(),
            params.release.artifact_name.as_deref(),
            &job.input_artifacts,
            &params.stage,
        )?;
        let group = params.auto_scaling_group_name.as_str();
        let source = match auto_scaling::launch_source(&self.autoscaling, group).await? {
            GroupLookup::Found(source) => source,
            GroupLookup::NotFound => return Err(RefreshError::GroupNotFound(group.to_owned())),
            GroupLookup::NoLaunchTemplate => return Err(RefreshError::NoLaunchTemplate(group.to_owned())),
        };
        preferences.check_rollback_target(group, source.template.version.as_deref())?;
        let longest = worst_case(&preferences, &source.facts);
        info!(group, seconds = longest.total_seconds(), ?longest, "what the refresh waits on purpose (boot time and hooks come on top)");
        longest.check_fits_codepipeline()?;

        let latest = auto_scaling::latest_refresh(&self.autoscaling, group).await?;
        if let Some(running) = latest.clone().filter(|r| r.status.is_active()) {
            return self.adopt_or_refuse(running, &release, group, &params).await.map(Answer::from);
        }

        let current_version = source.template.version.clone().unwrap_or_else(|| "$Default".to_owned());
        let current = launch_templates::describe_version(&self.ec2, &source.template, &current_version)
            .await?
            .ok_or_else(|| RefreshError::TemplateVersionMissing { group: group.to_owned(), version: current_version })?;
        if let Some(ended) = latest.as_ref() {
            if let Some(outcome) = self.ended_for_this_job(ended, &current, job, group, &release, &params).await? {
                return Ok(Answer::from(outcome));
            }
        }
        check_overrides(source.mixed_instances_policy.as_ref(), &current.template_id, current.template_name.as_deref())?;
        let tags = merge_release_tags(current.tag_specifications.clone(), &release)?;
        let description = version_description(&release.id, &release.stage, current.number, &job.id);
        let new_version =
            launch_templates::create_version(&self.ec2, &current, &tags, params.image_id.as_deref(), &description, &job.id).await?;
        info!(template = %current.template_id, from = current.number, version = new_version, release = %release.id, "launch template version created");

        let pinned = PinnedTemplate { id: &current.template_id, name: current.template_name.as_deref(), version: new_version };
        let desired = desired_configuration(source.mixed_instances_policy.as_ref(), &pinned)?;
        let refresh_id = match auto_scaling::start_refresh(&self.autoscaling, group, desired, &preferences).await? {
            StartResult::Started(id) => id,
            // Someone started one between our check and our start: decide on it the same way.
            StartResult::AlreadyRunning => {
                let running = self.active_refresh(group).await?.ok_or_else(|| {
                    RefreshError::RefreshRunning(format!(
                        "Auto Scaling reported a refresh in progress on {group}, but none is listed now; re-run the action"
                    ))
                })?;
                return self.adopt_or_refuse(running, &release, group, &params).await.map(Answer::from);
            }
        };
        info!(refresh_id = %refresh_id, group, version = new_version, "instance refresh started");

        let tracked = tracked(&refresh_id, group, new_version, &release, None, &params);
        let outcome = JobOutcome::InProgress {
            summary: format!(
                "Started instance refresh {refresh_id} of {group}: launch template {} version {new_version} (release {}, {}){}",
                current.template_id,
                release.id,
                release.stage,
                match preferences.checkpoint_percentages.last() {
                    Some(last) if params.partial_rollout => format!("; a partial rollout to {last}% of the group"),
                    _ => String::new(),
                }
            ),
            continuation_token: tracked.to_token()?,
            percent_complete: 0,
        };
        fallback.set(outcome.clone());
        // Pruning is housekeeping: it runs once CodePipeline has its answer, never before.
        let after_answer = params.launch_template_versions_to_keep.map(|keep| {
            let prune: futures_util::future::BoxFuture<'_, ()> = Box::pin(self.prune(current, usize::from(keep), new_version));
            prune
        });
        Ok(Answer { outcome, after_answer })
    }

    /// The group's newest refresh, ended, when this very job started it (its version names the
    /// job): the job was delivered again after its refresh ended, and that refresh's outcome is
    /// the answer. Without this the retry would fail on its own ClientToken, the group having
    /// moved on to the version the job made. `current` is the group's version, already read:
    /// after a successful refresh it is the one the refresh rolled out.
    async fn ended_for_this_job(
        &self,
        ended: &RefreshSnapshot,
        current: &TemplateVersion,
        job: &CodePipelineJob,
        group: &str,
        release: &Release,
        params: &RefreshParameters,
    ) -> Result<Option<JobOutcome>, RefreshError> {
        let (Some(template), Some(version)) = (&ended.desired_template, ended.desired_version()) else { return Ok(None) };
        let is_current = version == current.number.to_string() && template.id.as_deref().is_none_or(|id| id == current.template_id);
        let (number, description) = if is_current {
            (current.number, current.description.clone())
        } else {
            match launch_templates::describe_version(&self.ec2, template, version).await? {
                Some(made) => (made.number, made.description),
                None => return Ok(None),
            }
        };
        if !made_by_job(description.as_deref(), &job.id) {
            return Ok(None);
        }
        info!(refresh_id = %ended.id, status = %ended.status_text, "this job's refresh already ended; answering from it");
        let tracked = tracked(&ended.id, group, number, release, ended.start_time.clone(), params);
        let outcome = outcome_for(ended, &tracked, SystemTime::now())?;
        self.record_release_state(outcome, &tracked).await.map(Some)
    }

    async fn active_refresh(&self, group: &str) -> Result<Option<RefreshSnapshot>, RefreshError> {
        let latest = auto_scaling::latest_refresh(&self.autoscaling, group).await?;
        Ok(latest.filter(|r| r.status.is_active()))
    }

    async fn adopt_or_refuse(
        &self,
        running: RefreshSnapshot,
        release: &Release,
        group: &str,
        params: &RefreshParameters,
    ) -> Result<JobOutcome, RefreshError> {
        let running_release = self.release_rolled_out_by(&running).await?;
        match decide_on_running(
            &running,
            running_release.as_deref(),
            &release.id,
            group,
            params.when_refresh_in_progress,
            params.partial_rollout,
        ) {
            RunningDecision::Adopt { launch_template_version } => {
                info!(refresh_id = %running.id, release = %release.id, "adopting the running refresh of this release");
                // The token records what this action asks for; should the adopted refresh stop
                // short of the whole group when that was not asked for, tracking fails the job.
                let tracked = tracked(&running.id, group, launch_template_version, release, running.start_time.clone(), params);
                let outcome = outcome_for(&running, &tracked, SystemTime::now())?;
                self.record_release_state(outcome, &tracked).await
            }
            RunningDecision::Refuse(message) => Err(RefreshError::RefreshRunning(message)),
        }
    }

    /// The release tag on the launch template version a running refresh rolls out, read from
    /// the template the refresh itself names (which need not be the group's).
    async fn release_rolled_out_by(&self, running: &RefreshSnapshot) -> Result<Option<String>, RefreshError> {
        let Some(template) = running.desired_template.as_ref() else { return Ok(None) };
        let Some(version) = template.version.as_deref() else { return Ok(None) };
        let found = launch_templates::describe_version(&self.ec2, template, version).await?;
        Ok(found.and_then(|v| release_of(&v.tag_specifications).map(str::to_owned)))
    }

    /// Best effort, after the answer: a failed prune is logged, never fails a refresh that
    /// has started. Every version anything in the account still names is kept.
    async fn prune(&self, template: TemplateVersion, keep: usize, new_version: i64) {
        let template_id = template.template_id.as_str();
        let result = async {
            let uses = auto_scaling::template_uses(&self.autoscaling, template_id, template.template_name.as_deref()).await?;
            let Some(uses) = uses.into_iter().collect::<Option<Vec<_>>>() else {
                warn!(template = template_id, "a group or refresh names a version of this template that cannot be read; nothing pruned");
                return Ok(0);
            };
            let (existing, default) = launch_templates::list_versions(&self.ec2, template_id).await?;
            let protected = protected_versions(&uses, default, existing.iter().copied().max(), &[template.number, new_version]);
            let doomed = versions_to_prune(&existing, keep, &protected);
            info!(template = template_id, users = ?uses.iter().map(|u| u.user.as_str()).collect::<Vec<_>>(), ?protected, ?doomed, "launch template versions in use");
            if doomed.is_empty() {
                return Ok(0);
            }
            launch_templates::delete_versions(&self.ec2, template_id, &doomed).await
        }
        .await;
        match result {
            Ok(deleted) => info!(template = template_id, deleted, keep, "old launch template versions pruned"),
            Err(err) => warn!(template = template_id, error = %err, "pruning old launch template versions failed; the refresh goes on"),
        }
    }
}

/// The token for a refresh; `started_at` from Auto Scaling when adopting one, else now.
fn tracked(
    refresh_id: &str,
    group: &str,
    version: i64,
    release: &Release,
    started_at: Option<String>,
    params: &RefreshParameters,
) -> TrackedRefresh {
    TrackedRefresh {
        v: TOKEN_VERSION,
        refresh_id: refresh_id.to_owned(),
        auto_scaling_group_name: group.to_owned(),
        launch_template_version: version,
        release_id: release.id.clone(),
        started_at: started_at.unwrap_or_else(|| DateTime::from(SystemTime::now()).fmt(Format::DateTime).unwrap_or_default()),
        partial_rollout: params.partial_rollout,
        release_parameter: params.release_parameter.clone(),
    }
}
