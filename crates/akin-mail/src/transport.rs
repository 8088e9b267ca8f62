//! Delivery over SMTP (lettre): plain, STARTTLS (`use_tls`) or TLS from the start
//! (`use_ssl`), with credentials and a timeout.

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::{EmailSettings, MailError};

/// The server's answer to an accepted message, e.g. `250 2.0.0 Ok: queued as 1A2B`.
pub type SmtpAnswer = String;

/// An SMTP connection pool for one set of settings.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> Result<Mailer, MailError> {
        settings.check().map_err(MailError::Permanent)?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| MailError::Permanent(e.to_string()))
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .timeout(Some(settings.timeout));
        if settings.use_ssl {
            builder = builder.tls(Tls::Wrapper(tls(&settings.host)?));
        } else if settings.use_tls {
            builder = builder.tls(Tls::Required(tls(&settings.host)?));
        }
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
        })
    }

    /// Sends `raw` from `sender` to `recipients`; the server's answer, or why it failed
    /// (transient: try again later; permanent: give up).
    pub async fn send_raw(
        &self,
        sender: &str,
        recipients: &[String],
        raw: &str,
    ) -> Result<SmtpAnswer, MailError> {
        let address = |a: &str| {
            a.parse::<Address>()
                .map_err(|e| MailError::Address(a.to_owned(), e.to_string()))
        };
        let to = recipients
            .iter()
            .map(|r| address(r))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(address(sender)?), to)
            .map_err(|e| MailError::Compose(e.to_string()))?;
        match self.transport.send_raw(&envelope, raw.as_bytes()).await {
            Ok(response) => {
                let code = response.code().to_string();
                let text: Vec<&str> = response.message().collect();
                Ok(format!("{code} {}", text.join(" ")).trim().to_owned())
            }
            Err(error) if error.is_permanent() => Err(MailError::Permanent(error.to_string())),
            Err(error) => Err(MailError::Transient(error.to_string())),
        }
    }
}
