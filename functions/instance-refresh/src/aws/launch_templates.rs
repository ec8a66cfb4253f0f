//! EC2 launch template calls: read a version, derive a new one, list and delete old ones.

use aws_sdk_ec2::types::{
    LaunchTemplateTagSpecification, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag,
};
use aws_sdk_ec2::Client;
use shared::aws::AwsCallError;

use super::auto_scaling::TemplateRef;
use crate::release::TagSpecification;

/// One launch template version, as much of it as the function needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVersion {
    pub template_id: String,
    pub template_name: Option<String>,
    pub number: i64,
    pub tag_specifications: Vec<TagSpecification>,
    pub description: Option<String>,
}

/// Resolves `template` at `version` (`$Latest`, `$Default` or a number) to a concrete version.
pub async fn describe_version(client: &Client, template: &TemplateRef, version: &str) -> Result<Option<TemplateVersion>, AwsCallError> {
    let out = client
        .describe_launch_template_versions()
        .set_launch_template_id(template.id.clone())
        .set_launch_template_name(if template.id.is_some() { None } else { template.name.clone() })
        .versions(version)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("ec2:DescribeLaunchTemplateVersions", e))?;
    Ok(out.launch_template_versions().first().and_then(|v| {
        Some(TemplateVersion {
            template_id: v.launch_template_id()?.to_owned(),
            template_name: v.launch_template_name().map(str::to_owned),
            number: v.version_number()?,
            tag_specifications: v
                .launch_template_data()
                .map(|d| d.tag_specifications().iter().map(plain_spec).collect())
                .unwrap_or_default(),
            description: v.version_description().map(str::to_owned),
        })
    }))
}

/// Creates a version from `source`, replacing its tag specifications and, if given, its AMI.
/// `client_token` makes a duplicate invocation of the same job create nothing new.
pub async fn create_version(
    client: &Client,
    source: &TemplateVersion,
    tag_specifications: &[TagSpecification],
    image_id: Option<&str>,
    description: &str,
    client_token: &str,
) -> Result<i64, AwsCallError> {
    let data = RequestLaunchTemplateData::builder()
        .set_tag_specifications(Some(tag_specifications.iter().map(request_spec).collect()))
        .set_image_id(image_id.map(str::to_owned))
        .build();
    let out = client
        .create_launch_template_version()
        .launch_template_id(&source.template_id)
        .source_version(source.number.to_string())
        .version_description(description)
        .launch_template_data(data)
        .client_token(client_token)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("ec2:CreateLaunchTemplateVersion", e))?;
    out.launch_template_version().and_then(|v| v.version_number()).ok_or_else(|| AwsCallError {
        operation: "ec2:CreateLaunchTemplateVersion",
        code: None,
        detail: "the response named no version number".into(),
    })
}

/// Every version number of the template, and which one is the default.
pub async fn list_versions(client: &Client, template_id: &str) -> Result<(Vec<i64>, Option<i64>), AwsCallError> {
    let mut versions = Vec::new();
    let mut default = None;
    let mut pages = client.describe_launch_template_versions().launch_template_id(template_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsCallError::from_sdk("ec2:DescribeLaunchTemplateVersions", e))?;
        for v in page.launch_template_versions() {
            if let Some(n) = v.version_number() {
                versions.push(n);
                if v.default_version() == Some(true) {
                    default = Some(n);
                }
            }
        }
    }
    Ok((versions, default))
}

/// Deletes `versions` (at most 200 a call, EC2's limit); returns how many were deleted.
pub async fn delete_versions(client: &Client, template_id: &str, versions: &[i64]) -> Result<usize, AwsCallError> {
    let mut deleted = 0;
    for chunk in versions.chunks(200) {
        let out = client
            .delete_launch_template_versions()
            .launch_template_id(template_id)
            .set_versions(Some(chunk.iter().map(i64::to_string).collect()))
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ec2:DeleteLaunchTemplateVersions", e))?;
        deleted += out.successfully_deleted_launch_template_versions().len();
        for failed in out.unsuccessfully_deleted_launch_template_versions() {
            tracing::warn!(
                version = failed.version_number(),
                error = ?failed.response_error().and_then(|e| e.message()),
                "launch template version not deleted"
            );
        }
    }
    Ok(deleted)
}

fn plain_spec(spec: &LaunchTemplateTagSpecification) -> TagSpecification {
    TagSpecification {
        resource_type: spec.resource_type().map(|r| r.as_str().to_owned()).unwrap_or_default(),
        tags: spec.tags().iter().map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned())).collect(),
    }
}

fn request_spec(spec: &TagSpecification) -> LaunchTemplateTagSpecificationRequest {
    LaunchTemplateTagSpecificationRequest::builder()
        .resource_type(ResourceType::from(spec.resource_type.as_str()))
        .set_tags(Some(spec.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build()
}
