//! `mxmod register-user`: creates an account, as Synapse's `register_new_matrix_user`
//! does — typically the first server admin. Online (a server URL is given) it goes
//! through the running server's shared-secret registration
//! (`/_synapse/admin/v1/register`, the secret from `-k` or the config's
//! `registration_shared_secret`); offline (`--offline`, or no URL) it writes the account
//! straight into the database named by the config.

use std::{io::BufRead, path::PathBuf, process::ExitCode};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::{
    config,
    config::DatabaseBackend,
    password::Passwords,
    storage::{postgres::PostgresStorage, sqlite::SqliteStorage, NewAccount, Profile, Storage, UserRecord},
};

/// The arguments of `mxmod register-user`.
#[derive(clap::Args)]
pub(super) struct RegisterUserArgs {
    /// The homeserver.yaml: its `registration_shared_secret` (online) or its database
    /// (offline).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Local part of the new user's ID.
    #[arg(short, long)]
    user: String,
    /// The password; read from the first line of standard input when not given.
    #[arg(short, long)]
    password: Option<String>,
    /// Make the user a server admin.
    #[arg(short, long, conflicts_with = "no_admin")]
    admin: bool,
    /// Make a regular user (the default).
    #[arg(long)]
    no_admin: bool,
    /// The shared secret (instead of the config's `registration_shared_secret`).
    #[arg(short = 'k', long)]
    shared_secret: Option<String>,
    /// Write into the database instead of calling a server.
    #[arg(long)]
    offline: bool,
    /// The server's client URL, e.g. `http://localhost:8008` (plain HTTP; run it on the
    /// server's host or behind the TLS proxy). Without it the user is created offline.
    server_url: Option<String>,
}

/// Runs the subcommand: exit 0 on success, 1 on a refusal or failure, 2 on a bad config.
pub(super) fn run(args: RegisterUserArgs) -> ExitCode {
    let password = match args.password.clone() {
        Some(password) => password,
        None => {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                eprintln!("error: cannot read the password from standard input");
                return ExitCode::FAILURE;
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        eprintln!("error: the password is empty");
        return ExitCode::FAILURE;
    }
    let loaded = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok(loaded) => Some(loaded),
            Err(problems) => {
                eprintln!("error: the configuration has problems:\n{problems}");
                return crate::exit(crate::EXIT_CONFIG);
            }
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match (&args.server_url, args.offline) {
        (Some(url), false) => {
            let secret = args
                .shared_secret
                .clone()
                .or_else(|| loaded.as_ref().and_then(|loaded| loaded.homeserver.registration_shared_secret.clone()));
            let Some(secret) = secret else {
                eprintln!("error: no shared secret: give -k or a config (-c) with `registration_shared_secret`");
                return ExitCode::FAILURE;
            };
            runtime.block_on(register_online(url, &secret, &args.user, &password, args.admin))
        }
        _ => {
            let Some(loaded) = loaded else {
                eprintln!("error: offline registration needs the server's config (-c homeserver.yaml)");
                return ExitCode::FAILURE;
            };
            runtime.block_on(register_offline(&loaded, &args.user, &password, args.admin))
        }
    };
    match outcome {
        Ok(user_id) => {
            println!("Success! Registered {user_id}{}", if args.admin { " (server admin)" } else { "" });
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One JSON request to the server; (status, body).
async fn call(url: &str, method: http::Method, body: Option<&Value>) -> Result<(u16, Value), String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let payload = body.map(|body| Bytes::from(body.to_string())).unwrap_or_default();
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(payload))
        .map_err(|error| format!("bad server URL {url}: {error}"))?;
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request))
        .await
        .map_err(|_| format!("{url}: no answer within 30 s"))?
        .map_err(|error| format!("{url}: {error}"))?;
    let status = response.status().as_u16();
    let limited = http_body_util::Limited::new(response.into_body(), 1024 * 1024);
    let bytes = limited.collect().await.map_err(|error| format!("{url}: {error}"))?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn register_online(
    server_url: &str,
    secret: &str,
    user: &str,
    password: &str,
    admin: bool,
) -> Result<String, String> {
    if !server_url.starts_with("http://") {
        return Err(format!("{server_url}: only http:// URLs are supported; or register offline"));
    }
    let endpoint = format!("{}/_synapse/admin/v1/register", server_url.trim_end_matches('/'));
    let (status, answer) = call(&endpoint, http::Method::GET, None).await?;
    let nonce = answer["nonce"].as_str().filter(|_| status == 200).ok_or_else(|| format!("{status} {answer}"))?;
    let mac = crate::shared_secret::mac(secret, nonce, user, password, admin, None);
    let body = json!({ "nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac });
    let (status, answer) = call(&endpoint, http::Method::POST, Some(&body)).await?;
    match answer["user_id"].as_str() {
        Some(user_id) if status == 200 => Ok(user_id.to_owned()),
        _ => Err(format!("{status} {answer}")),
    }
}

async fn register_offline(loaded: &config::Loaded, user: &str, password: &str, admin: bool) -> Result<String, String> {
    let homeserver = &loaded.homeserver;
    let localpart = user.to_lowercase();
    let valid = crate::validate::new_localpart(&localpart);
    let user_id = mxmod::types::UserId::parse(format!("@{localpart}:{}", homeserver.server_name))
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| "a user ID can only contain characters a-z, 0-9, or '=_-./'".to_owned())?;
    let storage: Box<dyn Storage> =
        match homeserver.database.backend() {
            Some(DatabaseBackend::Sqlite(file)) => {
                let database = loaded.resolve(&file);
                Box::new(SqliteStorage::open(&database).map_err(|error| {
                    format!("cannot open {}: {}", database.display(), crate::http::error_chain(&error))
                })?)
            }
            Some(DatabaseBackend::Postgres(settings)) => Box::new(
                PostgresStorage::connect(&settings)
                    .await
                    .map_err(|error| format!("cannot reach PostgreSQL: {}", crate::http::error_chain(&error)))?,
            ),
            None => return Err("the `database` section was not checked".to_owned()),
        };
    let passwords = Passwords::new(1).map_err(|error| error.to_string())?;
    let password_hash = passwords.hash(password.to_owned()).await.map_err(|error| error.to_string())?;
    let record = UserRecord {
        user_id: user_id.clone(),
        password_hash: Some(password_hash),
        is_admin: admin,
        shadow_banned: false,
        deactivated: false,
        creation_ts: crate::state::now_ms(),
    };
    let profile = Profile { displayname: Some(localpart), avatar_url: None };
    let account = NewAccount { user: record, profile, login: None };
    match storage.register(account).await {
        Ok(true) => Ok(user_id.to_string()),
        Ok(false) => Err(format!("{user_id} already exists")),
        Err(error) => Err(crate::http::error_chain(&error)),
    }
}
