//! Speed and memory of the context enrichment on this machine: data load, user-agent parsing (cold
//! and cached), IP lookup, reverse geocoding, and the whole enrichment of one attempt.
//!
//! `cargo bench -p smartauth-context --bench enrichment` (data from `scripts/fetch-data.sh`, or
//! `SMARTAUTH_INTEL_DIR`). Prints medians and 99th percentiles of single calls.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use smartauth_context::{EnrichInput, IntelConfig, Intelligence, IpIntelligence};
use smartauth_domain::Coordinates;

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
];

/// A small, fast, deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn public_ipv4(&mut self) -> IpAddr {
        loop {
            let ip = Ipv4Addr::from(self.next() as u32);
            if smartauth_context::classify(IpAddr::V4(ip)) == smartauth_context::AddressKind::Public {
                return IpAddr::V4(ip);
            }
        }
    }
    /// A point on land in Brazil's bounding box, more or less.
    fn point(&mut self) -> Coordinates {
        let lat = -33.0 + (self.next() % 28_000) as f64 / 1000.0;
        let lon = -73.0 + (self.next() % 38_000) as f64 / 1000.0;
        Coordinates::new(lat, lon).expect("in range")
    }
}

fn measure(name: &str, iterations: usize, mut f: impl FnMut(usize)) {
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let started = Instant::now();
        f(i);
        samples.push(started.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!("| {name} | {iterations} | {:.2} µs | {:.2} µs |", at(0.5), at(0.99));
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let dir = std::env::var_os("SMARTAUTH_INTEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/intel")));
    let before = rss_mb();
    let started = Instant::now();
    let intel = Intelligence::load(&IntelConfig { dir, ..Default::default() });
    let load = started.elapsed();
    println!("## Data load\n");
    println!("| data set | loaded | entries | ms |\n|---|---|---|---|");
    for s in &intel.status {
        println!(
            "| {} | {} | {} | {} |",
            s.name,
            s.loaded,
            s.entries.map(|e| e.to_string()).unwrap_or_default(),
            s.load_ms
        );
    }
    println!(
        "\nall data loaded in {} ms; resident memory {:.0} MB before, {:.0} MB after",
        load.as_millis(),
        before,
        rss_mb()
    );
    assert!(intel.complete(), "some data sets are missing: run scripts/fetch-data.sh");

    let parser = intel.user_agents.as_ref().expect("user agents");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    println!("\n## Single calls\n");
    println!("| operation | calls | median | p99 |\n|---|---|---|---|");
    measure("user agent, parsed cold (no cache)", 20_000, |i| {
        black_box(parser.parse_uncached(USER_AGENTS[i % USER_AGENTS.len()]));
    });
    measure("user agent, cached", 200_000, |i| {
        black_box(parser.parse(USER_AGENTS[i % USER_AGENTS.len()]));
    });
    let ips: Vec<IpAddr> = (0..100_000).map(|_| rng.public_ipv4()).collect();
    measure("IP lookup (city + ASN + anonymizers), random public IPv4", ips.len(), |i| {
        black_box(intel.ip.lookup(ips[i]));
    });
    let points: Vec<Coordinates> = (0..100_000).map(|_| rng.point()).collect();
    let places = intel.places.as_ref().expect("places");
    measure("reverse geocode, random point in Brazil", points.len(), |i| {
        black_box(places.nearest(points[i]));
    });
    measure("whole enrichment of one attempt (warm UA cache)", 100_000, |i| {
        black_box(intel.enrich(&EnrichInput {
            tenant: "bench",
            ip: ips[i],
            user_agent: Some(USER_AGENTS[i % USER_AGENTS.len()]),
            client_hints: None,
            fingerprint: Some("fp-0123456789"),
            coordinates: Some(points[i]),
        }));
    });
    println!("\nresident memory after the runs: {:.0} MB", rss_mb());
}
