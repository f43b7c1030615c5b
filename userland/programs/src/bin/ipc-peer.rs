//! Helper for `test-ipc`: the other end of an endpoint. Its startup
//! handle 0 is the endpoint it works on; what it does is its first
//! argument:
//!
//! - `echo`: answers every call with its bytes reversed (after sending
//!   `via handle` on the first handle a request carries, if any; the
//!   answer and the next receive are one `ipc_reply_receive`) and
//!   every plain message by sending it back on the handle it carries;
//!   exits 0 once no sender is left (`PeerClosed`), 1 on any other error.
//! - `exit`: exits 0 at once (its handles close with it).
//! - `sink`: answers every call with the wrapping sum of its bytes (8
//!   bytes), until no sender is left (a consumer of copied data).
//! - `die-on-call`: takes one call and exits 3 without answering.
//! - `values`: creates 3 endpoints and sends their values as 24 bytes on
//!   startup handle 0, then waits on startup handle 1 until its sender
//!   is gone, so the values stay live meanwhile.

#![no_std]
#![no_main]

use runtime::ipc::{self, Handle};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let Ok(endpoint) = ipc::startup_handle(0) else { return 2 };
    match args.get(1) {
        Some("echo") => echo(endpoint),
        Some("exit") => 0,
        Some("sink") => sink(endpoint),
        Some("die-on-call") => match ipc::receive(endpoint) {
            Ok(request) if request.reply != 0 => 3,
            _ => 1,
        },
        Some("values") => values(endpoint),
        _ => 2,
    }
}

fn echo(endpoint: Handle) -> i32 {
    let mut next = ipc::receive(endpoint);
    loop {
        let request = match next {
            Ok(request) => request,
            Err(abi::Error::PeerClosed) => return 0,
            Err(_) => return 1,
        };
        let carried = request.received_handles().next().map(|handle| Handle(handle.handle));
        if request.reply == 0 {
            if let Some(back) = carried {
                if ipc::send(back, request.data(), &[]).is_err() {
                    return 1;
                }
                let _ = back.close();
            }
            next = ipc::receive(endpoint);
            continue;
        }
        if let Some(handle) = carried {
            if ipc::send(handle, b"via handle", &[]).is_err() {
                return 1;
            }
            let _ = handle.close();
        }
        let mut answer = [0u8; ipc::MAX_BYTES];
        let data = request.data();
        for (slot, byte) in answer.iter_mut().zip(data.iter().rev()) {
            *slot = *byte;
        }
        // Answer and take the next request in one system call.
        next = ipc::reply_receive(&request, &answer[..data.len()], endpoint);
    }
}

fn values(parent: Handle) -> i32 {
    let mut bytes = [0u8; 24];
    for chunk in bytes.as_chunks_mut::<8>().0 {
        let Ok(handle) = ipc::endpoint_create() else { return 1 };
        chunk.copy_from_slice(&handle.raw().to_le_bytes());
    }
    if ipc::send(parent, &bytes, &[]).is_err() {
        return 1;
    }
    let Ok(done) = ipc::startup_handle(1) else { return 1 };
    match ipc::receive(done) {
        Err(abi::Error::PeerClosed) => 0,
        _ => 1,
    }
}

fn sink(endpoint: Handle) -> i32 {
    let mut next = ipc::receive(endpoint);
    loop {
        let request = match next {
            Ok(request) => request,
            Err(abi::Error::PeerClosed) => return 0,
            Err(_) => return 1,
        };
        let sum = request.data().iter().fold(0u64, |sum, &byte| sum.wrapping_add(u64::from(byte)));
        next = ipc::reply_receive(&request, &sum.to_le_bytes(), endpoint);
    }
}
