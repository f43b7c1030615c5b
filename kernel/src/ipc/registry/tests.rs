use super::*;
use abi::ipc::{QUEUE_DEPTH, MAX_BYTES};
use alloc::vec;
use proptest::prelude::*;

const A: Pid = 10;
const B: Pid = 11;
const C: Pid = 12;

fn ipc() -> Ipc<u32> {
    let mut ipc = Ipc::new();
    for pid in [A, B, C] {
        ipc.start_process(pid, None, &[]).unwrap();
    }
    ipc
}

fn moved(handle: Handle, rights: HandleRights) -> HandleTransfer {
    HandleTransfer { handle: handle.raw(), rights, how: Transfer::Move }
}

fn duplicated(handle: Handle, rights: HandleRights) -> HandleTransfer {
    HandleTransfer { handle: handle.raw(), rights, how: Transfer::Duplicate }
}

const SEND_ONLY: HandleRights = HandleRights::SEND.union(HandleRights::TRANSFER);

/// A receive-only handle in A, and the only send handle to the same
/// endpoint in a new process `child`, passed as its startup handle.
fn connected(ipc: &mut Ipc<u32>, child: Pid) -> (Handle, Handle) {
    let endpoint = ipc.create_endpoint(A).unwrap();
    ipc.start_process(child, Some(A), &[duplicated(endpoint, SEND_ONLY)]).unwrap();
    let receive = ipc.duplicate(A, endpoint, HandleRights::RECEIVE).unwrap();
    assert_eq!(ipc.close(A, endpoint), Ok(vec![]));
    (receive, ipc.startup(child, 0).unwrap())
}

#[test]
fn a_message_and_its_handles_arrive_with_no_more_rights_than_sent() {
    let mut ipc = ipc();
    let endpoint = ipc.create_endpoint(A).unwrap();
    let send = ipc.duplicate(A, endpoint, SEND_ONLY | HandleRights::DUPLICATE).unwrap();
    let other = ipc.create_endpoint(A).unwrap();
    let sent = ipc.send(A, send, b"hello", &[moved(other, HandleRights::SEND)]).unwrap();
    assert_eq!(sent, Sent { receiver: None, wake: vec![] });
    assert_eq!(ipc.info(A, other), Err(Error::BadHandle), "a moved handle leaves its sender");
    let received = ipc.receive(A, endpoint, None).unwrap();
    assert_eq!((received.sender, received.data(), received.reply), (A, &b"hello"[..], 0));
    let arrived: Vec<ReceivedHandle> = received.received_handles().collect();
    assert_eq!(arrived.len(), 1);
    assert_eq!((arrived[0].rights, arrived[0].kind), (HandleRights::SEND, ObjectKind::Endpoint));
    let new = Handle::from_raw(arrived[0].handle);
    assert_eq!(ipc.info(A, new), Ok((ObjectKind::Endpoint, HandleRights::SEND)));
    assert_eq!(ipc.receive(A, new, None), Err(Error::PermissionDenied), "RECEIVE was not passed on");
    assert_eq!(ipc.duplicate(A, send, ENDPOINT_RIGHTS), Err(Error::PermissionDenied), "rights never grow");
}

#[test]
fn receiving_with_nothing_queued_registers_the_waiter_and_a_send_wakes_it() {
    let mut ipc = ipc();
    let (endpoint, send) = connected(&mut ipc, 20);
    assert_eq!(ipc.receive(A, endpoint, Some(7)), Err(Error::WouldBlock));
    let sent = ipc.send(20, send, b"m", &[]).unwrap();
    assert_eq!(sent.receiver, Some(7));
    assert_eq!(ipc.receive(A, endpoint, Some(7)).unwrap().sender, 20);
}

#[test]
fn handles_are_checked_before_anything_changes() {
    let mut ipc = ipc();
    let (endpoint, send) = connected(&mut ipc, 20);
    let keep = ipc.create_endpoint(20).unwrap();
    let before = ipc.handles_of(20);
    // Forged, another process's, twice the same, more rights than held,
    // a duplicate without DUPLICATE, the endpoint over itself, too many.
    let cases: Vec<(Vec<HandleTransfer>, Error)> = vec![
        (vec![HandleTransfer { handle: 0xdead_beef, rights: HandleRights::SEND, how: Transfer::Move }], Error::BadHandle),
        (vec![moved(endpoint, HandleRights::SEND)], Error::BadHandle),
        (vec![moved(keep, HandleRights::SEND), moved(keep, HandleRights::SEND)], Error::InvalidArgument),
        (vec![moved(send, HandleRights::SEND | HandleRights::RECEIVE)], Error::PermissionDenied),
        (vec![duplicated(send, HandleRights::SEND)], Error::PermissionDenied),
        (vec![moved(send, HandleRights::SEND)], Error::InvalidArgument),
        (vec![moved(keep, HandleRights::SEND); MAX_HANDLES + 1], Error::TooLarge),
    ];
    for (transfers, error) in cases {
        assert_eq!(ipc.send(20, send, &[], &transfers), Err(error), "{transfers:?}");
        assert_eq!(ipc.handles_of(20), before, "a refused send takes nothing");
    }
    assert_eq!(ipc.send(20, send, &[0; MAX_BYTES + 1], &[]), Err(Error::TooLarge));
    assert_eq!(ipc.send(20, Handle::from_raw(send.raw() ^ 1 << 40), &[], &[]), Err(Error::BadHandle));
    assert_eq!(ipc.receive(20, send, None), Err(Error::PermissionDenied), "a send handle cannot receive");
    assert_eq!(ipc.receive(A, endpoint, None), Err(Error::WouldBlock), "nothing was queued");
}

#[test]
fn a_full_queue_refuses_and_the_sender_keeps_its_handles() {
    let mut ipc = ipc();
    let (endpoint, send) = connected(&mut ipc, 20);
    for index in 0..QUEUE_DEPTH {
        ipc.send(20, send, &[index as u8], &[]).unwrap();
    }
    let carried = ipc.create_endpoint(20).unwrap();
    assert_eq!(ipc.send(20, send, &[], &[moved(carried, HandleRights::SEND)]), Err(Error::QueueFull));
    assert_eq!(ipc.info(20, carried), Ok((ObjectKind::Endpoint, ENDPOINT_RIGHTS)), "still the sender's");
    let first = ipc.receive(A, endpoint, None).unwrap();
    assert_eq!(first.data(), [0]);
    assert!(ipc.send(20, send, &[], &[moved(carried, HandleRights::SEND)]).is_ok(), "room again");
}

#[test]
fn a_sender_that_ends_wakes_its_receiver_with_peer_closed_after_the_queue() {
    let mut ipc = ipc();
    let (endpoint, send) = connected(&mut ipc, 20);
    ipc.send(20, send, b"last", &[]).unwrap();
    assert_eq!(ipc.end_process(20), Vec::<u32>::new(), "nobody waits yet");
    assert_eq!(ipc.receive(A, endpoint, Some(3)).unwrap().data(), b"last");
    assert_eq!(ipc.receive(A, endpoint, Some(3)), Err(Error::PeerClosed));

    let (endpoint, _send) = connected(&mut ipc, 21);
    assert_eq!(ipc.receive(A, endpoint, Some(3)), Err(Error::WouldBlock));
    assert_eq!(ipc.end_process(21), vec![3], "the blocked receiver is woken");
    assert_eq!(ipc.receive(A, endpoint, Some(3)), Err(Error::PeerClosed));
}

#[test]
fn sending_to_an_endpoint_whose_receiver_ended_is_peer_closed_and_queued_handles_close() {
    let mut ipc = ipc();
    let (endpoint, send) = connected(&mut ipc, 20);
    let carried = ipc.create_endpoint(20).unwrap();
    let carried_send = ipc.duplicate(20, carried, SEND_ONLY).unwrap();
    ipc.send(20, send, &[], &[moved(carried, HandleRights::RECEIVE)]).unwrap();
    assert_eq!(ipc.close(A, endpoint), Ok(vec![]));
    assert_eq!(ipc.send(20, send, &[], &[]), Err(Error::PeerClosed));
    // The receive handle to `carried` went with the dropped message.
    assert_eq!(ipc.send(20, carried_send, &[], &[]), Err(Error::PeerClosed));
}

#[test]
fn a_call_is_answered_through_its_one_shot_reply() {
    let mut ipc = ipc();
    let (server, client) = connected(&mut ipc, 20);
    assert_eq!(ipc.receive(A, server, Some(1)), Err(Error::WouldBlock));
    let sent = ipc.call(20, client, b"ping", &[]).unwrap();
    assert_eq!(sent.receiver, Some(1), "the waiting server runs");
    assert_eq!(ipc.answer(20, Some(2)), Err(Error::WouldBlock));
    let request = ipc.receive(A, server, None).unwrap();
    assert_eq!(request.data(), b"ping");
    let reply = Handle::from_raw(request.reply);
    assert_eq!(ipc.info(A, reply), Ok((ObjectKind::Reply, HandleRights::SEND | HandleRights::TRANSFER)));
    // An answer cannot carry its own reply handle; refused, it takes nothing.
    let itself = HandleTransfer { handle: reply.raw(), rights: HandleRights::SEND, how: Transfer::Move };
    assert_eq!(ipc.send(A, reply, b"pong", &[itself]).err(), Some(Error::InvalidArgument));
    assert_eq!(ipc.info(A, reply), Ok((ObjectKind::Reply, HandleRights::SEND | HandleRights::TRANSFER)));
    assert_eq!(ipc.answer(20, Some(2)), Err(Error::WouldBlock), "not answered");
    let endpoints = ipc.endpoints();
    let answered = ipc.send(A, reply, b"pong", &[]).unwrap();
    assert_eq!(answered.receiver, Some(2), "the caller is woken");
    assert_eq!(ipc.info(A, reply), Err(Error::BadHandle), "a reply is one-shot");
    let answer = ipc.answer(20, Some(2)).unwrap();
    assert_eq!((answer.sender, answer.data()), (A, &b"pong"[..]));
    assert_eq!(ipc.endpoints(), endpoints, "a call makes no endpoint");
    assert_eq!(ipc.answer(20, None), Err(Error::InvalidArgument), "no call in progress");
}

#[test]
fn a_reply_closed_unanswered_wakes_the_caller_with_peer_closed() {
    let mut ipc = ipc();
    let (server, client) = connected(&mut ipc, 20);
    ipc.call(20, client, &[], &[]).unwrap();
    assert_eq!(ipc.answer(20, Some(2)), Err(Error::WouldBlock));
    let request = ipc.receive(A, server, None).unwrap();
    assert_eq!(ipc.end_process(A), vec![2], "the server ended holding the reply");
    assert_ne!(request.reply, 0);
    assert_eq!(ipc.answer(20, Some(2)), Err(Error::PeerClosed));
    assert!(ipc.call(20, client, &[], &[]).is_err(), "the server is gone");
}

#[test]
fn a_call_whose_message_is_dropped_is_peer_closed_and_a_caller_that_ends_frees_its_reply() {
    let mut ipc = ipc();
    let (server, client) = connected(&mut ipc, 20);
    ipc.call(20, client, &[], &[]).unwrap();
    assert_eq!(ipc.answer(20, Some(2)), Err(Error::WouldBlock));
    assert_eq!(ipc.close(A, server), Ok(vec![2]), "the queued call went with the last receive handle");
    assert_eq!(ipc.answer(20, None), Err(Error::PeerClosed));

    let (server, client) = connected(&mut ipc, 21);
    ipc.call(21, client, &[], &[]).unwrap();
    let request = ipc.receive(A, server, None).unwrap();
    ipc.end_process(21);
    assert_eq!(ipc.send(A, Handle::from_raw(request.reply), b"late", &[]), Err(Error::PeerClosed));
}

#[test]
fn a_cycle_of_endpoints_held_only_by_their_queues_is_collected() {
    let mut ipc = ipc();
    let first = ipc.create_endpoint(B).unwrap();
    let second = ipc.create_endpoint(B).unwrap();
    ipc.send(B, first, &[], &[moved(second, ENDPOINT_RIGHTS)]).unwrap();
    let second = ipc.receive(B, first, None).unwrap().received_handles().next().unwrap().handle;
    let second = Handle::from_raw(second);
    // `first`'s receive handle queued on `second`, `second`'s on `first`.
    let first_copy = ipc.duplicate(B, first, ENDPOINT_RIGHTS).unwrap();
    let second_copy = ipc.duplicate(B, second, ENDPOINT_RIGHTS).unwrap();
    ipc.send(B, second, &[], &[moved(first_copy, ENDPOINT_RIGHTS)]).unwrap();
    ipc.send(B, first, &[], &[moved(second_copy, ENDPOINT_RIGHTS)]).unwrap();
    ipc.close(B, first).unwrap();
    ipc.close(B, second).unwrap();
    let kept = ipc.create_endpoint(A).unwrap();
    assert_eq!(ipc.endpoints(), 3, "the cycle keeps both counted");
    assert_eq!(ipc.collect(&mut Vec::new()), 2);
    assert_eq!(ipc.endpoints(), 1);
    assert!(ipc.info(A, kept).is_ok());
}

#[test]
fn startup_handles_come_in_order_and_values_differ_between_processes() {
    let mut ipc = ipc();
    let one = ipc.create_endpoint(A).unwrap();
    let two = ipc.create_endpoint(A).unwrap();
    ipc.start_process(30, Some(A), &[duplicated(one, SEND_ONLY), moved(two, HandleRights::RECEIVE)]).unwrap();
    assert_eq!(ipc.info(30, ipc.startup(30, 0).unwrap()), Ok((ObjectKind::Endpoint, SEND_ONLY)));
    assert_eq!(ipc.info(30, ipc.startup(30, 1).unwrap()), Ok((ObjectKind::Endpoint, HandleRights::RECEIVE)));
    assert_eq!(ipc.startup(30, 2), Err(Error::NotFound));
    assert_eq!(ipc.info(A, two), Err(Error::BadHandle), "moved to the child");
    assert_eq!(ipc.info(30, one), Err(Error::BadHandle), "the parent's value names nothing in the child");
    assert_eq!(ipc.start_process(31, Some(A), &[moved(two, SEND_ONLY)]), Err(Error::BadHandle));
    assert_eq!(ipc.handles_of(31), 0);
    assert_eq!(ipc.start_process(30, None, &[]), Err(Error::InvalidArgument), "pid 30 exists");
}

#[test]
fn the_endpoint_limit_is_enforced() {
    let mut ipc: Ipc<u32> = Ipc::new();
    let pids: Vec<Pid> = (100..100 + (MAX_ENDPOINTS / 200) as u64 + 1).collect();
    for &pid in &pids {
        ipc.start_process(pid, None, &[]).unwrap();
    }
    let mut made = 0;
    'outer: for &pid in &pids {
        for _ in 0..200 {
            match ipc.create_endpoint(pid) {
                Ok(_) => made += 1,
                Err(error) => {
                    assert_eq!(error, Error::OutOfMemory);
                    break 'outer;
                }
            }
        }
    }
    assert_eq!(made, MAX_ENDPOINTS);
    ipc.end_process(pids[0]);
    assert!(ipc.create_endpoint(pids[1]).is_ok(), "freed ones can be made again");
}

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Duplicate(usize, usize, u32),
    Close(usize, usize),
    Send(usize, usize, Vec<(usize, u32, bool)>),
    Receive(usize, usize),
    Call(usize, usize),
    Answer(usize),
    End(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let transfers = proptest::collection::vec((0..16usize, 0..32u32, any::<bool>()), 0..3);
    prop_oneof![
        (0..4usize).prop_map(Op::Create),
        (0..4usize, 0..16usize, 0..32u32).prop_map(|(p, h, r)| Op::Duplicate(p, h, r)),
        (0..4usize, 0..16usize).prop_map(|(p, h)| Op::Close(p, h)),
        (0..4usize, 0..16usize, transfers).prop_map(|(p, h, t)| Op::Send(p, h, t)),
        (0..4usize, 0..16usize).prop_map(|(p, h)| Op::Receive(p, h)),
        (0..4usize, 0..16usize).prop_map(|(p, h)| Op::Call(p, h)),
        (0..4usize).prop_map(Op::Answer),
        (0..4usize).prop_map(Op::End),
    ]
}

proptest! {
    /// Random operations by four processes (each ending and starting
    /// again as a new pid): every handle's rights stay within what its
    /// object was created with, refused sends take nothing, and once every
    /// process has ended no endpoint is left.
    #[test]
    fn nothing_leaks_and_rights_never_grow(ops in proptest::collection::vec(op(), 1..120)) {
        let mut ipc: Ipc<u32> = Ipc::new();
        let mut pids = [1u64, 2, 3, 4];
        let mut next = 5;
        let mut held: BTreeMap<Pid, Vec<Handle>> = BTreeMap::new();
        for pid in pids {
            ipc.start_process(pid, None, &[]).unwrap();
        }
        for op in ops {
            let pick = |held: &BTreeMap<Pid, Vec<Handle>>, pid: Pid, index: usize| {
                held.get(&pid).and_then(|handles| handles.get(index % handles.len().max(1))).copied()
            };
            match op {
                Op::Create(p) => {
                    if let Ok(handle) = ipc.create_endpoint(pids[p]) {
                        held.entry(pids[p]).or_default().push(handle);
                    }
                }
                Op::Duplicate(p, h, bits) => {
                    let Some(handle) = pick(&held, pids[p], h) else { continue };
                    if let Ok(new) = ipc.duplicate(pids[p], handle, HandleRights::from_bits_truncate(bits)) {
                        held.entry(pids[p]).or_default().push(new);
                    }
                }
                Op::Close(p, h) => {
                    let Some(handle) = pick(&held, pids[p], h) else { continue };
                    let _ = ipc.close(pids[p], handle);
                }
                Op::Send(p, h, transfers) => {
                    let pid = pids[p];
                    let Some(handle) = pick(&held, pid, h) else { continue };
                    let transfers: Vec<HandleTransfer> = transfers.iter().filter_map(|&(t, bits, moving)| {
                        let how = if moving { Transfer::Move } else { Transfer::Duplicate };
                        Some(HandleTransfer { handle: pick(&held, pid, t)?.raw(), rights: HandleRights::from_bits_truncate(bits), how })
                    }).collect();
                    let before = ipc.handles_of(pid);
                    if ipc.send(pid, handle, &[1, 2, 3], &transfers).is_err() {
                        prop_assert_eq!(ipc.handles_of(pid), before, "a refused send takes nothing");
                    }
                }
                Op::Receive(p, h) => {
                    let pid = pids[p];
                    let Some(handle) = pick(&held, pid, h) else { continue };
                    if let Ok(received) = ipc.receive(pid, handle, None) {
                        for arrived in received.received_handles() {
                            prop_assert!(ENDPOINT_RIGHTS.contains(arrived.rights));
                            prop_assert_eq!(ipc.info(pid, Handle::from_raw(arrived.handle)).map(|info| info.1), Ok(arrived.rights));
                            held.entry(pid).or_default().push(Handle::from_raw(arrived.handle));
                        }
                        if received.reply != 0 {
                            held.entry(pid).or_default().push(Handle::from_raw(received.reply));
                        }
                    }
                }
                Op::Call(p, h) => {
                    let Some(handle) = pick(&held, pids[p], h) else { continue };
                    let _ = ipc.call(pids[p], handle, &[9], &[]);
                }
                Op::Answer(p) => {
                    if let Ok(answer) = ipc.answer(pids[p], None) {
                        held.entry(pids[p]).or_default().extend(answer.received_handles().map(|h| Handle::from_raw(h.handle)));
                    }
                }
                Op::End(p) => {
                    ipc.end_process(pids[p]);
                    held.remove(&pids[p]);
                    pids[p] = next;
                    next += 1;
                    ipc.start_process(pids[p], None, &[]).unwrap();
                }
            }
            prop_assert!(ipc.in_flight_is_counted());
            for (&pid, handles) in &held {
                for &handle in handles {
                    if let Ok((_, rights)) = ipc.info(pid, handle) {
                        prop_assert!(ENDPOINT_RIGHTS.contains(rights) || rights == HandleRights::SEND | HandleRights::TRANSFER);
                    }
                }
            }
        }
        for pid in pids {
            ipc.end_process(pid);
        }
        prop_assert_eq!(ipc.endpoints(), 0, "every endpoint is freed once no process is left");
        prop_assert!(ipc.in_flight_is_counted());
    }
}
