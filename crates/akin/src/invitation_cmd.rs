//! `akin invitation create|send|list|revoke|reissue|import`: invitations from the command
//! line, printed as the links to send.

use akin_domain::catalog;
use akin_domain::invitation::InvitationState;
use akin_domain::invitation::link;
use akin_domain::list::{ListQuery, PageRequest};
use akin_domain::time_format::format_datetime;
use akin_flow::objects::{self, WriteError};
use akin_store::InvitationFilter;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::cli::{
    EmailOptions, ExpressionOptions, InvitationCreateOptions, InvitationImportOptions,
    InvitationListOptions, InvitationReissueOptions, InvitationRevokeOptions,
    InvitationSendOptions,
};
use crate::config::Expiry;
use crate::error::AppError;
use crate::serve::open_store;

pub async fn create(database_url: &str, options: InvitationCreateOptions) -> Result<(), AppError> {
    let store = open_store(database_url).await?;
    let now = OffsetDateTime::now_utc();
    let mut tx = store.db().begin().await?;
    let flow = tx
        .flow_by_slug(&options.flow)
        .await?
        .ok_or_else(|| AppError::Usage(format!("no flow has the slug {:?}", options.flow)))?;
    let mut fixed = Map::new();
    for (key, value) in options.fixed {
        akin_flow::bulk_invitations::set_fixed(&mut fixed, &key, value);
    }
    let name = options.name.unwrap_or_else(|| {
        format!(
            "{}-{}",
            options.flow,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    });
    let expires = options.expires.map(|e| match e {
        Expiry::After(d) => now + d,
        Expiry::At(at) => at,
    });
    let mut fields = Map::new();
    fields.insert("name".into(), Value::String(name.clone()));
    fields.insert("flow".into(), flow["pk"].clone());
    fields.insert("fixed_data".into(), Value::Object(fixed));
    fields.insert("single_use".into(), Value::Bool(options.single_use));
    fields.insert(
        "expires".into(),
        expires.map_or(Value::Null, |t| Value::String(format_datetime(t))),
    );
    let spec = catalog::spec(catalog::INVITATION).expect("the catalog has invitations");
    let refused = |error| match error {
        WriteError::Invalid(errors) => AppError::Usage(format!("invalid invitation: {errors}")),
        WriteError::Store(error) => error.into(),
    };
    let expressions = ExpressionOptions::default().engine()?;
    let valid = objects::check(&mut tx, &expressions, spec, &fields, false)
        .await
        .map_err(refused)?;
    let pk = objects::save(&mut tx, spec, None, &valid, now)
        .await
        .map_err(refused)?;
    if let Some(max_uses) = options.max_uses {
        tx.set_invitation_max_uses(&pk, Some(max_uses)).await?;
    }
    tx.commit().await?;
    let token = pk.as_str().unwrap_or_default();
    eprintln!(
        "created invitation {name} ({}; {})",
        match expires {
            Some(t) => format!("expires {}", format_datetime(t)),
            None => "never expires".to_owned(),
        },
        match (options.single_use, options.max_uses) {
            (true, _) => "single use".to_owned(),
            (_, Some(n)) => format!("up to {n} uses"),
            _ => "unlimited uses".to_owned(),
        }
    );
    let uuid = uuid::Uuid::parse_str(token).map_err(|e| AppError::Usage(e.to_string()))?;
    println!("{}", link(&options.external_url, &options.flow, uuid));
    if !options.send_to.is_empty() {
        let recipients = Recipients {
            to: &options.send_to,
            cc: &[],
            bcc: &[],
        };
        queue_mail(
            &store,
            uuid,
            &recipients,
            &options.email,
            &options.external_url,
        )
        .await?;
    }
    store.db().close().await;
    Ok(())
}

/// Who an invitation is mailed to.
struct Recipients<'a> {
    to: &'a [String],
    cc: &'a [String],
    bcc: &'a [String],
}

/// Queues invitation `uuid`'s link in the outbox, one message per address.
async fn queue_mail(
    store: &akin_store::Store,
    uuid: uuid::Uuid,
    recipients: &Recipients<'_>,
    email: &EmailOptions,
    external_url: &str,
) -> Result<(), AppError> {
    let smtp = email.settings().map_err(AppError::Usage)?;
    let invitation = store
        .invitation(uuid)
        .await?
        .ok_or_else(|| AppError::Usage(format!("no invitation has the pk {uuid}")))?;
    let flow = invitation
        .flow
        .ok_or_else(|| AppError::Usage("the invitation has no flow to link to".into()))?;
    let slug = store
        .flow_slug(flow)
        .await?
        .ok_or_else(|| AppError::Usage("the invitation's flow is gone".into()))?;
    let engine = akin_flow::Engine::new(
        store.clone(),
        std::sync::Arc::new(akin_flow::password::Argon2Hasher),
        std::sync::Arc::new(ExpressionOptions::default().engine()?),
    )
    .with_mail(akin_flow::mail::MailSettings {
        smtp,
        external_url: Some(external_url.to_owned()),
        ..akin_flow::mail::MailSettings::default()
    });
    let mail = akin_flow::mail::InvitationMail {
        invitation: &invitation,
        flow_slug: &slug,
        to: recipients.to,
        cc: recipients.cc,
        bcc: recipients.bcc,
        template: "email/invitation.html",
        base_url: external_url,
        inviter: None,
    };
    let queued = engine
        .queue_invitation_mail(&mail)
        .await
        .map_err(|e| AppError::Usage(format!("cannot queue the mail: {e}")))?;
    eprintln!(
        "queued {} message(s) to {}; a running akin server delivers them (GET /api/v3/akin/outbox/ shows how it went)",
        queued.len(),
        recipients.to.join(", ")
    );
    Ok(())
}

pub async fn send(database_url: &str, options: InvitationSendOptions) -> Result<(), AppError> {
    let uuid = uuid::Uuid::parse_str(options.pk.trim()).map_err(|_| {
        AppError::Usage(format!("{:?} is not an invitation pk (a uuid)", options.pk))
    })?;
    let store = open_store(database_url).await?;
    let recipients = Recipients {
        to: &options.to,
        cc: &options.cc,
        bcc: &options.bcc,
    };
    let result = queue_mail(
        &store,
        uuid,
        &recipients,
        &options.email,
        &options.external_url,
    )
    .await;
    store.db().close().await;
    result
}

pub async fn list(database_url: &str, options: InvitationListOptions) -> Result<(), AppError> {
    let status = InvitationState::parse_filter(&options.status).ok_or_else(|| {
        AppError::Usage(format!(
            "--status takes {}, got {:?}",
            InvitationState::FILTER_CHOICES,
            options.status
        ))
    })?;
    let store = open_store(database_url).await?;
    let now = OffsetDateTime::now_utc();
    let query = ListQuery {
        page: PageRequest {
            page: 1,
            page_size: akin_domain::list::MAX_PAGE_SIZE,
        },
        ..ListQuery::default()
    };
    let page = store
        .list_invitations(
            &InvitationFilter {
                status,
                ..Default::default()
            },
            &query,
            now,
        )
        .await?;
    let mut tx = store.db().begin().await?;
    for invitation in page.results {
        let slug = match invitation.flow {
            Some(flow) => tx.flow_slug(flow).await?,
            None => None,
        };
        let uses = match invitation.max_uses {
            Some(max) => format!("{}/{max}", invitation.uses),
            None => format!("{}/unlimited", invitation.uses),
        };
        let link = slug.map_or_else(
            || "(no flow: pick one in the link)".to_owned(),
            |s| link(&options.external_url, &s, invitation.uuid),
        );
        println!(
            "{}\t{}\t{uses}\t{}\t{link}",
            invitation.name,
            invitation.status(now),
            invitation
                .expires
                .map_or_else(|| "never".to_owned(), format_datetime)
        );
    }
    drop(tx);
    store.db().close().await;
    Ok(())
}

fn parse_pk(pk: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(pk.trim())
        .map_err(|_| AppError::Usage(format!("{pk:?} is not an invitation pk (a uuid)")))
}

/// An engine over `store` for the lifecycle actions (no mail, no requests).
fn engine(store: &akin_store::Store) -> Result<akin_flow::Engine, AppError> {
    Ok(akin_flow::Engine::new(
        store.clone(),
        std::sync::Arc::new(akin_flow::password::Argon2Hasher),
        std::sync::Arc::new(ExpressionOptions::default().engine()?),
    ))
}

pub async fn revoke(database_url: &str, options: InvitationRevokeOptions) -> Result<(), AppError> {
    let uuid = parse_pk(&options.pk)?;
    let store = open_store(database_url).await?;
    let revoked = engine(&store)?
        .revoke_invitation(uuid, None, OffsetDateTime::now_utc())
        .await?
        .ok_or_else(|| AppError::Usage(format!("no invitation has the pk {uuid}")))?;
    let invitation = revoked.invitation;
    let when = invitation
        .revoked
        .map(|r| format_datetime(r.at))
        .unwrap_or_default();
    if revoked.now_revoked {
        eprintln!(
            "revoked invitation {}: its link is refused from now on",
            invitation.name
        );
    } else {
        eprintln!(
            "invitation {} was revoked already, at {when}",
            invitation.name
        );
    }
    store.db().close().await;
    Ok(())
}

pub async fn reissue(
    database_url: &str,
    options: InvitationReissueOptions,
) -> Result<(), AppError> {
    let uuid = parse_pk(&options.pk)?;
    let store = open_store(database_url).await?;
    let now = OffsetDateTime::now_utc();
    let old = store
        .invitation(uuid)
        .await?
        .ok_or_else(|| AppError::Usage(format!("no invitation has the pk {uuid}")))?;
    let expires = options.expires.map(|e| {
        Some(match e {
            Expiry::After(d) => now + d,
            Expiry::At(at) => at,
        })
    });
    let created = engine(&store)?
        .reissue_invitation(&old, expires, None, now)
        .await
        .map_err(|error| match error {
            WriteError::Invalid(errors) => AppError::Usage(format!(
                "cannot reissue {}: {}",
                old.name,
                errors.messages().join("; ")
            )),
            WriteError::Store(error) => error.into(),
        })?;
    let slug = match created.flow {
        Some(flow) => store.flow_slug(flow).await?,
        None => None,
    };
    eprintln!(
        "reissued {} as {} ({}); the old link is refused from now on",
        old.name,
        created.uuid,
        match created.expires {
            Some(t) => format!("expires {}", format_datetime(t)),
            None => "never expires".to_owned(),
        }
    );
    match slug {
        Some(slug) => println!("{}", link(&options.external_url, &slug, created.uuid)),
        None => println!("{}", created.uuid),
    }
    store.db().close().await;
    Ok(())
}

pub async fn import(database_url: &str, options: InvitationImportOptions) -> Result<(), AppError> {
    use akin_flow::bulk_invitations::{
        BulkAnswer, BulkError, BulkMail, BulkOutcome, BulkRequest, BulkTemplate, rows_from_csv,
    };
    let data = std::fs::read(&options.file)
        .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", options.file.display())))?;
    let rows = rows_from_csv(&data)
        .map_err(|e| AppError::Usage(format!("{}: {e}", options.file.display())))?;
    let smtp = if options.send {
        Some(options.email.settings().map_err(AppError::Usage)?)
    } else {
        None
    };
    let store = open_store(database_url).await?;
    let now = OffsetDateTime::now_utc();
    let flow = store
        .flow_by_slug(&options.flow)
        .await?
        .ok_or_else(|| AppError::Usage(format!("no flow has the slug {:?}", options.flow)))?;
    let mut engine = engine(&store)?;
    if let Some(smtp) = smtp {
        engine = engine.with_mail(akin_flow::mail::MailSettings {
            smtp,
            external_url: Some(options.external_url.clone()),
            ..akin_flow::mail::MailSettings::default()
        });
    }
    let bar = indicatif::ProgressBar::new(rows.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} rows ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |done: usize| bar.set_position(done as u64);
    let answer = engine
        .create_invitations(BulkRequest {
            template: BulkTemplate {
                flow: flow["pk"]
                    .as_str()
                    .and_then(|p| uuid::Uuid::parse_str(p).ok()),
                expires: options.expires.map(|e| match e {
                    Expiry::After(d) => now + d,
                    Expiry::At(at) => at,
                }),
                single_use: options.max_uses.is_none(),
                max_uses: Some(options.max_uses.unwrap_or(1)),
                ..BulkTemplate::default()
            },
            rows,
            atomic: options.atomic,
            by: None,
            now,
            idempotency_key: None,
            mail: options.send.then(|| BulkMail {
                base_url: &options.external_url,
                inviter: None,
                template: "email/invitation.html",
            }),
            progress: Some(&progress),
        })
        .await
        .map_err(|error| match error {
            BulkError::Input(message) => AppError::Usage(message),
            BulkError::Store(error) => error.into(),
            BulkError::Mail(error) => AppError::Usage(format!("cannot queue the mail: {error}")),
        })?;
    bar.finish_and_clear();
    let BulkAnswer::Done(report) = answer else {
        return Err(AppError::Usage("the import was not done".into()));
    };
    for row in &report.rows {
        match &row.outcome {
            BulkOutcome::Created { pk } => println!(
                "{}\t{}",
                row.email.as_deref().unwrap_or(&row.name),
                link(&options.external_url, &options.flow, *pk)
            ),
            BulkOutcome::Invalid { errors } => eprintln!(
                "{}: line {}: {}",
                options.file.display(),
                row.line,
                errors.messages().join("; ")
            ),
            BulkOutcome::NotCreated => {}
        }
    }
    let rows = report.rows.len();
    eprintln!(
        "{} of {rows} rows created, {} invalid{}{}",
        report.created,
        report.invalid,
        if report.atomic && report.invalid > 0 {
            " (--atomic: nothing was created)"
        } else {
            ""
        },
        if report.mailed > 0 {
            format!(", {} messages queued", report.mailed)
        } else {
            String::new()
        }
    );
    store.db().close().await;
    if report.invalid > 0 {
        return Err(AppError::Usage(format!(
            "{} rows were not created",
            report.invalid
        )));
    }
    Ok(())
}
