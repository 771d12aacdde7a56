//! Go-style durations (`10m`, `1h30m`, `500ms`), as Knative Build's `metav1.Duration` writes them.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DurationError;

const NANOS_PER_MICRO: i128 = 1_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_MINUTE: i128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i128 = 60 * NANOS_PER_MINUTE;

/// A signed duration with nanosecond precision that parses and prints the way Go's
/// `time.ParseDuration` and `time.Duration.String` do.
///
/// Parsing accepts a sequence of decimal numbers, each with an optional fraction and a unit
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), with an optional leading sign; `0` alone is zero.
/// Printing gives Go's canonical form, so `10m` prints as `10m0s`, which is what Knative Build
/// showed in its timeout messages.
///
/// ```
/// use build_types::Duration;
/// let d: Duration = "1h30m".parse().unwrap();
/// assert_eq!(d.as_secs_f64(), 5400.0);
/// assert_eq!(d.to_string(), "1h30m0s");
/// assert_eq!("500ms".parse::<Duration>().unwrap().to_string(), "500ms");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i64,
}

impl Duration {
    /// The zero duration.
    pub const ZERO: Duration = Duration { nanos: 0 };

    /// A duration of `nanos` nanoseconds (negative for a negative duration).
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration { nanos }
    }

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    /// A duration of whole minutes.
    pub const fn from_mins(mins: i64) -> Self {
        Duration::from_secs(mins.saturating_mul(60))
    }

    /// A duration of whole hours.
    pub const fn from_hours(hours: i64) -> Self {
        Duration::from_mins(hours.saturating_mul(60))
    }

    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// The length in seconds, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 / 1e9
    }

    /// Whether this duration is below zero.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The length in whole seconds, rounded up, for fields such as `activeDeadlineSeconds`.
    pub const fn as_secs_ceil(self) -> i64 {
        let secs = self.nanos / 1_000_000_000;
        if self.nanos % 1_000_000_000 > 0 {
            secs + 1
        } else {
            secs
        }
    }

    /// The standard-library duration, or `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration {
            nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input).map_err(|reason| DurationError {
            input: input.to_owned(),
            reason,
        })
    }
}

fn parse(input: &str) -> Result<Duration, &'static str> {
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("empty duration");
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("expected a number");
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => NANOS_PER_MINUTE,
            "h" => NANOS_PER_HOUR,
            "" => return Err("missing unit (one of ns, us, ms, s, m, h)"),
            _ => return Err("unknown unit (expected one of ns, us, ms, s, m, h)"),
        };
        rest = &rest[unit_len..];
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| "number out of range")?
        };
        let mut value = whole.checked_mul(unit).ok_or("duration out of range")?;
        let mut scale = unit;
        for digit in frac_part.bytes().take(18) {
            scale /= 10;
            value += i128::from(digit - b'0') * scale;
        }
        total = total.checked_add(value).ok_or("duration out of range")?;
        if total > i128::from(i64::MAX) {
            return Err("duration out of range");
        }
    }
    let nanos = i64::try_from(if negative { -total } else { total })
        .map_err(|_| "duration out of range")?;
    Ok(Duration { nanos })
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String`: `72h3m0.5s`, `1m0s`, `1.5ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negative = self.nanos < 0;
        let mut n = i128::from(self.nanos).unsigned_abs();
        let sign = if negative { "-" } else { "" };
        if n == 0 {
            return f.write_str("0s");
        }
        if n < NANOS_PER_SECOND as u128 {
            let (unit, scale) = if n < NANOS_PER_MICRO as u128 {
                ("ns", 1u128)
            } else if n < NANOS_PER_MILLI as u128 {
                ("µs", NANOS_PER_MICRO as u128)
            } else {
                ("ms", NANOS_PER_MILLI as u128)
            };
            return write!(f, "{sign}{}{unit}", fraction(n, scale));
        }
        let hours = n / NANOS_PER_HOUR as u128;
        n %= NANOS_PER_HOUR as u128;
        let minutes = n / NANOS_PER_MINUTE as u128;
        n %= NANOS_PER_MINUTE as u128;
        f.write_str(sign)?;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", fraction(n, NANOS_PER_SECOND as u128))
    }
}

/// `value / scale` printed with the fraction's trailing zeros removed.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A Go-style duration such as 10m, 1h30m or 500ms.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, nanos: i64, printed: &str) {
        let d: Duration = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(d.as_nanos(), nanos, "{input}");
        assert_eq!(d.to_string(), printed, "{input}");
        let again: Duration = printed.parse().unwrap();
        assert_eq!(again, d, "round trip of {input}");
    }

    #[test]
    fn parses_and_prints_like_go() {
        check("0", 0, "0s");
        check("0s", 0, "0s");
        check("10m", 600_000_000_000, "10m0s");
        check("1h30m", 5_400_000_000_000, "1h30m0s");
        check("500ms", 500_000_000, "500ms");
        check("1.5h", 5_400_000_000_000, "1h30m0s");
        check("1.5ms", 1_500_000, "1.5ms");
        check("2us", 2_000, "2µs");
        check("3ns", 3, "3ns");
        check("-1s", -1_000_000_000, "-1s");
        check("+5s", 5_000_000_000, "5s");
        check("24h", 86_400_000_000_000, "24h0m0s");
        check("72h3m0.5s", 259_380_500_000_000, "72h3m0.5s");
        check(".5s", 500_000_000, "500ms");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "10",
            "1x",
            "m",
            "1.s.",
            "ten minutes",
            "-",
            "1h 30m",
            "9999999999h",
        ] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(!err.reason.is_empty());
        }
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(Duration::from_nanos(1).as_secs_ceil(), 1);
        assert_eq!(Duration::from_secs(600).as_secs_ceil(), 600);
    }
}
