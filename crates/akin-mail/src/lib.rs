//! akin's mail: SMTP settings and the transport (lettre), composing a message once so that
//! every attempt sends the same bytes (and `Message-ID`), and the email templates.
//!
//! Nothing here queues or retries: the outbox (akin-store) keeps messages and the engine's
//! worker delivers them through [`Mailer`].

mod compose;
mod settings;
mod templates;
mod transport;

pub use compose::{Composed, Draft, compose};
pub use settings::EmailSettings;
pub use templates::{Rendered, Templates, template_value, text_as_html};
pub use transport::{Mailer, SmtpAnswer};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0:?} is not an email address: {1}")]
    Address(String, String),
    #[error("the message cannot be built: {0}")]
    Compose(String),
    #[error("the email template {name} failed: {message}")]
    Template { name: String, message: String },
    /// Worth trying again later: the server is unreachable, busy, or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// The server refused the message for good (5xx), or the settings cannot work.
    #[error("{0}")]
    Permanent(String),
}
