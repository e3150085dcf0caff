//! Call records as the PBXs write them, read into one [`CdrCall`] type (docs/reconcile.md
//! lists the columns used per format).

use std::io::Read;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::error::{CdrError, RowError};
use crate::time::{parse_secs, parse_time};

/// The layout of a CDR file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Asterisk `cdr_csv` (`Master.csv`): no header; `accountcode, src, dst, dcontext, clid,
    /// channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
    /// disposition, amaflags[, uniqueid[, userfield …]]`, local times.
    Asterisk,
    /// FreeSWITCH `mod_cdr_csv`, template `default`: no header; `caller_id_name,
    /// caller_id_number, destination_number, context, start_stamp, answer_stamp, end_stamp,
    /// duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode, read_codec,
    /// write_codec`, local times.
    FreeSwitch,
    /// Cisco CUCM CDR files: a header row of field names, a row of their types, then one
    /// row per record; times in seconds since 1970 UTC; only `cdrRecordType` 1 (CDRs).
    Cucm,
    /// Any CSV file with a header row, its columns named by a [`ColumnMap`].
    Csv(ColumnMap),
}

impl Format {
    /// Parses a `--format` value (`asterisk`, `freeswitch`, `cucm`, `csv`); `csv` needs
    /// the column map.
    pub fn parse(name: &str, columns: Option<&str>) -> Result<Self, CdrError> {
        match (name, columns) {
            ("asterisk", None) => Ok(Format::Asterisk),
            ("freeswitch", None) => Ok(Format::FreeSwitch),
            ("cucm", None) => Ok(Format::Cucm),
            ("csv", Some(map)) => Ok(Format::Csv(ColumnMap::parse(map)?)),
            ("csv", None) => Err(CdrError::Columns("--format csv needs --columns".into())),
            ("asterisk" | "freeswitch" | "cucm", Some(_)) => {
                Err(CdrError::Columns(format!("--columns is for --format csv only, not {name}")))
            }
            _ => Err(CdrError::Columns(format!("unknown format {name:?} (asterisk, freeswitch, cucm, csv)"))),
        }
    }
}

/// Which header column holds which fact, for [`Format::Csv`]: `--columns
/// caller=src,callee=dst,start=start,duration=billsec[,call_id=uniqueid][,answer=…][,end=…][,original_callee=…]`.
/// `caller`, `callee` and `start` are required, and `duration` or `end`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnMap {
    call_id: Option<String>,
    caller: String,
    callee: String,
    original_callee: Option<String>,
    start: String,
    answer: Option<String>,
    end: Option<String>,
    duration: Option<String>,
}

impl ColumnMap {
    /// Parses `key=COLUMN,key=COLUMN,...`.
    pub fn parse(spec: &str) -> Result<Self, CdrError> {
        let mut m = ColumnMap::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, col) = part
                .split_once('=')
                .ok_or_else(|| CdrError::Columns(format!("{part:?} is not key=COLUMN")))?;
            let col = col.trim().to_owned();
            let slot = match key.trim() {
                "call_id" => &mut m.call_id,
                "original_callee" => &mut m.original_callee,
                "answer" => &mut m.answer,
                "end" => &mut m.end,
                "duration" => &mut m.duration,
                "caller" => {
                    m.caller = col;
                    continue;
                }
                "callee" => {
                    m.callee = col;
                    continue;
                }
                "start" => {
                    m.start = col;
                    continue;
                }
                other => {
                    return Err(CdrError::Columns(format!(
                        "unknown key {other:?} (call_id, caller, callee, original_callee, start, answer, end, duration)"
                    )));
                }
            };
            *slot = Some(col);
        }
        for (key, v) in [("caller", &m.caller), ("callee", &m.callee), ("start", &m.start)] {
            if v.is_empty() {
                return Err(CdrError::Columns(format!("{key}=COLUMN is required")));
            }
        }
        if m.duration.is_none() && m.end.is_none() {
            return Err(CdrError::Columns("duration=COLUMN or end=COLUMN is required".into()));
        }
        Ok(m)
    }
}

/// One call of the PBX's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CdrCall {
    /// Line of the file the row starts on.
    pub line: u64,
    /// The PBX's call id (Asterisk `uniqueid`, FreeSWITCH `uuid`, CUCM
    /// `globalCallID_callId`), when the row has one.
    pub call_id: Option<String>,
    /// Calling number.
    pub caller: String,
    /// Called number after diversions.
    pub callee: String,
    /// Numbers dialled before (CUCM `originalCalledPartyNumber` when it differs).
    pub diversions: Vec<String>,
    /// When the call was connected (answered); when it was offered if it never was.
    pub started_at: DateTime<Utc>,
    /// Seconds connected (0: never answered).
    pub connected_secs: i64,
}

/// What [`read_cdr`] found: the calls, the rows it could not read, the rows it skipped on
/// purpose (CUCM records other than CDRs).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct CdrRows {
    /// The calls, in file order.
    pub calls: Vec<CdrCall>,
    /// Rows that could not be read.
    pub bad: Vec<RowError>,
    /// Rows skipped on purpose.
    pub skipped: u64,
}

/// Column positions and names of one file.
struct Layout {
    call_id: Option<usize>,
    caller: usize,
    callee: usize,
    original_callee: Option<usize>,
    start: usize,
    answer: Option<usize>,
    end: Option<usize>,
    duration: Option<usize>,
    record_type: Option<usize>,
    /// CUCM: `dateTimeConnect` 0 means never connected.
    zero_is_none: bool,
    names: Vec<String>,
    min_fields: usize,
}

const ASTERISK: [&str; 18] = [
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "start",
    "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield",
];
const FREESWITCH: [&str; 15] = [
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp", "answer_stamp",
    "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid", "accountcode", "read_codec", "write_codec",
];

fn fixed(names: &[&str], f: impl Fn(&str) -> Option<usize>, min_fields: usize) -> Layout {
    let at = |n: &str| f(n).unwrap_or(usize::MAX);
    Layout {
        call_id: None,
        caller: at("caller"),
        callee: at("callee"),
        original_callee: None,
        start: at("start"),
        answer: f("answer"),
        end: f("end"),
        duration: f("duration"),
        record_type: None,
        zero_is_none: false,
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        min_fields,
    }
}

impl Layout {
    fn asterisk() -> Self {
        let mut l = fixed(
            &ASTERISK,
            |k| match k {
                "caller" => Some(1),
                "callee" => Some(2),
                "start" => Some(9),
                "answer" => Some(10),
                "end" => Some(11),
                "duration" => Some(13),
                _ => None,
            },
            16,
        );
        l.call_id = Some(16);
        l
    }

    fn freeswitch() -> Self {
        let mut l = fixed(
            &FREESWITCH,
            |k| match k {
                "caller" => Some(1),
                "callee" => Some(2),
                "start" => Some(4),
                "answer" => Some(5),
                "end" => Some(6),
                "duration" => Some(8),
                _ => None,
            },
            11,
        );
        l.call_id = Some(10);
        l
    }

    fn from_header(header: &[String], wanted: &[(&str, &str, bool)]) -> Result<Vec<Option<usize>>, CdrError> {
        wanted
            .iter()
            .map(|(key, col, required)| {
                let found = header.iter().position(|h| h.trim().eq_ignore_ascii_case(col));
                match (found, required) {
                    (None, true) => Err(CdrError::Header(format!("no column {col:?} (for {key})"))),
                    (f, _) => Ok(f),
                }
            })
            .collect()
    }

    fn cucm(header: Vec<String>) -> Result<Self, CdrError> {
        let w = Self::from_header(
            &header,
            &[
                ("call_id", "globalCallID_callId", true),
                ("caller", "callingPartyNumber", true),
                ("callee", "finalCalledPartyNumber", true),
                ("original_callee", "originalCalledPartyNumber", false),
                ("start", "dateTimeOrigination", true),
                ("answer", "dateTimeConnect", true),
                ("end", "dateTimeDisconnect", false),
                ("duration", "duration", true),
                ("record_type", "cdrRecordType", false),
            ],
        )?;
        Ok(Self::mapped(w, header, true))
    }

    fn csv(map: &ColumnMap, header: Vec<String>) -> Result<Self, CdrError> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let cols = [
            ("call_id", opt(&map.call_id), false),
            ("caller", map.caller.clone(), true),
            ("callee", map.callee.clone(), true),
            ("original_callee", opt(&map.original_callee), false),
            ("start", map.start.clone(), true),
            ("answer", opt(&map.answer), false),
            ("end", opt(&map.end), map.end.is_some()),
            ("duration", opt(&map.duration), map.duration.is_some()),
        ];
        // A named column must exist; an unnamed optional one is simply absent.
        let wanted: Vec<(&str, &str, bool)> =
            cols.iter().map(|(k, c, r)| (*k, c.as_str(), *r || !c.is_empty())).collect();
        let mut w = Self::from_header(&header, &wanted)?;
        for (slot, (_, c, _)) in w.iter_mut().zip(cols.iter()) {
            if c.is_empty() {
                *slot = None;
            }
        }
        w.push(None);
        Ok(Self::mapped(w, header, false))
    }

    fn mapped(w: Vec<Option<usize>>, names: Vec<String>, zero_is_none: bool) -> Self {
        let g = |i: usize| w.get(i).copied().flatten();
        Layout {
            call_id: g(0),
            caller: g(1).unwrap_or(usize::MAX),
            callee: g(2).unwrap_or(usize::MAX),
            original_callee: g(3),
            start: g(4).unwrap_or(usize::MAX),
            answer: g(5),
            end: g(6),
            duration: g(7),
            record_type: g(8),
            zero_is_none,
            min_fields: names.len().min(1),
            names,
        }
    }

    fn name(&self, i: usize) -> String {
        self.names.get(i).cloned().unwrap_or_else(|| format!("column {}", i + 1))
    }

    /// One row into a call; `Ok(None)` for a row skipped on purpose.
    fn call(&self, line: u64, row: &csv::ByteRecord, zone: Option<Tz>) -> Result<Option<CdrCall>, RowError> {
        if row.len() < self.min_fields {
            return Err(RowError::new(line, "row", format!("{} fields, at least {} expected", row.len(), self.min_fields)));
        }
        let text = |i: usize| -> Result<&str, RowError> {
            match row.get(i) {
                None => Err(RowError::new(line, self.name(i), "missing")),
                Some(b) => std::str::from_utf8(b).map_err(|_| RowError::new(line, self.name(i), "not UTF-8")),
            }
        };
        let opt_text = |i: Option<usize>| -> Result<Option<&str>, RowError> {
            match i {
                Some(i) if i < row.len() => text(i).map(Some),
                _ => Ok(None),
            }
        };
        if let Some(t) = opt_text(self.record_type)? {
            if t.trim() != "1" {
                return Ok(None);
            }
        }
        let time = |i: Option<usize>| -> Result<Option<DateTime<Utc>>, RowError> {
            let Some(s) = opt_text(i)? else { return Ok(None) };
            if self.zero_is_none && s.trim() == "0" {
                return Ok(None);
            }
            parse_time(s, zone).map_err(|p| RowError::new(line, self.name(i.unwrap_or(usize::MAX)), p))
        };
        let offered = time(Some(self.start))?.ok_or_else(|| RowError::new(line, self.name(self.start), "empty"))?;
        let answered = time(self.answer)?;
        let connected_secs = match opt_text(self.duration)? {
            Some(s) => parse_secs(s)
                .map_err(|p| RowError::new(line, self.name(self.duration.unwrap_or(usize::MAX)), p))?
                .unwrap_or(0),
            None => match (time(self.end)?, answered.or(Some(offered))) {
                (Some(end), Some(from)) if end >= from => (end - from).num_seconds(),
                (Some(_), _) => return Err(RowError::new(line, self.name(self.end.unwrap_or(usize::MAX)), "before the start")),
                (None, _) => 0,
            },
        };
        let callee = text(self.callee)?.trim().to_owned();
        let diversions = match opt_text(self.original_callee)?.map(str::trim) {
            Some(o) if !o.is_empty() && o != callee => vec![o.to_owned()],
            _ => Vec::new(),
        };
        Ok(Some(CdrCall {
            line,
            call_id: opt_text(self.call_id)?.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            caller: text(self.caller)?.trim().to_owned(),
            callee,
            diversions,
            started_at: if connected_secs > 0 { answered.unwrap_or(offered) } else { offered },
            connected_secs,
        }))
    }
}

/// Reads a CDR file in `format`; times without a zone are read in `zone` (a row with such
/// a time is bad when there is none). Bad rows are collected, never fatal; an unreadable
/// header (CUCM, CSV) is.
pub fn read_cdr<R: Read>(format: &Format, zone: Option<Tz>, input: R) -> Result<CdrRows, CdrError> {
    let has_header = matches!(format, Format::Cucm | Format::Csv(_));
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(input);
    let mut row = csv::ByteRecord::new();
    let mut out = CdrRows::default();
    let read = |rdr: &mut csv::Reader<R>, row: &mut csv::ByteRecord| {
        rdr.read_byte_record(row).map_err(|e| CdrError::Read {
            line: e.position().map_or(0, csv::Position::line),
            reason: match e.kind() {
                csv::ErrorKind::Io(io) => io.to_string(),
                _ => "malformed CSV".to_owned(),
            },
        })
    };
    let layout = if has_header {
        if !read(&mut rdr, &mut row)? {
            return Err(CdrError::Header("the file is empty".into()));
        }
        let header: Vec<String> = row.iter().map(|f| String::from_utf8_lossy(f).trim().to_owned()).collect();
        match format {
            Format::Cucm => Layout::cucm(header)?,
            Format::Csv(map) => Layout::csv(map, header)?,
            Format::Asterisk | Format::FreeSwitch => unreachable!("no header"),
        }
    } else if *format == Format::Asterisk {
        Layout::asterisk()
    } else {
        Layout::freeswitch()
    };
    let mut first = true;
    while read(&mut rdr, &mut row)? {
        let line = row.position().map_or(0, csv::Position::line);
        // CUCM's second row names each field's type (INTEGER, VARCHAR(50), UNIQUEIDENTIFIER).
        if first && *format == Format::Cucm && row.get(0).is_some_and(|f| f.eq_ignore_ascii_case(b"INTEGER")) {
            first = false;
            continue;
        }
        first = false;
        match layout.call(line, &row, zone) {
            Ok(Some(c)) => out.calls.push(c),
            Ok(None) => out.skipped += 1,
            Err(e) => out.bad.push(e),
        }
    }
    Ok(out)
}
