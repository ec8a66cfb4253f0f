//! The job event both runner test binaries use: artifact credentials carry canaries.

use serde_json::{json, Value};

pub const JOB: &str = "0e4b3c5a-1111-4c6e-9a77-2f1d2c3b4a50";

pub fn event() -> Value {
    json!({"CodePipeline.job": {"id": JOB, "accountId": "123456789012", "data": {
        "actionConfiguration": {"configuration": {"FunctionName": "f", "UserParameters": "{\"pipelineExecutionId\":\"exec-42\"}"}},
        "inputArtifacts": [], "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": "AKIACANARY", "secretAccessKey": "CANARY-SECRET-do-not-log", "sessionToken": "CANARY-TOKEN"}
    }}})
}
