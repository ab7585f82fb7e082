//! Server-Sent Events framing, as the WHATWG HTML standard ("event stream
//! interpretation") defines it, for bytes that arrive in arbitrary pieces.
//!
//! Written here rather than taken from `eventsource-stream` for three reasons: the
//! driver must tell comment lines (keep-alives, which never count as progress) apart
//! from events, which that crate hides; it must flush a final event that lacks its
//! closing blank line (several servers end that way) while dropping a final line that
//! was cut mid-way; and the whole parser is small enough to test exhaustively (every
//! split point of every fixture, LF and CRLF).
//!
//! Lines end at LF, CRLF or a lone CR. Bytes are buffered until a line is complete, so
//! a chunk that ends inside a multi-byte UTF-8 character is harmless: line ends are
//! ASCII bytes, which never occur inside a multi-byte character.

/// One dispatched event: its `event:` name, if any, and its `data:` lines joined by
/// `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if the event had one.
    pub(crate) event: Option<String>,
    /// The `data:` lines, joined by `\n`, without the final newline.
    pub(crate) data: String,
}

/// What a chunk of bytes turned into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SseOutput {
    /// Events completed by this chunk, in order.
    pub(crate) events: Vec<SseEvent>,
    /// Comment lines (`: keep-alive`) seen in this chunk; they are not progress.
    pub(crate) comments: usize,
}

/// An incremental SSE parser.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with CR, so a leading LF in the next one belongs to it.
    after_cr: bool,
    /// Whether the byte-order mark check has been done.
    started: bool,
    /// The current event's name.
    event: Option<String>,
    /// The current event's data lines, each followed by `\n`.
    data: String,
    /// Whether the current event has had a `data` field at all.
    has_data: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of bytes; returns the events (and comments) it completed.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) -> SseOutput {
        let out = SseOutput::default();
        if !self.started && !chunk.is_empty() {
            // A UTF-8 byte-order mark may open the stream; it is not part of a field.
            self.line.extend_from_slice(chunk);
            if self.line.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.line) {
                return out;
            }
            self.started = true;
            let buffered = std::mem::take(&mut self.line);
            let rest = buffered.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buffered);
            return self.push_bytes(rest, out);
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        self.push_bytes(chunk, out)
    }

    /// Ends the stream: a last event whose lines were complete but which lacked its
    /// closing blank line is dispatched; a last line that was cut mid-way is dropped.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        self.line.clear();
        self.dispatch()
    }

    fn push_bytes(&mut self, chunk: &[u8], mut out: SseOutput) -> SseOutput {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let terminator = rest[end];
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            self.take_line(&line, &mut out);
        }
        self.line.extend_from_slice(rest);
        out
    }

    fn take_line(&mut self, line: &[u8], out: &mut SseOutput) {
        if line.is_empty() {
            if let Some(event) = self.dispatch() {
                out.events.push(event);
            }
            return;
        }
        if line[0] == b':' {
            out.comments += 1;
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` matter to browsers reconnecting; a model call is never
            // resumed, so they are ignored like any unknown field.
            _ => {}
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        Some(SseEvent { event, data })
    }
}
