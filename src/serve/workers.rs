//! The workers: `workers` threads, each taking the next accepted run and running it exactly as
//! the CLI would. A run waits, queued in the journal, until a worker is free.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::request::Accepted;
use super::{Service, log_line};
use crate::display::escape_str;
use crate::exec::Output;
use crate::report::Report;
use crate::trigger::{self, Expected, Request};

/// A queued run handed to the workers; `reply` is there when a caller waits for its end.
pub struct Job {
    pub id: i64,
    pub accepted: Accepted,
    pub reply: Option<tokio::sync::oneshot::Sender<Report>>,
}

/// Where accepted runs wait for a worker. Closed at the stop: a run not yet started then stays
/// queued in the journal for the next start.
#[derive(Default)]
pub struct Pool {
    sender: Mutex<Option<Sender<Job>>>,
}

impl Pool {
    /// Queues `job` for the next free worker; once closed, drops it (its row stays queued, and
    /// a caller waiting for it hears nothing, which it answers 503).
    pub fn submit(&self, job: Job) {
        if let Some(sender) = self.sender.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = sender.send(job);
        }
    }

    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Starts `count` workers for `service`.
pub fn start(service: &Arc<Service>, count: usize) -> Vec<JoinHandle<()>> {
    let (sender, receiver) = channel();
    let receiver = Arc::new(Mutex::new(receiver));
    *service.pool.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    (0..count)
        .map(|_| {
            let service = Arc::clone(service);
            let receiver = Arc::clone(&receiver);
            std::thread::spawn(move || work(&service, &receiver))
        })
        .collect()
}

fn work(service: &Service, receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // After the stop, what is still waiting stays queued for the next start.
        if service.is_stopping() {
            continue;
        }
        run(service, job);
    }
}

/// Runs `job` as the CLI runs a file, answers its caller, then tells the channels.
fn run(service: &Service, job: Job) {
    let config = service.config();
    let digest = match job.accepted.digest() {
        Ok(digest) => digest,
        Err(why) => {
            log_line(&format!("run {}: its queued digest is not valid ({why}); left queued", job.id));
            return;
        }
    };
    let request = Request {
        cid: job.accepted.cid.clone(),
        file: job.accepted.file(&config),
        expected: Expected::Given(digest),
        force: false,
        no_wait: false,
        dry_run: false,
        // The job's output is kept for the report's tail; many jobs at once must not share a
        // stream.
        output: Output::Discard,
        progress: false,
        queued: Some(job.id),
        lock: None,
    };
    let running = service.metrics.started();
    let (report, aftermath) = trigger::run(&request, || Ok(Arc::clone(&config)), &service.interrupt);
    service.metrics.finished(running, &report);
    log_line(&format!(
        "run {} {} {}: {} (exit {}) {}",
        job.id,
        escape_str(&report.cid),
        escape_str(&job.accepted.filename),
        report.outcome,
        report.outcome.code(),
        report.message
    ));
    // The caller hears first: a slow channel delays only the worker.
    if let Some(reply) = job.reply {
        let _ = reply.send(report.clone());
    }
    if let Some(aftermath) = aftermath {
        for line in aftermath.finish(&report) {
            log_line(&format!("run {}: {line}", job.id));
        }
    }
}
