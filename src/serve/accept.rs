//! Recording accepted requests as queued runs: one thread takes every request waiting and
//! writes them in one transaction, then answers each. A write transaction costs the same for
//! one row as for a hundred, so under load callers wait for one commit, not for each other's.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::Service;
use super::request::Accepted;
use crate::report::Report;

/// At most this many requests go into one transaction.
const BATCH: usize = 512;

struct Pending {
    accepted: Accepted,
    reply: tokio::sync::oneshot::Sender<Result<i64, String>>,
}

/// Where accepted requests wait to be recorded.
#[derive(Default)]
pub struct Acceptor {
    sender: Mutex<Option<Sender<Pending>>>,
}

impl Acceptor {
    /// Records `accepted` as a queued run; its id once committed.
    pub async fn record(&self, accepted: Accepted) -> Result<i64, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = match self.sender.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(sender) => sender.send(Pending { accepted, reply }).is_ok(),
            None => false,
        };
        if !sent {
            return Err("the service is stopping".to_owned());
        }
        answer.await.unwrap_or_else(|_| Err("the service is stopping".to_owned()))
    }

    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Starts the thread that records for `service`.
pub fn start(service: &Arc<Service>) -> JoinHandle<()> {
    let (sender, receiver) = channel();
    *service.acceptor.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    let service = Arc::clone(service);
    std::thread::spawn(move || record_all(&service, &receiver))
}

fn record_all(service: &Service, receiver: &Receiver<Pending>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH
            && let Ok(next) = receiver.try_recv()
        {
            batch.push(next);
        }
        let config = service.config();
        let rows: Vec<(Report, String)> = batch
            .iter()
            .map(|p| {
                let file = p.accepted.file(&config);
                let report =
                    Report::start(&p.accepted.cid, file.as_os_str(), file.file_name().unwrap_or_default());
                // Three strings: serializing them cannot fail.
                (report, serde_json::to_string(&p.accepted).unwrap_or_default())
            })
            .collect();
        let refs: Vec<(&Report, &str)> = rows.iter().map(|(r, s)| (r, s.as_str())).collect();
        match service.with_journal(|j| j.enqueue(&refs)) {
            Ok(ids) => {
                for (pending, id) in batch.into_iter().zip(ids) {
                    let _ = pending.reply.send(Ok(id));
                }
            }
            Err(e) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
