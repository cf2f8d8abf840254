//! Human-friendly sizes and durations for the limit flags (`--max-buffer 8M`,
//! `--idle-timeout 10m`). Plain numbers are bytes and seconds.

/// Why a size or duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{0:?} is not a size (e.g. 65536, 512K, 8M, 1G)")]
    BadSize(String),
    #[error("{0:?} is not a duration (e.g. 90, 90s, 10m, 2h)")]
    BadDuration(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Split `12M` into (12, "m"), lower-cased.
fn split_number(s: &str) -> Option<(u64, String)> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    Some((n, s[digits..].trim().to_ascii_lowercase()))
}

/// Bytes from `N`, `NK`/`NKiB`, `NM`/`NMiB`, `NG`/`NGiB` (binary multiples: buffer
/// caps are about memory).
pub fn parse_size(s: &str) -> Result<usize, UnitError> {
    let (n, unit) = split_number(s).ok_or_else(|| UnitError::BadSize(s.to_string()))?;
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(UnitError::BadSize(s.to_string())),
    };
    n.checked_mul(1 << shift).and_then(|b| usize::try_from(b).ok()).ok_or_else(|| UnitError::TooLarge(s.to_string()))
}

/// Nanoseconds from `N` / `Ns` (seconds), `Nms`, `Nm` (minutes), `Nh`.
pub fn parse_duration_ns(s: &str) -> Result<u64, UnitError> {
    let (n, unit) = split_number(s).ok_or_else(|| UnitError::BadDuration(s.to_string()))?;
    let per: u64 = match unit.as_str() {
        "ms" => 1_000_000,
        "" | "s" | "sec" => 1_000_000_000,
        "m" | "min" => 60 * 1_000_000_000,
        "h" => 3600 * 1_000_000_000,
        _ => return Err(UnitError::BadDuration(s.to_string())),
    };
    n.checked_mul(per).ok_or_else(|| UnitError::TooLarge(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size(" 1g "), Ok(1 << 30));
        for bad in ["", "M", "-1", "1.5M", "8 parsecs", "0x10"] {
            assert!(matches!(parse_size(bad), Err(UnitError::BadSize(_))), "{bad}");
        }
        assert!(matches!(parse_size("99999999999999999999"), Err(UnitError::BadSize(_))));
        assert!(matches!(parse_size("18446744073709551615G"), Err(UnitError::TooLarge(_))));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("90"), Ok(90_000_000_000));
        assert_eq!(parse_duration_ns("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration_ns("10m"), Ok(600_000_000_000));
        assert_eq!(parse_duration_ns("2h"), Ok(7_200_000_000_000));
        for bad in ["", "s", "1d", "-5", "1.5s"] {
            assert!(matches!(parse_duration_ns(bad), Err(UnitError::BadDuration(_))), "{bad}");
        }
        assert!(matches!(parse_duration_ns("18446744073709551615h"), Err(UnitError::TooLarge(_))));
    }
}
