//! The HTTP load driver of `bench/serve-load`: `POST`s one request per line of standard input,
//! each with its own body, `CONCURRENCY` at a time over keep-alive connections (one per
//! thread), and prints what it measured. `hey` and the like send one fixed body, and every
//! request here must name a distinct file.
//!
//! Standard input is `md5sum`'s output (`HEX  NAME` per line); each line becomes the body
//! `{"cid": CID, "filename": NAME, "md5": HEX}`.
//!
//!     md5sum *.dat | serve_load http://127.0.0.1:PORT/ftpscanner/ acme 64
//!
//! Prints `key value` lines: requests, concurrency, seconds, per_second, the latency
//! percentiles in ms, a count per HTTP status, and errors (transport failures and statuses
//! other than 2xx), with the first few error messages on stderr.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, cid, concurrency] = args.as_slice() else {
        eprintln!("usage: serve_load URL CID CONCURRENCY < md5sum-output");
        std::process::exit(2);
    };
    let concurrency: usize = concurrency.parse().expect("CONCURRENCY is a number");
    let bodies: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map(|line| line.expect("standard input is readable"))
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (md5, name) = line.split_once("  ").expect("lines of md5sum's output: HEX  NAME");
            serde_json::json!({"cid": cid, "filename": name, "md5": md5}).to_string()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    // Per request: the latency, and the status (0 for a transport failure).
    let results = Arc::new(Mutex::new(Vec::with_capacity(bodies.len())));
    let failures = Arc::new(Mutex::new(Vec::new()));

    let started = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let (bodies, next, results, failures) =
                (Arc::clone(&bodies), Arc::clone(&next), Arc::clone(&results), Arc::clone(&failures));
            let url = url.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(120)))
                    .build()
                    .into();
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let sent = Instant::now();
                    let answer = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(body.as_bytes())
                        .and_then(|response| {
                            let status = response.status().as_u16();
                            let mut text = String::new();
                            response
                                .into_body()
                                .into_reader()
                                .read_to_string(&mut text)
                                .map_err(ureq::Error::from)?;
                            Ok((status, text))
                        });
                    let took = sent.elapsed();
                    let status = match answer {
                        Ok((status, text)) => {
                            if !(200..300).contains(&status) {
                                failures.lock().unwrap().push(format!("{status} {body}: {text}"));
                            }
                            status
                        }
                        Err(e) => {
                            failures.lock().unwrap().push(format!("{body}: {e}"));
                            0
                        }
                    };
                    mine.push((took, status));
                }
                results.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a request thread ended normally");
    }
    let seconds = started.elapsed().as_secs_f64();

    let results = results.lock().unwrap();
    let mut latencies: Vec<Duration> = results.iter().map(|(took, _)| *took).collect();
    latencies.sort();
    let percentile = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let mut statuses = std::collections::BTreeMap::new();
    for (_, status) in results.iter() {
        *statuses.entry(*status).or_insert(0usize) += 1;
    }
    let errors = results.iter().filter(|(_, s)| !(200..300).contains(s)).count();
    println!("requests {}", results.len());
    println!("concurrency {concurrency}");
    println!("seconds {seconds:.3}");
    println!("per_second {:.1}", results.len() as f64 / seconds);
    for (name, p) in [("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", 1.0)] {
        println!("{name} {:.1}", percentile(p));
    }
    for (status, count) in statuses {
        println!("status_{status} {count}");
    }
    println!("errors {errors}");
    for failure in failures.lock().unwrap().iter().take(5) {
        eprintln!("serve_load: {failure}");
    }
}
