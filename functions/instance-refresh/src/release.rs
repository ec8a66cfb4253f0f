//! The release being deployed, and how it is pinned on the instances as tags.

use shared::codepipeline::InputArtifact;

/// Tag keys the release is recorded under, on every instance the new version launches.
pub use shared::release::RELEASE_TAG;
pub const ARTIFACT_TAG: &str = "deploy:artifact";
pub const STAGE_TAG: &str = "deploy:stage";
const OUR_TAGS: [&str; 3] = [RELEASE_TAG, ARTIFACT_TAG, STAGE_TAG];

/// EC2's limits on tags.
const MAX_TAGS_PER_RESOURCE: usize = 50;
const MAX_TAG_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The commit id: what the pipeline deploys, and how a running refresh is recognised.
    pub id: String,
    /// `s3://bucket/key` of the input artifact, when there is one.
    pub artifact: Option<String>,
    pub stage: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("no release to deploy: the input artifact has no revision and UserParameters `release.commitId` is not set. Pass \"release\": {{\"commitId\": \"#{{SourceVariables.CommitId}}\"}}")]
    NoCommitId,
    #[error("UserParameters `release.artifactName` names `{wanted}`, but the action's input artifacts are [{available}]")]
    UnknownArtifact { wanted: String, available: String },
    #[error("the release tag `{key}` would be {chars} characters; EC2 tag values hold at most {MAX_TAG_VALUE_CHARS}")]
    TagTooLong { key: &'static str, chars: usize },
    #[error("the launch template's instance tags plus the release tags make {count}; EC2 allows at most {MAX_TAGS_PER_RESOURCE} per instance. Remove some tags from the launch template")]
    TooManyTags { count: usize },
}

/// Picks the release from the job: `commitId` from the parameters wins over the artifact's
/// revision (a CodePipeline variable is the usual way to pass it).
pub fn resolve_release(
    commit_id: Option<&str>,
    artifact_name: Option<&str>,
    inputs: &[InputArtifact],
    stage: &str,
) -> Result<Release, ReleaseError> {
    let artifact = match artifact_name {
        Some(wanted) => Some(inputs.iter().find(|a| a.name == wanted).ok_or_else(|| ReleaseError::UnknownArtifact {
            wanted: wanted.to_owned(),
            available: inputs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", "),
        })?),
        None => inputs.first(),
    };
    let id = commit_id
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .or_else(|| artifact.and_then(|a| a.revision.as_deref()).filter(|r| !r.is_empty()))
        .ok_or(ReleaseError::NoCommitId)?
        .to_owned();
    let release = Release { id, artifact: artifact.and_then(|a| a.s3_location.as_ref()).map(|l| l.to_uri()), stage: stage.to_owned() };
    for (key, value) in release.tags() {
        let chars = value.chars().count();
        if chars > MAX_TAG_VALUE_CHARS {
            return Err(ReleaseError::TagTooLong { key, chars });
        }
    }
    Ok(release)
}

impl Release {
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        let mut tags = vec![(RELEASE_TAG, self.id.clone()), (STAGE_TAG, self.stage.clone())];
        if let Some(artifact) = &self.artifact {
            tags.push((ARTIFACT_TAG, artifact.clone()));
        }
        tags
    }
}

/// A launch template's tag specification for one resource type, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpecification {
    pub resource_type: String,
    pub tags: Vec<(String, String)>,
}

/// Puts the release on the `instance` tag specification: existing tags stay, the release
/// tags of an earlier release are replaced (not duplicated), other resource types untouched.
pub fn merge_release_tags(mut specs: Vec<TagSpecification>, release: &Release) -> Result<Vec<TagSpecification>, ReleaseError> {
    let index = match specs.iter().position(|s| s.resource_type == "instance") {
        Some(i) => i,
        None => {
            specs.push(TagSpecification { resource_type: "instance".into(), tags: vec![] });
            specs.len() - 1
        }
    };
    let instance = &mut specs[index];
    instance.tags.retain(|(key, _)| !OUR_TAGS.contains(&key.as_str()));
    instance.tags.extend(release.tags().into_iter().map(|(k, v)| (k.to_owned(), v)));
    if instance.tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(ReleaseError::TooManyTags { count: instance.tags.len() });
    }
    Ok(specs)
}

/// The release recorded on a launch template version, if we made it.
pub fn release_of(specs: &[TagSpecification]) -> Option<&str> {
    specs
        .iter()
        .filter(|s| s.resource_type == "instance")
        .flat_map(|s| &s.tags)
        .find(|(key, _)| key == RELEASE_TAG)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::codepipeline::S3Location;

    fn artifact(name: &str, revision: Option<&str>) -> InputArtifact {
        InputArtifact {
            name: name.into(),
            revision: revision.map(Into::into),
            s3_location: Some(S3Location { bucket_name: "art".into(), object_key: format!("p/{name}/x.zip") }),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn the_artifact_revision_is_the_release_when_no_commit_id_is_given() {
        let r = resolve_release(None, None, &[artifact("Src", Some("c0ffee"))], "staging").unwrap();
        assert_eq!(r.id, "c0ffee");
        assert_eq!(r.artifact.as_deref(), Some("s3://art/p/Src/x.zip"));
    }

    #[test]
    fn a_commit_id_parameter_wins_over_the_revision() {
        let r = resolve_release(Some("beef"), None, &[artifact("Src", Some("c0ffee"))], "dev").unwrap();
        assert_eq!(r.id, "beef");
    }

    #[test]
    fn a_named_artifact_is_used_and_an_unknown_one_is_listed() {
        let inputs = [artifact("Src", Some("a")), artifact("Build", Some("b"))];
        assert_eq!(resolve_release(None, Some("Build"), &inputs, "dev").unwrap().id, "b");
        let err = resolve_release(None, Some("Bin"), &inputs, "dev").unwrap_err();
        assert_eq!(err.to_string(), "UserParameters `release.artifactName` names `Bin`, but the action's input artifacts are [Src, Build]");
    }

    #[test]
    fn without_any_release_the_error_says_how_to_pass_one() {
        let err = resolve_release(None, None, &[], "dev").unwrap_err();
        assert!(err.to_string().contains("#{SourceVariables.CommitId}"));
    }

    #[test]
    fn merging_keeps_existing_tags_and_other_resource_types() {
        let existing = vec![
            TagSpecification { resource_type: "volume".into(), tags: tags(&[("team", "web")]) },
            TagSpecification { resource_type: "instance".into(), tags: tags(&[("Name", "web"), ("team", "web")]) },
        ];
        let release = Release { id: "c1".into(), artifact: None, stage: "prod".into() };
        let merged = merge_release_tags(existing.clone(), &release).unwrap();
        assert_eq!(merged[0], existing[0]);
        assert_eq!(merged[1].tags, tags(&[("Name", "web"), ("team", "web"), (RELEASE_TAG, "c1"), (STAGE_TAG, "prod")]));
        assert_eq!(release_of(&merged), Some("c1"));
    }

    #[test]
    fn a_previous_release_is_replaced_not_duplicated() {
        let existing = vec![TagSpecification {
            resource_type: "instance".into(),
            tags: tags(&[(RELEASE_TAG, "old"), (ARTIFACT_TAG, "s3://old"), ("Name", "web")]),
        }];
        let release = Release { id: "new".into(), artifact: None, stage: "dev".into() };
        let merged = merge_release_tags(existing, &release).unwrap();
        assert_eq!(merged[0].tags, tags(&[("Name", "web"), (RELEASE_TAG, "new"), (STAGE_TAG, "dev")]));
    }

    #[test]
    fn a_template_without_instance_tags_gets_a_specification() {
        let release = Release { id: "c".into(), artifact: Some("s3://a/b".into()), stage: "dev".into() };
        let merged = merge_release_tags(vec![], &release).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].resource_type, "instance");
        assert_eq!(merged[0].tags.len(), 3);
    }

    #[test]
    fn more_than_fifty_instance_tags_are_refused() {
        let many: Vec<_> = (0..48).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let existing = vec![TagSpecification { resource_type: "instance".into(), tags: many }];
        let release = Release { id: "c".into(), artifact: Some("s3://a/b".into()), stage: "dev".into() };
        assert_eq!(merge_release_tags(existing, &release).unwrap_err(), ReleaseError::TooManyTags { count: 51 });
        let fifty: Vec<_> = (0..47).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let existing = vec![TagSpecification { resource_type: "instance".into(), tags: fifty }];
        assert_eq!(merge_release_tags(existing, &release).unwrap()[0].tags.len(), 50, "exactly fifty fit");
    }

    #[test]
    fn an_overlong_commit_id_is_refused_before_any_change() {
        let long = "x".repeat(300);
        let err = resolve_release(Some(&long), None, &[], "dev").unwrap_err();
        assert_eq!(err, ReleaseError::TagTooLong { key: RELEASE_TAG, chars: 300 });
        assert_eq!(resolve_release(Some(&"x".repeat(256)), None, &[], "dev").unwrap().id.len(), 256, "256 characters fit");
    }
}
