//! cloudwatch:DescribeAlarms (the SDK speaks Smithy RPC v2 CBOR; the emulator serves it).

use aws_smithy_types::date_time::Format;
use shared::aws::AwsCallError;

use crate::checks::alarms::Alarm;

/// DescribeAlarms' limit on names per call.
const NAMES_PER_CALL: usize = 100;

pub async fn describe(client: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<Alarm>, AwsCallError> {
    let mut alarms = Vec::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut next: Option<String> = None;
        loop {
            let out = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsCallError::from_sdk("cloudwatch:DescribeAlarms", e))?;
            alarms.extend(out.metric_alarms().iter().map(|a| Alarm {
                name: a.alarm_name().unwrap_or_default().to_owned(),
                state: a.state_value().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                since: a.state_updated_timestamp().and_then(|t| t.fmt(Format::DateTime).ok()),
                reason: a.state_reason().map(str::to_owned),
            }));
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
    }
    Ok(alarms)
}
