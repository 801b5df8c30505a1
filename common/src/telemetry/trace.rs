//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent`
//! and `tracestate` headers. A request that brings a valid `traceparent` continues
//! its trace (this hop is a child span of the caller's); one without starts a trace.

use std::fmt;

/// `traceparent`: `00-<trace id>-<parent span id>-<flags>`.
pub const TRACEPARENT: &str = "traceparent";
/// `tracestate`: vendor data, passed on unchanged with a valid `traceparent`.
pub const TRACESTATE: &str = "tracestate";

/// The W3C limit a vendor list may be cut to; longer ones are dropped, not cut.
const MAX_TRACESTATE: usize = 512;

/// 16 bytes naming one trace across every service it touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// 8 bytes naming one span (here: one request handled by one service).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// Lowercase hex of exactly `N` bytes, not all zero (the spec's invalid value).
fn parse_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    (out != [0u8; N]).then_some(out)
}

/// The trace context of the span being handled: which trace, this span, its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    /// This hop's span: the parent of every call it makes.
    pub span_id: SpanId,
    /// The caller's span, when the request brought a `traceparent`.
    pub parent: Option<SpanId>,
    /// The trace flags (bit 0: sampled), passed on as they came.
    pub flags: u8,
    /// The caller's `tracestate`, passed on unchanged.
    pub state: Option<String>,
}

impl TraceContext {
    /// A new trace (sampled: every span is recorded when export is on).
    pub fn root() -> Self {
        Self {
            trace_id: TraceId(nonzero_random()),
            span_id: SpanId(nonzero_random()),
            parent: None,
            flags: 1,
            state: None,
        }
    }

    /// This hop's context from the request's headers: a child span of a valid
    /// `traceparent`, else a new trace (and `tracestate` is dropped with it).
    pub fn from_headers(traceparent: Option<&str>, tracestate: Option<&str>) -> Self {
        let Some((trace_id, parent, flags)) = traceparent.and_then(parse_traceparent) else {
            return Self::root();
        };
        Self {
            trace_id,
            span_id: SpanId(nonzero_random()),
            parent: Some(parent),
            flags,
            state: tracestate
                .map(str::trim)
                .filter(|s| {
                    !s.is_empty() && s.len() <= MAX_TRACESTATE && s.bytes().all(|b| (0x20..0x7f).contains(&b))
                })
                .map(str::to_owned),
        }
    }

    /// A span in the same trace whose parent is this one (an internal step).
    pub fn child(&self) -> Self {
        Self {
            span_id: SpanId(nonzero_random()),
            parent: Some(self.span_id),
            ..self.clone()
        }
    }

    /// The `traceparent` naming this span: what calls from it send, and what the
    /// response returns.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }
}

/// Parses a `traceparent`. Version `00` must be exactly four fields; a later
/// version is read by its first four (the spec's forward compatibility); `ff` is invalid.
pub fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, u8)> {
    let value = value.trim();
    let mut parts = value.split('-');
    let version = parts.next()?;
    let (trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?);
    let version = parse_hex_byte(version)?;
    if version == 0xff || (version == 0 && parts.next().is_some()) {
        return None;
    }
    Some((
        TraceId(parse_id(trace)?),
        SpanId(parse_id(parent)?),
        parse_hex_byte(flags)?,
    ))
}

fn parse_hex_byte(s: &str) -> Option<u8> {
    if s.len() != 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u8::from_str_radix(s, 16).ok()
}

fn nonzero_random<const N: usize>() -> [u8; N] {
    loop {
        let bytes: [u8; N] = rand::random();
        if bytes != [0u8; N] {
            return bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn continues_a_valid_traceparent_as_a_child_span() {
        let ctx = TraceContext::from_headers(Some(EXAMPLE), Some("congo=t61rcWkgMzE"));
        assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.parent.unwrap().to_string(), "00f067aa0ba902b7");
        assert_ne!(ctx.span_id, ctx.parent.unwrap());
        assert_eq!(ctx.flags, 1);
        assert_eq!(ctx.state.as_deref(), Some("congo=t61rcWkgMzE"));
        let sent = ctx.traceparent();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{sent}");
        assert_eq!(parse_traceparent(&sent).unwrap().1, ctx.span_id);
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace_and_drops_tracestate() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
            let ctx = TraceContext::from_headers(Some(bad), Some("a=b"));
            assert!(ctx.parent.is_none() && ctx.state.is_none(), "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let (trace, _, flags) = parse_traceparent(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
        )
        .unwrap();
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(flags, 1);
    }

    #[test]
    fn a_root_is_a_valid_traceparent_and_children_share_the_trace() {
        let root = TraceContext::root();
        assert!(root.parent.is_none());
        let (trace, span, _) = parse_traceparent(&root.traceparent()).unwrap();
        assert_eq!((trace, span), (root.trace_id, root.span_id));
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent, Some(root.span_id));
    }
}
