//! SIGTERM, SIGINT and SIGHUP while a run is under way: remembered, so the run can stop at the
//! next safe point and be recorded as `interrupted`, and passed on to the job while it runs.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

type Listener = Box<dyn Fn(i32) + Send>;

/// `SIGTERM` for 15, as signal-hook knows them; `signal` for one it does not.
pub fn signal_name(signal: i32) -> &'static str {
    signal_hook::low_level::signal_name(signal).unwrap_or("signal")
}

#[derive(Default)]
struct Shared {
    /// The first signal received, 0 for none.
    signal: AtomicI32,
    /// Told about each signal as it arrives: the job runner of each job that is running
    /// (`scan --jobs N` runs several at once), by the id [`Interrupt::listen`] gave it.
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_id: AtomicU64,
}

impl Shared {
    /// Remembers the first signal and tells every listener of each.
    fn raise(&self, signal: i32) {
        let _ = self.signal.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        if let Ok(listeners) = self.listeners.lock() {
            for (_, listener) in listeners.iter() {
                listener(signal);
            }
        }
    }
}

/// Names one listener, to take it off again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerId(u64);

/// Catches the stop signals for as long as it lives; dropping it restores nothing more than
/// what the process does next (it is about to exit).
pub struct Interrupt {
    shared: Arc<Shared>,
    handle: Option<Handle>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Interrupt {
    /// Starts catching TERM, INT and HUP.
    pub fn install() -> std::io::Result<Interrupt> {
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        let handle = signals.handle();
        let shared = Arc::new(Shared::default());
        let seen = Arc::clone(&shared);
        let thread = thread::spawn(move || {
            for signal in signals.forever() {
                seen.raise(signal);
            }
        });
        Ok(Interrupt { shared, handle: Some(handle), thread: Some(thread) })
    }

    /// One that never fires, for callers that handle signals themselves.
    pub fn none() -> Interrupt {
        Interrupt { shared: Arc::new(Shared::default()), handle: None, thread: None }
    }

    /// Acts as if `signal` had arrived: `serve` catches the signals itself, and passes TERM on
    /// to its runs only once their grace is over.
    pub fn raise(&self, signal: i32) {
        self.shared.raise(signal);
    }

    /// The signal received so far, if any.
    pub fn raised(&self) -> Option<i32> {
        match self.shared.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    /// Calls `listener` for every signal from now until [`Interrupt::unlisten`] with the id
    /// returned. Several may listen at once; each hears every signal.
    pub fn listen(&self, listener: impl Fn(i32) + Send + 'static) -> ListenerId {
        let id = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut listeners) = self.shared.listeners.lock() {
            listeners.push((id, Box::new(listener)));
        }
        ListenerId(id)
    }

    pub fn unlisten(&self, id: ListenerId) {
        if let Ok(mut listeners) = self.shared.listeners.lock() {
            listeners.retain(|(held, _)| *held != id.0);
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.close();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
