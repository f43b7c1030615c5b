//! System-call handlers: decode the arguments, check every user pointer,
//! do the work, encode the result (see the `abi` crate for the contract).
//! Only `init` (pid 1) may replace the PAE's model (`pae_model_set`; any
//! other caller gets `PermissionDenied`, a refused file `BadFormat`). A
//! program's test reports (`test_report`, `test_summary`) become records
//! (`crate::record`) whose suite is the caller's own program name, so no
//! program can report for another.

use crate::arch::cpu;
use crate::arch::syscall::SyscallFrame;
use crate::ipc::calls as ipc;
use crate::{memory, pae, process, record};
use crate::process::memory::UserSlice;
use crate::sched;
use crate::time;
use crate::vass::{Declaration, PartitionId, SpaceId};
use abi::record::{Outcome, Record, Suite, TestResult, TestStatus, TestSummary, MAX_TEXT};
use abi::{limits, Error, ExitReason, Syscall};
use alloc::string::String;
use alloc::vec::Vec;

/// Entered from the `syscall` stub with interrupts off; runs the handler
/// with interrupts on (so long calls can be preempted) and returns with them off.
pub extern "sysv64" fn dispatch_from_entry(frame: &mut SyscallFrame) {
    cpu::enable_interrupts();
    let (number, arguments) = (frame.rax, frame.arguments());
    frame.rax = abi::encode(dispatch(number, arguments));
    process::end_syscall(number, arguments[0], arguments[1], frame.rax, frame.rip);
    cpu::disable_interrupts();
}

/// Handles system call `number` with `arguments`.
pub fn dispatch(number: u64, arguments: [u64; 6]) -> Result<u64, Error> {
    let call = Syscall::from_number(number).ok_or(Error::UnknownSyscall)?;
    let [a0, a1, a2, a3, a4, a5] = arguments;
    match call {
        Syscall::Exit => process::exit_current(ExitReason::Exited(a0 as i32)),
        Syscall::Spawn => spawn(a0, a1, a2, a3, a4, a5),
        Syscall::Wait => wait(a0, a1),
        Syscall::Yield => {
            sched::yield_now();
            Ok(0)
        }
        Syscall::Sleep => {
            sched::sleep(a0);
            Ok(0)
        }
        Syscall::GetPid => process::current_pid().ok_or(Error::InvalidArgument),
        Syscall::Clock => clock(a0),
        Syscall::Write => write(a0, a1),
        Syscall::ReadFile => read_file(a0, a1, a2, a3, a4),
        Syscall::SystemInfo => system_info(a0),
        Syscall::PartitionCreate => partition_create(a0, a1, a2, a3, a4),
        Syscall::PartitionDestroy => process::partition_destroy(PartitionId(a0)).map(|()| 0),
        Syscall::PartitionQuery => {
            let info = process::partition_query(PartitionId(a0))?;
            copy_words_to_user(a1, &info.to_words())?;
            Ok(0)
        }
        Syscall::PartitionList => partition_list(a0, a1),
        Syscall::PartitionCommit => process::partition_commit(PartitionId(a0), a1, a2),
        Syscall::PartitionDecommit => process::partition_decommit(PartitionId(a0), a1, a2),
        Syscall::PartitionResize => process::partition_resize(PartitionId(a0), a1).map(|()| 0),
        Syscall::PartitionAddRange => process::partition_add_range(PartitionId(a0), a1, a2),
        Syscall::PartitionProtect => process::partition_protect(PartitionId(a0), a1, a2, a3).map(|()| 0),
        Syscall::PartitionAdvise => process::partition_advise(PartitionId(a0), a1, a2, a3),
        Syscall::ResourceRequest => resource_request(a0, a1, a2, a3),
        Syscall::PolicySet => {
            let policy = abi::CommitPolicy::from_code(a0).ok_or(Error::InvalidArgument)?;
            let path = match policy {
                abi::CommitPolicy::Oracle => Some(user_path(a1, a2)?),
                _ if a1 != 0 || a2 != 0 => return Err(Error::InvalidArgument),
                _ => None,
            };
            process::policy_set(policy, path.as_deref())
        }
        Syscall::MemoryCounters => {
            let counters = process::own_memory_counters()?;
            copy_words_to_user(a0, &counters.to_words())?;
            Ok(0)
        }
        Syscall::MemoryBudget => memory::memory_budget(process::current_pid().map(SpaceId), a0),
        Syscall::SwapDebug => memory::swap_debug(process::current_pid().map(SpaceId), a0, a1),
        Syscall::PageQuery => {
            let info = process::page_query(a0)?;
            copy_words_to_user(a1, &info.to_words())?;
            Ok(0)
        }
        Syscall::PaeModelSet => pae_model_set(a0, a1),
        Syscall::PaeLayout => {
            let words = pae::layout_words(a0).ok_or(Error::NotFound)?;
            if a2 >= words.len() as u64 && !words.is_empty() {
                copy_words_to_user(a1, &words)?;
            }
            Ok(words.len() as u64)
        }
        Syscall::TestReport => test_report(a0, a1, a2, a3, a4),
        Syscall::EndpointCreate => ipc::endpoint_create(),
        Syscall::HandleClose => ipc::handle_close(a0),
        Syscall::HandleDuplicate => ipc::handle_duplicate(a0, a1),
        Syscall::HandleInfo => ipc::handle_info(a0),
        Syscall::IpcSend => ipc::send(a0, a1, a2, a3, a4),
        Syscall::IpcReceive => ipc::receive(a0, a1, a2),
        Syscall::IpcCall => ipc::call(a0, a1, a2, a3, a4, a5),
        Syscall::HandleStartup => ipc::handle_startup(a0),
        Syscall::IpcReplyReceive => ipc::reply_receive(a0, a1, a2, a3, a4, a5),
        Syscall::GrantCreate => process::grant_create(PartitionId(a0), &grant_spec(a1)?),
        Syscall::GrantDerive => process::grant_derive(a0, &grant_spec(a1)?),
        Syscall::GrantMap => grant_map(a0, a1, a2, a3, a4),
        Syscall::GrantRevoke => process::grant_revoke(a0),
        Syscall::AclRead => acl_read(PartitionId(a0), a1, a2),
        Syscall::TestSummary => {
            let suite = process::current_name().ok_or(Error::InvalidArgument)?;
            record::write(&Record::TestSummary(TestSummary { suite: Suite::Program(suite.as_str()), passed: a0, failed: a1 }));
            Ok(0)
        }
    }
}

/// `test_report(status, name_ptr, name_len, message_ptr, message_len)`:
/// see `abi::Syscall::TestReport`. Every argument is checked before the
/// record is written: a status that is no `TestStatus` or a passed test
/// with a message is `InvalidArgument`, an empty name too; text over
/// `MAX_TEXT` is `TooLarge`, bad pointers `BadAddress`, not UTF-8
/// `InvalidUtf8`.
fn test_report(status: u64, name_address: u64, name_length: u64, message_address: u64, message_length: u64) -> Result<u64, Error> {
    let status = u8::try_from(status).ok().and_then(TestStatus::from_code).ok_or(Error::InvalidArgument)?;
    if name_length == 0 || (status == TestStatus::Passed && message_length != 0) {
        return Err(Error::InvalidArgument);
    }
    let name = user_text(name_address, name_length, MAX_TEXT as u64)?;
    let message = user_text(message_address, message_length, MAX_TEXT as u64)?;
    let outcome = match status {
        TestStatus::Passed => Outcome::Passed,
        TestStatus::Failed => Outcome::Failed(message.as_str()),
    };
    let suite = process::current_name().ok_or(Error::InvalidArgument)?;
    record::write(&Record::TestResult(TestResult { suite: Suite::Program(suite.as_str()), name: name.as_str(), outcome }));
    Ok(0)
}

/// Copies text of `length` bytes (at most `max`) from the process.
fn user_text(address: u64, length: u64, max: u64) -> Result<String, Error> {
    if length > max {
        return Err(Error::TooLarge);
    }
    let bytes = process::copy_from_user(UserSlice::new(address, length))?;
    String::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)
}

fn user_path(address: u64, length: u64) -> Result<String, Error> {
    if length == 0 {
        return Err(Error::InvalidArgument);
    }
    user_text(address, length, limits::MAX_PATH)
}

/// `pae_model_set(bytes_ptr, bytes_len)`: see `abi::Syscall::PaeModelSet`.
fn pae_model_set(address: u64, length: u64) -> Result<u64, Error> {
    let pid = process::current_pid().ok_or(Error::InvalidArgument)?;
    if pid != process::INIT_PID {
        log::debug!("pae: pid {pid} may not swap the model (only init may)");
        return Err(Error::PermissionDenied);
    }
    if length > limits::MAX_MODEL {
        log::warn!("pae: model from pid {pid} refused: {length} bytes is over the {}-byte limit", limits::MAX_MODEL);
        return Err(Error::TooLarge);
    }
    let bytes = process::copy_from_user(UserSlice::new(address, length))?;
    pae::install(&bytes, &alloc::format!("from pid {pid}")).map_err(|problem| {
        log::warn!("pae: {problem}; the model in service stays");
        Error::BadFormat
    })?;
    Ok(0)
}

/// The `GrantSpec` at `address` (8-byte aligned).
fn grant_spec(address: u64) -> Result<abi::GrantSpec, Error> {
    let bytes = process::copy_from_user(UserSlice::new(address, (abi::GrantSpec::WORDS * 8) as u64).aligned(8)?)?;
    let mut words = [0u64; abi::GrantSpec::WORDS];
    for (word, chunk) in words.iter_mut().zip(bytes.as_chunks::<8>().0) {
        *word = u64::from_le_bytes(*chunk);
    }
    Ok(abi::GrantSpec::from_words(words))
}

/// `grant_map`: the view's id; its address goes to `base_out` (if not 0).
fn grant_map(handle: u64, rights: u64, at: u64, base_out: u64, flags: u64) -> Result<u64, Error> {
    if base_out != 0 {
        UserSlice::new(base_out, 8).aligned(8)?;
    }
    let (id, base) = process::grant_map(handle, rights, at, flags)?;
    if base_out != 0
        && let Err(error) = copy_words_to_user(base_out, &[base])
    {
        // Nothing of a failed call stays behind.
        let _ = process::partition_destroy(id);
        return Err(error);
    }
    Ok(id.0)
}

/// `acl_read`: at most `capacity` entries to `out`; returns how many there are.
fn acl_read(partition: PartitionId, out: u64, capacity: u64) -> Result<u64, Error> {
    let entries = process::acl_read(partition)?;
    let shown = entries.len().min(usize::try_from(capacity).unwrap_or(usize::MAX));
    if shown > 0 {
        let words: Vec<u64> = entries[..shown].iter().flat_map(|entry| entry.to_words()).collect();
        copy_words_to_user(out, &words)?;
    }
    Ok(entries.len() as u64)
}

/// Copies a structure, given as its little-endian words, to user memory
/// at `address` (which must be 8-byte aligned).
fn copy_words_to_user(address: u64, words: &[u64]) -> Result<(), Error> {
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    process::copy_to_user(UserSlice::new(address, bytes.len() as u64).aligned(8)?, &bytes)
}

fn spawn(path_address: u64, path_length: u64, argv_address: u64, argc: u64, budget: u64, handles_address: u64) -> Result<u64, Error> {
    let budget = memory::budget_from(budget)?;
    let path = user_path(path_address, path_length)?;
    if argc > limits::MAX_ARGS {
        return Err(Error::TooLarge);
    }
    let mut arguments = Vec::new();
    if argc > 0 {
        let slice = UserSlice::new(argv_address, argc * size_of::<abi::Arg>() as u64).aligned(8)?;
        let raw = process::copy_from_user(slice)?;
        for pair in raw.as_chunks::<16>().0 {
            let (pointer, length) = pair.split_at(8);
            let pointer = u64::from_le_bytes(pointer.try_into().unwrap_or_default());
            let length = u64::from_le_bytes(length.try_into().unwrap_or_default());
            arguments.push(user_text(pointer, length, limits::MAX_ARG_LEN)?);
        }
    }
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let handles = match handles_address {
        0 => Vec::new(),
        address => {
            let count = process::copy_from_user(UserSlice::new(address, 8).aligned(8)?)?;
            let count = u64::from_le_bytes(count.try_into().map_err(|_| Error::BadAddress)?);
            ipc::read_transfers(address + 8, count)?
        }
    };
    process::spawn(&path, &arguments, process::current_pid(), budget, &handles)
}

fn wait(pid: u64, status_address: u64) -> Result<u64, Error> {
    let status_slice = UserSlice::new(status_address, size_of::<abi::WaitStatus>() as u64);
    if status_address != 0 {
        status_slice.aligned(8)?;
    }
    let status = process::wait_child(pid)?;
    if status_address != 0 {
        let words = [
            status.pid,
            u64::from(status.how) | u64::from(status.code as u32) << 32,
            u64::from(status.fault) | u64::from(status.reserved) << 32,
            status.address,
        ];
        copy_words_to_user(status_address, &words)?;
    }
    Ok(status.pid)
}

fn clock(address: u64) -> Result<u64, Error> {
    let clock = abi::Clock {
        ticks: time::ticks(),
        tick_hz: u64::from(time::timer_hz()),
        tsc: cpu::rdtsc(),
        tsc_hz: time::tsc_hz(),
    };
    copy_words_to_user(address, &[clock.ticks, clock.tick_hz, clock.tsc, clock.tsc_hz])?;
    Ok(0)
}

fn write(address: u64, length: u64) -> Result<u64, Error> {
    if length > limits::MAX_WRITE {
        return Err(Error::TooLarge);
    }
    let bytes = process::copy_from_user(UserSlice::new(address, length))?;
    crate::logger::print(format_args!("{}", String::from_utf8_lossy(&bytes)));
    Ok(length)
}

fn read_file(path_address: u64, path_length: u64, buffer: u64, buffer_length: u64, offset: u64) -> Result<u64, Error> {
    let path = user_path(path_address, path_length)?;
    let data = process::ramdisk().and_then(|ramdisk| ramdisk.file(&path)).ok_or(Error::NotFound)?;
    let size = data.len() as u64;
    if buffer_length == 0 {
        return Ok(size);
    }
    if offset > size {
        return Err(Error::InvalidArgument);
    }
    let count = buffer_length.min(size - offset);
    process::copy_to_user(UserSlice::new(buffer, count), &data[offset as usize..(offset + count) as usize])?;
    Ok(count)
}

fn system_info(address: u64) -> Result<u64, Error> {
    // Scheduler first: it reaps dead tasks, whose stacks the frame counts include.
    let scheduler = sched::stats();
    let frames = crate::mm::frame::counts();
    let processes = process::stats();
    let (swap_used, swap_slots, swap_quarantined) = memory::swap_usage();
    let info = abi::SystemInfo {
        free_frames: frames.free,
        user_frames: frames.user,
        kernel_frames: frames.kernel,
        kernel_heap_bytes: crate::mm::heap::stats().size,
        processes: processes.in_table as u64,
        spawned: processes.spawned,
        context_switches: scheduler.switches,
        tasks: scheduler.tasks as u64,
        swap_slots,
        swap_used,
        swap_quarantined,
        text_cached_frames: memory::lock_untimed().text_cached().1,
    };
    copy_words_to_user(address, &info.to_words())?;
    Ok(0)
}

fn partition_create(size: u64, kind: u64, rights: u64, at: u64, base_out: u64) -> Result<u64, Error> {
    if base_out != 0 {
        UserSlice::new(base_out, 8).aligned(8)?;
    }
    let (id, base) = process::partition_create(size, kind, rights, at)?;
    if base_out != 0
        && let Err(error) = copy_words_to_user(base_out, &[base])
    {
        // Nothing of a failed call stays behind.
        let _ = process::partition_destroy(id);
        return Err(error);
    }
    Ok(id.0)
}

fn partition_list(ids_out: u64, capacity: u64) -> Result<u64, Error> {
    let ids = process::partition_list()?;
    let written = ids.len().min(usize::try_from(capacity).unwrap_or(usize::MAX));
    if written > 0 {
        copy_words_to_user(ids_out, &ids[..written])?;
    }
    Ok(ids.len() as u64)
}

fn resource_request(working_set: u64, lifetime: u64, dependencies: u64, count: u64) -> Result<u64, Error> {
    if count > limits::MAX_DEPENDENCIES {
        return Err(Error::TooLarge);
    }
    let mut declaration = Declaration {
        working_set: working_set.div_ceil(process::memory::PAGE_SIZE),
        lifetime,
        ..Declaration::default()
    };
    if count > 0 {
        let size = size_of::<abi::Dependency>() as u64;
        let raw = process::copy_from_user(UserSlice::new(dependencies, count * size).aligned(8)?)?;
        for chunk in raw.as_chunks::<24>().0 {
            let word = |i: usize| u64::from_le_bytes(chunk[i * 8..i * 8 + 8].try_into().unwrap_or_default());
            let dependency = abi::Dependency { kind: word(0), value: word(1), length: word(2) };
            match dependency.kind {
                abi::Dependency::PROGRAM => {
                    let path = user_path(dependency.value, dependency.length)?;
                    if process::ramdisk().and_then(|ramdisk| ramdisk.file(&path)).is_none() {
                        return Err(Error::NotFound);
                    }
                    declaration.programs.push(path);
                }
                abi::Dependency::PARTITION => declaration.partitions.push(PartitionId(dependency.value)),
                _ => return Err(Error::InvalidArgument),
            }
        }
    }
    process::resource_request(declaration)?;
    Ok(0)
}
