//! Write a hostile capture for manual or benchmark runs:
//! `cargo run --example hostile -- FILE [full|ci]` (default `full`: a million SYNs).
//! The memory test in `tests/hostile.rs` generates its own copy.

#[path = "../tests/common/hostile.rs"]
mod hostile;

use std::io::BufWriter;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: hostile FILE [full|ci]");
        std::process::exit(2);
    };
    let scale = match args.next().as_deref() {
        None | Some("full") => hostile::Scale::FULL,
        Some("ci") => hostile::Scale::CI,
        Some(other) => {
            eprintln!("hostile: unknown scale {other:?} (full, ci)");
            std::process::exit(2);
        }
    };
    let mut w = hostile::PcapWriter::new(BufWriter::new(std::fs::File::create(&path)?))?;
    hostile::write_all(&mut w, scale)?;
    let packets = w.packets;
    std::io::Write::flush(&mut w.into_inner())?;
    eprintln!("{path}: {packets} packets ({scale:?})");
    Ok(())
}
