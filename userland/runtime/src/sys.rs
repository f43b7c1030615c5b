//! Safe wrappers for every system call in the `abi` crate.

use abi::{Arg, Clock, Error, Syscall, WaitStatus};
use alloc::vec::Vec;

/// Makes a raw system call.
///
/// # Safety
/// The kernel reads and writes memory through pointer arguments as the call
/// defines; the caller must make sure that cannot break Rust's rules.
#[cfg(target_os = "none")]
pub unsafe fn syscall6(number: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> u64 {
    let result: u64;
    // SAFETY: the `syscall` instruction with the ABI's register convention;
    // rcx and r11 are clobbered by the CPU; the caller vouches for pointers.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => result,
            in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3, in("r8") a4, in("r9") a5,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// On the host (unit tests) there is no kernel: every call fails.
///
/// # Safety
/// Always safe on the host; the signature matches the bare-metal one.
#[cfg(not(target_os = "none"))]
pub unsafe fn syscall6(_number: u64, _a0: u64, _a1: u64, _a2: u64, _a3: u64, _a4: u64, _a5: u64) -> u64 {
    abi::encode(Err(Error::UnknownSyscall))
}

pub(crate) fn call(syscall: Syscall, arguments: [u64; 6]) -> Result<u64, Error> {
    let [a0, a1, a2, a3, a4, a5] = arguments;
    // SAFETY: every wrapper below passes pointers to live buffers of the
    // lengths it passes, with the access the call needs.
    abi::decode(unsafe { syscall6(syscall as u64, a0, a1, a2, a3, a4, a5) })
}

/// Ends the process with `code`.
pub fn exit(code: i32) -> ! {
    let _ = call(Syscall::Exit, [code as u32 as u64, 0, 0, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

/// Starts `path` with `args` (argv[0], the path, is added by the kernel).
pub fn spawn(path: &str, args: &[&str]) -> Result<u64, Error> {
    spawn_with_budget(path, args, 0)
}

/// Starts `path` like [`spawn`], limited to `budget` committed pages from
/// its first page on (0: no budget; else at least
/// [`abi::MIN_MEMORY_BUDGET`]).
pub fn spawn_with_budget(path: &str, args: &[&str], budget: u64) -> Result<u64, Error> {
    let arguments: Vec<Arg> = args.iter().map(|a| Arg { ptr: a.as_ptr() as u64, len: a.len() as u64 }).collect();
    call(
        Syscall::Spawn,
        [path.as_ptr() as u64, path.len() as u64, arguments.as_ptr() as u64, arguments.len() as u64, budget, 0],
    )
}

/// Waits for child `pid` (0: any child) to end.
pub fn wait(pid: u64) -> Result<WaitStatus, Error> {
    let mut status = WaitStatus::default();
    call(Syscall::Wait, [pid, &raw mut status as u64, 0, 0, 0, 0])?;
    Ok(status)
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    let _ = call(Syscall::Yield, [0; 6]);
}

/// Blocks for at least `ticks` timer ticks.
pub fn sleep(ticks: u64) {
    let _ = call(Syscall::Sleep, [ticks, 0, 0, 0, 0, 0]);
}

/// This process's id.
pub fn getpid() -> u64 {
    call(Syscall::GetPid, [0; 6]).unwrap_or(0)
}

/// The time-stamp counter, read in ring 3 (what the benchmarks time with:
/// under `-icount` it counts guest instructions).
#[inline(always)]
pub fn tsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter (the kernel leaves
    // CR4.TSD clear, so ring 3 may).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Timer ticks and TSC.
pub fn clock() -> Clock {
    let mut clock = Clock::default();
    let _ = call(Syscall::Clock, [&raw mut clock as u64, 0, 0, 0, 0, 0]);
    clock
}

/// Writes bytes to the console.
pub fn write(bytes: &[u8]) -> Result<u64, Error> {
    call(Syscall::Write, [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0])
}

/// Reads from ramdisk file `path` at `offset` into `buffer`; returns bytes read.
pub fn read_file(path: &str, buffer: &mut [u8], offset: u64) -> Result<u64, Error> {
    call(
        Syscall::ReadFile,
        [path.as_ptr() as u64, path.len() as u64, buffer.as_mut_ptr() as u64, buffer.len() as u64, offset, 0],
    )
}

/// The size of ramdisk file `path`.
pub fn file_size(path: &str) -> Result<u64, Error> {
    call(Syscall::ReadFile, [path.as_ptr() as u64, path.len() as u64, 0, 0, 0, 0])
}

/// Reads a whole ramdisk file.
pub fn read_whole_file(path: &str) -> Result<Vec<u8>, Error> {
    let size = file_size(path)?;
    let mut data = alloc::vec![0u8; size as usize];
    let read = read_file(path, &mut data, 0)?;
    data.truncate(read as usize);
    Ok(data)
}

/// Kernel-wide counters.
pub fn system_info() -> abi::SystemInfo {
    let mut info = abi::SystemInfo::default();
    let _ = call(Syscall::SystemInfo, [&raw mut info as u64, 0, 0, 0, 0, 0]);
    info
}

/// Spawns `path` with `args`, waits for it and returns how it ended.
pub fn run(path: &str, args: &[&str]) -> Result<abi::ExitReason, Error> {
    run_with_budget(path, args, 0)
}

/// Runs `path` like [`run`], under a memory budget of `budget` pages (see
/// [`spawn_with_budget`]).
pub fn run_with_budget(path: &str, args: &[&str], budget: u64) -> Result<abi::ExitReason, Error> {
    let pid = spawn_with_budget(path, args, budget)?;
    let status = wait(pid)?;
    status.reason().ok_or(Error::InvalidArgument)
}

/// A partition the program created: its id and the address of its first range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Partition id.
    pub id: u64,
    /// Address of its first byte.
    pub base: u64,
}

/// Creates a partition of `size` bytes (nothing committed) wherever it fits.
pub fn partition_create(size: u64, kind: abi::PartitionKind, rights: abi::Rights) -> Result<Partition, Error> {
    partition_create_at(size, kind, rights, 0)
}

/// Creates a partition of `size` bytes at `address` (0: wherever it fits).
pub fn partition_create_at(size: u64, kind: abi::PartitionKind, rights: abi::Rights, address: u64) -> Result<Partition, Error> {
    let mut base = 0u64;
    let id = call(Syscall::PartitionCreate, [size, kind.code(), u64::from(rights.bits()), address, &raw mut base as u64, 0])?;
    Ok(Partition { id, base })
}

/// Destroys a partition (everything committed is freed).
pub fn partition_destroy(id: u64) -> Result<(), Error> {
    call(Syscall::PartitionDestroy, [id, 0, 0, 0, 0, 0]).map(|_| ())
}

/// The partition-table row of partition `id`.
pub fn partition_query(id: u64) -> Result<abi::PartitionInfo, Error> {
    let mut info = abi::PartitionInfo::default();
    call(Syscall::PartitionQuery, [id, &raw mut info as u64, 0, 0, 0, 0])?;
    Ok(info)
}

/// What the VASM holds for the caller's page at `address`.
pub fn page_query(address: u64) -> Result<abi::PageInfo, Error> {
    let mut info = abi::PageInfo::default();
    call(Syscall::PageQuery, [address, &raw mut info as u64, 0, 0, 0, 0])?;
    Ok(info)
}

/// Puts the model file `bytes` in service for processes that choose the
/// `pae` policy from now on (only `init` may).
pub fn pae_model_set(bytes: &[u8]) -> Result<(), Error> {
    call(Syscall::PaeModelSet, [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0]).map(|_| ())
}

/// The `index`th layout proposal the PAE recorded, as its words (see
/// `abi::layout::LayoutView`); `NotFound` past the last.
pub fn pae_layout(index: u64) -> Result<Vec<u64>, Error> {
    loop {
        let needed = call(Syscall::PaeLayout, [index, 0, 0, 0, 0, 0])? as usize;
        let mut words = alloc::vec![0u64; needed];
        let got = call(Syscall::PaeLayout, [index, words.as_mut_ptr() as u64, needed as u64, 0, 0, 0])? as usize;
        // A process ending in between may have recorded a larger layout.
        if got <= needed {
            words.truncate(got);
            return Ok(words);
        }
    }
}

/// Writes the ids of the caller's partitions into `ids` (as many as fit);
/// returns how many partitions there are.
pub fn partition_list(ids: &mut [u64]) -> Result<usize, Error> {
    call(Syscall::PartitionList, [ids.as_mut_ptr() as u64, ids.len() as u64, 0, 0, 0, 0]).map(|count| count as usize)
}

/// Commits `[offset, offset + length)` of a partition ahead of use; returns pages committed.
pub fn partition_commit(id: u64, offset: u64, length: u64) -> Result<u64, Error> {
    call(Syscall::PartitionCommit, [id, offset, length, 0, 0, 0])
}

/// Drops the committed pages of `[offset, offset + length)`; their contents are lost.
pub fn partition_decommit(id: u64, offset: u64, length: u64) -> Result<u64, Error> {
    call(Syscall::PartitionDecommit, [id, offset, length, 0, 0, 0])
}

/// Grows or shrinks a partition to `size` bytes.
pub fn partition_resize(id: u64, size: u64) -> Result<(), Error> {
    call(Syscall::PartitionResize, [id, size, 0, 0, 0, 0]).map(|_| ())
}

/// Adds a range of `size` bytes to a partition at `address` (0: wherever it
/// fits); returns the range's address.
pub fn partition_add_range(id: u64, size: u64, address: u64) -> Result<u64, Error> {
    call(Syscall::PartitionAddRange, [id, size, address, 0, 0, 0])
}

/// Sets the rights of `[offset, offset + length)` of a partition (never
/// beyond those it was created with).
pub fn partition_protect(id: u64, offset: u64, length: u64, rights: abi::Rights) -> Result<(), Error> {
    call(Syscall::PartitionProtect, [id, offset, length, u64::from(rights.bits()), 0, 0]).map(|_| ())
}

/// Gives the kernel a hint about `[offset, offset + length)` of a partition;
/// returns pages committed (will-need) or dropped (dont-need).
pub fn partition_advise(id: u64, offset: u64, length: u64, advice: abi::Advice) -> Result<u64, Error> {
    call(Syscall::PartitionAdvise, [id, offset, length, advice as u64, 0, 0])
}

/// Declares the working set (bytes), lifetime (ticks) and dependencies the
/// caller expects.
pub fn resource_request(working_set: u64, lifetime: u64, dependencies: &[abi::Dependency]) -> Result<(), Error> {
    call(Syscall::ResourceRequest, [working_set, lifetime, dependencies.as_ptr() as u64, dependencies.len() as u64, 0, 0])
        .map(|_| ())
}

/// The caller's memory counters.
pub fn memory_counters() -> abi::MemoryCounters {
    let mut counters = abi::MemoryCounters::default();
    // Cannot fail for a pointer to our own stack.
    let _ = call(Syscall::MemoryCounters, [&raw mut counters as u64, 0, 0, 0, 0, 0]);
    counters
}

/// Limits how many pages this process may have committed at once (0: no
/// limit); over it, its pages go to swap. Returns the previous budget.
pub fn memory_budget(pages: u64) -> Result<u64, Error> {
    call(Syscall::MemoryBudget, [pages, 0, 0, 0, 0, 0])
}

/// Chooses the commit policy for the rest of this process's life; returns
/// the one it replaces.
pub fn policy_set(policy: abi::CommitPolicy) -> Result<abi::CommitPolicy, Error> {
    let previous = call(Syscall::PolicySet, [policy as u64, 0, 0, 0, 0, 0])?;
    abi::CommitPolicy::from_code(previous).ok_or(Error::InvalidArgument)
}

/// Chooses the oracle policy, which reads the future from the replay file
/// at `path` in the ramdisk; returns the policy it replaces.
pub fn policy_set_oracle(path: &str) -> Result<abi::CommitPolicy, Error> {
    let arguments = [abi::CommitPolicy::Oracle as u64, path.as_ptr() as u64, path.len() as u64, 0, 0, 0];
    let previous = call(Syscall::PolicySet, arguments)?;
    abi::CommitPolicy::from_code(previous).ok_or(Error::InvalidArgument)
}

/// Reports one of this program's tests to the host (a record of the
/// program's suite, `abi::record`): its name and how it ended. Texts are
/// clipped to [`abi::record::MAX_TEXT`] bytes first.
pub fn test_report(name: &str, outcome: abi::record::Outcome<&str>) -> Result<(), Error> {
    use abi::record::{clip, Outcome, TestStatus};
    let (status, message) = match outcome {
        Outcome::Passed => (TestStatus::Passed, ""),
        Outcome::Failed(message) => (TestStatus::Failed, clip(message)),
    };
    let name = clip(name);
    let arguments =
        [u64::from(status.code()), name.as_ptr() as u64, name.len() as u64, message.as_ptr() as u64, message.len() as u64, 0];
    call(Syscall::TestReport, arguments).map(|_| ())
}

/// Reports this program's tally to the host (a `TestSummary` record).
pub fn test_summary(passed: u64, failed: u64) -> Result<(), Error> {
    call(Syscall::TestSummary, [passed, failed, 0, 0, 0, 0]).map(|_| ())
}
