//! Local stand-ins for a deployment, used by `kiln quickstart` and the tests: the real update
//! server started in-process on loopback with two signoff users, and a static file server
//! (actix-files, with Range support) over the candidates/releases root standing in for the CDN.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use anyhow::Context;

/// A running HTTP server on a loopback port.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Blocks until the server stops (e.g. forever for `--serve`).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            actix_web::rt::System::new().block_on(handle.stop(false));
            let _ = thread.join();
        }
    }
}

fn spawn(
    listener: TcpListener,
    start: impl FnOnce(TcpListener) -> std::io::Result<actix_web::dev::Server> + Send + 'static,
) -> anyhow::Result<Running> {
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match start(listener) {
                Ok(server) => {
                    let _ = tx.send(Ok(server.handle()));
                    let _ = server.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    let handle = rx.recv().context("server thread")??;
    Ok(Running {
        url,
        handle,
        thread: Some(thread),
    })
}

/// The static file server over `root` on an ephemeral loopback port.
pub fn file_server(root: &Path) -> anyhow::Result<Running> {
    std::fs::create_dir_all(root)?;
    let root = root.to_owned();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    spawn(listener, move |listener| {
        Ok(actix_web::HttpServer::new(move || {
            actix_web::App::new().service(actix_files::Files::new("/", root.clone()))
        })
        .workers(1)
        .listen(listener)?
        .run())
    })
}

/// A local update server and the tokens of its users.
#[derive(Debug)]
pub struct UpdateServer {
    /// The running server.
    pub server: Running,
    /// Token files: `admin.token` (admin + relman role) and `releng.token` (admin + releng role).
    pub admin_token_file: PathBuf,
    /// The second signer's token file.
    pub releng_token_file: PathBuf,
}

/// Starts the real update server on SQLite in `dir`, allowing download URLs of `products` on
/// `download_host` (`127.0.0.1:<port>`), signing responses with `response_key` if given. Users: `relman`
/// (admin, role relman) and `releng` (admin, role releng); with `dice_header` the tests can fix
/// the throttling dice.
pub fn update_server(
    dir: &Path,
    download_host: &str,
    products: &[String],
    response_key: Option<&Path>,
    dice_header: bool,
) -> anyhow::Result<UpdateServer> {
    std::fs::create_dir_all(dir)?;
    let mut config = updater_server::Config {
        database: updater_server::config::Database::Sqlite(dir.join("updates.db")),
        workers: Some(1),
        scheduler_interval_ms: 200,
        response_signing_key: response_key.map(Path::to_owned),
        ..updater_server::Config::default()
    };
    config.testing.dice_header = dice_header;
    config.client.allowlisted_domains =
        updater_server::config::Allowlist([(download_host.to_owned(), products.to_vec())].into());
    let mut tokens = Vec::new();
    for (user, role) in [("relman", "relman"), ("releng", "releng")] {
        updater_server::commands::add_user(&config.database, user, true, &[role.to_owned()])?;
        let token = updater_server::commands::create_token(&config.database, user)?;
        let path = dir.join(format!("{user}.token"));
        std::fs::write(&path, format!("{token}\n"))?;
        tokens.push(path);
    }
    let state = Arc::new(updater_server::AppState::open(config)?);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let server = spawn(listener, move |listener| {
        updater_server::start(state, listener)
    })?;
    let releng = tokens.pop().expect("two users");
    let relman = tokens.pop().expect("two users");
    Ok(UpdateServer {
        server,
        admin_token_file: relman,
        releng_token_file: releng,
    })
}
