//! Capture sources: saved files (pcap, pcapng) and, behind the `live` feature, live
//! interfaces. Both hand out [`Packet`]s with a link type and a timestamp in nanoseconds.

pub mod file;
pub mod live;

use std::fmt;

/// Capture time in nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos as u64))
    }
    pub fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    pub fn subsec_nanos(self) -> u32 {
        (self.0 % 1_000_000_000) as u32
    }
    /// RFC 3339 in UTC with microseconds, e.g. `2024-01-22T21:49:24.821097Z`.
    /// Computed arithmetically: never consults the local time zone.
    pub fn to_rfc3339(self) -> String {
        let secs = self.secs() as i64;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            y,
            m,
            d,
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            self.subsec_nanos() / 1000
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Link-layer type of a packet (LINKTYPE_* numbers from tcpdump.org). Open newtype so
/// unknown values survive to the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// DLT_RAW as some platforms number it in pcap files (OpenBSD uses 14, others 12).
    pub const RAW_ALT12: LinkType = LinkType(12);
    pub const RAW_ALT14: LinkType = LinkType(14);

    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "BSD NULL",
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW | LinkType::RAW_ALT12 | LinkType::RAW_ALT14 => "raw IP",
            LinkType::LOOP => "BSD LOOP",
            LinkType::LINUX_SLL => "Linux SLL",
            LinkType::IPV4 => "raw IPv4",
            LinkType::IPV6 => "raw IPv6",
            LinkType::LINUX_SLL2 => "Linux SLL2",
            _ => "unknown",
        }
    }
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    /// Captured bytes (may be shorter than `orig_len` when cut by the snap length).
    pub data: &'a [u8],
    pub orig_len: u32,
}

impl Packet<'_> {
    pub fn truncated(&self) -> bool {
        (self.data.len() as u64) < self.orig_len as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2024-08-22T00:00:00Z, the day rds-ca-2019 expired: 1724284800.
        assert_eq!(Timestamp::from_secs_nanos(1_724_284_800, 123_456_789).to_rfc3339(), "2024-08-22T00:00:00.123456Z");
        // Leap day 2000-02-29T12:34:56Z = 951827696.
        assert_eq!(Timestamp::from_secs_nanos(951_827_696, 0).to_rfc3339(), "2000-02-29T12:34:56.000000Z");
    }
}
