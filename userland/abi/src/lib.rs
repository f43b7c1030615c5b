//! The system-call ABI shared by the kernel and user programs.
//!
//! Calling convention (the `syscall` instruction): the number in `rax`,
//! arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`; the result comes back
//! in `rax`. A result `>= 0` is success; a negative result is `-(Error)`.
//! `rcx` and `r11` are clobbered (the CPU uses them for the return), every
//! other register is preserved.
//!
//! Pointers are passed as plain integers together with a length; the kernel
//! treats them as claims to be checked against the caller's mappings.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// System-call numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Syscall {
    /// `exit(code: i32) -> !`: ends the calling process.
    Exit = 0,
    /// `spawn(path_ptr, path_len, argv_ptr: *const Arg, argc) -> pid`.
    Spawn = 1,
    /// `wait(pid, status_ptr: *mut WaitStatus) -> pid`: waits for a child
    /// (`pid` 0: any child) to end and reports how it ended.
    Wait = 2,
    /// `yield() -> 0`: gives up the rest of the time slice.
    Yield = 3,
    /// `sleep(ticks) -> 0`: blocks for at least `ticks` timer ticks.
    Sleep = 4,
    /// `getpid() -> pid`.
    GetPid = 5,
    /// `clock(out_ptr: *mut Clock) -> 0`.
    Clock = 6,
    /// `write(buffer_ptr, length) -> length`: writes to the console.
    Write = 7,
    /// `read_file(path_ptr, path_len, buffer_ptr, buffer_len, offset) -> bytes`:
    /// reads from a ramdisk file; with a zero-length buffer returns the file size.
    ReadFile = 8,
    /// `map_anonymous(length) -> address`: maps zeroed, writable, non-executable
    /// memory (committed on first touch) for the process's heap.
    MapAnonymous = 9,
    /// `unmap_anonymous(address, length) -> 0`: unmaps what `map_anonymous` mapped.
    UnmapAnonymous = 10,
    /// `system_info(out_ptr: *mut SystemInfo) -> 0`: kernel-wide counters.
    SystemInfo = 11,
    /// `partition_create(size, kind, rights) -> id`: a new partition of
    /// `size` bytes (rounded up to pages), nothing committed.
    PartitionCreate = 12,
    /// `partition_destroy(id) -> 0`: frees everything committed and the range.
    PartitionDestroy = 13,
    /// `partition_query(id, out_ptr: *mut PartitionInfo) -> 0`.
    PartitionQuery = 14,
    /// `partition_commit(id, offset, length) -> pages`: commits ahead of use.
    PartitionCommit = 15,
    /// `partition_decommit(id, offset, length) -> pages`: drops committed
    /// pages; their contents are gone (the caller says it does not need them).
    PartitionDecommit = 16,
    /// `partition_resize(id, size) -> 0`: grows (in place, or by adding a
    /// range when the pages after it are taken) or shrinks (dropping the
    /// pages cut off) to `size` bytes.
    PartitionResize = 17,
    /// `partition_protect(id, rights) -> 0`: changes the rights of every
    /// page, never beyond the rights the partition was created with.
    PartitionProtect = 18,
}

impl Syscall {
    /// Every system call, in number order.
    pub const ALL: [Syscall; 19] = [
        Syscall::Exit,
        Syscall::Spawn,
        Syscall::Wait,
        Syscall::Yield,
        Syscall::Sleep,
        Syscall::GetPid,
        Syscall::Clock,
        Syscall::Write,
        Syscall::ReadFile,
        Syscall::MapAnonymous,
        Syscall::UnmapAnonymous,
        Syscall::SystemInfo,
        Syscall::PartitionCreate,
        Syscall::PartitionDestroy,
        Syscall::PartitionQuery,
        Syscall::PartitionCommit,
        Syscall::PartitionDecommit,
        Syscall::PartitionResize,
        Syscall::PartitionProtect,
    ];

    /// The call with number `number`, if any.
    pub fn from_number(number: u64) -> Option<Syscall> {
        Syscall::ALL.get(usize::try_from(number).ok()?).copied()
    }
}

/// Why a system call failed. Codes are never zero; on the wire a failure is
/// the negated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i64)]
pub enum Error {
    /// No system call has that number.
    UnknownSyscall = 1,
    /// A pointer argument is null, unaligned, outside user space, unmapped,
    /// or lacks the rights the call needs.
    BadAddress = 2,
    /// An argument is out of range.
    InvalidArgument = 3,
    /// No such file or process.
    NotFound = 4,
    /// The kernel ran out of memory for this request.
    OutOfMemory = 5,
    /// The caller has no child to wait for (or not that one).
    NoChild = 6,
    /// A length or size is larger than the kernel accepts.
    TooLarge = 7,
    /// The file is not a valid executable for this kernel.
    BadExecutable = 8,
    /// Text that must be UTF-8 is not.
    InvalidUtf8 = 9,
    /// The per-process or system limit on processes was reached.
    TooManyProcesses = 10,
    /// The object exists but belongs to someone else, or the request asks
    /// for more rights than were granted.
    PermissionDenied = 11,
}

impl Error {
    /// Every error, in code order.
    pub const ALL: [Error; 11] = [
        Error::UnknownSyscall,
        Error::BadAddress,
        Error::InvalidArgument,
        Error::NotFound,
        Error::OutOfMemory,
        Error::NoChild,
        Error::TooLarge,
        Error::BadExecutable,
        Error::InvalidUtf8,
        Error::TooManyProcesses,
        Error::PermissionDenied,
    ];

    /// The positive code.
    pub const fn code(self) -> i64 {
        self as i64
    }

    /// The error with `code`, if any.
    pub fn from_code(code: i64) -> Option<Error> {
        Error::ALL.iter().copied().find(|error| error.code() == code)
    }

    /// A short name.
    pub const fn name(self) -> &'static str {
        match self {
            Error::UnknownSyscall => "unknown system call",
            Error::BadAddress => "bad address",
            Error::InvalidArgument => "invalid argument",
            Error::NotFound => "not found",
            Error::OutOfMemory => "out of memory",
            Error::NoChild => "no such child",
            Error::TooLarge => "too large",
            Error::BadExecutable => "bad executable",
            Error::InvalidUtf8 => "invalid UTF-8",
            Error::TooManyProcesses => "too many processes",
            Error::PermissionDenied => "permission denied",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Encodes a result for `rax`.
pub fn encode(result: Result<u64, Error>) -> u64 {
    match result {
        Ok(value) => value,
        Err(error) => (-error.code()) as u64,
    }
}

/// Decodes `rax` after a system call. Values that are negative as `i64` but
/// name no error decode as `InvalidArgument` (they cannot come from a
/// correct kernel).
pub fn decode(raw: u64) -> Result<u64, Error> {
    let signed = raw as i64;
    if signed >= 0 {
        Ok(raw)
    } else {
        Err(signed.checked_neg().and_then(Error::from_code).unwrap_or(Error::InvalidArgument))
    }
}

/// One argument of `spawn`: a pointer and length of UTF-8 text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Arg {
    /// Address of the text.
    pub ptr: u64,
    /// Length in bytes.
    pub len: u64,
}

/// What `clock` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Clock {
    /// Timer ticks since boot.
    pub ticks: u64,
    /// Timer ticks per second.
    pub tick_hz: u64,
    /// The time-stamp counter.
    pub tsc: u64,
    /// TSC cycles per second.
    pub tsc_hz: u64,
}

/// Kernel-wide counters reported by `system_info`, for tests and experiments
/// (e.g. checking that everything a workload allocated came back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SystemInfo {
    /// Physical frames free.
    pub free_frames: u64,
    /// Frames allocated to user processes.
    pub user_frames: u64,
    /// Frames allocated to the kernel (page tables, stacks, heap, ...).
    pub kernel_frames: u64,
    /// Bytes mapped for the kernel heap (it never shrinks).
    pub kernel_heap_bytes: u64,
    /// Processes in the process table (alive or not yet reaped).
    pub processes: u64,
    /// Processes spawned since boot.
    pub spawned: u64,
    /// Context switches since boot.
    pub context_switches: u64,
    /// Live tasks (kernel tasks and processes).
    pub tasks: u64,
}

impl SystemInfo {
    /// Number of `u64` fields (the structure is exactly this many words).
    pub const WORDS: usize = 8;

    /// The fields in declaration order.
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        [
            self.free_frames,
            self.user_frames,
            self.kernel_frames,
            self.kernel_heap_bytes,
            self.processes,
            self.spawned,
            self.context_switches,
            self.tasks,
        ]
    }
}

/// What a partition holds (`partition_create`'s `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartitionKind {
    /// Program code.
    Code,
    /// Initialised data and bss.
    Data,
    /// Heap memory.
    Heap,
    /// A stack.
    Stack,
    /// An I/O or work buffer.
    Buffer,
    /// Memory shared between processes.
    Shared,
    /// A kind the program defines (a 16-bit tag).
    User(u16),
}

impl PartitionKind {
    const USER_BASE: u64 = 0x1_0000;

    /// The code passed in system calls.
    pub const fn code(self) -> u64 {
        match self {
            PartitionKind::Code => 1,
            PartitionKind::Data => 2,
            PartitionKind::Heap => 3,
            PartitionKind::Stack => 4,
            PartitionKind::Buffer => 5,
            PartitionKind::Shared => 6,
            PartitionKind::User(tag) => Self::USER_BASE + tag as u64,
        }
    }

    /// The kind with code `code`.
    pub fn from_code(code: u64) -> Option<PartitionKind> {
        Some(match code {
            1 => PartitionKind::Code,
            2 => PartitionKind::Data,
            3 => PartitionKind::Heap,
            4 => PartitionKind::Stack,
            5 => PartitionKind::Buffer,
            6 => PartitionKind::Shared,
            code if (Self::USER_BASE..=Self::USER_BASE + u64::from(u16::MAX)).contains(&code) => {
                PartitionKind::User((code - Self::USER_BASE) as u16)
            }
            _ => return None,
        })
    }
}

/// One row of the partition table, as `partition_query` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct PartitionInfo {
    /// Partition id.
    pub id: u64,
    /// `PartitionKind` code.
    pub kind: u64,
    /// `Rights` bits.
    pub rights: u64,
    /// Address of its first range.
    pub base: u64,
    /// Size in bytes (all ranges).
    pub size: u64,
    /// Number of virtual ranges.
    pub ranges: u64,
    /// Pages committed now.
    pub committed_pages: u64,
    /// Physically contiguous extents of the committed frames.
    pub extents: u64,
    /// Pages committed by a fault.
    pub demand_commits: u64,
    /// Pages committed ahead of use (commit requests).
    pub ahead_commits: u64,
    /// Pages committed ahead and later touched.
    pub hits: u64,
    /// Pages committed ahead and not touched (yet).
    pub untouched: u64,
    /// Pages decommitted.
    pub decommits: u64,
    /// Most pages committed at once.
    pub peak_committed: u64,
}

impl PartitionInfo {
    /// Number of `u64` fields.
    pub const WORDS: usize = 14;

    /// The fields in declaration order.
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        [
            self.id,
            self.kind,
            self.rights,
            self.base,
            self.size,
            self.ranges,
            self.committed_pages,
            self.extents,
            self.demand_commits,
            self.ahead_commits,
            self.hits,
            self.untouched,
            self.decommits,
            self.peak_committed,
        ]
    }
}

/// The kind of fault that killed a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FaultKind {
    /// Access to the first page (a null pointer).
    NullDereference = 1,
    /// Access to unmapped memory (or to kernel memory).
    UnmappedAccess = 2,
    /// A write to read-only memory, such as code.
    WriteToReadOnly = 3,
    /// An instruction fetch from non-executable memory.
    ExecuteNonExecutable = 4,
    /// The stack grew into its guard page.
    StackOverflow = 5,
    /// General protection fault (privileged instruction, non-canonical address, ...).
    GeneralProtection = 6,
    /// Undefined instruction.
    InvalidOpcode = 7,
    /// Division by zero or overflow.
    DivideError = 8,
    /// Any other exception.
    OtherException = 9,
    /// A page the process may touch could not be committed: memory is exhausted.
    OutOfMemory = 10,
}

impl FaultKind {
    /// Every kind, in code order.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::NullDereference,
        FaultKind::UnmappedAccess,
        FaultKind::WriteToReadOnly,
        FaultKind::ExecuteNonExecutable,
        FaultKind::StackOverflow,
        FaultKind::GeneralProtection,
        FaultKind::InvalidOpcode,
        FaultKind::DivideError,
        FaultKind::OtherException,
        FaultKind::OutOfMemory,
    ];

    /// The kind with code `code`.
    pub fn from_code(code: u32) -> Option<FaultKind> {
        FaultKind::ALL.iter().copied().find(|kind| *kind as u32 == code)
    }

    /// The name used in fault reports (`fault=<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::NullDereference => "null-dereference",
            FaultKind::UnmappedAccess => "unmapped-access",
            FaultKind::WriteToReadOnly => "write-to-read-only",
            FaultKind::ExecuteNonExecutable => "execute-non-executable",
            FaultKind::StackOverflow => "stack-overflow",
            FaultKind::GeneralProtection => "general-protection",
            FaultKind::InvalidOpcode => "invalid-opcode",
            FaultKind::DivideError => "divide-error",
            FaultKind::OtherException => "exception",
            FaultKind::OutOfMemory => "out-of-memory",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a child ended, as written by `wait`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct WaitStatus {
    /// The child's process id.
    pub pid: u64,
    /// 0: exited with `code`; 1: killed by fault `fault` at `address`.
    pub how: u32,
    /// The exit code (when `how` is 0).
    pub code: i32,
    /// The `FaultKind` code (when `how` is 1).
    pub fault: u32,
    /// Padding.
    pub reserved: u32,
    /// The faulting address (when `how` is 1).
    pub address: u64,
}

/// A decoded [`WaitStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The process called `exit(code)` (or its runtime did).
    Exited(i32),
    /// The kernel killed the process for a fault.
    Faulted {
        /// What went wrong.
        kind: FaultKind,
        /// The address involved.
        address: u64,
    },
}

impl WaitStatus {
    /// A status for a normal exit.
    pub fn exited(pid: u64, code: i32) -> WaitStatus {
        WaitStatus { pid, how: 0, code, ..WaitStatus::default() }
    }

    /// A status for a fault.
    pub fn faulted(pid: u64, kind: FaultKind, address: u64) -> WaitStatus {
        WaitStatus { pid, how: 1, fault: kind as u32, address, ..WaitStatus::default() }
    }

    /// Decodes the status; `None` if malformed.
    pub fn reason(&self) -> Option<ExitReason> {
        match self.how {
            0 => Some(ExitReason::Exited(self.code)),
            1 => FaultKind::from_code(self.fault).map(|kind| ExitReason::Faulted { kind, address: self.address }),
            _ => None,
        }
    }
}

bitflags::bitflags! {
    /// Access rights, in seL4's vocabulary.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u32 {
        /// May read.
        const READ = 1 << 0;
        /// May write.
        const WRITE = 1 << 1;
        /// May execute.
        const EXECUTE = 1 << 2;
        /// May pass these rights on.
        const GRANT = 1 << 3;
    }
}

/// Limits the kernel enforces on arguments.
pub mod limits {
    /// Longest path.
    pub const MAX_PATH: u64 = 256;
    /// Most arguments to `spawn`.
    pub const MAX_ARGS: u64 = 64;
    /// Longest single argument.
    pub const MAX_ARG_LEN: u64 = 4096;
    /// Largest `write`.
    pub const MAX_WRITE: u64 = 64 * 1024;
    /// Largest single `map_anonymous`.
    pub const MAX_MAP: u64 = 1 << 30;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for (number, call) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*call as u64, number as u64);
            assert_eq!(Syscall::from_number(number as u64), Some(*call));
        }
        assert_eq!(Syscall::from_number(Syscall::ALL.len() as u64), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }

    #[test]
    fn errors_are_never_zero_and_round_trip_through_rax() {
        for error in Error::ALL {
            assert!(error.code() > 0);
            let raw = encode(Err(error));
            assert!((raw as i64) < 0);
            assert_eq!(decode(raw), Err(error));
        }
        assert_eq!(decode(encode(Ok(0))), Ok(0));
        assert_eq!(decode(encode(Ok(12345))), Ok(12345));
        assert_eq!(decode(u64::MAX - 1000), Err(Error::InvalidArgument));
        assert_eq!(decode(i64::MIN as u64), Err(Error::InvalidArgument));
    }

    #[test]
    fn wait_status_round_trips() {
        assert_eq!(WaitStatus::exited(3, -7).reason(), Some(ExitReason::Exited(-7)));
        for kind in FaultKind::ALL {
            let status = WaitStatus::faulted(4, kind, 0x1000);
            assert_eq!(status.reason(), Some(ExitReason::Faulted { kind, address: 0x1000 }));
        }
        assert_eq!(WaitStatus { how: 9, ..WaitStatus::default() }.reason(), None);
        assert_eq!(size_of::<WaitStatus>(), 32);
    }

    #[test]
    fn system_info_is_exactly_its_words() {
        assert_eq!(size_of::<SystemInfo>(), SystemInfo::WORDS * 8);
        let info = SystemInfo { free_frames: 1, tasks: 8, ..SystemInfo::default() };
        assert_eq!(info.to_words(), [1, 0, 0, 0, 0, 0, 0, 8]);
    }

    #[test]
    fn partition_kinds_round_trip() {
        let kinds = [
            PartitionKind::Code,
            PartitionKind::Data,
            PartitionKind::Heap,
            PartitionKind::Stack,
            PartitionKind::Buffer,
            PartitionKind::Shared,
            PartitionKind::User(0),
            PartitionKind::User(u16::MAX),
        ];
        for kind in kinds {
            assert_eq!(PartitionKind::from_code(kind.code()), Some(kind));
        }
        for bad in [0, 7, 0xffff, 0x2_0000, u64::MAX] {
            assert_eq!(PartitionKind::from_code(bad), None, "{bad:#x}");
        }
        assert_eq!(size_of::<PartitionInfo>(), PartitionInfo::WORDS * 8);
    }

    #[test]
    fn fault_names_are_distinct() {
        for (i, a) in FaultKind::ALL.iter().enumerate() {
            for b in &FaultKind::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
