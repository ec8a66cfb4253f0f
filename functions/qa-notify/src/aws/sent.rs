//! The record of notices sent (DynamoDB): claim before publishing, mark sent after, release
//! after a failure. What the states mean is [`crate::once`].

use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::aws::AwsCallError;

use crate::once::{self, Claim, Record};

const SENDING: &str = "sending";
const SENT: &str = "sent";

#[derive(Clone, Debug)]
pub struct SentRecord {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl SentRecord {
    /// Claims the notice `key` for this delivery, whose invocation ends at `deadline`.
    pub async fn claim(&self, key: &str, now: SystemTime, deadline: Option<SystemTime>) -> Result<Claim, AwsCallError> {
        let now_s = once::epoch_seconds(now);
        // Twice at most: a record released between the refused claim and the read is claimed again.
        for _ in 0..2 {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("notice", s(key))
                .item("state", s(SENDING))
                .item("holds_until", n(once::holds_until(now, deadline)))
                .item("expires", n(now_s + once::KEEP_FOR.as_secs() as i64))
                .condition_expression("attribute_not_exists(notice) OR (#state = :sending AND holds_until < :now)")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":sending", s(SENDING))
                .expression_attribute_values(":now", n(now_s))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Claim::Ours),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(AwsCallError::from_sdk("dynamodb:PutItem", err)),
            }
            if let Some(claim) = once::refused_claim(self.read(key).await?.as_ref()) {
                return Ok(claim);
            }
        }
        Ok(Claim::InFlight)
    }

    /// Records the notice as sent: every later delivery of it is done.
    pub async fn mark_sent(&self, key: &str, now: SystemTime) -> Result<(), AwsCallError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("notice", s(key))
            .item("state", s(SENT))
            .item("expires", n(once::epoch_seconds(now) + once::KEEP_FOR.as_secs() as i64))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| AwsCallError::from_sdk("dynamodb:PutItem", err))
    }

    /// Gives the claim up after a failure, so Lambda's retry of this delivery publishes.
    pub async fn release(&self, key: &str) -> Result<(), AwsCallError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("notice", s(key))
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s(SENDING))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(AwsCallError::from_sdk("dynamodb:DeleteItem", err)),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, AwsCallError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("notice", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| AwsCallError::from_sdk("dynamodb:GetItem", err))?;
        Ok(out.item().map(|item| match item.get("state").and_then(|v| v.as_s().ok()).map(String::as_str) {
            Some(SENT) => Record::Sent,
            _ => Record::Sending {
                holds_until: item.get("holds_until").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0),
            },
        }))
    }
}
