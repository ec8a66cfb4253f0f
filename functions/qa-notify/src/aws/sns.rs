//! sns:Publish of a rendered message.

use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_runtime_api::client::result::SdkError;
use shared::aws::AwsCallError;

use crate::error::NotifyError;
use crate::render::Message;

/// What became of a Publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// SNS accepted it: its message id.
    Confirmed(String),
    /// Sent, but SNS did not answer in the time the invocation had: it may have accepted it. A
    /// Lambda retry would publish again and could tell QA twice (standard topics have no
    /// deduplication), so this is not an error; the detail says what happened.
    Unconfirmed(String),
}

impl Published {
    pub fn message_id(&self) -> &str {
        match self {
            Published::Confirmed(id) => id,
            Published::Unconfirmed(_) => "unconfirmed",
        }
    }
}

/// Publishes `message` to `topic_arn`.
pub async fn publish(client: &aws_sdk_sns::Client, topic_arn: &str, message: &Message) -> Result<Published, NotifyError> {
    let mut request = client.publish().topic_arn(topic_arn).message_structure("json").message(message.payload()).subject(&message.subject);
    for (name, value) in &message.attributes {
        let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| AwsCallError {
            operation: "sns:Publish",
            code: None,
            detail: format!("message attribute {name}: {e}"),
        })?;
        request = request.message_attributes(*name, attribute);
    }
    match request.send().await {
        Ok(out) => Ok(Published::Confirmed(out.message_id().unwrap_or_default().to_owned())),
        Err(err @ SdkError::TimeoutError(_)) => Ok(Published::Unconfirmed(AwsCallError::from_sdk("sns:Publish", err).to_string())),
        Err(err) => {
            let err = AwsCallError::from_sdk("sns:Publish", err);
            if err.is("NotFound") {
                return Err(NotifyError::TopicMissing { topic: topic_arn.to_owned() });
            }
            Err(err.into())
        }
    }
}
