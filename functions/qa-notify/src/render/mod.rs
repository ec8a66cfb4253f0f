//! One SNS message for every subscriber protocol (`MessageStructure=json`), and the
//! attributes subscription filter policies match on.
//!
//! SNS refuses a message over 262,144 bytes, counting every protocol's body and the
//! attributes; a commit message can be any length, so [`render`] trims it (then the longer
//! free texts) until the message fits, and never fails for size.

mod chatbot;
mod document;
mod subject;
mod text;

use serde_json::{Map, Value};

use crate::notice::Notice;

pub use subject::subject;
pub use text::headline;

/// SNS's limit on one published message, in bytes, attributes included.
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// The document's schema: subscribers that parse `sqs`/`lambda` bodies check it.
pub const DOCUMENT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    /// Protocol → body, `default` included: the `Message` of the Publish call, as JSON.
    pub bodies: Map<String, Value>,
    /// `kind`, `pipeline`, `stage`: String attributes for filter policies.
    pub attributes: Vec<(&'static str, String)>,
}

impl Message {
    /// The `Message` parameter: a JSON object of strings with a `default`.
    pub fn payload(&self) -> String {
        Value::Object(self.bodies.clone()).to_string()
    }

    /// What SNS counts against its limit: the message and each attribute's name, type and value.
    pub fn size_bytes(&self) -> usize {
        self.payload().len() + self.attributes.iter().map(|(name, value)| name.len() + "String".len() + value.len()).sum::<usize>()
    }
}

/// The message for `notice`, trimmed to SNS's size limit when it must be.
pub fn render(notice: &Notice) -> Message {
    let full = build(notice);
    if full.size_bytes() <= MAX_MESSAGE_BYTES {
        return full;
    }
    let mut trimmed = notice.clone();
    for field in [Trimmable::CommitMessage, Trimmable::FailureSummary, Trimmable::RejectionSummary] {
        let Some(text) = field.get(&trimmed).map(str::to_owned) else { continue };
        // The most characters of this text that still fit, found by halving.
        let (mut keep, mut over) = (0, text.chars().count());
        while keep + 1 < over {
            let mid = (keep + over) / 2;
            field.set(&mut trimmed, cut(&text, mid));
            if build(&trimmed).size_bytes() <= MAX_MESSAGE_BYTES {
                keep = mid;
            } else {
                over = mid;
            }
        }
        field.set(&mut trimmed, cut(&text, keep));
        let message = build(&trimmed);
        if message.size_bytes() <= MAX_MESSAGE_BYTES {
            return message;
        }
    }
    build(&trimmed)
}

fn build(notice: &Notice) -> Message {
    let document = document::document(notice).to_string();
    let mut bodies = Map::new();
    bodies.insert("default".into(), Value::String(text::default(notice)));
    bodies.insert("email".into(), Value::String(text::email(notice)));
    bodies.insert("sms".into(), Value::String(text::sms(notice)));
    bodies.insert("sqs".into(), Value::String(document.clone()));
    bodies.insert("lambda".into(), Value::String(document));
    bodies.insert("https".into(), Value::String(chatbot::custom_notification(notice).to_string()));
    let mut attributes = vec![("kind", notice.kind.as_str().to_owned()), ("pipeline", notice.pipeline.clone())];
    if let Some(stage) = &notice.environment {
        attributes.push(("stage", stage.clone()));
    }
    Message { subject: subject(notice), bodies, attributes }
}

/// `text`'s first `chars` characters, marked as cut.
fn cut(text: &str, chars: usize) -> String {
    if chars == 0 {
        return "[trimmed to fit SNS's size limit]".to_owned();
    }
    let kept: String = text.chars().take(chars).collect();
    format!("{kept}… [trimmed to fit SNS's size limit]")
}

#[derive(Clone, Copy)]
enum Trimmable {
    CommitMessage,
    FailureSummary,
    RejectionSummary,
}

impl Trimmable {
    fn get(self, n: &Notice) -> Option<&str> {
        match self {
            Trimmable::CommitMessage => n.release.message.as_deref(),
            Trimmable::FailureSummary => n.failure.as_ref().and_then(|f| f.summary.as_deref()),
            Trimmable::RejectionSummary => n.rejection.as_ref().and_then(|r| r.summary.as_deref()),
        }
    }

    fn set(self, n: &mut Notice, text: String) {
        match self {
            Trimmable::CommitMessage => n.release.message = Some(text),
            Trimmable::FailureSummary => {
                if let Some(f) = n.failure.as_mut() {
                    f.summary = Some(text);
                }
            }
            Trimmable::RejectionSummary => {
                if let Some(r) = n.rejection.as_mut() {
                    r.summary = Some(text);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
