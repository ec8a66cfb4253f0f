//! The action: start a refresh on the first invocation, track it on every re-invocation.

use aws_config::SdkConfig;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use shared::codepipeline::{CodePipelineJob, JobFailure, JobOutcome};
use tracing::{info, warn};

use crate::aws::auto_scaling::{self, GroupLookup, StartResult, TemplateRef};
use crate::aws::launch_templates;
use crate::continuation::{TrackedRefresh, TOKEN_VERSION};
use crate::error::RefreshError;
use crate::parameters::{InProgressPolicy, RefreshParameters};
use crate::pruning::versions_to_prune;
use crate::release::{merge_release_tags, release_of, resolve_release, Release};
use crate::running::{decide_on_running, RunningDecision};
use crate::tracking::{outcome_for, RefreshSnapshot};

/// The SDK clients, built once per execution environment.
#[derive(Clone, Debug)]
pub struct RefreshAction {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
}

impl RefreshAction {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_clients(aws_sdk_autoscaling::Client::new(config), aws_sdk_ec2::Client::new(config))
    }

    pub fn from_clients(autoscaling: aws_sdk_autoscaling::Client, ec2: aws_sdk_ec2::Client) -> Self {
        RefreshAction { autoscaling, ec2 }
    }

    pub async fn handle(&self, job: CodePipelineJob) -> Result<JobOutcome, JobFailure> {
        let result = match job.continuation_token.as_deref() {
            Some(token) => self.track(token).await,
            None => self.start(&job).await,
        };
        result.map_err(JobFailure::from)
    }

    /// One `DescribeInstanceRefreshes`, mapped to the job's outcome. No waiting here:
    /// CodePipeline re-invokes us while the answer is "in progress".
    async fn track(&self, token: &str) -> Result<JobOutcome, RefreshError> {
        let tracked = TrackedRefresh::from_token(token)?;
        let snapshot = auto_scaling::refresh(&self.autoscaling, &tracked.auto_scaling_group_name, &tracked.refresh_id)
            .await?
            .ok_or_else(|| RefreshError::RefreshVanished {
                group: tracked.auto_scaling_group_name.clone(),
                refresh_id: tracked.refresh_id.clone(),
            })?;
        info!(refresh_id = %snapshot.id, status = %snapshot.status_text, percent = ?snapshot.percent_complete, "refresh tracked");
        Ok(outcome_for(&snapshot, &tracked)?)
    }

    async fn start(&self, job: &CodePipelineJob) -> Result<JobOutcome, RefreshError> {
        let params = RefreshParameters::parse(job.user_parameters.as_deref())?;
        let preferences = params.preferences.validate()?;
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

        if let Some(running) = self.active_refresh(group).await? {
            return self.adopt_or_refuse(running, &release, group, &source.template, params.when_refresh_in_progress).await;
        }

        let current_version = source.template.version.clone().unwrap_or_else(|| "$Default".to_owned());
        let current = launch_templates::describe_version(&self.ec2, &source.template, &current_version)
            .await?
            .ok_or_else(|| RefreshError::TemplateVersionMissing { group: group.to_owned(), version: current_version })?;
        let tags = merge_release_tags(current.tag_specifications.clone(), &release)?;
        let description = format!("release {} for {} (from version {})", release.id, release.stage, current.number);
        let new_version = launch_templates::create_version(
            &self.ec2,
            &current,
            &tags,
            params.image_id.as_deref(),
            &description,
            &job.id,
        )
        .await?;
        info!(template = %current.template_id, from = current.number, version = new_version, release = %release.id, "launch template version created");

        let refresh_id =
            match auto_scaling::start_refresh(&self.autoscaling, group, &source, &current.template_id, new_version, &preferences)
                .await?
            {
                StartResult::Started(id) => id,
                // Someone started one between our check and our start: decide on it the same way.
                StartResult::AlreadyRunning => {
                    let running = self.active_refresh(group).await?.ok_or_else(|| {
                        RefreshError::RefreshRunning(format!(
                            "Auto Scaling reported a refresh in progress on {group}, but none is listed now; re-run the action"
                        ))
                    })?;
                    return self
                        .adopt_or_refuse(running, &release, group, &source.template, params.when_refresh_in_progress)
                        .await;
                }
            };
        info!(refresh_id = %refresh_id, group, version = new_version, "instance refresh started");

        if let Some(keep) = params.launch_template_versions_to_keep {
            self.prune(&current.template_id, usize::from(keep), &[current.number, new_version]).await;
        }

        let tracked = tracked(&refresh_id, group, new_version, &release);
        Ok(JobOutcome::InProgress {
            summary: format!(
                "Started instance refresh {refresh_id} of {group}: launch template {} version {new_version} (release {}, {})",
                current.template_id, release.id, release.stage
            ),
            continuation_token: tracked.to_token()?,
            percent_complete: 0,
        })
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
        template: &TemplateRef,
        policy: InProgressPolicy,
    ) -> Result<JobOutcome, RefreshError> {
        let running_release = self.release_rolled_out_by(&running, template).await?;
        match decide_on_running(&running, running_release.as_deref(), &release.id, group, policy) {
            RunningDecision::Adopt { launch_template_version } => {
                info!(refresh_id = %running.id, release = %release.id, "adopting the running refresh of this release");
                Ok(outcome_for(&running, &tracked(&running.id, group, launch_template_version, release))?)
            }
            RunningDecision::Refuse(message) => Err(RefreshError::RefreshRunning(message)),
        }
    }

    /// The release tag on the launch template version a running refresh rolls out (of the
    /// template the group uses: that is the one our refreshes name).
    async fn release_rolled_out_by(&self, running: &RefreshSnapshot, template: &TemplateRef) -> Result<Option<String>, RefreshError> {
        let Some(version) = running.desired_launch_template_version.as_deref() else { return Ok(None) };
        let found = launch_templates::describe_version(&self.ec2, template, version).await?;
        Ok(found.and_then(|v| release_of(&v.tag_specifications).map(str::to_owned)))
    }

    /// Best effort: a failed prune is logged, never fails a refresh that has started.
    async fn prune(&self, template_id: &str, keep: usize, protected: &[i64]) {
        let result = async {
            let (existing, default) = launch_templates::list_versions(&self.ec2, template_id).await?;
            let mut protected = protected.to_vec();
            protected.extend(default);
            let doomed = versions_to_prune(&existing, keep, &protected);
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

fn tracked(refresh_id: &str, group: &str, version: i64, release: &Release) -> TrackedRefresh {
    TrackedRefresh {
        v: TOKEN_VERSION,
        refresh_id: refresh_id.to_owned(),
        auto_scaling_group_name: group.to_owned(),
        launch_template_version: version,
        release_id: release.id.clone(),
        started_at: DateTime::from(std::time::SystemTime::now()).fmt(Format::DateTime).unwrap_or_default(),
    }
}
