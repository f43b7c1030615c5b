//! Endpoints and handles: messages, rights, limits, bad arguments, calls
//! between processes, handles passed on, and peers that die.

#![no_std]
#![no_main]

extern crate alloc;

use abi::ipc::{HandleTransfer, ObjectKind, Received, Transfer};
use abi::{Error, ExitReason, HandleRights, Syscall};
use alloc::format;
use alloc::vec::Vec;
use runtime::ipc::{self, duplicated, moved, moved_with, Handle};
use runtime::{check, check_eq, sys, take};

const SEND_ONLY: HandleRights = HandleRights::SEND.union(HandleRights::TRANSFER);
const KERNEL: u64 = 0xffff_8000_0000_0000;
const CODE: u64 = 0x40_0000;

fn raw(call: Syscall, args: [u64; 6]) -> Result<u64, Error> {
    // SAFETY: every pointer passed in these tests is either invalid (the
    // kernel must refuse it) or points into a live local buffer.
    abi::decode(unsafe { sys::syscall6(call as u64, args[0], args[1], args[2], args[3], args[4], args[5]) })
}

/// An endpoint served by a new `bin/ipc-peer MODE`: our send handle, and
/// the peer's pid.
fn peer(mode: &str) -> Result<(Handle, u64), Error> {
    let endpoint = ipc::endpoint_create()?;
    let ours = endpoint.duplicate(HandleRights::SEND)?;
    let pid = ipc::spawn_with_handles("bin/ipc-peer", &[mode], 0, &[moved_with(endpoint, HandleRights::RECEIVE)])?;
    Ok((ours, pid))
}

/// How `pid` ended.
fn ended(pid: u64) -> Option<ExitReason> {
    sys::wait(pid).ok().and_then(|status| status.reason())
}

runtime::tests! {
    fn a_message_goes_round_in_one_process() {
        let endpoint = take!(ipc::endpoint_create());
        check_eq!(endpoint.info(), Ok((ObjectKind::Endpoint, ipc::ENDPOINT_RIGHTS)));
        take!(ipc::send(endpoint, b"abc", &[]));
        let message = take!(ipc::try_receive(endpoint));
        check_eq!((message.sender, message.data(), message.reply), (sys::getpid(), &b"abc"[..], 0));
        check_eq!(ipc::try_receive(endpoint).map(|m| m.sender), Err(Error::WouldBlock));
        take!(endpoint.close());
        check_eq!(endpoint.info(), Err(Error::BadHandle), "a closed handle names nothing");
        check_eq!(endpoint.close(), Err(Error::BadHandle), "closed twice");
    }

    fn forged_handles_are_refused() {
        let endpoint = take!(ipc::endpoint_create());
        let mut value = 0x9e37_79b9_7f4a_7c15u64;
        let mut refused = 0;
        for _ in 0..2000 {
            value = value.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for forged in [value, value & 0xff, value & 0xffff_ffff_0000_00ff] {
                if forged == endpoint.raw() {
                    continue;
                }
                check_eq!(Handle(forged).info(), Err(Error::BadHandle), "{forged:#x}");
                check_eq!(ipc::send(Handle(forged), b"x", &[]), Err(Error::BadHandle), "{forged:#x}");
                refused += 1;
            }
        }
        check_eq!(refused, 6000);
        check_eq!(Handle(0).info(), Err(Error::BadHandle));
        take!(endpoint.close());
    }

    fn rights_are_enforced_and_never_grow() {
        let endpoint = take!(ipc::endpoint_create());
        let send = take!(endpoint.duplicate(HandleRights::SEND));
        let receive = take!(endpoint.duplicate(HandleRights::RECEIVE | HandleRights::TRANSFER));
        check_eq!(send.info(), Ok((ObjectKind::Endpoint, HandleRights::SEND)));
        check_eq!(ipc::try_receive(send).map(|m| m.sender), Err(Error::PermissionDenied));
        check_eq!(ipc::send(receive, b"x", &[]), Err(Error::PermissionDenied));
        check_eq!(send.duplicate(HandleRights::SEND), Err(Error::PermissionDenied), "no DUPLICATE right");
        check_eq!(receive.duplicate(HandleRights::RECEIVE), Err(Error::PermissionDenied));
        check_eq!(raw(Syscall::HandleDuplicate, [endpoint.raw(), 1 << 20, 0, 0, 0, 0]), Err(Error::InvalidArgument), "unknown right");
        let other = take!(ipc::endpoint_create());
        // `send` lacks TRANSFER; `receive` cannot be passed on as SEND.
        check_eq!(ipc::send(endpoint, b"", &[moved(send)]), Err(Error::PermissionDenied));
        check_eq!(ipc::send(other, b"", &[moved_with(receive, HandleRights::SEND)]), Err(Error::PermissionDenied));
        check_eq!(ipc::send(other, b"", &[duplicated(receive, HandleRights::RECEIVE)]), Err(Error::PermissionDenied), "duplicate needs DUPLICATE");
        check_eq!(ipc::send(endpoint, b"", &[duplicated(endpoint, HandleRights::SEND)]), Err(Error::InvalidArgument), "not over itself");
        take!(ipc::send(other, b"", &[moved_with(receive, HandleRights::RECEIVE)]));
        check_eq!(receive.info(), Err(Error::BadHandle), "moved");
        let arrived = take!(ipc::try_receive(other));
        let handle = arrived.received_handles().next();
        check_eq!(handle.map(|h| (h.kind, h.rights)), Some((ObjectKind::Endpoint, HandleRights::RECEIVE)), "TRANSFER was dropped");
        for handle in [endpoint, send, other] {
            take!(handle.close());
        }
        if let Some(handle) = handle {
            take!(Handle(handle.handle).close());
        }
    }

    fn limits_are_enforced_and_a_refused_message_takes_nothing() {
        let endpoint = take!(ipc::endpoint_create());
        check_eq!(ipc::send(endpoint, &[0; ipc::MAX_BYTES + 1], &[]), Err(Error::TooLarge));
        let carried: Vec<Handle> = (0..5).filter_map(|_| ipc::endpoint_create().ok()).collect();
        check_eq!(carried.len(), 5);
        let five: Vec<HandleTransfer> = carried.iter().map(|&h| moved(h)).collect();
        check_eq!(ipc::send(endpoint, b"", &five), Err(Error::TooLarge));
        check_eq!(ipc::send(endpoint, b"", &[moved(carried[0]), moved(carried[0])]), Err(Error::InvalidArgument), "twice");
        for index in 0..ipc::QUEUE_DEPTH {
            take!(ipc::send(endpoint, &[index as u8; ipc::MAX_BYTES], &[]));
        }
        check_eq!(ipc::send(endpoint, b"", &[moved(carried[1])]), Err(Error::QueueFull));
        check_eq!(carried[1].info().map(|info| info.0), Ok(ObjectKind::Endpoint), "still ours");
        for index in 0..ipc::QUEUE_DEPTH {
            let message = take!(ipc::try_receive(endpoint));
            check_eq!(message.data(), &[index as u8; ipc::MAX_BYTES][..], "in order");
        }
        for handle in carried.into_iter().chain([endpoint]) {
            take!(handle.close());
        }
    }

    fn bad_buffers_are_refused_and_lose_no_message() {
        let endpoint = take!(ipc::endpoint_create());
        let e = endpoint.raw();
        let text = b"kept";
        let (p, n) = (text.as_ptr() as u64, text.len() as u64);
        check_eq!(raw(Syscall::IpcSend, [e, KERNEL, 4, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::IpcSend, [e, 0, 4, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::IpcSend, [e, p, n, KERNEL, 1, 0]), Err(Error::BadAddress), "transfers");
        check_eq!(raw(Syscall::IpcSend, [e, p, n, p, 9, 0]), Err(Error::TooLarge), "transfer count");
        let unknown_way = [e, 1 | 7 << 32];
        check_eq!(raw(Syscall::IpcSend, [e, p, n, unknown_way.as_ptr() as u64, 1, 0]), Err(Error::InvalidArgument));
        take!(ipc::send(endpoint, text, &[]));
        let mut out = [0u64; Received::WORDS + 1];
        let o = out.as_mut_ptr() as u64;
        for bad in [0, KERNEL, CODE, o + 4] {
            check_eq!(raw(Syscall::IpcReceive, [e, bad, 0, 0, 0, 0]), Err(Error::BadAddress), "{bad:#x}");
        }
        check_eq!(raw(Syscall::IpcReceive, [e, o, 1 << 9, 0, 0, 0]), Err(Error::InvalidArgument), "unknown flag");
        check_eq!(raw(Syscall::IpcCall, [e, p, n, 0, 0, KERNEL]), Err(Error::BadAddress));
        check_eq!(ipc::try_receive(endpoint).map(|m| m.data() == text), Ok(true), "the message survived");
        check_eq!(ipc::try_receive(endpoint).map(|m| m.sender), Err(Error::WouldBlock), "the bad call sent nothing");
        take!(endpoint.close());
    }

    fn init_gives_its_children_a_handle_to_it() {
        let parent = take!(ipc::startup_handle(0));
        check_eq!(parent.info(), Ok((ObjectKind::Endpoint, HandleRights::SEND | HandleRights::TRANSFER | HandleRights::DUPLICATE)));
        check_eq!(ipc::startup_handle(1), Err(Error::NotFound));
        take!(ipc::send(parent, b"test-ipc says hello", &[]));
    }

    fn calls_are_answered_by_another_process() {
        let (server, pid) = take!(peer("echo"));
        for round in 0..100u32 {
            let question = format!("question {round}");
            let answer = take!(ipc::call_endpoint(server, question.as_bytes(), &[]));
            let expected: Vec<u8> = question.bytes().rev().collect();
            check_eq!(answer.data(), &expected[..]);
            check_eq!(answer.sender, pid);
            check_eq!(answer.reply, 0);
        }
        take!(server.close());
        check_eq!(ended(pid), Some(ExitReason::Exited(0)), "the server saw PeerClosed and ended");
    }

    fn handles_travel_in_messages_and_calls() {
        let (server, pid) = take!(peer("echo"));
        let back = take!(ipc::endpoint_create());
        take!(ipc::send(server, b"sent back", &[duplicated(back, SEND_ONLY)]));
        let returned = take!(ipc::receive(back));
        check_eq!((returned.sender, returned.data()), (pid, &b"sent back"[..]));
        let answer = take!(ipc::call_endpoint(server, b"abc", &[duplicated(back, SEND_ONLY)]));
        check_eq!(answer.data(), b"cba");
        check_eq!(ipc::try_receive(back).map(|m| m.data() == b"via handle"), Ok(true));
        take!(server.close());
        check_eq!(ended(pid), Some(ExitReason::Exited(0)));
        take!(back.close());
    }

    fn a_receiver_blocked_on_a_dead_peer_wakes_with_peer_closed() {
        let endpoint = take!(ipc::endpoint_create());
        let receive = take!(endpoint.duplicate(HandleRights::RECEIVE));
        let pid = take!(ipc::spawn_with_handles("bin/ipc-peer", &["exit"], 0, &[moved_with(endpoint, SEND_ONLY)]));
        // The only send handle is the child's: this waits until it ends.
        check_eq!(ipc::receive(receive).map(|m| m.sender), Err(Error::PeerClosed));
        check_eq!(ended(pid), Some(ExitReason::Exited(0)));
        take!(receive.close());
    }

    fn a_server_that_dies_holding_a_call_fails_it_with_peer_closed() {
        let (server, pid) = take!(peer("die-on-call"));
        check_eq!(ipc::call_endpoint(server, b"anyone?", &[]).map(|m| m.sender), Err(Error::PeerClosed));
        check_eq!(ended(pid), Some(ExitReason::Exited(3)));
        check_eq!(ipc::send(server, b"late", &[]), Err(Error::PeerClosed), "nobody receives any more");
        take!(server.close());
    }

    fn another_process_handles_name_nothing_here() {
        let inbox = take!(ipc::endpoint_create());
        let done = take!(ipc::endpoint_create());
        let transfers = [duplicated(inbox, SEND_ONLY), moved_with(done, HandleRights::RECEIVE)];
        let done_send = take!(done.duplicate(HandleRights::SEND));
        let pid = take!(ipc::spawn_with_handles("bin/ipc-peer", &["values"], 0, &transfers));
        let message = take!(ipc::receive(inbox));
        check_eq!(message.data().len(), 24);
        for chunk in message.data().as_chunks::<8>().0 {
            let value = u64::from_le_bytes(*chunk);
            check!(value != 0);
            check_eq!(Handle(value).info(), Err(Error::BadHandle), "the peer's live handle {value:#x}");
        }
        take!(done_send.close());
        check_eq!(ended(pid), Some(ExitReason::Exited(0)));
        take!(inbox.close());
    }

    fn spawn_checks_the_handles_it_passes() {
        let endpoint = take!(ipc::endpoint_create());
        let count_before = endpoint.info();
        check_eq!(ipc::spawn_with_handles("bin/ipc-peer", &["exit"], 0, &[moved(Handle(0xbad))]), Err(Error::BadHandle));
        let bogus = HandleTransfer { handle: endpoint.raw(), rights: HandleRights::SEND, how: Transfer::Move };
        check_eq!(ipc::spawn_with_handles("bin/no-such-program", &[], 0, &[bogus]), Err(Error::NotFound));
        check_eq!(endpoint.info(), count_before, "a refused spawn takes nothing");
        let five: Vec<HandleTransfer> = (0..5).map(|_| duplicated(endpoint, HandleRights::SEND)).collect();
        check_eq!(ipc::spawn_with_handles("bin/ipc-peer", &["exit"], 0, &five), Err(Error::TooLarge));
        take!(endpoint.close());
    }
}
