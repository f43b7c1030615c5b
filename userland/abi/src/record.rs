//! Records: what the kernel tells the host about a run, as typed values on
//! a channel of their own (the kernel's second serial port, COM2, which
//! `boot::qemu` attaches to a file), so the host decodes results instead of
//! scraping the log. The log keeps its human-readable lines; records carry
//! the same facts for programs: a process's memory counters when it ends
//! ([`Memstat`]), each test's outcome ([`TestResult`]) and a suite's tally
//! ([`TestSummary`]).
//!
//! A record is one frame; integers are little-endian:
//!
//! ```text
//! magic "KREC" (4) | version (1) | kind (1) | length (4) | payload (length bytes) | checksum (4)
//! ```
//!
//! The checksum is the CRC-32C (Castagnoli, as the swap slots use) of
//! everything between the magic and itself. Payloads, by [`Kind`]:
//!
//! ```text
//! memstat:      text name, policy (1, a CommitPolicy code), counters (2, how many), counter × 8
//! test-result:  suite, text name, status (1, a TestStatus code), [text message, if failed]
//! test-summary: suite, passed (8), failed (8)
//! text:  length (2, at most MAX_TEXT) | UTF-8 bytes
//! suite: 0 (the kernel) | 1, text program name
//! ```
//!
//! A stream is the kernel's records one after the other, after whatever
//! the firmware wrote to the port before the kernel took it over (OVMF
//! echoes its console there): readers start at the first magic
//! ([`first_record`]).
//!
//! The counters are [`MemoryCounters`]'s words in declaration order, so the
//! one declaration of the counters gives the ABI structure, the `memstat`
//! log line and this record. [`VERSION`] changes whenever a payload does
//! (a change to the counters included; a reader also checks their number).
//!
//! The codec is written by hand: the records are three flat structures,
//! and the kernel writes them straight to the port (no buffer, so a panic
//! handler can) through a [`Sink`], with their length counted first. Text
//! longer than [`MAX_TEXT`] is cut at a character boundary ([`clip`]).
//! Decoding borrows its text from the bytes (`Record<&str>`); the host
//! keeps owned copies with [`Record::map`].

use crate::{CommitPolicy, MemoryCounters};
use core::fmt;

/// The first bytes of every record.
pub const MAGIC: [u8; 4] = *b"KREC";
/// The format's version.
pub const VERSION: u8 = 1;
/// Bytes before the payload: magic, version, kind, length.
pub const HEADER: usize = 10;
/// Bytes after the payload: the checksum.
pub const TRAILER: usize = 4;
/// The longest text (a name or a message), in bytes.
pub const MAX_TEXT: usize = 4096;
/// The longest payload a reader accepts (three texts of [`MAX_TEXT`] fit).
pub const MAX_PAYLOAD: usize = 16 * 1024;

static CHECKSUM: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

crate::coded_enum! {
    /// What a record holds.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Kind: u8 {
        /// A [`Memstat`].
        Memstat = 1 => "memstat",
        /// A [`TestResult`].
        TestResult = 2 => "test-result",
        /// A [`TestSummary`].
        TestSummary = 3 => "test-summary",
    }
}

crate::coded_enum! {
    /// How a test ended, as `test_report` and a [`TestResult`] code it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum TestStatus: u8 {
        /// It passed.
        Passed = 1 => "passed",
        /// It failed (with a message).
        Failed = 2 => "failed",
    }
}

/// Whose tests: the kernel's (`ktest`) or a user program's (its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite<S> {
    /// The in-kernel tests.
    Kernel,
    /// A user program's tests (`tests!`), or what `init` tallies.
    Program(S),
}

/// A test's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome<S> {
    /// It passed.
    Passed,
    /// It failed; why.
    Failed(S),
}

/// A process's memory counters when it ended (the `memstat` log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memstat<S> {
    /// The program's name.
    pub name: S,
    /// Its commit policy when it ended.
    pub policy: CommitPolicy,
    /// Every counter (the process id is `counters.pid`).
    pub counters: MemoryCounters,
}

impl<S> Memstat<S> {
    /// The process's id.
    pub fn pid(&self) -> u64 {
        self.counters.pid
    }
}

/// One test's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestResult<S> {
    /// Whose test.
    pub suite: Suite<S>,
    /// The test's name within the suite.
    pub name: S,
    /// How it ended.
    pub outcome: Outcome<S>,
}

/// A suite's tally when its run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestSummary<S> {
    /// Whose tests.
    pub suite: Suite<S>,
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
}

/// One record; `S` is its text (`&str` to write or as decoded, `String`
/// on the host).
// A memstat is four hundred bytes of counters, the other kinds a few
// words; records are written one at a time, and there is no heap to box in.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<S> {
    /// A process ended.
    Memstat(Memstat<S>),
    /// A test ended.
    TestResult(TestResult<S>),
    /// A suite's run ended.
    TestSummary(TestSummary<S>),
}

/// Where an encoder puts its bytes (any `FnMut(&[u8])` is one).
pub trait Sink {
    /// Takes the next bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> Sink for F {
    fn put(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// Counts the bytes put (the payload's length, before it is written).
struct Counter(usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// Passes bytes on and adds them to the checksum.
struct Checked<'a, K: Sink + ?Sized> {
    sink: &'a mut K,
    digest: crc::Digest<'static, u32>,
}

impl<K: Sink + ?Sized> Sink for Checked<'_, K> {
    fn put(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.sink.put(bytes);
    }
}

/// `text` cut to at most [`MAX_TEXT`] bytes, at a character boundary.
pub fn clip(text: &str) -> &str {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn put_text(sink: &mut impl Sink, text: &str) {
    let text = clip(text);
    sink.put(&(text.len() as u16).to_le_bytes());
    sink.put(text.as_bytes());
}

fn put_suite<S: AsRef<str>>(sink: &mut impl Sink, suite: &Suite<S>) {
    match suite {
        Suite::Kernel => sink.put(&[0]),
        Suite::Program(name) => {
            sink.put(&[1]);
            put_text(sink, name.as_ref());
        }
    }
}

impl<S> Record<S> {
    /// What it holds.
    pub fn kind(&self) -> Kind {
        match self {
            Record::Memstat(_) => Kind::Memstat,
            Record::TestResult(_) => Kind::TestResult,
            Record::TestSummary(_) => Kind::TestSummary,
        }
    }

    /// The same record with each text turned into `f(text)` (e.g.
    /// `String::from`, to keep a decoded record past its bytes).
    pub fn map<T>(self, mut f: impl FnMut(S) -> T) -> Record<T> {
        let suite = |suite: Suite<S>, f: &mut dyn FnMut(S) -> T| match suite {
            Suite::Kernel => Suite::Kernel,
            Suite::Program(name) => Suite::Program(f(name)),
        };
        match self {
            Record::Memstat(Memstat { name, policy, counters }) => Record::Memstat(Memstat { name: f(name), policy, counters }),
            Record::TestResult(TestResult { suite: owner, name, outcome }) => Record::TestResult(TestResult {
                suite: suite(owner, &mut f),
                name: f(name),
                outcome: match outcome {
                    Outcome::Passed => Outcome::Passed,
                    Outcome::Failed(message) => Outcome::Failed(f(message)),
                },
            }),
            Record::TestSummary(TestSummary { suite: owner, passed, failed }) => {
                Record::TestSummary(TestSummary { suite: suite(owner, &mut f), passed, failed })
            }
        }
    }
}

impl<S: AsRef<str>> Record<S> {
    fn payload(&self, sink: &mut impl Sink) {
        match self {
            Record::Memstat(memstat) => {
                put_text(sink, memstat.name.as_ref());
                sink.put(&[memstat.policy.code() as u8]);
                sink.put(&(MemoryCounters::WORDS as u16).to_le_bytes());
                for word in memstat.counters.to_words() {
                    sink.put(&word.to_le_bytes());
                }
            }
            Record::TestResult(result) => {
                put_suite(sink, &result.suite);
                put_text(sink, result.name.as_ref());
                match &result.outcome {
                    Outcome::Passed => sink.put(&[TestStatus::Passed.code()]),
                    Outcome::Failed(message) => {
                        sink.put(&[TestStatus::Failed.code()]);
                        put_text(sink, message.as_ref());
                    }
                }
            }
            Record::TestSummary(summary) => {
                put_suite(sink, &summary.suite);
                sink.put(&summary.passed.to_le_bytes());
                sink.put(&summary.failed.to_le_bytes());
            }
        }
    }

    /// The payload's length in bytes.
    fn payload_len(&self) -> usize {
        let mut counter = Counter(0);
        self.payload(&mut counter);
        counter.0
    }

    /// The whole frame's length in bytes.
    pub fn encoded_len(&self) -> usize {
        HEADER + self.payload_len() + TRAILER
    }

    /// Writes the record's frame to `sink` (texts [`clip`]ped).
    pub fn encode<K: Sink + ?Sized>(&self, sink: &mut K) {
        let length = self.payload_len() as u32;
        sink.put(&MAGIC);
        let mut checked = Checked { sink, digest: CHECKSUM.digest() };
        checked.put(&[VERSION, self.kind().code()]);
        checked.put(&length.to_le_bytes());
        self.payload(&mut checked);
        let checksum = checked.digest.finalize();
        checked.sink.put(&checksum.to_le_bytes());
    }
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame runs past the end of the bytes: `needed` bytes for it,
    /// `available` there.
    Truncated {
        /// Bytes the frame needs (as far as its header tells).
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// It does not start with [`MAGIC`].
    BadMagic([u8; 4]),
    /// A version this reader does not know.
    UnsupportedVersion(u8),
    /// A kind this version does not have.
    UnknownKind(u8),
    /// A payload longer than [`MAX_PAYLOAD`].
    TooLong(u32),
    /// The checksum does not match the bytes.
    Checksum {
        /// The checksum in the frame.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// The payload ends inside a field.
    ShortPayload,
    /// The payload goes on after its last field (this many bytes).
    TrailingBytes(usize),
    /// A text longer than [`MAX_TEXT`].
    TextTooLong(usize),
    /// A text that is not UTF-8.
    NotUtf8,
    /// A suite tag that is neither the kernel's nor a program's.
    UnknownSuite(u8),
    /// A [`TestStatus`] code that does not exist.
    UnknownStatus(u8),
    /// A [`CommitPolicy`] code that does not exist.
    UnknownPolicy(u8),
    /// A memstat with another number of counters than [`MemoryCounters`]
    /// has (a kernel built from other sources).
    CounterCount {
        /// How many this reader has.
        expected: usize,
        /// How many the record has.
        found: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, available } => write!(f, "truncated: the record needs {needed} bytes, {available} are left"),
            DecodeError::BadMagic(found) => write!(f, "no record here (starts {found:02x?}, not {MAGIC:02x?})"),
            DecodeError::UnsupportedVersion(version) => write!(f, "record version {version}, this reader knows {VERSION}"),
            DecodeError::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            DecodeError::TooLong(length) => write!(f, "payload of {length} bytes, over the {MAX_PAYLOAD}-byte limit"),
            DecodeError::Checksum { stored, computed } => write!(f, "checksum {stored:#010x} stored, {computed:#010x} computed"),
            DecodeError::ShortPayload => f.write_str("the payload ends inside a field"),
            DecodeError::TrailingBytes(count) => write!(f, "{count} bytes after the payload's last field"),
            DecodeError::TextTooLong(length) => write!(f, "text of {length} bytes, over the {MAX_TEXT}-byte limit"),
            DecodeError::NotUtf8 => f.write_str("text that is not UTF-8"),
            DecodeError::UnknownSuite(tag) => write!(f, "unknown suite tag {tag}"),
            DecodeError::UnknownStatus(code) => write!(f, "unknown test status {code}"),
            DecodeError::UnknownPolicy(code) => write!(f, "unknown commit policy {code}"),
            DecodeError::CounterCount { expected, found } => write!(f, "{found} memory counters, this reader has {expected}"),
        }
    }
}

/// Reads a payload's fields in order.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let (taken, rest) = self.bytes.split_at_checked(count).ok_or(DecodeError::ShortPayload)?;
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn word(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let length = usize::from(u16::from_le_bytes(self.array()?));
        if length > MAX_TEXT {
            return Err(DecodeError::TextTooLong(length));
        }
        core::str::from_utf8(self.take(length)?).map_err(|_| DecodeError::NotUtf8)
    }

    fn suite(&mut self) -> Result<Suite<&'a str>, DecodeError> {
        match self.byte()? {
            0 => Ok(Suite::Kernel),
            1 => Ok(Suite::Program(self.text()?)),
            tag => Err(DecodeError::UnknownSuite(tag)),
        }
    }

    fn record(&mut self, kind: Kind) -> Result<Record<&'a str>, DecodeError> {
        Ok(match kind {
            Kind::Memstat => {
                let name = self.text()?;
                let code = self.byte()?;
                let policy = CommitPolicy::from_code(u64::from(code)).ok_or(DecodeError::UnknownPolicy(code))?;
                let found = usize::from(u16::from_le_bytes(self.array()?));
                if found != MemoryCounters::WORDS {
                    return Err(DecodeError::CounterCount { expected: MemoryCounters::WORDS, found });
                }
                let mut words = [0; MemoryCounters::WORDS];
                for word in &mut words {
                    *word = self.word()?;
                }
                Record::Memstat(Memstat { name, policy, counters: MemoryCounters::from_words(words) })
            }
            Kind::TestResult => {
                let suite = self.suite()?;
                let name = self.text()?;
                let code = self.byte()?;
                let outcome = match TestStatus::from_code(code).ok_or(DecodeError::UnknownStatus(code))? {
                    TestStatus::Passed => Outcome::Passed,
                    TestStatus::Failed => Outcome::Failed(self.text()?),
                };
                Record::TestResult(TestResult { suite, name, outcome })
            }
            Kind::TestSummary => {
                let suite = self.suite()?;
                Record::TestSummary(TestSummary { suite, passed: self.word()?, failed: self.word()? })
            }
        })
    }
}

/// Decodes the record at the start of `bytes`; returns it and the bytes
/// its frame took.
pub fn decode(bytes: &[u8]) -> Result<(Record<&str>, usize), DecodeError> {
    let truncated = |needed| DecodeError::Truncated { needed, available: bytes.len() };
    let magic = &bytes[..bytes.len().min(MAGIC.len())];
    if magic != &MAGIC[..magic.len()] {
        let mut found = [0; 4];
        found[..magic.len()].copy_from_slice(magic);
        return Err(DecodeError::BadMagic(found));
    }
    let header = bytes.get(..HEADER).ok_or(truncated(HEADER))?;
    let version = header[4];
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind = Kind::from_code(header[5]).ok_or(DecodeError::UnknownKind(header[5]))?;
    let length = u32::from_le_bytes([header[6], header[7], header[8], header[9]]);
    if length as usize > MAX_PAYLOAD {
        return Err(DecodeError::TooLong(length));
    }
    let end = HEADER + length as usize;
    let frame = bytes.get(..end + TRAILER).ok_or(truncated(end + TRAILER))?;
    let stored = u32::from_le_bytes([frame[end], frame[end + 1], frame[end + 2], frame[end + 3]]);
    let computed = CHECKSUM.checksum(&frame[MAGIC.len()..end]);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let mut fields = Fields { bytes: &frame[HEADER..end] };
    let record = fields.record(kind)?;
    if !fields.bytes.is_empty() {
        return Err(DecodeError::TrailingBytes(fields.bytes.len()));
    }
    Ok((record, end + TRAILER))
}

/// Where the first record of a stream starts: the bytes before it (all of
/// them if no record starts) are what firmware wrote to the port before
/// the kernel took it over (OVMF echoes its console to every serial port).
/// From there on a stream is records only.
pub fn first_record(bytes: &[u8]) -> usize {
    bytes.windows(MAGIC.len()).position(|window| window == MAGIC).unwrap_or(bytes.len())
}

/// A record that could not be read from a stream, and where it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamError {
    /// The byte offset of the bad record in the stream.
    pub offset: usize,
    /// What is wrong with it.
    pub error: DecodeError,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record at byte {}: {}", self.offset, self.error)
    }
}

/// The records of a stream, one after the other, from the first
/// ([`first_record`]); at the first one that cannot be read it yields that
/// error and ends (what follows a damaged record cannot be trusted to be
/// where it seems). Offsets count from the start of the whole stream.
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, a whole stream.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, offset: first_record(bytes), failed: false }
    }

    /// Bytes skipped before the first record (firmware output).
    pub fn preamble(&self) -> usize {
        first_record(self.bytes)
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Record<&'a str>, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset == self.bytes.len() {
            return None;
        }
        match decode(&self.bytes[self.offset..]) {
            Ok((record, length)) => {
                self.offset += length;
                Some(Ok(record))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(StreamError { offset: self.offset, error }))
            }
        }
    }
}

#[cfg(test)]
mod tests;
