//! Prometheus metrics at `GET /metrics`: request counts and latency
//! histograms by route pattern and status (`actix-web-prom`), requests in
//! flight, the database pool, and favorite operations.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::db::Database;

const NAMESPACE: &str = "favorites";
/// The content type of Prometheus's text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Latency buckets in seconds, fine-grained where this service lives.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The metrics of one running service; cheap to clone (shared handles).
#[derive(Clone)]
pub struct Metrics {
    /// The middleware that counts requests by route pattern and status.
    pub http: PrometheusMetrics,
    pub in_flight: IntGauge,
    /// Successful favorite writes by `operation`: favorite, unfavorite, toggle.
    pub favorite_operations: IntCounterVec,
    /// Requests let through unlimited because the shared rate-limit store
    /// (Redis) did not answer.
    pub rate_limit_store_failures: IntCounter,
}

impl Metrics {
    pub fn new(pool: Database) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let in_flight = IntGauge::with_opts(
            Opts::new(
                "http_requests_in_flight",
                "Requests being handled right now",
            )
            .namespace(NAMESPACE),
        )?;
        let favorite_operations = IntCounterVec::new(
            Opts::new(
                "favorite_operations_total",
                "Successful favorite writes by operation",
            )
            .namespace(NAMESPACE),
            &["operation"],
        )?;
        let rate_limit_store_failures = IntCounter::with_opts(
            Opts::new(
                "rate_limit_store_failures_total",
                "Rate-limit checks that let the request through unlimited because Redis did not answer",
            )
            .namespace(NAMESPACE),
        )?;
        registry.register(Box::new(rate_limit_store_failures.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(favorite_operations.clone()))?;
        registry.register(Box::new(PoolCollector::new(pool)?))?;
        // No `.endpoint()`: the middleware would swap its text into the
        // response of the app inside it, keeping headers that do not fit the
        // text (`Content-Encoding: gzip`). The router serves `render`.
        let http = PrometheusMetricsBuilder::new(NAMESPACE)
            .registry(registry)
            .buckets(&BUCKETS)
            .mask_unmatched_patterns("UNMATCHED")
            .build()
            .map_err(|error| prometheus::Error::Msg(error.to_string()))?;
        Ok(Metrics {
            http,
            in_flight,
            favorite_operations,
            rate_limit_store_failures,
        })
    }

    /// Every metric in the text format ([`TEXT_FORMAT`]), as `GET /metrics`
    /// serves it.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.http.registry.gather())
    }

    /// Counts one successful favorite write: `favorite`, `unfavorite` or `toggle`.
    pub fn record_favorite(&self, operation: &str) {
        self.favorite_operations
            .with_label_values(&[operation])
            .inc();
    }
}

/// Reads the pool's state at scrape time: connections in use and idle.
struct PoolCollector {
    pool: Database,
    connections: IntGaugeVec,
    reads: Opts,
    reads_desc: Vec<Desc>,
}

impl PoolCollector {
    fn new(pool: Database) -> Result<PoolCollector, prometheus::Error> {
        let connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by state (in_use, idle)",
            )
            .namespace(NAMESPACE),
            &["state"],
        )?;
        let reads = Opts::new(
            "db_reads_total",
            "Database reads by target: primary, or the replica (host:port/database) that served them",
        )
        .namespace(NAMESPACE);
        let reads_desc = IntCounterVec::new(reads.clone(), &["target"])?
            .desc()
            .into_iter()
            .cloned()
            .collect();
        Ok(PoolCollector {
            pool,
            connections,
            reads,
            reads_desc,
        })
    }
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut desc = self.connections.desc();
        desc.extend(self.reads_desc.iter());
        desc
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let state = self.pool.state();
        let idle = i64::from(state.idle);
        self.connections.with_label_values(&["idle"]).set(idle);
        self.connections
            .with_label_values(&["in_use"])
            .set(i64::from(state.connections) - idle);
        let mut families = self.connections.collect();
        // The counts live with the pools; a counter made fresh at each
        // scrape carries their totals.
        let reads = self.pool.reads();
        if !reads.is_empty()
            && let Ok(counter) = IntCounterVec::new(self.reads.clone(), &["target"])
        {
            for (target, count) in reads {
                counter.with_label_values(&[target.as_str()]).inc_by(count);
            }
            families.extend(counter.collect());
        }
        families
    }
}
