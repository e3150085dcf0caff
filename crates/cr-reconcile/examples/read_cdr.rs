//! Reads a CDR file and prints what reconciliation would see of it: the calls (numbers
//! redacted), the bad rows and the skipped ones.
//!
//!   cargo run -p cr-reconcile --example read_cdr -- FORMAT FILE [ZONE] [COLUMNS]
//!
//! FORMAT: asterisk | freeswitch | cucm | csv (COLUMNS then names the columns, e.g.
//! "caller=src,callee=dst,start=start,duration=billsec"); ZONE: the zone of times written
//! without one (default UTC).
#![allow(clippy::print_stdout)]

use cr_policy::Redacted;
use cr_reconcile::{Format, read_cdr};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(format), Some(file)) = (args.first(), args.get(1)) else {
        return Err("usage: read_cdr FORMAT FILE [ZONE] [COLUMNS]".into());
    };
    let zone: chrono_tz::Tz = args.get(2).map_or("UTC", String::as_str).parse().map_err(|_| "ZONE is not an IANA zone")?;
    let format = Format::parse(format, args.get(3).map(String::as_str))?;
    let rows = read_cdr(&format, Some(zone), std::io::BufReader::new(std::fs::File::open(file)?))?;
    for c in &rows.calls {
        println!(
            "line {} call {} {} {} -> {} connected {} s",
            c.line,
            c.call_id.as_deref().unwrap_or("-"),
            c.started_at.to_rfc3339(),
            Redacted(&c.caller),
            Redacted(&c.callee),
            c.connected_secs
        );
    }
    for b in &rows.bad {
        println!("BAD-ROW {file} {b}");
    }
    println!("{} calls, {} bad rows, {} skipped", rows.calls.len(), rows.bad.len(), rows.skipped);
    Ok(())
}
