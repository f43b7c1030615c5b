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

/// The size of a page, in bytes: the unit of every partition, commit and
/// swap slot, for the kernel and user programs alike.
pub const PAGE_SIZE: u64 = 4096;

/// Declares a coded enum: a fieldless enum whose variants each have a code
/// (the discriminant, as it crosses the system-call boundary or a wire
/// format) and a name (as logs, CSV rows and command lines spell it), each
/// written once with its variant.
///
/// `enum Name: u64 { Variant = 0 => "name", ... }` gives the enum
/// `#[repr(u64)]` (the attributes before it are kept) and generates `ALL`
/// (every variant, in code order), `code`, `from_code`, `name` and
/// `from_name`. Variants must be declared in increasing code order (checked
/// at compile time); codes need not be contiguous. A duplicated name is an
/// unreachable pattern in `from_name`, so a warning.
///
/// ```
/// abi::coded_enum! {
///     /// A colour.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Colour: u8 {
///         /// Red.
///         Red = 1 => "red",
///         /// Green.
///         Green = 4 => "green",
///     }
/// }
/// assert_eq!(Colour::ALL, [Colour::Red, Colour::Green]);
/// assert_eq!((Colour::Green.code(), Colour::Green.name()), (4, "green"));
/// assert_eq!(Colour::from_code(4), Some(Colour::Green));
/// assert_eq!(Colour::from_code(2), None);
/// assert_eq!(Colour::from_name("red"), Some(Colour::Red));
/// ```
#[macro_export]
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $code:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $value:literal => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr($code)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant = $value,)+
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// Its code.
            pub const fn code(self) -> $code {
                self as $code
            }

            /// The variant with code `code`, if any.
            pub const fn from_code(code: $code) -> Option<$name> {
                match code {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Its name.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant named `name` (as [`Self::name`] spells it), if any.
            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        // `ALL` is in declaration order: make that code order.
        const _: () = {
            let mut index = 1;
            while index < $name::ALL.len() {
                assert!($name::ALL[index - 1].code() < $name::ALL[index].code(), "variants out of code order");
                index += 1;
            }
        };
    };
}

coded_enum! {
    /// System-call numbers, each named as the runtime's wrapper is
    /// (`partition_commit`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Syscall: u64 {
        /// `exit(code: i32) -> !`: ends the calling process.
        Exit = 0 => "exit",
        /// `spawn(path_ptr, path_len, argv_ptr: *const Arg, argc, budget,
        /// handles_ptr) -> pid`: `budget` is the child's memory budget in
        /// pages from its first page on, as `memory_budget` would set it (0:
        /// none); `handles_ptr` (0: none) points to a count `n` (at most
        /// [`ipc::MAX_HANDLES`]) and `n` [`ipc::HandleTransfer`]s, the
        /// child's startup handles.
        Spawn = 1 => "spawn",
        /// `wait(pid, status_ptr: *mut WaitStatus) -> pid`: waits for a child
        /// (`pid` 0: any child) to end and reports how it ended.
        Wait = 2 => "wait",
        /// `yield() -> 0`: gives up the rest of the time slice.
        Yield = 3 => "yield",
        /// `sleep(ticks) -> 0`: blocks for at least `ticks` timer ticks.
        Sleep = 4 => "sleep",
        /// `getpid() -> pid`.
        GetPid = 5 => "getpid",
        /// `clock(out_ptr: *mut Clock) -> 0`.
        Clock = 6 => "clock",
        /// `write(buffer_ptr, length) -> length`: writes to the console.
        Write = 7 => "write",
        /// `read_file(path_ptr, path_len, buffer_ptr, buffer_len, offset) -> bytes`:
        /// reads from a ramdisk file; with a zero-length buffer returns the file size.
        ReadFile = 8 => "read_file",
        /// `system_info(out_ptr: *mut SystemInfo) -> 0`: kernel-wide counters.
        SystemInfo = 9 => "system_info",
        /// `partition_create(size, kind, rights, at, base_out: *mut u64) -> id`:
        /// a new partition of `size` bytes (rounded up to pages), nothing
        /// committed, at address `at` (0: wherever it fits); its address is
        /// written to `base_out` unless that is 0.
        PartitionCreate = 10 => "partition_create",
        /// `partition_destroy(id) -> 0`: frees everything committed and the ranges.
        PartitionDestroy = 11 => "partition_destroy",
        /// `partition_query(id, out_ptr: *mut PartitionInfo) -> 0`.
        PartitionQuery = 12 => "partition_query",
        /// `partition_list(ids_out: *mut u64, capacity) -> count`: the ids of
        /// the caller's partitions in id order (at most `capacity` written);
        /// returns how many there are.
        PartitionList = 13 => "partition_list",
        /// `partition_commit(id, offset, length) -> pages`: commits ahead of use.
        PartitionCommit = 14 => "partition_commit",
        /// `partition_decommit(id, offset, length) -> pages`: drops committed
        /// pages; their contents are gone (the caller says it does not need them).
        PartitionDecommit = 15 => "partition_decommit",
        /// `partition_resize(id, size) -> 0`: grows (in place, or by adding a
        /// range when the pages after it are taken) or shrinks (dropping the
        /// pages cut off) to `size` bytes.
        PartitionResize = 16 => "partition_resize",
        /// `partition_add_range(id, size, at) -> address`: adds a virtual range
        /// of `size` bytes at `at` (0: wherever it fits); offsets continue
        /// through it after the partition's existing ranges.
        PartitionAddRange = 17 => "partition_add_range",
        /// `partition_protect(id, offset, length, rights) -> 0`: changes the
        /// rights of those pages, never beyond the partition's creation rights.
        PartitionProtect = 18 => "partition_protect",
        /// `partition_advise(id, offset, length, advice) -> pages`: an
        /// [`Advice`] about those pages; will-need commits them (returns pages
        /// committed), dont-need drops them (returns pages dropped), page-out
        /// swaps them out (returns pages swapped out).
        PartitionAdvise = 19 => "partition_advise",
        /// `resource_request(working_set_bytes, lifetime_ticks, deps_ptr:
        /// *const Dependency, deps_count) -> 0`: declares what the caller
        /// expects to need (replacing an earlier declaration).
        ResourceRequest = 20 => "resource_request",
        /// `memory_counters(out_ptr: *mut MemoryCounters) -> 0`: the caller's
        /// memory counters.
        MemoryCounters = 21 => "memory_counters",
        /// `policy_set(policy, path_ptr, path_len) -> previous`: the
        /// [`CommitPolicy`] that decides what the kernel commits ahead of the
        /// caller's faults from now on (a fresh one). `Oracle` reads the future
        /// from the replay file at `path` in the ramdisk; the others take no path.
        PolicySet = 22 => "policy_set",
        /// `memory_budget(pages) -> previous`: the most pages the caller may
        /// have committed at once from now on (0: no limit beyond the
        /// system's); over it, its pages are evicted to swap. From
        /// [`MIN_MEMORY_BUDGET`] to [`MAX_MEMORY_BUDGET`] pages. Returns the
        /// previous budget (0: none).
        MemoryBudget = 23 => "memory_budget",
        /// `swap_debug(op, address) -> 0`: fault injection for the swap tests,
        /// refused (`PermissionDenied`) unless the kernel was booted with
        /// `swap-debug=on`. The caller's page at `address` must be swapped out
        /// (`InvalidArgument` otherwise). [`SWAP_DEBUG_CORRUPT`] flips a bit of
        /// its copy on the device; [`SWAP_DEBUG_FAIL_READ`] makes the next read
        /// of it fail as a device error would.
        SwapDebug = 24 => "swap_debug",
        /// `page_query(address, out_ptr: *mut PageInfo) -> 0`: what the VASM
        /// holds for the caller's page at `address` (`NotFound` outside its
        /// partitions).
        PageQuery = 25 => "page_query",
        /// `pae_model_set(bytes_ptr, bytes_len) -> 0`: puts the model file in
        /// the caller's buffer (at most [`limits::MAX_MODEL`] bytes) in service
        /// for every process that chooses the `pae` policy from now on. Only
        /// `init` (pid 1) may (`PermissionDenied` for any other process). A file
        /// the engine cannot run (malformed, wrong input width, an unsupported
        /// operator) is refused with `BadFormat` and a kernel log line naming the
        /// problem; the model in service stays.
        PaeModelSet = 26 => "pae_model_set",
        /// `pae_layout(index, out_ptr: *mut u64, capacity) -> words`: the
        /// `index`th layout proposal the PAE recorded (oldest first; see
        /// [`layout`]): how many words it has, copied to `out_ptr` if
        /// `capacity` words fit them (nothing written otherwise). `NotFound`
        /// past the last one.
        PaeLayout = 27 => "pae_layout",
        /// `test_report(status, name_ptr, name_len, message_ptr, message_len) -> 0`:
        /// one test of the caller's suite (the suite is the caller's program
        /// name, as the kernel knows it) goes to the host as a
        /// [`record::TestResult`]: `status` is a [`record::TestStatus`] code,
        /// the name 1 to [`record::MAX_TEXT`] bytes, the message (a failed
        /// test's; empty for a passed one) at most `MAX_TEXT` bytes, both
        /// UTF-8. Reports are dropped (and still succeed) when the kernel has
        /// no record channel.
        TestReport = 28 => "test_report",
        /// `test_summary(passed, failed) -> 0`: the caller's tally goes to the
        /// host as a [`record::TestSummary`] of its suite.
        TestSummary = 29 => "test_summary",
        /// `endpoint_create() -> handle`: a new endpoint, under a handle
        /// with [`ipc::ENDPOINT_RIGHTS`] (see [`ipc`]).
        EndpointCreate = 30 => "endpoint_create",
        /// `handle_close(handle) -> 0`: its value names nothing from now on.
        HandleClose = 31 => "handle_close",
        /// `handle_duplicate(handle, rights) -> handle`: a second handle to
        /// the same object with `rights` (at most the handle's; it needs
        /// `DUPLICATE`).
        HandleDuplicate = 32 => "handle_duplicate",
        /// `handle_info(handle) -> kind | rights << 32` ([`ipc::decode_info`]).
        HandleInfo = 33 => "handle_info",
        /// `ipc_send(handle, bytes_ptr, bytes_len, transfers_ptr: *const
        /// [u64; 2], transfer_count) -> 0`: queues a message (never blocks;
        /// [`ipc::HandleTransfer`] words for the handles it carries).
        IpcSend = 34 => "ipc_send",
        /// `ipc_receive(handle, out_ptr: *mut [u64; Received::WORDS], flags)
        /// -> 0`: the oldest message ([`ipc::Received`]), waiting for one
        /// unless [`ipc::ReceiveFlags::NONBLOCK`].
        IpcReceive = 35 => "ipc_receive",
        /// `ipc_call(handle, bytes_ptr, bytes_len, transfers_ptr,
        /// transfer_count, out_ptr) -> 0`: sends like `ipc_send` with a
        /// one-shot reply handle and waits for the answer, written to
        /// `out_ptr` like `ipc_receive`'s.
        IpcCall = 36 => "ipc_call",
        /// `handle_startup(index) -> handle`: the `index`th handle the
        /// process was spawned with (`NotFound` past the last).
        HandleStartup = 37 => "handle_startup",
        /// `ipc_reply_receive(reply, bytes_ptr, bytes_len, handle, out_ptr,
        /// flags) -> 0`: a server's step: answers the call `reply` with the
        /// bytes (no handles), then receives on `handle` like
        /// `ipc_receive`, running the caller it answered first if it has
        /// to wait. An answer to a caller that is gone is dropped (its
        /// reply handle closed) and the receive goes ahead; any other
        /// failure of the answer is returned and nothing is received.
        IpcReplyReceive = 38 => "ipc_reply_receive",
        /// `grant_create(partition, spec_ptr: *const GrantSpec) -> handle`:
        /// the owner of a partition grants an identity rights over a page
        /// range of it; the handle (`MAP | TRANSFER | DUPLICATE`) names the
        /// grant and travels in messages.
        GrantCreate = 39 => "grant_create",
        /// `grant_derive(handle, spec_ptr: *const GrantSpec) -> handle`: a
        /// re-grant, made through a grant the caller holds with
        /// `Rights::GRANT`: at most its rights, within its range (offsets
        /// are the partition's).
        GrantDerive = 40 => "grant_derive",
        /// `grant_map(handle, rights, at, base_out: *mut u64, flags) -> id`:
        /// maps the grant (for the caller's identity, with at most its
        /// rights) into the caller's space at `at` (0: wherever it fits) as
        /// a partition of kind shared; returns its id and writes its
        /// address. With [`GRANT_MAP_COPY_ON_WRITE`] in `flags`, a private
        /// snapshot of what the grant covers, which may be writable (its
        /// writes are its own).
        GrantMap = 41 => "grant_map",
        /// `grant_revoke(handle) -> views`: the partition's owner, or a
        /// granter up the chain, revokes the grant and every grant made
        /// from it; every view of them is unmapped in its space. Returns
        /// how many views were revoked.
        GrantRevoke = 42 => "grant_revoke",
        /// `acl_read(partition, out_ptr: *mut AclEntry, capacity) -> count`:
        /// the ACL of a partition the caller owns, one entry per live grant
        /// (at most `capacity` written); returns how many there are.
        AclRead = 43 => "acl_read",
    }
}

/// `grant_map` flag: map a private, copy-on-write snapshot.
pub const GRANT_MAP_COPY_ON_WRITE: u64 = 1;

/// `swap_debug` operation: corrupt the page's copy on the swap device.
pub const SWAP_DEBUG_CORRUPT: u64 = 1;
/// `swap_debug` operation: fail the next read of the page from swap.
pub const SWAP_DEBUG_FAIL_READ: u64 = 2;

/// The smallest per-process memory budget, in pages: a system call may
/// need its code, stack and two buffer pages present at once.
pub const MIN_MEMORY_BUDGET: u64 = 8;

/// The largest per-process memory budget, in pages: the whole user half of
/// the address space (128 TiB).
pub const MAX_MEMORY_BUDGET: u64 = 1 << 35;

/// The most pages of ranges one process may hold locked
/// (`Advice::Lock`): 64 MiB.
pub const MAX_LOCKED_PAGES: u64 = 16_384;

impl Syscall {
    /// The call with number `number`, if any (as [`Syscall::from_code`]).
    pub fn from_number(number: u64) -> Option<Syscall> {
        Syscall::from_code(number)
    }
}

coded_enum! {
    /// Why a system call failed, named in a few words (`bad address`) as
    /// `Display` prints it. Codes are never zero; on the wire a failure is
    /// the negated code (`from_code` takes the positive one).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Error: i64 {
        /// No system call has that number.
        UnknownSyscall = 1 => "unknown system call",
        /// A pointer argument is null, unaligned, outside user space, unmapped,
        /// or lacks the rights the call needs.
        BadAddress = 2 => "bad address",
        /// An argument is out of range.
        InvalidArgument = 3 => "invalid argument",
        /// No such file or process.
        NotFound = 4 => "not found",
        /// The kernel ran out of memory for this request.
        OutOfMemory = 5 => "out of memory",
        /// The caller has no child to wait for (or not that one).
        NoChild = 6 => "no such child",
        /// A length or size is larger than the kernel accepts.
        TooLarge = 7 => "too large",
        /// The file is not a valid executable for this kernel.
        BadExecutable = 8 => "bad executable",
        /// Text that must be UTF-8 is not.
        InvalidUtf8 = 9 => "invalid UTF-8",
        /// The per-process or system limit on processes was reached.
        TooManyProcesses = 10 => "too many processes",
        /// The object exists but belongs to someone else, or the request asks
        /// for more rights than were granted.
        PermissionDenied = 11 => "permission denied",
        /// The requested address range is taken by another partition.
        AddressInUse = 12 => "address in use",
        /// The data is not in the format the call needs (a model file the
        /// engine cannot run); the kernel log names the problem.
        BadFormat = 13 => "bad format",
        /// The handle names nothing: never issued, closed, or forged.
        BadHandle = 14 => "bad handle",
        /// The other side of an endpoint is gone: nobody can receive what
        /// is sent, nothing more can arrive, or a call's reply was closed
        /// unanswered.
        PeerClosed = 15 => "peer closed",
        /// Nothing to receive yet, and the caller asked not to wait.
        WouldBlock = 16 => "would block",
        /// The endpoint's queue is full; nothing was sent.
        QueueFull = 17 => "queue full",
        /// The grant was revoked: what it gave is no longer reachable.
        Revoked = 18 => "revoked",
        /// The partition is shared: the change would take pages from under
        /// another process's view of it, or is not one a view can make.
        Shared = 19 => "shared",
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

/// Declares a `#[repr(C)]` structure of `u64` fields that crosses the
/// system-call boundary as its words, with the field names for
/// machine-readable `name=value` output.
macro_rules! words {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[repr(C)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: u64,)*
        }

        impl $name {
            /// The field names in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
            /// Number of `u64` fields.
            pub const WORDS: usize = Self::FIELDS.len();

            /// The fields in declaration order.
            pub fn to_words(&self) -> [u64; Self::WORDS] {
                [$(self.$field),*]
            }

            /// The structure with these fields.
            pub fn from_words(words: [u64; Self::WORDS]) -> $name {
                let [$($field),*] = words;
                $name { $($field),* }
            }

            /// `(name, value)` for every field.
            pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
                Self::FIELDS.iter().copied().zip(self.to_words())
            }

            /// The value of the field named `name`, if there is one.
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    $(stringify!($field) => Some(self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

words! {
    /// Kernel-wide counters reported by `system_info`, for tests and experiments
    /// (e.g. checking that everything a workload allocated came back).
    pub struct SystemInfo {
        /// Physical frames free.
        pub free_frames,
        /// Frames allocated to user processes.
        pub user_frames,
        /// Frames allocated to the kernel (page tables, stacks, heap, ...).
        pub kernel_frames,
        /// Bytes mapped for the kernel heap (it never shrinks).
        pub kernel_heap_bytes,
        /// Processes in the process table (alive or not yet reaped).
        pub processes,
        /// Processes spawned since boot.
        pub spawned,
        /// Context switches since boot.
        pub context_switches,
        /// Live tasks (kernel tasks and processes).
        pub tasks,
        /// Pages the swap device holds (0: no swap device).
        pub swap_slots,
        /// Swap slots in use.
        pub swap_used,
        /// Swap slots taken out of service after an error.
        pub swap_quarantined,
        /// Frames holding program text no process maps (the text store's
        /// cache): user frames that come back as soon as the cache lets go.
        pub text_cached_frames,
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

impl fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionKind::Code => f.write_str("code"),
            PartitionKind::Data => f.write_str("data"),
            PartitionKind::Heap => f.write_str("heap"),
            PartitionKind::Stack => f.write_str("stack"),
            PartitionKind::Buffer => f.write_str("buffer"),
            PartitionKind::Shared => f.write_str("shared"),
            PartitionKind::User(tag) => write!(f, "user:{tag}"),
        }
    }
}

words! {
    /// One row of the partition table, as `partition_query` reports it.
    pub struct PartitionInfo {
        /// Partition id.
        pub id,
        /// The owning process.
        pub owner,
        /// `PartitionKind` code.
        pub kind,
        /// `Rights` bits of its pages (those not protected otherwise).
        pub rights,
        /// `Rights` bits it was created with: the most it may get.
        pub max_rights,
        /// 1 if laid out by the loader (image or stack: cannot be
        /// destroyed, resized or extended), else 0.
        pub sealed,
        /// Address of its first range.
        pub base,
        /// Size in bytes (all ranges).
        pub size,
        /// Number of virtual ranges.
        pub ranges,
        /// Sub-ranges protected to other rights.
        pub protected_ranges,
        /// Pages committed now.
        pub committed_pages,
        /// Pages not committed (size in pages minus committed).
        pub uncommitted_pages,
        /// Physically contiguous extents of the committed frames.
        pub extents,
        /// 2 MiB pages backing it now.
        pub huge_pages,
        /// 2 MiB-aligned blocks turned into 2 MiB pages (once fully
        /// committed, when a 2 MiB run of frames was free).
        pub promotions,
        /// 2 MiB pages split back into 4 KiB pages (for a partial decommit,
        /// protect or shrink).
        pub demotions,
        /// Pages loaded with the program's contents.
        pub loaded,
        /// Pages committed by a fault.
        pub demand_commits,
        /// Pages committed ahead of use (commit requests and will-need advice).
        pub ahead_commits,
        /// Pages committed ahead and later touched.
        pub hits,
        /// Pages committed ahead and not seen touched yet.
        pub untouched,
        /// Pages committed ahead and released untouched.
        pub waste,
        /// Pages decommitted.
        pub decommits,
        /// Most pages committed at once.
        pub peak_committed,
        /// Page faults taken in it.
        pub faults,
        /// Faults in the last four windows of 64 ticks.
        pub recent_faults,
        /// Pages seen accessed by accessed-bit samples in the last four windows.
        pub recent_accessed,
        /// Pages advised sequential.
        pub sequential_pages,
        /// Pages advised random.
        pub random_pages,
        /// Pages swapped out now (their contents are on the swap device).
        pub swapped_pages,
        /// Pages evicted to stay within a budget, ever.
        pub evictions,
        /// Faults that read a swapped-out page back.
        pub major_faults,
        /// Pages held cold: advised (`Advice::Cold`) or predicted so; the
        /// first to be swapped out.
        pub cold_pages,
        /// Accessed-bit scans in a row that found it unused (at 4 it is
        /// observed cold and swapped out whole before warmer pages).
        pub idle_scans,
    }
}

/// [`PageInfo::state`]: in a partition, never committed or dropped since.
pub const PAGE_UNCOMMITTED: u64 = 0;
/// [`PageInfo::state`]: committed to a frame.
pub const PAGE_COMMITTED: u64 = 1;
/// [`PageInfo::state`]: swapped out; its contents are in a swap slot.
pub const PAGE_SWAPPED: u64 = 2;
/// [`PageInfo::state`]: swapped out and unreadable (its slot failed or is
/// corrupt); touching it ends the process with `swap-lost`.
pub const PAGE_LOST: u64 = 3;

words! {
    /// One page as the VASM holds it (`page_query`).
    pub struct PageInfo {
        /// The partition holding it.
        pub partition,
        /// Its `Rights` bits.
        pub rights,
        /// [`PAGE_UNCOMMITTED`], [`PAGE_COMMITTED`], [`PAGE_SWAPPED`] or
        /// [`PAGE_LOST`].
        pub state,
        /// The physical frame number backing it (committed pages; else 0).
        pub frame,
        /// Its swap slot (swapped or lost pages, and committed pages whose
        /// clean copy is still on the device); `u64::MAX` if none.
        pub slot,
        /// 1 if it lies in a 2 MiB page, else 0.
        pub huge,
        /// 1 if committed ahead of use and not seen touched yet, else 0.
        pub untouched,
        /// 0: not held cold; 1: advised cold; 2: predicted cold.
        pub cold,
        /// 1 if the processor marked it accessed since the last sample, else 0.
        pub accessed,
        /// 1 if the processor marked it written since it was mapped, else 0.
        pub dirty,
        /// 1 if it lies in a locked range (`Advice::Lock`), else 0.
        pub locked,
    }
}

words! {
    /// A process's memory counters (`memory_counters`, and the `memstat`
    /// line the kernel prints when a process ends).
    pub struct MemoryCounters {
        /// The process.
        pub pid,
        /// Its partitions now.
        pub partitions,
        /// Ticks since it started.
        pub age_ticks,
        /// Time-stamp-counter cycles since it was spawned (guest
        /// instructions under `-icount shift=0`, with `bench-tsc-hz`).
        pub run_cycles,
        /// Page faults of any outcome.
        pub faults,
        /// Faults resolved by committing a page.
        pub faults_demand,
        /// Faults on a page already committed.
        pub faults_spurious,
        /// Faults outside every partition.
        pub faults_unmapped,
        /// Faults the rights forbid.
        pub faults_violation,
        /// Faults that found no free frame.
        pub faults_oom,
        /// Faults by reads.
        pub fault_reads,
        /// Faults by writes.
        pub fault_writes,
        /// Faults by instruction fetches.
        pub fault_executes,
        /// Pages loaded with the program.
        pub loaded,
        /// Pages committed on demand.
        pub demand_commits,
        /// Pages committed ahead of use.
        pub ahead_commits,
        /// Pages committed ahead and later touched.
        pub hits,
        /// Pages committed ahead and released untouched.
        pub waste,
        /// Pages committed ahead, still committed and not seen touched.
        pub untouched,
        /// Pages decommitted.
        pub decommits,
        /// Pages committed now.
        pub committed,
        /// Most pages committed at once.
        pub peak_committed,
        /// Committed pages × ticks.
        pub footprint,
        /// Time-stamp-counter cycles spent in the page-fault path (guest
        /// instructions under `-icount`).
        pub fault_cycles,
        /// Page-table entries read by accessed-bit samples.
        pub sampled,
        /// Periodic scans of its accessed bits (every `sample=` ticks).
        pub sample_scans,
        /// Time-stamp-counter cycles spent in those scans.
        pub sample_cycles,
        /// 2 MiB-aligned blocks turned into 2 MiB pages.
        pub promotions,
        /// 2 MiB pages split back into 4 KiB pages.
        pub demotions,
        /// Working set declared with `resource_request`, in pages.
        pub declared_working_set,
        /// Lifetime declared with `resource_request`, in ticks.
        pub declared_lifetime,
        /// Dependencies declared with `resource_request`.
        pub declared_dependencies,
        /// Events recorded in its access history.
        pub history_events,
        /// History events overwritten before they were exported.
        pub history_lost,
        /// Its memory budget in pages (0: none).
        pub budget,
        /// Faults that read a swapped-out page back (major faults).
        pub faults_major,
        /// Faults on swapped-out pages that could not be read back.
        pub faults_swap_failed,
        /// Pages evicted to stay within a budget.
        pub evictions,
        /// Evicted pages written to swap.
        pub swap_outs,
        /// Pages read back from swap.
        pub swap_ins,
        /// Pages committed ahead and evicted before being touched.
        pub evicted_untouched,
        /// Swap reads or writes that failed.
        pub swap_errors,
        /// Its pages on swap now.
        pub swapped,
        /// Time-stamp-counter cycles spent in swap reads and writes for it
        /// (checksum, request and polling the disk; in the page-fault path
        /// or in the calls that commit; guest instructions under `-icount`).
        pub swap_io_cycles,
        /// Steps of the Predictive Allocation Engine's model for it.
        pub pae_steps,
        /// Time-stamp-counter cycles the PAE task spent on it (its history,
        /// the model, and the commits; guest instructions under `-icount`).
        pub pae_cycles,
        /// Of `pae_cycles`, those in the model's steps (the inference alone).
        pub pae_model_cycles,
        /// PAE steps that waited for a later tick (the task's budget was spent).
        pub pae_deferred,
        /// History events overwritten before the PAE task read them.
        pub pae_lost,
        /// Partitions the PAE demoted (predicted cold).
        pub pae_demotions,
        /// Pages committed from the program's layout proposal (its last
        /// run's hot ranges, at the first fault in each partition).
        pub layout_commits,
        /// Faults in a view of another partition resolved by mapping a page
        /// its source had committed already (minor faults of sharing).
        pub faults_shared,
        /// Faults in a view that was revoked.
        pub faults_revoked,
        /// Read faults in a replicating view that made a replica.
        pub faults_replica,
        /// Write faults that invalidated a page's replicas.
        pub replica_invalidations,
        /// Its pages whose lost swap copy was restored from a replica.
        pub replica_restores,
    }
}

words! {
    /// What `grant_create` and `grant_derive` grant: whom, which rights,
    /// which pages.
    pub struct GrantSpec {
        /// [`GrantSpec::PROCESS`] (`identity` is a pid) or
        /// [`GrantSpec::PROGRAM`] (`identity` is the hash of a program's ELF
        /// file, any instance of it; 0: the caller's own program).
        pub identity_kind,
        /// The pid or program hash.
        pub identity,
        /// `Rights` bits (`GRANT`: the grantee may re-grant at most these).
        pub rights,
        /// First byte of the range, as an offset into the partition (page
        /// aligned).
        pub offset,
        /// Bytes in the range (page aligned, not zero).
        pub length,
    }
}

impl GrantSpec {
    /// `identity_kind` of a grant to one process.
    pub const PROCESS: u64 = 1;
    /// `identity_kind` of a grant to every instance of a program.
    pub const PROGRAM: u64 = 2;
}

words! {
    /// One grant of a partition's ACL, as `acl_read` copies it out.
    pub struct AclEntry {
        /// The grant's id (kernel-wide).
        pub grant,
        /// [`GrantSpec::PROCESS`] or [`GrantSpec::PROGRAM`].
        pub identity_kind,
        /// The pid or program hash.
        pub identity,
        /// Its `Rights` bits.
        pub rights,
        /// The rights it gives now: its own, intersected along its chain.
        pub effective,
        /// First byte of its range, as an offset into the partition.
        pub offset,
        /// Bytes in its range.
        pub length,
        /// The grant it was made through (0: by the owner).
        pub granted_by,
        /// The process that made it.
        pub granted_by_pid,
        /// Processes that map it now.
        pub mappings,
    }
}

words! {
    /// One dependency in a `resource_request`.
    pub struct Dependency {
        /// 1: a program (`value` and `length` are the address and length
        /// of its path); 2: a partition of the caller (`value` is its id).
        pub kind,
        /// Path address or partition id.
        pub value,
        /// Path length (programs), else 0.
        pub length,
    }
}

impl Dependency {
    /// The `kind` of a program dependency.
    pub const PROGRAM: u64 = 1;
    /// The `kind` of a partition dependency.
    pub const PARTITION: u64 = 2;
}

coded_enum! {
    /// A commit policy a process can choose (`policy_set`), in the kernel's
    /// order (`kernel::policy::NAMES`, then the oracle), named as the
    /// kernel's command line and `memstat` lines spell it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum CommitPolicy: u64 {
        /// Commit on fault only.
        Demand = 0 => "demand",
        /// Commit whole partitions when they are created.
        Eager = 1 => "eager",
        /// Linux-style readahead per partition.
        Readahead = 2 => "readahead",
        /// Leap's majority-trend prefetcher.
        Leap = 3 => "leap",
        /// Knows the future of a replayed trace (needs its replay file).
        Oracle = 4 => "oracle",
        /// The Predictive Allocation Engine (the kernel's model; readahead if
        /// the kernel has no usable model).
        Pae = 5 => "pae",
    }
}

impl CommitPolicy {
    /// The policies the kernel can give any process (all but the oracle,
    /// which needs a replayed trace's future), as `policy=` names them.
    pub const KERNEL: [CommitPolicy; 5] =
        [CommitPolicy::Demand, CommitPolicy::Eager, CommitPolicy::Readahead, CommitPolicy::Leap, CommitPolicy::Pae];
}

coded_enum! {
    /// A hint to `partition_advise`, named in kebab case (`will-need`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Advice: u64 {
        /// No particular pattern (forgets sequential/random hints).
        Normal = 0 => "normal",
        /// Will be needed soon: commit now.
        WillNeed = 1 => "will-need",
        /// Not needed: drop the pages (their contents are lost).
        DontNeed = 2 => "dont-need",
        /// Will be touched in address order.
        Sequential = 3 => "sequential",
        /// Will be touched in no predictable order.
        Random = 4 => "random",
        /// Not needed soon, contents kept: the first pages swapped out when
        /// memory is short (a page touched again loses the mark).
        Cold = 5 => "cold",
        /// Not needed soon: swap the pages out now, contents kept (returns the
        /// pages swapped out).
        PageOut = 6 => "page-out",
        /// Keep the pages resident: every page of the range that is committed,
        /// now or later, is never evicted, swapped out or paged out (as Linux's
        /// `mlock2(MLOCK_ONFAULT)`). Locked pages still count toward budgets:
        /// a process whose budget is all locked pages runs out of memory. A
        /// process may lock at most [`MAX_LOCKED_PAGES`] pages of ranges
        /// (`TooLarge` beyond).
        Lock = 7 => "lock",
        /// Undo [`Advice::Lock`] over the range (the pages stay committed).
        Unlock = 8 => "unlock",
        /// Read this view of a shared partition through replicas: copies of
        /// the owner's pages of this process's own, kept coherent by
        /// invalidation when the owner writes (the whole view; only a view
        /// mapped without write access).
        Replicate = 9 => "replicate",
        /// Stop replicating (the replicas are dropped).
        Unreplicate = 10 => "unreplicate",
    }
}


coded_enum! {
    /// The kind of fault that killed a process, named as fault reports
    /// print it (`fault=<name>`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum FaultKind: u32 {
        /// Access to the first page (a null pointer).
        NullDereference = 1 => "null-dereference",
        /// Access to unmapped memory (or to kernel memory).
        UnmappedAccess = 2 => "unmapped-access",
        /// A write to read-only memory, such as code.
        WriteToReadOnly = 3 => "write-to-read-only",
        /// An instruction fetch from non-executable memory.
        ExecuteNonExecutable = 4 => "execute-non-executable",
        /// The stack grew into its guard page.
        StackOverflow = 5 => "stack-overflow",
        /// General protection fault (privileged instruction, non-canonical address, ...).
        GeneralProtection = 6 => "general-protection",
        /// Undefined instruction.
        InvalidOpcode = 7 => "invalid-opcode",
        /// Division by zero or overflow.
        DivideError = 8 => "divide-error",
        /// Any other exception.
        OtherException = 9 => "exception",
        /// A page the process may touch could not be committed: memory is exhausted.
        OutOfMemory = 10 => "out-of-memory",
        /// A page of the process was swapped out and could not be read back
        /// (a device error or a checksum mismatch): its contents are lost.
        SwapLost = 11 => "swap-lost",
        /// An access to a view of a shared partition whose grant was revoked.
        Revoked = 12 => "revoked",
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

bitflags::bitflags! {
    /// What a handle lets its holder do with the kernel object it names
    /// (an IPC endpoint, a grant). A handle passed on (duplicated or moved
    /// in a message) carries at most the rights of the one it came from.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct HandleRights: u32 {
        /// May send messages to the endpoint.
        const SEND = 1 << 0;
        /// May receive messages from the endpoint.
        const RECEIVE = 1 << 1;
        /// May make another handle to the same object (with these rights
        /// or fewer).
        const DUPLICATE = 1 << 2;
        /// May pass the handle to another process in a message.
        const TRANSFER = 1 << 3;
        /// May map what the handle names (a grant) into its own space.
        const MAP = 1 << 4;
    }
}

/// The layout proposals `pae_layout` copies out: each a run of `u64` words.
///
/// ```text
/// identity, runs, partitions P, name length L, name (NAME_BYTES bytes, 4 words, zero padded),
/// then P times: ordinal, kind, pages, touched, faults, hot ranges H, then H times: start, end
/// ```
///
/// `start`/`end` are page offsets into the partition (`[start, end)`).
pub mod layout {
    /// The bytes of a program's name kept (longer names are cut).
    pub const NAME_BYTES: usize = 32;
    /// Words before the first partition.
    pub const HEADER_WORDS: usize = 4 + NAME_BYTES / 8;
    /// Words of a partition before its hot ranges.
    pub const PARTITION_WORDS: usize = 6;

    /// A layout read from its words (checked on construction).
    #[derive(Clone, Copy, Debug)]
    pub struct LayoutView<'a> {
        words: &'a [u64],
        name: [u8; NAME_BYTES],
    }

    /// One partition of a [`LayoutView`].
    #[derive(Clone, Copy, Debug)]
    pub struct PartitionView<'a> {
        /// Its place among the partitions the process created (0: first).
        pub ordinal: u64,
        /// Its kind (a [`crate::PartitionKind`] code).
        pub kind: u64,
        /// Its size in pages.
        pub pages: u64,
        /// Pages seen touched.
        pub touched: u64,
        /// Page faults taken in it.
        pub faults: u64,
        hot: &'a [u64],
    }

    impl PartitionView<'_> {
        /// Its hot ranges, `[start, end)` page offsets.
        pub fn hot(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
            self.hot.as_chunks::<2>().0.iter().map(|&[start, end]| (start, end))
        }
    }

    impl<'a> LayoutView<'a> {
        /// The layout in `words` (exactly one), or `None` if they are not one.
        pub fn new(words: &'a [u64]) -> Option<LayoutView<'a>> {
            let header = words.get(..HEADER_WORDS)?;
            usize::try_from(header[3]).ok().filter(|&length| length <= NAME_BYTES)?;
            let mut name = [0u8; NAME_BYTES];
            for (chunk, word) in name.as_chunks_mut::<8>().0.iter_mut().zip(&header[4..]) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            let mut at = HEADER_WORDS;
            for _ in 0..header[2] {
                let ranges = usize::try_from(*words.get(at + PARTITION_WORDS - 1)?).ok()?;
                at = at.checked_add(PARTITION_WORDS)?.checked_add(ranges.checked_mul(2)?)?;
            }
            (at == words.len()).then_some(LayoutView { words, name })
        }

        /// The program's identity (a hash of its ELF file).
        pub fn identity(&self) -> u64 {
            self.words[0]
        }

        /// Runs recorded for it.
        pub fn runs(&self) -> u64 {
            self.words[1]
        }

        /// How many partitions it has.
        pub fn partition_count(&self) -> u64 {
            self.words[2]
        }

        /// The program's name (UTF-8 unless cut inside a character).
        pub fn name(&self) -> &[u8] {
            &self.name[..self.words[3] as usize]
        }

        /// Its partitions, by ordinal.
        pub fn partitions(&self) -> impl Iterator<Item = PartitionView<'a>> + 'a {
            let words = self.words;
            let mut at = HEADER_WORDS;
            (0..self.partition_count()).map(move |_| {
                let fields = &words[at..at + PARTITION_WORDS];
                let end = at + PARTITION_WORDS + 2 * fields[5] as usize;
                let view = PartitionView {
                    ordinal: fields[0],
                    kind: fields[1],
                    pages: fields[2],
                    touched: fields[3],
                    faults: fields[4],
                    hot: &words[at + PARTITION_WORDS..end],
                };
                at = end;
                view
            })
        }
    }
}

pub mod ipc;
pub mod record;

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
    /// Largest partition, and largest single range added to one.
    pub const MAX_PARTITION: u64 = 1 << 30;
    /// Most dependencies in one `resource_request`.
    pub const MAX_DEPENDENCIES: u64 = 64;
    /// Largest model file `pae_model_set` takes (the kernel copies it into
    /// its heap before checking it).
    pub const MAX_MODEL: u64 = 1 << 20;
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::format;
    use std::string::ToString;

    /// Checks what `coded_enum!` promises for `$name` (codes of type
    /// `$code`) and returns how many variants `ALL` has: `ALL` in strictly
    /// increasing code order (so each variant once), every code and name
    /// round-trips, names are distinct, and from 0 to just past the last code
    /// only the codes in `ALL` decode.
    macro_rules! check_coded {
        ($name:ident: $code:ty) => {{
            let all = $name::ALL;
            for pair in all.windows(2) {
                assert!(pair[0].code() < pair[1].code(), "{:?} before {:?}", pair[0], pair[1]);
            }
            for variant in all {
                assert_eq!(variant.code(), variant as $code);
                assert_eq!($name::from_code(variant as $code), Some(variant));
                assert_eq!($name::from_name(variant.name()), Some(variant));
                assert_eq!(all.iter().filter(|other| other.name() == variant.name()).count(), 1, "{:?}", variant);
            }
            let last = all[all.len() - 1] as $code;
            assert_eq!($name::from_code(last + 1), None);
            for code in 0..=last + 1 {
                let decoded = $name::from_code(code);
                assert_eq!(decoded.is_some(), all.iter().any(|variant| *variant as $code == code), "code {code}");
                assert!(decoded.is_none_or(|variant| variant as $code == code));
            }
            assert_eq!($name::from_name(""), None);
            all.len()
        }};
    }

    #[test]
    fn syscalls_are_coded_and_named() {
        assert_eq!(check_coded!(Syscall: u64), 44);
        assert_eq!((Syscall::AclRead as u64, Syscall::AclRead.name()), (43, "acl_read"));
        assert_eq!((Syscall::Exit as u64, Syscall::Exit.name()), (0, "exit"));
        assert_eq!((Syscall::GetPid as u64, Syscall::GetPid.name()), (5, "getpid"));
        assert_eq!(Syscall::from_number(14), Some(Syscall::PartitionCommit));
        assert_eq!(Syscall::from_name("partition_commit"), Some(Syscall::PartitionCommit));
        assert_eq!((Syscall::PaeLayout as u64, Syscall::PaeLayout.name()), (27, "pae_layout"));
        assert_eq!((Syscall::TestSummary as u64, Syscall::TestSummary.name()), (29, "test_summary"));
        assert_eq!(Syscall::from_name("PartitionCommit"), None);
        assert_eq!(format!("{:?}", Syscall::ReadFile), "ReadFile");
    }

    #[test]
    fn errors_are_coded_and_named() {
        assert_eq!(check_coded!(Error: i64), 19);
        assert_eq!((Error::Shared.code(), Error::Shared.name()), (19, "shared"));
        assert_eq!((Error::UnknownSyscall.code(), Error::UnknownSyscall.name()), (1, "unknown system call"));
        assert_eq!(Error::from_code(9), Some(Error::InvalidUtf8));
        assert_eq!(Error::from_name("bad format"), Some(Error::BadFormat));
        for code in [0, -1, -Error::BadAddress.code(), i64::MIN, i64::MAX] {
            assert_eq!(Error::from_code(code), None, "{code}");
        }
        assert_eq!(Error::BadAddress.to_string(), "bad address");
        assert_eq!(format!("{:?}", Error::BadAddress), "BadAddress");
    }

    #[test]
    fn commit_policies_are_coded_and_named() {
        assert_eq!(check_coded!(CommitPolicy: u64), 6);
        assert_eq!((CommitPolicy::Demand as u64, CommitPolicy::Demand.name()), (0, "demand"));
        assert_eq!((CommitPolicy::Pae as u64, CommitPolicy::Pae.name()), (5, "pae"));
        assert_eq!(CommitPolicy::from_name("oracle"), Some(CommitPolicy::Oracle));
        assert_eq!(CommitPolicy::from_name("psychic"), None);
        assert!(!CommitPolicy::KERNEL.contains(&CommitPolicy::Oracle));
    }

    #[test]
    fn advice_is_coded_and_named() {
        assert_eq!(check_coded!(Advice: u64), 11);
        assert_eq!((Advice::Replicate as u64, Advice::Replicate.name()), (9, "replicate"));
        assert_eq!((Advice::Normal as u64, Advice::Normal.name()), (0, "normal"));
        assert_eq!((Advice::WillNeed as u64, Advice::WillNeed.name()), (1, "will-need"));
        assert_eq!(Advice::from_name("page-out"), Some(Advice::PageOut));
        assert_eq!((Advice::Unlock as u64, Advice::Unlock.name()), (8, "unlock"));
    }

    #[test]
    fn fault_kinds_are_coded_and_named() {
        assert_eq!(check_coded!(FaultKind: u32), 12);
        assert_eq!((FaultKind::Revoked as u32, FaultKind::Revoked.name()), (12, "revoked"));
        assert_eq!(FaultKind::from_code(0), None);
        assert_eq!((FaultKind::NullDereference as u32, FaultKind::NullDereference.name()), (1, "null-dereference"));
        assert_eq!(FaultKind::from_name("exception"), Some(FaultKind::OtherException));
        assert_eq!((FaultKind::SwapLost as u32, FaultKind::SwapLost.to_string()), (11, "swap-lost".to_string()));
    }

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
        let info = SystemInfo { free_frames: 1, tasks: 8, swap_quarantined: 3, ..SystemInfo::default() };
        assert_eq!(info.to_words(), [1, 0, 0, 0, 0, 0, 0, 8, 0, 0, 3, 0]);
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
        assert_eq!(size_of::<MemoryCounters>(), MemoryCounters::WORDS * 8);
        assert_eq!(size_of::<Dependency>(), 24);
    }

    #[test]
    fn word_structures_round_trip_with_their_names() {
        let counters = MemoryCounters { pid: 7, replica_restores: 9, ..MemoryCounters::default() };
        assert_eq!(MemoryCounters::from_words(counters.to_words()), counters);
        assert_eq!(counters.fields().next(), Some(("pid", 7)));
        assert_eq!(counters.fields().last(), Some(("replica_restores", 9)));
        assert_eq!((counters.get("pid"), counters.get("replica_restores"), counters.get("faults")), (Some(7), Some(9), Some(0)));
        assert_eq!(counters.get("no_such_counter"), None);
        for (i, a) in MemoryCounters::FIELDS.iter().enumerate() {
            assert!(!MemoryCounters::FIELDS[i + 1..].contains(a), "{a} twice");
        }
    }

    #[test]
    fn commit_policy_codes_round_trip() {
        for (code, policy) in CommitPolicy::ALL.iter().enumerate() {
            assert_eq!(*policy as u64, code as u64);
            assert_eq!(CommitPolicy::from_code(code as u64), Some(*policy));
        }
        assert_eq!(CommitPolicy::from_code(6), None);
    }

    #[test]
    fn advice_codes_round_trip() {
        for (code, advice) in Advice::ALL.iter().enumerate() {
            assert_eq!(*advice as u64, code as u64);
            assert_eq!(Advice::from_code(code as u64), Some(*advice));
        }
        assert_eq!(Advice::from_code(11), None);
        assert_eq!(Advice::from_code(u64::MAX), None);
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
