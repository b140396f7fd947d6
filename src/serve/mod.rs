//! `ftptrigger serve`: the HTTP service. Callers that cannot run a command on the FTP host ask
//! for runs over HTTP; each is the CLI's run (same rule match, checks, lock, duplicate check,
//! journal row and notifications), started by one of `workers` threads.
//!
//! Every accepted run is first a `queued` row in the journal, so one that has no worker yet
//! survives a restart of the service; a worker claims the row and runs it. The pieces:
//! [`api`] answers HTTP, [`workers`] runs, [`metrics`] counts, and this module starts them,
//! reloads the config, and stops them in order on SIGTERM.

mod accept;
mod api;
mod connections;
mod metrics;
mod request;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config::{self, Config};
use crate::interrupt::{Interrupt, signal_name};
use crate::journal::Journal;
use crate::outcome::{Failure, Outcome};

/// What every part of the service shares.
pub struct Service {
    config_path: PathBuf,
    /// The config in force: replaced whole by a reload, so a run keeps the one it started with.
    config: RwLock<Arc<Config>>,
    /// The bearer token clients must send, from `[serve] token_env`.
    token: RwLock<Option<String>>,
    /// Where the routes are; fixed for the life of the process, like the address.
    base_path: String,
    /// The service's own connection to the journal, for accepting runs and for reading.
    journal: Mutex<Journal>,
    /// Set once SIGTERM or SIGINT arrived: no more requests, no more runs started.
    stopping: Stop,
    /// Raised (TERM) for the runs still going when `shutdown_grace` is over.
    interrupt: Interrupt,
    pool: workers::Pool,
    acceptor: accept::Acceptor,
    metrics: metrics::Metrics,
}

impl Service {
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    fn token(&self) -> Option<String> {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.is_set()
    }

    /// Runs `f` with the service's journal connection.
    fn with_journal<T>(&self, f: impl FnOnce(&mut Journal) -> T) -> T {
        let mut journal = self.journal.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut journal)
    }

    /// Reads the config again; a config with errors is refused and the old one kept.
    fn reload(&self, why: &str) {
        let fresh = match config::load(&self.config_path) {
            Ok(fresh) => fresh,
            Err(err) => {
                if let config::ConfigError::Invalid { problems, .. } = &err {
                    for p in problems.iter().filter(|p| p.severity == config::Severity::Error) {
                        log_line(&format!("{p}"));
                    }
                }
                log_line(&format!("config not reloaded ({why}): {err}; keeping the one in force"));
                return;
            }
        };
        let token = match token_for(&fresh) {
            Ok(token) => token,
            Err(failure) => {
                log_line(&format!(
                    "config not reloaded ({why}): {}; keeping the one in force",
                    failure.detail
                ));
                return;
            }
        };
        let old = self.config();
        if (&fresh.serve.base_path, fresh.serve.listen, fresh.serve.workers)
            != (&old.serve.base_path, old.serve.listen, old.serve.workers)
        {
            log_line("[serve] listen, base_path and workers take effect at the next start, not on reload");
        }
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        log_line(&format!("config {} reloaded ({why})", self.config_path.display()));
    }
}

/// `ftptrigger serve`: serves until SIGTERM or SIGINT, then exits 0 once the runs under way
/// ended (or were interrupted after `shutdown_grace`).
pub fn command(config: Config, listen: Option<SocketAddr>) -> Result<u8, Failure> {
    let listen = listen.unwrap_or(config.serve.listen);
    let token = token_for(&config)?;
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(Failure::new(
            Outcome::ConfigError,
            format!(
                "serve: {listen} is not a loopback address, and without [serve] token_env anyone who can reach \
                 it could start runs; set token_env, or listen on 127.0.0.1"
            ),
        ));
    }
    let mut journal = crate::journal::open_for(&config)?;
    journal.for_waiting_callers().map_err(crate::journal::failure)?;
    let socket = std::net::TcpListener::bind(listen)
        .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
        .map_err(|e| {
            Failure::new(Outcome::InternalError, format!("serve: cannot listen on {listen}: {e}"))
        })?;
    let bound = socket.local_addr().unwrap_or(listen);
    let workers = config.serve.workers;
    let service = Arc::new(Service {
        config_path: config.path.clone(),
        base_path: config.serve.base_path.clone(),
        config: RwLock::new(Arc::new(config)),
        token: RwLock::new(token),
        journal: Mutex::new(journal),
        stopping: Stop::default(),
        interrupt: Interrupt::none(),
        pool: workers::Pool::default(),
        acceptor: accept::Acceptor::default(),
        metrics: metrics::Metrics::default(),
    });
    let mut threads = workers::start(&service, workers);
    threads.push(accept::start(&service));
    resubmit_queued(&service);
    let signals = watch_signals(&service)?;
    let timers = start_timers(&service);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Outcome::InternalError, format!("serve: cannot start: {e}")))?;
    let base = service.base_path.clone();
    log_line(&format!(
        "listening on http://{bound}{base}/ with {workers} workers (pid {})",
        std::process::id()
    ));
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let app = api::router(Arc::clone(&service));
        let drained = {
            let service = Arc::clone(&service);
            async move {
                let _ = tokio::task::spawn_blocking(move || shut_down(&service)).await;
            }
        };
        connections::serve(listener, app, drained).await
    });
    // Served to the end, or failed: either way everything else stops now.
    service.stopping.set();
    service.pool.close();
    service.acceptor.close();
    for thread in threads.into_iter().chain(timers) {
        let _ = thread.join();
    }
    signals.close();
    match served {
        Ok(()) => {
            log_line("stopped");
            Ok(0)
        }
        Err(e) => Err(Failure::new(Outcome::InternalError, format!("serve: {e}"))),
    }
}

/// The bearer token `[serve] token_env` names; that variable unset is a config error, or
/// the service would answer everyone 401 (or, worse, nobody would notice it is open).
fn token_for(config: &Config) -> Result<Option<String>, Failure> {
    let Some(name) = &config.serve.token_env else { return Ok(None) };
    match config.secret(name, config.defaults.env_file.as_deref()) {
        Some(token) if !token.is_empty() => Ok(Some(token)),
        _ => Err(Failure::new(
            Outcome::ConfigError,
            format!(
                "serve: [serve] token_env names {name}, which is set neither in the environment nor in env_file"
            ),
        )),
    }
}

/// Hands the runs left queued by an earlier life of the service to the workers, oldest first.
fn resubmit_queued(service: &Arc<Service>) {
    match service.with_journal(|j| j.queued()) {
        Ok(queued) => {
            if !queued.is_empty() {
                log_line(&format!("{} queued runs from before the last stop: starting them", queued.len()));
            }
            for (id, text) in queued {
                match serde_json::from_str::<request::Accepted>(&text) {
                    Ok(accepted) => service.pool.submit(workers::Job { id, accepted, reply: None }),
                    Err(e) => {
                        log_line(&format!("run {id}: its queued request cannot be read ({e}); left queued"))
                    }
                }
            }
        }
        Err(e) => log_line(&format!("cannot read the queued runs: {e}")),
    }
}

/// SIGHUP reloads the config; SIGTERM and SIGINT stop the service (see [`shut_down`]).
fn watch_signals(service: &Arc<Service>) -> Result<signal_hook::iterator::Handle, Failure> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| Failure::new(Outcome::InternalError, format!("serve: cannot catch signals: {e}")))?;
    let handle = signals.handle();
    let service = Arc::clone(service);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                service.reload("SIGHUP");
            } else if !service.stopping.is_set() {
                log_line(&format!("got {}: stopping", signal_name(signal)));
                service.stopping.set();
            }
        }
    });
    Ok(handle)
}

/// Waits for the stop, then lets the runs under way end: up to `shutdown_grace`, then TERM to
/// their process groups (they are recorded `interrupted`). Queued runs stay queued.
fn shut_down(service: &Service) {
    service.stopping.wait();
    let grace = service.config().serve.shutdown_grace;
    let deadline = Instant::now() + grace;
    while service.metrics.running() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if service.metrics.running() > 0 {
        log_line(&format!(
            "{} runs still going after shutdown_grace ({}): passing SIGTERM to their process groups",
            service.metrics.running(),
            humantime::format_duration(grace)
        ));
        service.interrupt.raise(SIGTERM);
        while service.metrics.running() > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    service.pool.close();
}

/// The config file's watcher, and `scan_every` and `flush_every`: each a thread that sleeps
/// until its time or the stop. A scan runs inside its thread, so it never overlaps itself.
fn start_timers(service: &Arc<Service>) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    let watched = Arc::clone(service);
    threads.push(std::thread::spawn(move || {
        let stamp = |path: &std::path::Path| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), m.ino()))
        };
        let mut seen = stamp(&watched.config_path);
        while !watched.stopping.wait_for(Duration::from_secs(1)) {
            let now = stamp(&watched.config_path);
            if now != seen {
                seen = now;
                watched.reload("the file changed");
            }
        }
    }));
    let config = service.config();
    if let Some(every) = config.serve.scan_every {
        let service = Arc::clone(service);
        threads.push(std::thread::spawn(move || {
            while !service.stopping.wait_for(every) {
                let options = crate::scan::Options {
                    cid: None,
                    jobs: 1,
                    settle: None,
                    dry_run: false,
                    json: false,
                    quiet: true,
                };
                if let Err(failure) = crate::scan::command(service.config(), &options, &service.interrupt) {
                    log_line(&format!("scan: {failure}"));
                }
            }
        }));
    }
    if let Some(every) = config.serve.flush_every {
        let service = Arc::clone(service);
        threads.push(std::thread::spawn(move || {
            while !service.stopping.wait_for(every) {
                let quiet = crate::outbox::Verbosity { quiet: true, json: false };
                if let Err(failure) = crate::outbox::command(&service.config(), true, quiet) {
                    log_line(&format!("outbox flush: {failure}"));
                }
            }
        }));
    }
    threads
}

/// A flag that threads can sleep on: set once, wakes every sleeper.
#[derive(Default)]
struct Stop {
    set: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    fn set(&self) {
        let _guard = self.lock.lock();
        self.set.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn wait(&self) {
        while !self.wait_for(Duration::from_secs(3600)) {}
    }

    /// Sleeps up to `time`; true when the flag is (or got) set.
    fn wait_for(&self, time: Duration) -> bool {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let (_guard, _) = self
            .changed
            .wait_timeout_while(guard, time, |()| !self.set.load(Ordering::SeqCst))
            .unwrap_or_else(|p| p.into_inner());
        self.is_set()
    }
}

/// One line of the service's log, on stderr (systemd's journal keeps it).
pub fn log_line(text: &str) {
    eprintln!("ftptrigger serve: {text}");
}
