//! The `updater-server` binary: serve, migrate, manage users and tokens, import Balrog data,
//! copy a deployment between databases.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use updater_server::config::Database;
use updater_server::import::{self, copy};
use updater_server::store::Store;
use updater_server::{commands, Config};

#[derive(Debug, Parser)]
#[command(
    name = "updater-server",
    version,
    about = "Kiln's Balrog-compatible update server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// TOML configuration file (every key optional).
    #[arg(long)]
    config: Option<PathBuf>,
    /// SQLite database path or `postgres://` URL (overrides `database` from the config).
    #[arg(long)]
    db: Option<Database>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the client endpoint and the admin API.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (overrides `listen` from the config).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply the schema migrations the database lacks (`serve` applies them too).
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Copy a whole deployment into an empty database (SQLite or PostgreSQL, either way).
    Copy {
        /// The database to copy from (path or `postgres://` URL).
        #[arg(long)]
        from: Database,
        /// The empty database to copy into (path or `postgres://` URL); migrated first.
        #[arg(long)]
        to: Database,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// List stored releases that cannot be served as they are (exit 1 if any): blobs that do
    /// not load, and text a write would be refused for (control characters; `"`, `<`, `>` in
    /// values update.xml renders). Serving skips such a release with a logged error.
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Import Balrog release blobs and rules.
    Import {
        #[command(flatten)]
        common: Common,
        /// Directory of release JSON files.
        #[arg(long)]
        releases: PathBuf,
        /// JSON file of rules.
        #[arg(long)]
        rules: PathBuf,
        /// JSON array of emergency shutoffs (`{product, channel, comment?}`).
        #[arg(long)]
        shutoffs: Option<PathBuf>,
        /// JSON array of pinnable releases (`{product, channel, version, mapping}`).
        #[arg(long)]
        pins: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user (or add to an existing one).
    Add {
        /// User name.
        name: String,
        /// Grant the unrestricted admin permission.
        #[arg(long)]
        admin: bool,
        /// Grant a role (for signoffs); repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for a user and print it once.
    Create {
        /// User name.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        common: Common,
    },
}

fn load_config(common: &Common) -> anyhow::Result<Config> {
    let mut config = match &common.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(db) = &common.db {
        config.database.clone_from(db);
    }
    Ok(config)
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { common, listen } => {
            let mut config = load_config(&common)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            updater_server::app::serve(config)?;
        }
        Command::Migrate { common } => {
            let config = load_config(&common)?;
            let store = Store::connect(&config.database)?;
            let applied = store.migrate()?;
            println!(
                "{}: schema version {} ({})",
                config.database,
                updater_server::store::schema::latest(),
                if applied.is_empty() {
                    "up to date".to_owned()
                } else {
                    format!("applied {applied:?}")
                }
            );
        }
        Command::Copy { from, to } => {
            let source = Store::open(&from)?;
            let destination = Store::open(&to)?;
            let report = copy::copy(&source, &destination)?;
            for (table, rows) in &report {
                println!("{table}: {rows} row(s)");
            }
            println!("copied {from} to {to}");
        }
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    admin,
                    roles,
                    common,
                },
        } => {
            commands::add_user(&load_config(&common)?.database, &name, admin, &roles)?;
            println!("user {name} saved");
        }
        Command::Token {
            command: TokenCommand::Create { user, common },
        } => {
            println!(
                "{}",
                commands::create_token(&load_config(&common)?.database, &user)?
            );
        }
        Command::Check { common } => {
            let config = load_config(&common)?;
            let (checked, bad) = commands::check_releases(&config.database)?;
            for release in &bad {
                println!("{}: {}", release.name, release.problem);
            }
            println!(
                "{checked} release(s) checked, {} cannot be served as stored",
                bad.len()
            );
            if !bad.is_empty() {
                return Ok(std::process::ExitCode::from(1));
            }
        }
        Command::Import {
            common,
            releases,
            rules,
            shutoffs,
            pins,
        } => {
            let config = load_config(&common)?;
            let allowlist = common
                .config
                .is_some()
                .then_some(&config.client.allowlisted_domains);
            let store = Store::open(&config.database)?;
            let dump = import::Dump {
                releases: &releases,
                rules: &rules,
                shutoffs: shutoffs.as_deref(),
                pins: pins.as_deref(),
            };
            let report = import::import_dump(&store, &dump, allowlist)?;
            println!(
                "imported {} releases and {} rules",
                report.releases, report.rules
            );
            if report.shutoffs + report.pins > 0 {
                println!(
                    "imported {} emergency shutoffs and {} pinnable releases",
                    report.shutoffs, report.pins
                );
            }
            for skipped in &report.skipped_releases {
                println!("skipped (unsupported schema): {skipped}");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
