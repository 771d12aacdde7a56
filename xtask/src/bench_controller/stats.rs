//! The statistics the benchmark reports: latency percentiles and resident-memory samples.

use std::time::Duration;

/// The value at percentile `p` (0–100) of `sorted` (ascending), by nearest rank; zero when
/// empty.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// p50, p99 and max of a set of latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Latencies {
    /// How many latencies.
    pub(crate) count: usize,
    /// The median.
    pub(crate) p50: Duration,
    /// The 99th percentile.
    pub(crate) p99: Duration,
    /// The largest.
    pub(crate) max: Duration,
}

impl Latencies {
    /// Summarises `latencies` (in any order).
    pub(crate) fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        Latencies {
            count: latencies.len(),
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

/// Resident memory sampled over a run (KiB): the smallest, the largest, the first and the last
/// sample, so growth is visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RssSamples {
    /// How many samples.
    pub(crate) count: usize,
    /// The first sample.
    pub(crate) first_kib: u64,
    /// The smallest sample.
    pub(crate) min_kib: u64,
    /// The largest sample.
    pub(crate) max_kib: u64,
    /// The last sample.
    pub(crate) last_kib: u64,
}

impl RssSamples {
    /// Summarises samples in the order they were taken; `None` without any.
    pub(crate) fn of(samples: &[u64]) -> Option<Self> {
        Some(RssSamples {
            count: samples.len(),
            first_kib: *samples.first()?,
            min_kib: *samples.iter().min()?,
            max_kib: *samples.iter().max()?,
            last_kib: *samples.last()?,
        })
    }
}

/// The least-squares slope of RSS samples taken once a second (KiB), in MiB per hour; `None`
/// with fewer than two.
pub(crate) fn slope_mib_per_hour(samples: &[u64]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_t = (n - 1.0) / 2.0;
    let mean_y = samples.iter().map(|&s| s as f64).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, &y) in samples.iter().enumerate() {
        let dt = t as f64 - mean_t;
        covariance += dt * (y as f64 - mean_y);
        variance += dt * dt;
    }
    Some(covariance / variance * 3600.0 / 1024.0)
}

/// KiB as MiB.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Parses a duration for `--duration`: plain seconds (`300`) or with a unit (`300s`, `5m`,
/// `1h`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 300, 300s, 5m)"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        assert_eq!(percentile(&ms(&[7]), 99.0), Duration::from_millis(7));
    }

    #[test]
    fn latencies_sort_their_input() {
        let summary = Latencies::of(ms(&[30, 10, 20, 1000, 5]));
        assert_eq!(summary.count, 5);
        assert_eq!(summary.p50, Duration::from_millis(20));
        assert_eq!(summary.p99, Duration::from_millis(1000));
        assert_eq!(summary.max, Duration::from_millis(1000));
        assert_eq!(Latencies::of(Vec::new()), Latencies::default());
    }

    #[test]
    fn rss_samples_keep_first_min_max_last() {
        assert_eq!(
            RssSamples::of(&[300, 100, 500, 200]),
            Some(RssSamples {
                count: 4,
                first_kib: 300,
                min_kib: 100,
                max_kib: 500,
                last_kib: 200
            })
        );
        assert_eq!(RssSamples::of(&[]), None);
        assert_eq!(mib(1536), 1.5);
    }

    #[test]
    fn rss_slope_per_hour() {
        assert_eq!(slope_mib_per_hour(&[100]), None);
        assert_eq!(slope_mib_per_hour(&[100, 100, 100]), Some(0.0));
        // 1 KiB a second is 3600 KiB an hour.
        let rising: Vec<u64> = (0..60).map(|t| 2048 + t).collect();
        assert!((slope_mib_per_hour(&rising).unwrap() - 3600.0 / 1024.0).abs() < 1e-9);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
