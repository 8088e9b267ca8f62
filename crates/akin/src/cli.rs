//! The command line. Every setting is also an `AKIN_*` environment variable; a bad value is
//! refused at start with a message naming that variable.

use clap::{Args, Parser, Subcommand};

use crate::config::{self, LogFormat};

const ENVIRONMENT: &str = "\
Environment variables (each also a flag; flags win):
  AKIN_LISTEN               address to serve on, HOST:PORT            [default: 127.0.0.1:9000]
  AKIN_DATABASE_URL         sqlite://PATH or postgres://USER@HOST:PORT/DB
                                                                  [default: sqlite://./data/akin.db]
  AKIN_SECRET_KEY           secret for signing; generated and stored in the database when unset
  AKIN_LOG_FORMAT           text | json                               [default: text]
  AKIN_LOG_LEVEL            error | warn | info | debug | trace, or a tracing filter
                                                                      [default: info]
  AKIN_BOOTSTRAP_PASSWORD   on start: create the superuser akadmin with this password
  AKIN_BOOTSTRAP_TOKEN      on start: create an API token for akadmin with this key
  AKIN_BOOTSTRAP_EMAIL      on start: akadmin's email address
  AKIN_EXTERNAL_URL         scheme and host people reach akin at, for links in mail and
                            printed by the CLI              [default: http://127.0.0.1:9000]
  AKIN_BLUEPRINTS_DIR       a folder of blueprints applied at start and when they change
  AKIN_BLUEPRINTS_INTERVAL  seconds between checks of that folder       [default: 5]
  AKIN_EMAIL__HOST          SMTP server                               [default: localhost]
  AKIN_EMAIL__PORT          SMTP port                                 [default: 25]
  AKIN_EMAIL__USERNAME      SMTP user (with AKIN_EMAIL__PASSWORD)
  AKIN_EMAIL__PASSWORD      SMTP password
  AKIN_EMAIL__USE_TLS       STARTTLS after connecting: true | false   [default: false]
  AKIN_EMAIL__USE_SSL       TLS from the start (port 465): true | false [default: false]
  AKIN_EMAIL__TIMEOUT       seconds to wait for the SMTP server       [default: 10]
  AKIN_EMAIL__FROM          sender of every message                   [default: akin@localhost]
  AKIN_EMAIL__RETRY         seconds before a failed delivery is tried again (then longer)
                                                                      [default: 60]
  AKIN_TEMPLATES_DIR        a folder whose email/*.html (and .txt) replace akin's
  AKIN_HASH_CONCURRENCY     password hashes computed at once (19 MiB each)
                                                          [default: the number of cores]
  AKIN_HASH_QUEUE           password hashes waiting for those; more are answered 503
                                                            [default: 32 per core]
  AKIN_BLUEPRINT_ENV_ALLOW  variables !Env may read in uploaded blueprints: ORG_*,SMTP_HOST
                                                 [default: none; never AKIN_*]
  AKIN_HIBP_URL             Have I Been Pwned range API for password policies' breach checks
                                          [default: https://api.pwnedpasswords.com]
  AKIN_HIBP_UNREACHABLE     fail or pass a breach check that API cannot answer
                                                                     [default: fail]
  AKIN_METRICS_LISTEN       HOST:PORT to serve Prometheus metrics on (/metrics)
                                                                [default: not served]
  AKIN_TRUSTED_PROXIES      proxies whose X-Forwarded-For/-Proto are believed: 10.0.0.0/8
                                                                     [default: none]
  AKIN_HEADER_TIMEOUT       seconds to send a request's head, or idle between requests
                                                                       [default: 10]
  AKIN_MAX_CONNECTIONS      connections open at once; beyond, the longest-idle one closes
                                                [default: 3/4 of the open-file limit]
  AKIN_EXPRESSION_WORKERS   processes evaluating expression policies at once
                                                      [default: twice the number of cores]
  AKIN_EXPRESSION_MEMORY    MiB one expression may use before its worker is stopped
                                                                      [default: 256]";

#[derive(Debug, Parser)]
#[command(
    name = "akin",
    version,
    about = "akin: invitations and enrollment, compatible with authentik, in one binary",
    after_help = ENVIRONMENT
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Database: sqlite://PATH (created when missing) or postgres://USER@HOST:PORT/DB
    #[arg(
        long,
        global = true,
        env = "AKIN_DATABASE_URL",
        default_value = config::DEFAULT_DATABASE_URL,
        value_parser = config::parse_database_url,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Log output: text or json
    #[arg(long, global = true, env = "AKIN_LOG_FORMAT", default_value = "text", value_parser = config::parse_log_format)]
    pub log_format: LogFormat,

    /// Log level or tracing filter (e.g. info, debug, akin=debug,sqlx=warn)
    #[arg(long, global = true, env = "AKIN_LOG_LEVEL", default_value = "info", value_parser = config::parse_log_level)]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first)
    #[command(after_help = ENVIRONMENT)]
    Serve(Box<ServeOptions>),
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Import authentik blueprints
    #[command(subcommand)]
    Blueprint(BlueprintCommand),
    /// Check the SMTP settings
    #[command(subcommand)]
    Email(EmailCommand),
    /// Create and list invitations
    #[command(subcommand)]
    Invitation(InvitationCommand),
    /// Copy the SQLite database into FILE while the server runs (one consistent
    /// snapshot, checked); PostgreSQL is backed up with pg_dump
    Backup {
        /// The new file to write (an existing one is not overwritten)
        file: std::path::PathBuf,
    },
    /// Compiles and evaluates expressions for the server that started it, over its
    /// standard input and output; not for people
    #[command(hide = true)]
    ExpressionWorker {
        /// Memory an expression may use, in MiB
        memory_mib: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Send a test message now (not through the outbox) and print the server's answer
    Test(EmailTestOptions),
}

#[derive(Debug, Args)]
pub struct EmailTestOptions {
    /// Where to send it
    pub address: String,
    #[command(flatten)]
    pub email: EmailOptions,
    /// A folder whose email/setup.html (and .txt) replace akin's test message
    #[arg(long, env = "AKIN_TEMPLATES_DIR", value_parser = config::parse_templates_dir)]
    pub templates_dir: Option<std::path::PathBuf>,
}

/// authentik's global email settings.
#[derive(Debug, Clone, Args)]
pub struct EmailOptions {
    /// SMTP server
    #[arg(
        long = "email-host",
        env = "AKIN_EMAIL__HOST",
        default_value = "localhost"
    )]
    pub host: String,
    /// SMTP port
    #[arg(long = "email-port", env = "AKIN_EMAIL__PORT", default_value_t = 25)]
    pub port: u16,
    /// SMTP user
    #[arg(long = "email-username", env = "AKIN_EMAIL__USERNAME")]
    pub username: Option<String>,
    /// SMTP password
    #[arg(
        long = "email-password",
        env = "AKIN_EMAIL__PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// STARTTLS after connecting
    #[arg(long = "email-use-tls", env = "AKIN_EMAIL__USE_TLS", default_value_t = false, action = clap::ArgAction::Set, value_parser = config::parse_flag)]
    pub use_tls: bool,
    /// TLS from the first byte (usually port 465)
    #[arg(long = "email-use-ssl", env = "AKIN_EMAIL__USE_SSL", default_value_t = false, action = clap::ArgAction::Set, value_parser = config::parse_flag)]
    pub use_ssl: bool,
    /// Seconds to wait for the SMTP server
    #[arg(long = "email-timeout", env = "AKIN_EMAIL__TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Sender of every message, `akin@example.com` or `akin <akin@example.com>`
    #[arg(
        long = "email-from",
        env = "AKIN_EMAIL__FROM",
        default_value = "akin@localhost"
    )]
    pub from: String,
}

impl EmailOptions {
    /// The settings, or why they cannot work (naming the variable).
    pub fn settings(&self) -> Result<akin_mail::EmailSettings, String> {
        let settings = akin_mail::EmailSettings {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            password: self.password.clone(),
            use_tls: self.use_tls,
            use_ssl: self.use_ssl,
            timeout: std::time::Duration::from_secs(self.timeout),
            from: self.from.clone(),
        };
        settings.check()?;
        Ok(settings)
    }
}

#[derive(Debug, Subcommand)]
pub enum InvitationCommand {
    /// Create an invitation and print its link
    Create(InvitationCreateOptions),
    /// Send an invitation's link by mail (queued; a running server delivers it)
    Send(InvitationSendOptions),
    /// List invitations with their links and status
    List(InvitationListOptions),
    /// Withdraw an invitation: its link is refused from now on (it stays listed as revoked)
    Revoke(InvitationRevokeOptions),
    /// Replace an invitation by a new one with the same data; prints the new link (the old
    /// one is refused from now on)
    Reissue(InvitationReissueOptions),
    /// Create an invitation per row of a CSV file (columns email, name, groups, and any
    /// other as fixed data); prints "email<TAB>link" for each, and a summary
    Import(InvitationImportOptions),
}

#[derive(Debug, Args)]
pub struct InvitationImportOptions {
    /// The CSV file, with a header line
    pub file: std::path::PathBuf,
    /// Slug of the enrollment flow the links open
    #[arg(long)]
    pub flow: String,
    /// How long the invitations are valid: 30m, 12h, 7d, 2w, or an ISO 8601 date-time
    #[arg(long, value_parser = config::parse_expiry)]
    pub expires: Option<config::Expiry>,
    /// Each usable this many times (default: once)
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_uses: Option<i64>,
    /// Create none unless every row is right
    #[arg(long)]
    pub atomic: bool,
    /// Also mail each its link (queued; a running server delivers them)
    #[arg(long)]
    pub send: bool,
    /// Base URL of the links (scheme and host people reach akin at)
    #[arg(long, env = "AKIN_EXTERNAL_URL", default_value = "http://127.0.0.1:9000", value_parser = config::parse_external_url)]
    pub external_url: String,
    #[command(flatten)]
    pub email: EmailOptions,
}

#[derive(Debug, Args)]
pub struct InvitationRevokeOptions {
    /// The invitation's pk (its uuid)
    pub pk: String,
}

#[derive(Debug, Args)]
pub struct InvitationReissueOptions {
    /// The invitation's pk (its uuid)
    pub pk: String,
    /// The new invitation's expiry: 30m, 12h, 7d, 2w, or an ISO 8601 date-time (default:
    /// the old one's, which must not have passed)
    #[arg(long, value_parser = config::parse_expiry)]
    pub expires: Option<config::Expiry>,
    /// Base URL of the link (scheme and host people reach akin at)
    #[arg(long, env = "AKIN_EXTERNAL_URL", default_value = "http://127.0.0.1:9000", value_parser = config::parse_external_url)]
    pub external_url: String,
}

#[derive(Debug, Args)]
pub struct InvitationSendOptions {
    /// The invitation's pk (its uuid)
    pub pk: String,
    /// Recipient; repeatable, one message each
    #[arg(long = "to", required = true, value_name = "ADDRESS")]
    pub to: Vec<String>,
    /// Copy to; repeatable
    #[arg(long = "cc", value_name = "ADDRESS")]
    pub cc: Vec<String>,
    /// Blind copy to; repeatable
    #[arg(long = "bcc", value_name = "ADDRESS")]
    pub bcc: Vec<String>,
    /// Base URL of the link (scheme and host people reach akin at)
    #[arg(long, env = "AKIN_EXTERNAL_URL", default_value = "http://127.0.0.1:9000", value_parser = config::parse_external_url)]
    pub external_url: String,
    #[command(flatten)]
    pub email: EmailOptions,
}

#[derive(Debug, Args)]
pub struct InvitationCreateOptions {
    /// Slug of the enrollment flow the link opens
    #[arg(long)]
    pub flow: String,
    /// Name (letters, digits, - and _); generated when not given
    #[arg(long)]
    pub name: Option<String>,
    /// How long the invitation is valid: 30m, 12h, 7d, 2w, or an ISO 8601 date-time
    #[arg(long, value_parser = config::parse_expiry)]
    pub expires: Option<config::Expiry>,
    /// Usable once
    #[arg(long, conflicts_with = "max_uses")]
    pub single_use: bool,
    /// Usable this many times
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_uses: Option<i64>,
    /// Fixed data the invitee cannot change, KEY=VALUE (VALUE as JSON when it parses);
    /// keys like attributes.team nest; repeatable
    #[arg(long = "fixed", value_name = "KEY=VALUE", value_parser = config::parse_context_pair)]
    pub fixed: Vec<(String, serde_json::Value)>,
    /// Base URL of the links (scheme and host people reach akin at)
    #[arg(
        long,
        env = "AKIN_EXTERNAL_URL",
        default_value = "http://127.0.0.1:9000"
    )]
    pub external_url: String,
    /// Also send the link by mail to this address; repeatable (queued; a running server
    /// delivers it)
    #[arg(long = "send-to", value_name = "ADDRESS")]
    pub send_to: Vec<String>,
    #[command(flatten)]
    pub email: EmailOptions,
}

#[derive(Debug, Args)]
pub struct InvitationListOptions {
    /// active, used, expired, revoked, replaced or all
    #[arg(long, default_value = "active")]
    pub status: String,
    /// Base URL of the links
    #[arg(
        long,
        env = "AKIN_EXTERNAL_URL",
        default_value = "http://127.0.0.1:9000"
    )]
    pub external_url: String,
}

#[derive(Debug, Subcommand)]
pub enum BlueprintCommand {
    /// Apply blueprint files, each in one transaction (all of a file or none of it)
    Apply(BlueprintOptions),
    /// Check blueprint files and print what applying them would change; changes nothing
    Validate(BlueprintOptions),
}

#[derive(Debug, Args)]
pub struct BlueprintOptions {
    /// Blueprint YAML files
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Context values for !Context, KEY=VALUE (VALUE is read as JSON when it parses, e.g.
    /// true or 3, otherwise as text); repeatable
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = config::parse_context_pair)]
    pub context: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Args)]
pub struct ServeOptions {
    /// Address to listen on, HOST:PORT (port 0 picks a free port)
    #[arg(long, env = "AKIN_LISTEN", default_value = "127.0.0.1:9000", value_parser = config::parse_listen)]
    pub listen: String,

    /// Secret key (at least 32 characters); generated and stored in the database when unset
    #[arg(long, env = "AKIN_SECRET_KEY", value_parser = config::parse_secret_key, hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Create the superuser akadmin with this password on first start
    #[arg(long, env = "AKIN_BOOTSTRAP_PASSWORD", value_parser = config::parse_bootstrap_password, hide_env_values = true)]
    pub bootstrap_password: Option<String>,

    /// Create an API token (intent api, not expiring) for akadmin with this key
    #[arg(long, env = "AKIN_BOOTSTRAP_TOKEN", value_parser = config::parse_bootstrap_token, hide_env_values = true)]
    pub bootstrap_token: Option<String>,

    /// akadmin's email address when it is created
    #[arg(long, env = "AKIN_BOOTSTRAP_EMAIL", value_parser = config::parse_bootstrap_email)]
    pub bootstrap_email: Option<String>,

    /// A folder of authentik blueprint files: each becomes a blueprint instance, applied at
    /// start and again whenever the file changes (by one node of several)
    #[arg(long, env = "AKIN_BLUEPRINTS_DIR", value_parser = config::parse_blueprints_dir)]
    pub blueprints_dir: Option<std::path::PathBuf>,

    /// How often the blueprints folder is checked for changes, in seconds
    #[arg(long, env = "AKIN_BLUEPRINTS_INTERVAL", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub blueprints_interval: u64,

    /// Scheme and host people reach akin at, for links in mail and on the admin pages; the
    /// host each request came to when unset
    #[arg(long, env = "AKIN_EXTERNAL_URL", value_parser = config::parse_external_url)]
    pub external_url: Option<String>,

    #[command(flatten)]
    pub email: EmailOptions,

    /// Seconds before a failed delivery is tried again (later attempts wait longer, up to a day)
    #[arg(long = "email-retry", env = "AKIN_EMAIL__RETRY", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub email_retry: u64,

    /// A folder whose email templates (email/invitation.html, …) replace akin's
    #[arg(long, env = "AKIN_TEMPLATES_DIR", value_parser = config::parse_templates_dir)]
    pub templates_dir: Option<std::path::PathBuf>,

    /// Password hashes computed at once, each holding 19 MiB and a core (default: the
    /// number of cores)
    #[arg(long, env = "AKIN_HASH_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub hash_concurrency: Option<u32>,

    /// Password hashes that may wait for one of those; beyond, sign-ins and password
    /// changes are answered 503 with Retry-After (default: 32 per core)
    #[arg(long, env = "AKIN_HASH_QUEUE",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub hash_queue: Option<u32>,

    /// Environment variables `!Env` may read in blueprints uploaded through the API or the
    /// admin pages: names and prefixes (ORG_*), comma-separated; never AKIN_*. Files
    /// imported with the CLI or from the blueprints folder read any (default: none)
    #[arg(long, env = "AKIN_BLUEPRINT_ENV_ALLOW", default_value = "",
          value_parser = akin_blueprint::env::EnvAllowList::parse)]
    pub blueprint_env_allow: akin_blueprint::env::EnvAllowList,

    /// The Have I Been Pwned range API password policies look breached passwords up in
    /// (only the first five hex digits of a password's SHA-1 are sent); a mirror or a
    /// server of your own may take its place
    #[arg(long, env = "AKIN_HIBP_URL", default_value = akin_pwned::DEFAULT_BASE,
          value_parser = crate::config::parse_hibp_url)]
    pub hibp_url: String,

    /// What a password policy checking breaches does when that API does not answer: fail
    /// (no password is accepted unchecked) or pass (the other checks decide); either way it
    /// logs a warning
    #[arg(long, env = "AKIN_HIBP_UNREACHABLE", default_value = "fail",
          value_parser = crate::config::parse_when_unreachable)]
    pub hibp_unreachable: akin_domain::policy::password::WhenUnreachable,

    /// Address to serve Prometheus metrics on, at /metrics (a port of its own, for the
    /// monitoring network only; default: not served)
    #[arg(long, env = "AKIN_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Reverse proxies whose X-Forwarded-For/-Proto are believed: networks or addresses,
    /// comma-separated (10.0.0.0/8,127.0.0.1). From anyone else those headers are removed
    /// (default: none)
    #[arg(long, env = "AKIN_TRUSTED_PROXIES", default_value = "",
          value_parser = akin_http::proxy::TrustedProxies::parse)]
    pub trusted_proxies: akin_http::proxy::TrustedProxies,

    /// Seconds a client may take to send a request's head, or stay idle between requests
    /// on a kept-alive connection, before it is closed
    #[arg(long, env = "AKIN_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,

    /// Connections open at once; at the limit a new one replaces the longest-open one
    /// without a request in progress (default: three quarters of the open-file limit)
    #[arg(long, env = "AKIN_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,

    #[command(flatten)]
    pub expressions: ExpressionOptions,
}

/// Where expression policies run: worker processes, each limited, so that no expression
/// can take the server down.
#[derive(Debug, Clone, Args)]
pub struct ExpressionOptions {
    /// Worker processes evaluating expressions at once; more evaluations wait for one up
    /// to their binding's timeout (default: twice the number of cores)
    #[arg(long, env = "AKIN_EXPRESSION_WORKERS",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub expression_workers: Option<u32>,

    /// Memory one expression may use, in MiB; beyond, its worker is stopped and the
    /// binding fails
    #[arg(long, env = "AKIN_EXPRESSION_MEMORY", default_value_t = DEFAULT_EXPRESSION_MEMORY_MIB,
          value_parser = clap::value_parser!(u64).range(16..=65_536))]
    pub expression_memory: u64,
}

/// MiB an expression may use: far more than any real policy needs (they use kilobytes),
/// little enough that a few runaway ones at once leave the machine its memory.
pub const DEFAULT_EXPRESSION_MEMORY_MIB: u64 = 256;

/// What commands other than `serve` run expressions with (blueprint imports, invitation
/// commands): the defaults.
impl Default for ExpressionOptions {
    fn default() -> Self {
        ExpressionOptions {
            expression_workers: None,
            expression_memory: DEFAULT_EXPRESSION_MEMORY_MIB,
        }
    }
}

impl ExpressionOptions {
    /// The engine: every expression in a worker process (this binary, re-run).
    pub fn engine(&self) -> Result<akin_expr::IsolatedEngine, std::io::Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(akin_expr::IsolatedEngine::new(akin_expr::WorkerSettings {
            program: std::env::current_exe()?,
            args: vec!["expression-worker".to_owned()],
            memory_mib: self.expression_memory,
            max_workers: self.expression_workers.map_or(cores * 2, |n| n as usize),
        }))
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prompts for the password, or reads it from standard input
    Create(UserCreateOptions),
}

#[derive(Debug, Args)]
pub struct UserCreateOptions {
    /// The username (letters, digits and @/./+/-/_)
    pub username: String,
    /// Make the user a superuser (member of the admin group)
    #[arg(long)]
    pub superuser: bool,
    /// Email address
    #[arg(long, default_value = "")]
    pub email: String,
    /// Display name
    #[arg(long, default_value = "")]
    pub name: String,
    /// Read the password from the first line of standard input instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
    /// Create the user without a usable password
    #[arg(long, conflicts_with = "password_stdin")]
    pub no_password: bool,
}
