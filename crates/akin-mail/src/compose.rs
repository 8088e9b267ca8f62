//! Building a message once, at the moment it is queued: the bytes stored are the bytes every
//! attempt sends, so a message delivered twice (a node killed after the server accepted it)
//! carries the same `Message-ID` both times.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use uuid::Uuid;

use crate::MailError;

/// What a message says and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub bcc: &'a [String],
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// Without angle brackets.
    pub message_id: String,
    /// The envelope's sender.
    pub sender: String,
    /// The envelope's recipients: to, cc and bcc (bcc is in no header).
    pub recipients: Vec<String>,
    /// RFC 5322 text.
    pub raw: String,
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .trim()
        .parse()
        .map_err(|e: lettre::address::AddressError| {
            MailError::Address(address.to_owned(), e.to_string())
        })
}

/// A multipart/alternative message (plain text and HTML) with a fresh `Message-ID` in the
/// sender's domain.
pub fn compose(draft: &Draft<'_>) -> Result<Composed, MailError> {
    let from = mailbox(draft.from)?;
    let id = format!("{}@{}", Uuid::new_v4().simple(), from.email.domain());
    let mut builder = Message::builder()
        .message_id(Some(format!("<{id}>")))
        .from(from.clone())
        .subject(draft.subject);
    for address in draft.to {
        builder = builder.to(mailbox(address)?);
    }
    for address in draft.cc {
        builder = builder.cc(mailbox(address)?);
    }
    for address in draft.bcc {
        builder = builder.bcc(mailbox(address)?);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            draft.text.to_owned(),
            draft.html.to_owned(),
        ))
        .map_err(|e| MailError::Compose(e.to_string()))?;
    let recipients = message
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(Composed {
        message_id: id,
        sender: from.email.to_string(),
        recipients,
        raw: String::from_utf8_lossy(&message.formatted()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_copies_are_recipients_but_in_no_header() {
        let to = ["Jane <jane@example.com>".to_owned()];
        let bcc = ["audit@example.com".to_owned()];
        let composed = compose(&Draft {
            from: "akin <akin@example.org>",
            to: &to,
            cc: &[],
            bcc: &bcc,
            subject: "Hello",
            html: "<p>Hi</p>",
            text: "Hi",
        })
        .unwrap();
        assert_eq!(
            composed.recipients,
            ["jane@example.com", "audit@example.com"]
        );
        assert_eq!(composed.sender, "akin@example.org");
        assert!(composed.message_id.ends_with("@example.org"));
        assert!(
            composed
                .raw
                .contains(&format!("Message-ID: <{}>", composed.message_id))
        );
        assert!(
            !composed.raw.contains("audit@example.com"),
            "{}",
            composed.raw
        );
        assert!(composed.raw.contains("text/plain") && composed.raw.contains("text/html"));
    }

    #[test]
    fn a_bad_address_is_named() {
        let to = ["not an address".to_owned()];
        let error = compose(&Draft {
            from: "akin@example.org",
            to: &to,
            cc: &[],
            bcc: &[],
            subject: "x",
            html: "x",
            text: "x",
        })
        .unwrap_err();
        assert!(error.to_string().contains("not an address"), "{error}");
    }
}
