//! How readings are kept on disk: per series and UTC hour, in chunks of three byte
//! strings (instants, offsets, values), each a few bytes per reading instead of a
//! 90-byte row (see docs/decisions.md, "Sensor storage in chunks").
//!
//! - Instants (microseconds since the epoch): the first as a zigzag varint, then the
//!   delta of successive deltas run-length encoded; readings at a steady rate cost a
//!   few bytes per chunk.
//! - Offsets (seconds east): run-length encoded.
//! - Numbers: exactly what Postgres' `numeric` keeps (the same digits and display
//!   scale), as an integer times 10^-scale. Scales are run-length encoded, the
//!   integers written as zigzag varints; a number whose integer does not fit in
//!   64 bits keeps its canonical text instead. Texts: length and UTF-8 bytes.
//!
//! Chunks are decoded in Rust: unpacking them in SQL ran 4.5× slower than the row
//! table it replaced (measured, see docs/sensors.md).

/// Why bytes could not be decoded (never expected: only this module writes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt reading chunk: {}", self.0)
    }
}

/// A stored value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// `unscaled × 10^-scale`, as `numeric` holds it.
    Small { unscaled: i64, scale: u32 },
    /// A number too long for `Small`, in `numeric`'s text form.
    Big(String),
    /// A text reading.
    Text(String),
}

impl Value {
    /// The number of a JSON number string (already checked by
    /// [`crate::domain::check_number`]), as Postgres' `numeric` input keeps it: the
    /// display scale is the digits after the point less the exponent, at least 0.
    pub fn number(s: &str) -> Value {
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap_or(0)),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX);
        let scale = (frac_len - exp).max(0);
        let zeros = usize::try_from((exp - frac_len).max(0)).unwrap_or(0);
        let digits = int.bytes().chain(frac.bytes()).skip_while(|b| *b == b'0');
        let mut unscaled: u64 = 0;
        let mut fits = true;
        let mut text = Vec::new();
        for d in digits.chain(std::iter::repeat_n(b'0', zeros)) {
            text.push(d);
            if fits {
                match unscaled
                    .checked_mul(10)
                    .and_then(|u| u.checked_add(u64::from(d - b'0')))
                {
                    Some(u) if u <= i64::MAX.unsigned_abs() => unscaled = u,
                    _ => fits = false,
                }
            }
        }
        let scale = u32::try_from(scale).unwrap_or(u32::MAX);
        if fits {
            let unscaled = i64::try_from(unscaled).unwrap_or(i64::MAX);
            return Value::Small {
                unscaled: if neg { -unscaled } else { unscaled },
                scale,
            };
        }
        let mut out = String::with_capacity(text.len() + 2);
        // Not zero (zero always fits), so the sign stays.
        if neg {
            out.push('-');
        }
        push_scaled(&mut out, &String::from_utf8_lossy(&text), scale);
        Value::Big(out)
    }

    /// The text answers give: `numeric`'s own text form for numbers.
    pub fn to_text(&self) -> String {
        match self {
            Value::Small { unscaled, scale } => small_text(i128::from(*unscaled), *scale),
            Value::Big(s) | Value::Text(s) => s.clone(),
        }
    }

    /// Consumes the value into its text.
    pub fn into_text(self) -> String {
        match self {
            Value::Small { unscaled, scale } => small_text(i128::from(unscaled), scale),
            Value::Big(s) | Value::Text(s) => s,
        }
    }
}

/// `unscaled × 10^-scale` in `numeric`'s text form (no sign on zero).
pub fn small_text(unscaled: i128, scale: u32) -> String {
    let mut out = String::new();
    if unscaled < 0 {
        out.push('-');
    }
    let digits = unscaled.unsigned_abs().to_string();
    let digits = if digits == "0" { "" } else { digits.as_str() };
    push_scaled(&mut out, digits, scale);
    out
}

/// Writes the digits of an integer (no leading zeros, empty for zero) with a
/// point `scale` digits from the right.
fn push_scaled(out: &mut String, digits: &str, scale: u32) {
    let scale = usize::try_from(scale).unwrap_or(usize::MAX);
    if scale == 0 {
        out.push_str(if digits.is_empty() { "0" } else { digits });
        return;
    }
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        for _ in digits.len()..scale {
            out.push('0');
        }
        out.push_str(digits);
    }
}

// The varint and zigzag helpers reinterpret bits on purpose.
#[allow(clippy::cast_possible_truncation)]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[allow(clippy::cast_sign_loss)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[allow(clippy::cast_possible_wrap)]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over encoded bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or(Corrupt("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Corrupt("varint too long"))
    }

    fn signed(&mut self) -> Result<i64, Corrupt> {
        self.varint().map(unzigzag)
    }

    fn len(&mut self) -> Result<usize, Corrupt> {
        usize::try_from(self.varint()?).map_err(|_| Corrupt("length"))
    }

    fn str(&mut self) -> Result<String, Corrupt> {
        let len = self.len()?;
        let end = self.pos.checked_add(len).ok_or(Corrupt("length"))?;
        let s = self.bytes.get(self.pos..end).ok_or(Corrupt("truncated text"))?;
        self.pos = end;
        String::from_utf8(s.to_vec()).map_err(|_| Corrupt("text is not UTF-8"))
    }
}

/// Run-length encoding of a sequence: `(value, run length − 1)` pairs.
fn put_runs(buf: &mut Vec<u8>, values: impl Iterator<Item = i64>) {
    let mut run: Option<(i64, u64)> = None;
    for v in values {
        run = match run {
            Some((w, k)) if w == v => Some((w, k + 1)),
            Some((w, k)) => {
                put_varint(buf, zigzag(w));
                put_varint(buf, k);
                Some((v, 0))
            }
            None => Some((v, 0)),
        };
    }
    if let Some((w, k)) = run {
        put_varint(buf, zigzag(w));
        put_varint(buf, k);
    }
}

/// Reads `n` run-length encoded values, calling `each` with each.
fn read_runs(r: &mut Reader<'_>, n: usize, mut each: impl FnMut(i64)) -> Result<(), Corrupt> {
    let mut left = n;
    while left > 0 {
        let v = r.signed()?;
        let k = usize::try_from(r.varint()?).map_err(|_| Corrupt("run"))?;
        if k >= left {
            return Err(Corrupt("run longer than the chunk"));
        }
        for _ in 0..=k {
            each(v);
        }
        left -= k + 1;
    }
    Ok(())
}

/// Encodes instants (microseconds since the epoch, ascending).
pub fn encode_times(ats: &[i64]) -> Vec<u8> {
    let mut buf = Vec::new();
    let Some(first) = ats.first() else {
        return buf;
    };
    put_varint(&mut buf, zigzag(*first));
    let mut prev_delta = 0i64;
    put_runs(
        &mut buf,
        ats.windows(2).map(|w| {
            let delta = w[1].wrapping_sub(w[0]);
            let dod = delta.wrapping_sub(prev_delta);
            prev_delta = delta;
            dod
        }),
    );
    buf
}

/// Decodes `n` instants.
pub fn decode_times(bytes: &[u8], n: usize) -> Result<Vec<i64>, Corrupt> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let mut r = Reader::new(bytes);
    let mut at = r.signed()?;
    out.push(at);
    let mut delta = 0i64;
    read_runs(&mut r, n - 1, |dod| {
        delta = delta.wrapping_add(dod);
        at = at.wrapping_add(delta);
        out.push(at);
    })?;
    Ok(out)
}

/// Encodes UTC offsets.
pub fn encode_offsets(offsets: &[i32]) -> Vec<u8> {
    let mut buf = Vec::new();
    put_runs(&mut buf, offsets.iter().map(|o| i64::from(*o)));
    buf
}

/// Decodes `n` offsets.
pub fn decode_offsets(bytes: &[u8], n: usize) -> Result<Vec<i32>, Corrupt> {
    let mut out = Vec::with_capacity(n);
    let mut bad = false;
    read_runs(&mut Reader::new(bytes), n, |o| match i32::try_from(o) {
        Ok(o) => out.push(o),
        Err(_) => bad = true,
    })?;
    if bad {
        return Err(Corrupt("offset"));
    }
    Ok(out)
}

/// The scale run code of a `Big` number (a `Small` one's is `scale × 2`).
const BIG: i64 = 1;

/// Encodes values: numbers (`Small`/`Big`) or texts, never mixed.
pub fn encode_values<'a>(values: impl Iterator<Item = &'a Value> + Clone) -> Vec<u8> {
    let mut buf = Vec::new();
    let numeric = values.clone().any(|v| !matches!(v, Value::Text(_)));
    if numeric {
        let codes = values.clone().map(|v| match v {
            Value::Small { scale, .. } => i64::from(*scale) * 2,
            _ => BIG,
        });
        put_varint(&mut buf, count_runs(codes.clone()));
        put_runs(&mut buf, codes);
    }
    for v in values {
        match v {
            Value::Small { unscaled, .. } => put_varint(&mut buf, zigzag(*unscaled)),
            Value::Big(s) | Value::Text(s) => {
                put_varint(&mut buf, s.len() as u64);
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
    buf
}

fn count_runs(values: impl Iterator<Item = i64>) -> u64 {
    let mut prev = None;
    let mut runs = 0;
    for v in values {
        if prev != Some(v) {
            runs += 1;
            prev = Some(v);
        }
    }
    runs
}

/// Decodes `n` values of a series of the given kind.
pub fn decode_values(bytes: &[u8], n: usize, numeric: bool) -> Result<Vec<Value>, Corrupt> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::with_capacity(n);
    if !numeric {
        for _ in 0..n {
            out.push(Value::Text(r.str()?));
        }
        return Ok(out);
    }
    let runs = r.varint()?;
    let mut codes = Vec::new();
    for _ in 0..runs {
        let code = r.signed()?;
        let k = r.varint()?;
        codes.push((code, k));
    }
    for (code, k) in codes {
        for _ in 0..=k {
            if code == BIG {
                out.push(Value::Big(r.str()?));
            } else {
                let scale = u32::try_from(code / 2).map_err(|_| Corrupt("scale"))?;
                out.push(Value::Small {
                    unscaled: r.signed()?,
                    scale,
                });
            }
        }
    }
    if out.len() != n {
        return Err(Corrupt("value count"));
    }
    Ok(out)
}

/// Exact sum, minimum and maximum of `Small` numbers, for the hourly roll-up and
/// aggregates; `None` once a number is `Big` or the sum leaves 128 bits (the
/// caller then lets Postgres do it).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub count: i64,
    /// The sum times 10^`scale`.
    sum: i128,
    scale: u32,
    min: Option<Value>,
    max: Option<Value>,
    overflow: bool,
}

fn rescale(v: i128, from: u32, to: u32) -> Option<i128> {
    10i128.checked_pow(to - from).and_then(|f| v.checked_mul(f))
}

/// Orders two `Small` numbers; `None` when aligning their scales overflows.
fn compare(a: (i128, u32), b: (i128, u32)) -> Option<std::cmp::Ordering> {
    let scale = a.1.max(b.1);
    Some(rescale(a.0, a.1, scale)?.cmp(&rescale(b.0, b.1, scale)?))
}

impl Tally {
    /// Adds one value.
    pub fn add(&mut self, v: &Value) {
        self.count += 1;
        if !self.overflow && self.try_add(v).is_none() {
            self.overflow = true;
        }
    }

    fn try_add(&mut self, v: &Value) -> Option<()> {
        let key = |v: &Value| match v {
            Value::Small { unscaled, scale } => Some((i128::from(*unscaled), *scale)),
            _ => None,
        };
        let x = key(v)?;
        let scale = self.scale.max(x.1);
        self.sum = rescale(self.sum, self.scale, scale)?.checked_add(rescale(x.0, x.1, scale)?)?;
        self.scale = scale;
        if self
            .min
            .as_ref()
            .map_or(Some(true), |m| Some(compare(x, key(m)?)?.is_lt()))?
        {
            self.min = Some(v.clone());
        }
        if self
            .max
            .as_ref()
            .map_or(Some(true), |m| Some(compare(x, key(m)?)?.is_gt()))?
        {
            self.max = Some(v.clone());
        }
        Some(())
    }

    /// `(sum, min, max)` in `numeric`'s text form, unless Postgres must do it.
    pub fn result(&self) -> Option<(String, String, String)> {
        if self.overflow {
            return None;
        }
        let (min, max) = (self.min.as_ref()?, self.max.as_ref()?);
        Some((small_text(self.sum, self.scale), min.to_text(), max.to_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        Value::number(s).into_text()
    }

    #[test]
    fn numbers_keep_numeric_display_scale() {
        for (input, want) in [
            ("21.50", "21.50"),
            ("0", "0"),
            ("-0", "0"),
            ("-0.00", "0.00"),
            ("1e3", "1000"),
            ("1.50e1", "15.0"),
            ("1.5E+3", "1500"),
            ("12e-2", "0.12"),
            ("-7.25e-3", "-0.00725"),
            ("0.000e2", "0.0"),
            ("9007199254740993", "9007199254740993"),
            ("-9223372036854775807", "-9223372036854775807"),
            ("9223372036854775808", "9223372036854775808"),
            (
                "-123456789012345678901234567890.5",
                "-123456789012345678901234567890.5",
            ),
            ("1e20", "100000000000000000000"),
        ] {
            assert_eq!(text(input), want, "{input}");
        }
        let tiny = text("1e-300");
        assert_eq!(tiny.len(), 302);
        assert!(tiny.starts_with("0.000") && tiny.ends_with("01"));
    }

    #[test]
    fn chunks_round_trip() {
        let ats = vec![-5, 1_000_000, 2_000_000, 3_000_007, 3_000_008, 9_000_000_000_000];
        assert_eq!(decode_times(&encode_times(&ats), ats.len()).unwrap(), ats);
        let steady: Vec<i64> = (0..3600).map(|i| 1_700_000_000_000_000 + i * 1_000_000).collect();
        let bytes = encode_times(&steady);
        assert!(bytes.len() < 16, "{} bytes", bytes.len());
        assert_eq!(decode_times(&bytes, steady.len()).unwrap(), steady);
        let offsets = vec![0, 0, 20700, -34200, 50400, 50400];
        assert_eq!(decode_offsets(&encode_offsets(&offsets), 6).unwrap(), offsets);
        let values: Vec<Value> = ["21.50", "9007199254740993", "1e-300", "-3", "1e30", "0.5"]
            .iter()
            .map(|s| Value::number(s))
            .collect();
        assert_eq!(
            decode_values(&encode_values(values.iter()), 6, true).unwrap(),
            values
        );
        let texts = vec![Value::Text("𝄞 ok".into()), Value::Text(String::new())];
        assert_eq!(
            decode_values(&encode_values(texts.iter()), 2, false).unwrap(),
            texts
        );
        assert!(decode_values(&encode_values(values.iter()), 7, true).is_err());
        assert!(decode_times(&[0x80], 1).is_err());
    }

    #[test]
    fn tally_is_exact_and_gives_up_on_big_numbers() {
        let mut t = Tally::default();
        for s in ["1.5", "2.25", "-0.75", "10"] {
            t.add(&Value::number(s));
        }
        assert_eq!(t.result().unwrap(), ("13.00".into(), "-0.75".into(), "10".into()));
        let mut zero = Tally::default();
        zero.add(&Value::number("0.5"));
        zero.add(&Value::number("-0.5"));
        assert_eq!(zero.result().unwrap().0, "0.0");
        t.add(&Value::number("1e30"));
        assert!(t.result().is_none());
    }
}
