//! The IPC system calls: the kernel-wide [`Ipc`] registry behind one
//! lock, and the backends that copy messages between user memory and it,
//! block the caller and wake its peers.
//!
//! Every user copy happens with the lock released (a copy may fault and
//! commit pages); the registry itself never blocks. A call that waits
//! registers its task with the registry and blocks with interrupts off
//! from before the registration to the switch, so a wake-up cannot slip
//! in between (one processor; the SMP issue replaces this with a wake
//! token). A receive checks its whole output buffer against the caller's
//! partitions (writable memory of its own) before it takes a message off
//! its queue, so a bad buffer loses nothing; only running out of memory
//! while the copy commits the buffer's pages could (the caller then gets
//! `BadAddress`). `ipc_call` runs the server it woke at once, ahead of
//! every ready task (`sched::block_and_run`): the caller's time slice
//! goes to the call.

#![forbid(unsafe_code)]

use super::handles::Handle;
use super::registry::{Ipc, Pid, Sent};
use crate::share::registry::GrantRef;
use crate::process::{self, memory::UserSlice};
use crate::sched::{self, TaskId};
use crate::sync::IrqMutex;
use abi::ipc::{HandleTransfer, ReceiveFlags, Received, MAX_BYTES, MAX_HANDLES};
use abi::{Error, HandleRights};
use alloc::vec::Vec;
use x86_64::instructions::interrupts::without_interrupts;

static IPC: IrqMutex<Ipc<TaskId>> = IrqMutex::new(Ipc::new());

fn current() -> Result<Pid, Error> {
    process::current_pid().ok_or(Error::InvalidArgument)
}

fn wake_all(tasks: impl IntoIterator<Item = TaskId>) {
    for task in tasks {
        sched::wake(task);
    }
}

/// Checks that `parent` may give a child the startup handles `transfers`
/// name, changing nothing.
pub fn check_startup(parent: Pid, transfers: &[HandleTransfer]) -> Result<(), Error> {
    IPC.lock().check_startup(parent, transfers)
}

/// Gives process `pid` its handle table, with the startup handles
/// `transfers` name in `parent`'s (checked: on an error nothing changed).
pub fn start_process(pid: Pid, parent: Option<Pid>, transfers: &[HandleTransfer]) -> Result<(), Error> {
    let wake = IPC.lock().start_process(pid, parent, transfers)?;
    wake_all(wake);
    Ok(())
}

/// Closes every handle of `pid`, which ended: peers blocked on it wake.
pub fn end_process(pid: Pid) {
    let wake = IPC.lock().end_process(pid);
    wake_all(wake);
}

/// Reads `count` handle transfers at `address` (two words each).
pub fn read_transfers(address: u64, count: u64) -> Result<Vec<HandleTransfer>, Error> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > MAX_HANDLES as u64 {
        return Err(Error::TooLarge);
    }
    let bytes = process::copy_from_user(UserSlice::new(address, count * 16).aligned(8)?)?;
    let words: Vec<u64> = bytes.as_chunks::<8>().0.iter().map(|word| u64::from_le_bytes(*word)).collect();
    words.as_chunks::<2>().0.iter().map(|pair| HandleTransfer::from_words(*pair).ok_or(Error::InvalidArgument)).collect()
}

/// `endpoint_create`.
pub fn endpoint_create() -> Result<u64, Error> {
    let pid = current()?;
    Ok(IPC.lock().create_endpoint(pid)?.raw())
}

/// `handle_close`.
pub fn handle_close(handle: u64) -> Result<u64, Error> {
    let pid = current()?;
    let wake = IPC.lock().close(pid, Handle::from_raw(handle))?;
    wake_all(wake);
    Ok(0)
}

/// `handle_duplicate`.
pub fn handle_duplicate(handle: u64, rights: u64) -> Result<u64, Error> {
    let pid = current()?;
    let rights = u32::try_from(rights).ok().and_then(HandleRights::from_bits).ok_or(Error::InvalidArgument)?;
    Ok(IPC.lock().duplicate(pid, Handle::from_raw(handle), rights)?.raw())
}

/// `handle_info`.
pub fn handle_info(handle: u64) -> Result<u64, Error> {
    let pid = current()?;
    let (kind, rights) = IPC.lock().info(pid, Handle::from_raw(handle))?;
    Ok(abi::ipc::encode_info(kind, rights))
}

/// Gives process `pid` a handle with `rights` to grant `grant`.
pub fn insert_grant(pid: Pid, grant: GrantRef, rights: HandleRights) -> Result<u64, Error> {
    Ok(IPC.lock().insert_grant(pid, grant, rights)?.raw())
}

/// The grant `pid`'s `handle` names, if the handle has `needed`.
pub fn grant_of(pid: Pid, handle: u64, needed: HandleRights) -> Result<GrantRef, Error> {
    IPC.lock().grant(pid, Handle::from_raw(handle), needed)
}

/// `handle_startup`.
pub fn handle_startup(index: u64) -> Result<u64, Error> {
    let pid = current()?;
    Ok(IPC.lock().startup(pid, index)?.raw())
}

/// The bytes of a message to send, copied into `buffer` (returns how
/// many), and its transfers.
fn outgoing(
    buffer: &mut [u8; MAX_BYTES],
    bytes_address: u64,
    bytes_length: u64,
    transfers_address: u64,
    transfer_count: u64,
) -> Result<(usize, Vec<HandleTransfer>), Error> {
    if bytes_length > MAX_BYTES as u64 {
        return Err(Error::TooLarge);
    }
    let length = bytes_length as usize;
    process::copy_from_user_into(UserSlice::new(bytes_address, bytes_length), &mut buffer[..length])?;
    Ok((length, read_transfers(transfers_address, transfer_count)?))
}

/// `ipc_send`.
pub fn send(handle: u64, bytes_address: u64, bytes_length: u64, transfers_address: u64, transfer_count: u64) -> Result<u64, Error> {
    let pid = current()?;
    let mut buffer = [0; MAX_BYTES];
    let (length, transfers) = outgoing(&mut buffer, bytes_address, bytes_length, transfers_address, transfer_count)?;
    let Sent { receiver, wake } = IPC.lock().send(pid, Handle::from_raw(handle), &buffer[..length], &transfers)?;
    wake_all(receiver.into_iter().chain(wake));
    Ok(0)
}

/// The output buffer of a receive, checked to be writable memory of the
/// caller.
fn output(address: u64) -> Result<UserSlice, Error> {
    let slice = UserSlice::new(address, Received::WORDS as u64 * 8).aligned(8)?;
    process::check_writable(slice)?;
    Ok(slice)
}

fn write_received(slice: UserSlice, received: &Received) -> Result<u64, Error> {
    let mut bytes = [0u8; Received::WORDS * 8];
    for (chunk, word) in bytes.as_chunks_mut::<8>().0.iter_mut().zip(received.to_words()) {
        *chunk = word.to_le_bytes();
    }
    process::copy_to_user(slice, &bytes)?;
    Ok(0)
}

/// `ipc_receive`.
pub fn receive(handle: u64, out_address: u64, flags: u64) -> Result<u64, Error> {
    let pid = current()?;
    let flags = ReceiveFlags::from_bits(flags).ok_or(Error::InvalidArgument)?;
    let out = output(out_address)?;
    receive_into(pid, Handle::from_raw(handle), out, flags, None)
}

/// `ipc_reply_receive`: answers a call, then receives.
pub fn reply_receive(reply: u64, bytes_address: u64, bytes_length: u64, handle: u64, out_address: u64, flags: u64) -> Result<u64, Error> {
    let pid = current()?;
    let flags = ReceiveFlags::from_bits(flags).ok_or(Error::InvalidArgument)?;
    let out = output(out_address)?;
    let mut buffer = [0; MAX_BYTES];
    let (length, _) = outgoing(&mut buffer, bytes_address, bytes_length, 0, 0)?;
    let reply = Handle::from_raw(reply);
    let answered = IPC.lock().send(pid, reply, &buffer[..length], &[]);
    let receiver = match answered {
        Ok(Sent { receiver, wake }) => {
            wake_all(wake);
            receiver
        }
        // The caller is gone: nobody to answer, the server goes on.
        Err(Error::PeerClosed) => {
            let wake = IPC.lock().close(pid, reply)?;
            wake_all(wake);
            None
        }
        Err(error) => return Err(error),
    };
    receive_into(pid, Handle::from_raw(handle), out, flags, receiver)
}

/// Receives on `handle` into `out`, waiting unless `flags` say not to;
/// a task to `run_first` (a caller just answered) runs when this one
/// starts to wait, and is woken anyway if it does not.
fn receive_into(pid: Pid, handle: Handle, out: UserSlice, flags: ReceiveFlags, run_first: Option<TaskId>) -> Result<u64, Error> {
    let waiter = (!flags.contains(ReceiveFlags::NONBLOCK)).then(sched::current);
    let received = wait_for(waiter.is_some(), run_first, || IPC.lock().receive(pid, handle, waiter));
    write_received(out, &received?)
}

/// Makes `attempt` until it gives anything but `WouldBlock` (only once
/// unless `blocking`); between attempts the caller blocks, handing the
/// processor to `run_first` the first time if one is given, which is
/// woken anyway if the wait ends without it having run. `attempt`
/// registers the caller to be woken: it runs with interrupts off up to
/// the block, so no wake-up is lost in between.
fn wait_for(blocking: bool, mut run_first: Option<TaskId>, mut attempt: impl FnMut() -> Result<Received, Error>) -> Result<Received, Error> {
    let result = loop {
        let outcome = without_interrupts(|| match attempt() {
            Err(Error::WouldBlock) if blocking => {
                match run_first.take() {
                    Some(task) => sched::block_and_run(task),
                    None => sched::block_current(),
                }
                None
            }
            result => Some(result),
        });
        if let Some(result) = outcome {
            break result;
        }
    };
    if let Some(task) = run_first {
        sched::wake(task);
    }
    result
}

/// `ipc_call`: sends with a reply handle, runs the server it woke, and
/// waits for the answer.
pub fn call(handle: u64, bytes_address: u64, bytes_length: u64, transfers_address: u64, transfer_count: u64, out_address: u64) -> Result<u64, Error> {
    let pid = current()?;
    let mut buffer = [0; MAX_BYTES];
    let (length, transfers) = outgoing(&mut buffer, bytes_address, bytes_length, transfers_address, transfer_count)?;
    let out = output(out_address)?;
    let task = sched::current();
    let Sent { receiver, wake } = IPC.lock().call(pid, Handle::from_raw(handle), &buffer[..length], &transfers)?;
    wake_all(wake);
    // The server the message woke runs first; it is woken anyway if the
    // call ended at once.
    let answer = wait_for(true, receiver, || IPC.lock().answer(pid, Some(task)));
    write_received(out, &answer?)
}
