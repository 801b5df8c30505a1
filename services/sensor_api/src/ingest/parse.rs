//! The four parsers. Each reads its input once, front to back, and hands every
//! reading to an [`Emitter`], which validates it and batches it for the loader.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::mpsc::Sender;

use super::{BATCH_ROWS, Batch, Format, IngestError, IngestOptions, MAX_LISTED_ERRORS, Pos, Rejection, Row};
use crate::domain::{self, Kind, MAX_TEXT_CHARS};

/// Collects valid rows and rejections into batches and sends them on.
struct Emitter<'a> {
    tx: &'a Sender<Batch>,
    batch: Batch,
    series: HashMap<String, HashMap<String, u32>>,
    next_series: u32,
    listed: usize,
    /// The loader went away (it failed); stop parsing.
    closed: bool,
    /// Offset for timestamps written without one; `None` refuses them.
    assume: Option<i32>,
}

impl<'a> Emitter<'a> {
    fn new(tx: &'a Sender<Batch>, assume: Option<i32>) -> Self {
        Self {
            assume,
            tx,
            batch: Batch::default(),
            series: HashMap::new(),
            next_series: 0,
            listed: 0,
            closed: false,
        }
    }

    fn reject(&mut self, position: String, reason: String) {
        if self.listed < MAX_LISTED_ERRORS {
            self.listed += 1;
            self.batch.rejected.push(Rejection { position, reason });
        } else {
            self.batch.rejected_unlisted += 1;
        }
    }

    fn stop(&mut self, position: String, reason: String) {
        self.batch.stopped = Some(Rejection { position, reason });
    }

    /// Validates one reading; a bad one is rejected with its position.
    fn reading(
        &mut self,
        pos: Pos,
        device: &str,
        parameter: &str,
        timestamp: &str,
        value: Result<(Kind, String), String>,
    ) {
        match self.check(device, parameter, timestamp, value) {
            Ok((stamp, assumed, kind, value)) => {
                self.batch.offset_assumed += u64::from(assumed);
                let series = self.series_index(device, parameter, kind);
                self.batch.rows.push(Row {
                    pos,
                    series,
                    at: stamp.at,
                    offset: stamp.offset,
                    kind,
                    value,
                });
                if self.batch.rows.len() >= BATCH_ROWS {
                    self.flush();
                }
            }
            Err(reason) => self.reject(pos.describe(device), reason),
        }
    }

    fn check(
        &self,
        device: &str,
        parameter: &str,
        timestamp: &str,
        value: Result<(Kind, String), String>,
    ) -> Result<(domain::Stamp, bool, Kind, String), String> {
        domain::check_name("device", device)?;
        domain::check_name("parameter", parameter)?;
        let (stamp, assumed) = domain::parse_timestamp_assuming(timestamp, self.assume)?;
        let (kind, value) = value?;
        if kind == Kind::Text {
            if value.contains('\0') {
                return Err("text value contains a NUL character".into());
            }
            if value.chars().count() > MAX_TEXT_CHARS {
                return Err(format!("text value is longer than {MAX_TEXT_CHARS} characters"));
            }
        }
        Ok((stamp, assumed, kind, value))
    }

    fn series_index(&mut self, device: &str, parameter: &str, kind: Kind) -> u32 {
        if let Some(i) = self.series.get(device).and_then(|m| m.get(parameter)) {
            return *i;
        }
        let i = self.next_series;
        self.next_series += 1;
        self.series
            .entry(device.to_string())
            .or_default()
            .insert(parameter.to_string(), i);
        self.batch
            .new_series
            .push((device.to_string(), parameter.to_string(), kind));
        i
    }

    fn empty_cell(&mut self) {
        self.batch.empty_cells += 1;
    }

    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if self.tx.blocking_send(batch).is_err() {
            self.closed = true;
        }
    }
}

/// Parses `reader` as `opts.format`, sending batches on `tx` until the input ends.
pub(super) fn parse<R: Read>(reader: R, opts: &IngestOptions, tx: &Sender<Batch>) -> Result<(), IngestError> {
    let mut em = Emitter::new(tx, opts.assume_offset);
    let reader = BufReader::with_capacity(256 * 1024, reader);
    let result = match opts.format {
        Format::Json => parse_json(reader, &mut em),
        Format::Ndjson => parse_ndjson(reader, opts.device.as_deref(), &mut em),
        Format::Csv | Format::CsvLong | Format::CsvWide => parse_csv(reader, opts, &mut em),
    };
    if !em.closed {
        em.flush();
    }
    result
}

/// The offset a wide CSV is read in: the caller's, else UTC.
pub(super) fn assumed_offset(opts: &IngestOptions) -> i32 {
    opts.assume_offset.unwrap_or(0)
}

/// The kind and text of a JSON value: numbers verbatim, strings decoded.
fn json_value(raw: Option<&RawValue>, declared: Option<&RawValue>) -> Result<(Kind, String), String> {
    let raw = raw.ok_or("value is missing")?;
    let text = raw.get();
    let (kind, value) = match text.as_bytes().first() {
        Some(b'"') => (
            Kind::Text,
            serde_json::from_str::<String>(text).map_err(|e| e.to_string())?,
        ),
        Some(b'-' | b'0'..=b'9') => (Kind::Numeric, domain::check_number(text)?.to_string()),
        _ => return Err(format!("value must be a number or a string, not {text}")),
    };
    if let Some(declared) = declared {
        let name = serde_json::from_str::<String>(declared.get()).map_err(|_| "type must be a string")?;
        let declared = Kind::parse(&name).ok_or(format!("type {name:?} is neither numeric nor text"))?;
        if declared != kind {
            return Err(format!(
                "type is {} but the value is {}",
                declared.as_str(),
                if kind == Kind::Numeric {
                    "a number"
                } else {
                    "a string"
                }
            ));
        }
    }
    Ok((kind, value))
}

/// A string field of a JSON reading.
fn json_string(raw: Option<&RawValue>, field: &str) -> Result<String, String> {
    let raw = raw.ok_or(format!("{field} is missing"))?;
    serde_json::from_str::<String>(raw.get()).map_err(|_| format!("{field} must be a string"))
}

/// One reading of the JSON shapes. Fields are raw so that a field of the wrong
/// type is a reason for this row, not an error of the whole document.
#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    device: Option<&'a RawValue>,
    #[serde(borrow)]
    parameter: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
}

fn json_item(em: &mut Emitter<'_>, pos: Pos, device: &str, text: &str) {
    let item: Item<'_> = match serde_json::from_str(text) {
        Ok(item) => item,
        Err(_) => {
            em.reject(
                pos.describe(device),
                "a reading must be an object with parameter, timestamp and value".into(),
            );
            return;
        }
    };
    let fields = json_string(item.parameter, "parameter")
        .and_then(|p| json_string(item.timestamp, "timestamp").map(|t| (p, t)));
    match fields {
        Ok((parameter, timestamp)) => {
            let value = json_value(item.value, item.kind);
            em.reading(pos, device, &parameter, &timestamp, value);
        }
        Err(reason) => em.reject(pos.describe(device), reason),
    }
}

/// `{"<device>": [reading, …], …}`, read as a stream: one reading in memory at a time.
fn parse_json<R: Read>(reader: R, em: &mut Emitter<'_>) -> Result<(), IngestError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Root { em: &mut *em }.deserialize(&mut de).and_then(|()| de.end());
    match result {
        Ok(()) => Ok(()),
        Err(_) if em.closed => Ok(()),
        Err(e) if e.is_io() => Err(IngestError::Input(std::io::Error::other(e.to_string()))),
        Err(e) => {
            em.stop(
                format!("line {} column {}", e.line(), e.column()),
                format!("the document is not the expected JSON ({e}); the rest was not read"),
            );
            Ok(())
        }
    }
}

struct Root<'e, 'a> {
    em: &'e mut Emitter<'a>,
}

impl<'de> DeserializeSeed<'de> for Root<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Root<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of devices, each an array of readings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(device) = map.next_key::<String>()? {
            map.next_value_seed(Readings {
                em: &mut *self.em,
                device: &device,
            })?;
        }
        Ok(())
    }
}

struct Readings<'e, 'a, 'd> {
    em: &'e mut Emitter<'a>,
    device: &'d str,
}

impl<'de> DeserializeSeed<'de> for Readings<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Readings<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of readings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0u64;
        while let Some(item) = seq.next_element::<Box<RawValue>>()? {
            json_item(self.em, Pos::Item(i), self.device, item.get());
            if self.em.closed {
                return Err(serde::de::Error::custom("the loader stopped"));
            }
            i += 1;
        }
        Ok(())
    }
}

/// One JSON object per line; blank lines are skipped.
fn parse_ndjson<R: BufRead>(
    mut reader: R,
    default_device: Option<&str>,
    em: &mut Emitter<'_>,
) -> Result<(), IngestError> {
    let mut buf = Vec::with_capacity(512);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(IngestError::Input)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let pos = Pos::Line(line);
        let Ok(text) = std::str::from_utf8(&buf) else {
            em.reject(pos.describe(""), "the line is not UTF-8".into());
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let item: Item<'_> = match serde_json::from_str(text) {
            Ok(item) => item,
            Err(e) => {
                em.reject(pos.describe(""), format!("not a JSON reading object: {e}"));
                continue;
            }
        };
        let device = match item.device {
            Some(raw) => json_string(Some(raw), "device"),
            None => default_device
                .map(str::to_owned)
                .ok_or_else(|| "device is missing (give it in the line or as the default device)".into()),
        };
        let fields = device.and_then(|d| {
            let p = json_string(item.parameter, "parameter")?;
            let t = json_string(item.timestamp, "timestamp")?;
            Ok((d, p, t))
        });
        match fields {
            Ok((device, parameter, timestamp)) => {
                let value = json_value(item.value, item.kind);
                em.reading(pos, &device, &parameter, &timestamp, value);
            }
            Err(reason) => em.reject(pos.describe(""), reason),
        }
        if em.closed {
            return Ok(());
        }
    }
}

/// A CSV cell's value: the type column decides, else a number-looking cell is numeric.
fn csv_value(cell: &str, declared: Option<&str>) -> Result<(Kind, String), String> {
    match declared.map(str::trim).filter(|d| !d.is_empty()) {
        Some("numeric") => Ok((Kind::Numeric, domain::check_number(cell.trim())?.to_string())),
        Some("text") => Ok((Kind::Text, cell.to_string())),
        Some(other) => Err(format!("type {other:?} is neither numeric nor text")),
        None => Ok(match domain::check_number(cell.trim()) {
            Ok(n) => (Kind::Numeric, n.to_string()),
            Err(_) => (Kind::Text, cell.to_string()),
        }),
    }
}

/// Long (`device,parameter,timestamp,value[,type]`) or wide (`time,<param>,…`) CSV.
fn parse_csv<R: Read>(reader: R, opts: &IngestOptions, em: &mut Emitter<'_>) -> Result<(), IngestError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => return csv_failure(e, em),
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let long = match (col("device"), col("parameter"), col("timestamp"), col("value")) {
        (Some(d), Some(p), Some(t), Some(v)) => Some((d, p, t, v, col("type"))),
        _ => None,
    };
    let wide = opts.format == Format::CsvWide || (opts.format == Format::Csv && long.is_none());
    if !wide && long.is_none() {
        return Err(IngestError::Invalid {
            field: "format",
            reason: "long CSV needs the header device,parameter,timestamp,value[,type]".into(),
        });
    }
    let device = if wide {
        let Some(device) = opts.device.clone() else {
            return Err(IngestError::Invalid {
                field: "device",
                reason: "a wide CSV (time,<parameter>,…) needs the device it belongs to".into(),
            });
        };
        if headers.len() < 2 {
            return Err(IngestError::Invalid {
                field: "format",
                reason: "a wide CSV needs a time column and at least one parameter column".into(),
            });
        }
        // Wide CSV times carry no offset (the format has none): UTC unless the
        // caller names one; the summary counts the readings read so.
        em.assume = Some(assumed_offset(opts));
        device
    } else {
        String::new()
    };
    // Wide headers keep their original spelling: they are parameter names.
    let names: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_string()).collect(),
        Err(e) => return csv_failure(e, em),
    };
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    em.reject(Pos::Line(line).describe(""), "the row is not UTF-8".into());
                    continue;
                }
                return csv_failure(e, em);
            }
        }
        let pos = Pos::Line(record.position().map_or(0, csv::Position::line));
        if let Some((d, p, t, v, k)) = long {
            let cell = |i: usize| record.get(i).unwrap_or("");
            if record.len() <= d.max(p).max(t).max(v) {
                em.reject(
                    pos.describe(""),
                    format!("the row has {} of {} columns", record.len(), headers.len()),
                );
            } else {
                let value = csv_value(cell(v), k.map(cell));
                let device = opts
                    .device
                    .as_deref()
                    .filter(|_| cell(d).is_empty())
                    .unwrap_or(cell(d))
                    .to_string();
                em.reading(pos, &device, cell(p), cell(t), value);
            }
        } else {
            let time = record.get(0).unwrap_or("");
            for (i, name) in names.iter().enumerate().skip(1) {
                match record.get(i).map(str::trim) {
                    None | Some("") => em.empty_cell(),
                    Some(cell) => em.reading(pos, &device, name, time, csv_value(cell, None)),
                }
            }
        }
        if em.closed {
            return Ok(());
        }
    }
}

fn csv_failure(e: csv::Error, em: &mut Emitter<'_>) -> Result<(), IngestError> {
    if e.is_io_error() {
        return match e.into_kind() {
            csv::ErrorKind::Io(io) => Err(IngestError::Input(io)),
            _ => Err(IngestError::Input(std::io::Error::other("CSV read error"))),
        };
    }
    let line = e.position().map_or(0, csv::Position::line);
    em.stop(
        format!("line {line}"),
        format!("the CSV cannot be read further ({e}); the rest was not read"),
    );
    Ok(())
}
