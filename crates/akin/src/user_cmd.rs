//! `akin user create`: the way to the first administrator without bootstrap variables.

use std::io::{BufRead, IsTerminal};

use akin_domain::ports::PasswordHasher;
use akin_domain::user::NewUser;
use time::OffsetDateTime;

use crate::bootstrap::admin_group;
use crate::cli::UserCreateOptions;
use crate::error::AppError;
use crate::serve::open_store;
use akin_flow::password::Argon2Hasher;

pub async fn create(database_url: &str, options: UserCreateOptions) -> Result<(), AppError> {
    let new = NewUser {
        name: options.name.clone(),
        email: options.email.clone(),
        ..NewUser::named(options.username.clone())
    };
    new.validate()?;
    let password = if options.no_password {
        None
    } else {
        Some(read_password(options.password_stdin)?)
    };

    let store = open_store(database_url).await?;
    if store.user_by_username(&new.username).await?.is_some() {
        return Err(AppError::Usage(format!(
            "a user named {:?} already exists",
            new.username
        )));
    }
    let hash = match password {
        Some(password) => Some(
            tokio::task::spawn_blocking(move || Argon2Hasher.hash(&password))
                .await
                .map_err(|e| AppError::Usage(e.to_string()))??,
        ),
        None => None,
    };
    let now = OffsetDateTime::now_utc();
    let mut tx = store.db().begin().await?;
    let (pk, _) = store
        .ensure_user(
            &mut tx,
            &NewUser {
                password: hash,
                ..new.clone()
            },
            now,
        )
        .await?;
    if options.superuser {
        let group = store.ensure_group(&mut tx, &admin_group()).await?;
        store.add_member_in(&mut tx, group, pk).await?;
    }
    tx.commit().await?;
    store.db().close().await;
    let role = if options.superuser {
        "superuser"
    } else {
        "user"
    };
    println!("created {role} {} (pk {pk})", new.username);
    Ok(())
}

/// From the first line of stdin when asked or when stdin is not a terminal; otherwise
/// prompted twice without echo.
fn read_password(from_stdin: bool) -> Result<String, AppError> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password (again): ")?;
        if first != second {
            return Err(AppError::Usage("the passwords do not match".to_owned()));
        }
        first
    };
    if password.is_empty() {
        return Err(AppError::Usage(
            "the password is empty; use --no-password for a user without one".to_owned(),
        ));
    }
    Ok(password)
}
