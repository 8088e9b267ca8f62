//! `akin email test ADDRESS`: one message straight to the SMTP server (not through the
//! outbox), and the server's answer, to check the settings. The message is the template
//! `email/setup.html` (authentik's test mail), overridable like the others.

use akin_mail::{Draft, Mailer, Templates, compose};

use crate::cli::EmailTestOptions;
use crate::error::AppError;

pub async fn test(options: EmailTestOptions) -> Result<(), AppError> {
    let settings = options.email.settings().map_err(AppError::Usage)?;
    let mailer = Mailer::new(&settings).map_err(|e| AppError::Usage(e.to_string()))?;
    let to = [options.address.clone()];
    let rendered = Templates {
        dir: options.templates_dir.clone(),
    }
    .render(
        "email/setup.html",
        &serde_json::json!({"host": settings.host, "port": settings.port}),
    )
    .map_err(|e| AppError::Usage(e.to_string()))?;
    let composed = compose(&Draft {
        from: &settings.from,
        to: &to,
        cc: &[],
        bcc: &[],
        subject: "akin test message",
        html: &rendered.html,
        text: &rendered.text,
    })
    .map_err(|e| AppError::Usage(e.to_string()))?;
    let answer = mailer
        .send_raw(&composed.sender, &composed.recipients, &composed.raw)
        .await
        .map_err(|e| {
            AppError::Usage(format!(
                "{}:{} did not take the message: {e}",
                settings.host, settings.port
            ))
        })?;
    println!("{answer}");
    Ok(())
}
