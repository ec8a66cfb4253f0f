//! Console links people click: the execution, the pipeline, the approval review page.
//! (AWS-FACTS: the console's URL shapes, as public code uses them.)

pub fn execution(region: &str, pipeline: &str, execution_id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}/executions/{execution_id}/timeline?region={region}"
    )
}

pub fn pipeline(region: &str, pipeline: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}/view?region={region}")
}

/// The page where QA approves or rejects: the same link CodePipeline's own approval
/// notification carries as `approvalReviewLink`.
pub fn approval_review(region: &str, pipeline: &str, stage: &str, action: &str, token: &str) -> String {
    format!("https://console.aws.amazon.com/codepipeline/home?region={region}#/view/{pipeline}/{stage}/{action}/approve/{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_console_shapes() {
        assert_eq!(
            execution("eu-west-1", "release", "x-1"),
            "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/release/executions/x-1/timeline?region=eu-west-1"
        );
        assert_eq!(
            pipeline("eu-west-1", "release"),
            "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/release/view?region=eu-west-1"
        );
        assert_eq!(
            approval_review("eu-west-1", "release", "Approval", "QA", "t-1"),
            "https://console.aws.amazon.com/codepipeline/home?region=eu-west-1#/view/release/Approval/QA/approve/t-1"
        );
    }
}
