//! sns:Publish of a rendered message.

use aws_sdk_sns::types::MessageAttributeValue;
use shared::aws::AwsCallError;

use crate::error::NotifyError;
use crate::render::Message;

/// Publishes `message` to `topic_arn`; answers SNS's message id.
pub async fn publish(client: &aws_sdk_sns::Client, topic_arn: &str, message: &Message) -> Result<String, NotifyError> {
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
        Ok(out) => Ok(out.message_id().unwrap_or_default().to_owned()),
        Err(err) => {
            let err = AwsCallError::from_sdk("sns:Publish", err);
            if err.is("NotFound") {
                return Err(NotifyError::TopicMissing { topic: topic_arn.to_owned() });
            }
            Err(err.into())
        }
    }
}
