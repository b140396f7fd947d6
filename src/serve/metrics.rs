//! `/metrics`: the service's counters in the Prometheus text format, kept by
//! `prometheus-client`. Counts of what waits (queued runs, pending deliveries) are read from
//! the journal at each scrape, so they include what other processes put there.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::report::Report;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    runs: Family<OutcomeLabel, Counter>,
    duration: Histogram,
    running: Gauge<i64, AtomicI64>,
    queued: Gauge<i64, AtomicI64>,
    outbox_pending: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("ftptrigger");
        let runs = Family::<OutcomeLabel, Counter>::default();
        registry.register("runs", "Runs this service finished, by outcome", runs.clone());
        // 5 ms to about 45 minutes.
        let duration = Histogram::new(exponential_buckets(0.005, 3.0, 12));
        registry.register("run_duration_seconds", "How long runs took, from claim to end", duration.clone());
        let running = Gauge::default();
        registry.register("runs_running", "Runs under way in this service", running.clone());
        let queued = Gauge::default();
        registry.register("runs_queued", "Runs accepted and waiting for a worker", queued.clone());
        let outbox_pending = Gauge::default();
        registry.register("outbox_pending", "Notifications waiting in the outbox", outbox_pending.clone());
        Metrics { registry, runs, duration, running, queued, outbox_pending }
    }
}

/// A run under way, from [`Metrics::started`] until [`Metrics::finished`].
pub struct Running<'m> {
    metrics: &'m Metrics,
    since: Instant,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.metrics.running.dec();
    }
}

impl Metrics {
    pub fn started(&self) -> Running<'_> {
        self.running.inc();
        Running { metrics: self, since: Instant::now() }
    }

    pub fn finished(&self, running: Running<'_>, report: &Report) {
        self.duration.observe(running.since.elapsed().as_secs_f64());
        self.runs.get_or_create(&OutcomeLabel { outcome: report.outcome.name().to_owned() }).inc();
    }

    pub fn running(&self) -> i64 {
        self.running.get()
    }

    /// The text a scrape gets, with the journal's counts as of now.
    pub fn render(&self, queued: u64, outbox_pending: u64) -> String {
        self.queued.set(i64::try_from(queued).unwrap_or(i64::MAX));
        self.outbox_pending.set(i64::try_from(outbox_pending).unwrap_or(i64::MAX));
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
