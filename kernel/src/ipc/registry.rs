//! The kernel's IPC state: every endpoint, and every process's handle
//! table, startup handles and pending call, behind one lock in the kernel
//! (`ipc::calls`) and tested here on the host.
//!
//! Each operation takes the acting process's pid and returns what the
//! caller must do once the lock is released: tasks to wake (`W`, a task
//! id in the kernel) or a receiver to run. Nothing here blocks, copies
//! user memory or takes another lock.
//!
//! **Counting.** An endpoint counts the handles to it that can send and
//! receive, wherever they are: in a table or in flight inside a queued
//! message. A handle passed on as a duplicate is counted anew, a moved one
//! with fewer rights is recounted; when a count reaches zero the endpoint
//! wakes its waiting receivers (`PeerClosed` for them), and when nothing
//! refers to it any more it is freed. Messages nobody can receive are
//! dropped, and the handles they carry closed in turn (a worklist, so a
//! chain of endpoints held only by one another's queues is freed in one
//! go). An endpoint's own handle may not be sent over it (that would keep
//! it alive through its own queue). A longer cycle (A's receive handle
//! queued on B and B's on A, with no other handle left) keeps both
//! counted: such endpoints are found by a sweep from every table and
//! every call in progress through the queues ([`Ipc::collect`]), run when
//! a process ends and before a new endpoint would exceed
//! [`MAX_ENDPOINTS`], so they cost nothing on the fast paths.
//!
//! **Sending** checks everything before it changes anything: the handle
//! and its `SEND` right, the size, every transfer (a live handle, passed
//! on at most once, with `TRANSFER`, and `DUPLICATE` to keep it, asking
//! for no more rights than it has), and whether the endpoint would take
//! the message now. So a refused send leaves the sender's table exactly
//! as it was: "loses nothing" is a property of the order, not a rollback.
//!
//! **Calls.** `call` records a call in progress in the caller's state (at
//! most one: a process has one thread) and sends a one-shot reply handle
//! naming it ([`ReplyId`]: the caller and the call's number) in the
//! message as [`Message::reply`]. Sending on a reply handle stores the
//! answer with the call, wakes the caller and closes the handle; so the
//! caller's wait ends with the answer, or with `PeerClosed` once the
//! reply handle is closed unanswered (by the server, by its death, or
//! with a dropped message). No endpoint is made for a call: a round trip
//! allocates nothing but the messages' bytes.

#![forbid(unsafe_code)]

use super::endpoint::{Endpoint, IpcError, Message};
use super::handles::{Entry, Handle, HandleError, HandleTable};
use crate::share::registry::GrantRef;
use abi::ipc::{HandleTransfer, ObjectKind, Received, ReceivedHandle, Transfer, ENDPOINT_RIGHTS, MAX_HANDLES};
use abi::{Error, HandleRights};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A process id.
pub type Pid = u64;

/// The most endpoints that exist at once.
pub const MAX_ENDPOINTS: usize = 4096;

/// An endpoint's kernel-wide name (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(u64);

/// A call in progress: the calling process and the call's number (never
/// reused), so a reply handle to a call that ended names nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyId {
    caller: Pid,
    call: u64,
}

/// What a handle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// An endpoint.
    Endpoint(EndpointId),
    /// The one-shot reply to a call.
    Reply(ReplyId),
    /// A grant of a shared partition (`share::registry`): what it allows
    /// is its ACL's to say; the handle names it and travels.
    Grant(GrantRef),
}

impl Object {
    /// The kind `handle_info` reports.
    pub fn kind(self) -> ObjectKind {
        match self {
            Object::Endpoint(_) => ObjectKind::Endpoint,
            Object::Reply(_) => ObjectKind::Reply,
            Object::Grant(_) => ObjectKind::Grant,
        }
    }

    /// The endpoint it names, if it names one.
    fn endpoint(self) -> Option<EndpointId> {
        match self {
            Object::Endpoint(id) => Some(id),
            Object::Reply(_) | Object::Grant(_) => None,
        }
    }
}

impl From<IpcError> for Error {
    fn from(error: IpcError) -> Error {
        match error {
            IpcError::PeerClosed => Error::PeerClosed,
            IpcError::Full => Error::QueueFull,
            IpcError::WouldBlock => Error::WouldBlock,
            IpcError::TooLarge => Error::TooLarge,
        }
    }
}

/// A call in progress.
#[derive(Debug)]
struct Call<W> {
    /// Its number.
    id: u64,
    /// The caller's task, once it waits.
    waiter: Option<W>,
    /// The answer, once sent (its handles count as in flight).
    answer: Option<Message<Object>>,
    /// The reply handle was closed unanswered.
    abandoned: bool,
}

/// One process's IPC state.
#[derive(Debug)]
struct ProcessIpc<W> {
    table: HandleTable<Object>,
    /// The handles it was spawned with, in order.
    startup: Vec<Handle>,
    /// Its call in progress.
    call: Option<Call<W>>,
}

/// What a successful send leaves to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sent<W> {
    /// The receiver the message woke (it waited on the endpoint).
    pub receiver: Option<W>,
    /// Other tasks to wake (a reply handle closed by its answer, handles
    /// moved with fewer rights).
    pub wake: Vec<W>,
}

/// Every endpoint and every process's handles.
#[derive(Debug)]
pub struct Ipc<W> {
    processes: BTreeMap<Pid, ProcessIpc<W>>,
    endpoints: BTreeMap<EndpointId, Endpoint<Object, W>>,
    next_endpoint: u64,
    next_call: u64,
    /// Handles carried by queued messages: with none, no endpoint can be
    /// unreachable, and a process's end skips the sweep.
    in_flight: usize,
}

impl<W> Default for Ipc<W> {
    fn default() -> Self {
        Ipc { processes: BTreeMap::new(), endpoints: BTreeMap::new(), next_endpoint: 1, next_call: 1, in_flight: 0 }
    }
}

/// The salt of `pid`'s handle table (see `handles`): a fixed mix of the
/// pid, so runs are reproducible and neighbouring pids' values differ in
/// every bit.
fn salt_of(pid: Pid) -> u32 {
    (pid.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

impl<W: Clone + PartialEq> Ipc<W> {
    /// No endpoints and no processes.
    pub const fn new() -> Ipc<W> {
        Ipc { processes: BTreeMap::new(), endpoints: BTreeMap::new(), next_endpoint: 1, next_call: 1, in_flight: 0 }
    }

    /// Endpoints alive.
    pub fn endpoints(&self) -> usize {
        self.endpoints.len()
    }

    /// Handles `pid` holds.
    pub fn handles_of(&self, pid: Pid) -> usize {
        self.processes.get(&pid).map_or(0, |process| process.table.len())
    }

    /// Gives `pid` an empty handle table and, from `parent`'s table, the
    /// startup handles `transfers` name (checked as a send checks them:
    /// on an error nothing changed, and the child has no table yet).
    pub fn start_process(&mut self, pid: Pid, parent: Option<Pid>, transfers: &[HandleTransfer]) -> Result<Vec<W>, Error> {
        if self.processes.contains_key(&pid) {
            return Err(Error::InvalidArgument);
        }
        let mut wake = Vec::new();
        let entries = match parent {
            Some(parent) => {
                self.check_transfers(parent, transfers, None)?;
                self.take_transfers(parent, transfers, &mut wake)
            }
            None if transfers.is_empty() => Vec::new(),
            None => return Err(Error::InvalidArgument),
        };
        let mut table = HandleTable::with_salt(salt_of(pid));
        let startup = entries.into_iter().map(|entry| table.insert(entry.object, entry.rights)).collect::<Result<Vec<_>, _>>();
        let startup = startup.map_err(Error::from)?;
        self.processes.insert(pid, ProcessIpc { table, startup, call: None });
        Ok(wake)
    }

    /// Checks that `parent` may give a child the startup handles
    /// `transfers` name, changing nothing.
    pub fn check_startup(&self, parent: Pid, transfers: &[HandleTransfer]) -> Result<(), Error> {
        self.check_transfers(parent, transfers, None)
    }

    /// Closes every handle of `pid`, which ended, and its call in progress:
    /// returns the tasks to wake.
    pub fn end_process(&mut self, pid: Pid) -> Vec<W> {
        let mut wake = Vec::new();
        let Some(mut process) = self.processes.remove(&pid) else { return wake };
        let mut closing = process.table.drain();
        if let Some(answer) = process.call.take().and_then(|call| call.answer) {
            self.in_flight -= answer.handle_count();
            closing.extend(answer.into_handles());
        }
        self.close_all(closing, &mut wake);
        if self.in_flight > 0 {
            self.collect(&mut wake);
        }
        wake
    }

    /// Frees every endpoint no process can reach any more: not named in a
    /// table or by a call in progress, nor in a message queued on one
    /// that is (see the module documentation). Returns how many went.
    pub fn collect(&mut self, wake: &mut Vec<W>) -> usize {
        let mut reached = alloc::collections::BTreeSet::new();
        let mut frontier: Vec<EndpointId> = Vec::new();
        for process in self.processes.values() {
            frontier.extend(process.table.entries().filter_map(|entry| entry.object.endpoint()));
            let answer = process.call.iter().flat_map(|call| &call.answer).flat_map(|message| &message.handles);
            frontier.extend(answer.filter_map(|entry| entry.object.endpoint()));
        }
        while let Some(id) = frontier.pop() {
            if !reached.insert(id) {
                continue;
            }
            if let Some(endpoint) = self.endpoints.get(&id) {
                for message in endpoint.messages() {
                    frontier.extend(message.handles.iter().filter_map(|entry| entry.object.endpoint()));
                }
            }
        }
        let unreachable: Vec<EndpointId> = self.endpoints.keys().filter(|id| !reached.contains(id)).copied().collect();
        let mut closing = Vec::new();
        for id in &unreachable {
            if let Some(mut endpoint) = self.endpoints.remove(id) {
                for message in endpoint.take_messages() {
                    self.in_flight -= message.handle_count();
                    closing.extend(message.into_handles());
                }
            }
        }
        self.close_all(closing, wake);
        unreachable.len()
    }

    /// A new endpoint under a handle of `pid` with every endpoint right.
    pub fn create_endpoint(&mut self, pid: Pid) -> Result<Handle, Error> {
        let process = self.processes.get(&pid).ok_or(Error::InvalidArgument)?;
        if process.table.room() == 0 {
            return Err(Error::TooLarge);
        }
        let id = self.new_endpoint()?;
        let handle = self.table_mut(pid)?.insert(Object::Endpoint(id), ENDPOINT_RIGHTS);
        self.opened(Object::Endpoint(id), ENDPOINT_RIGHTS);
        Ok(handle?)
    }

    /// Closes `pid`'s `handle`: returns the tasks to wake.
    pub fn close(&mut self, pid: Pid, handle: Handle) -> Result<Vec<W>, Error> {
        let entry = self.table_mut(pid)?.remove(handle)?;
        let mut wake = Vec::new();
        self.close_all([entry], &mut wake);
        Ok(wake)
    }

    /// A second handle of `pid` to what `handle` names, with `rights`.
    pub fn duplicate(&mut self, pid: Pid, handle: Handle, rights: HandleRights) -> Result<Handle, Error> {
        let table = self.table_mut(pid)?;
        let new = table.duplicate(handle, rights)?;
        let object = table.get(new, HandleRights::empty())?.object;
        self.opened(object, rights);
        Ok(new)
    }

    /// What `handle` names, and its rights.
    pub fn info(&self, pid: Pid, handle: Handle) -> Result<(ObjectKind, HandleRights), Error> {
        let entry = self.table(pid)?.get(handle, HandleRights::empty())?;
        Ok((entry.object.kind(), entry.rights))
    }

    /// The `index`th startup handle of `pid` (`NotFound` past the last).
    pub fn startup(&self, pid: Pid, index: u64) -> Result<Handle, Error> {
        let process = self.processes.get(&pid).ok_or(Error::InvalidArgument)?;
        usize::try_from(index).ok().and_then(|index| process.startup.get(index)).copied().ok_or(Error::NotFound)
    }

    /// Sends `bytes` and the handles `transfers` name from `pid` on
    /// `handle` (see the module documentation: on an error nothing
    /// changed). A reply handle is closed by its answer.
    pub fn send(&mut self, pid: Pid, handle: Handle, bytes: &[u8], transfers: &[HandleTransfer]) -> Result<Sent<W>, Error> {
        let object = self.table(pid)?.get(handle, HandleRights::SEND)?.object;
        let mut sent = Sent { receiver: None, wake: Vec::new() };
        match object {
            Object::Endpoint(id) => {
                self.check_send(pid, id, bytes.len(), transfers)?;
                let bytes = bytes.to_vec();
                let handles = self.take_transfers(pid, transfers, &mut sent.wake);
                sent.receiver = self.enqueue(id, Message { sender: pid, bytes, handles, reply: None })?;
            }
            Object::Reply(reply) => {
                if transfers.iter().any(|transfer| transfer.handle == handle.raw()) {
                    // An answer cannot carry the handle it is sent on (it
                    // is used up by the answer).
                    return Err(Error::InvalidArgument);
                }
                self.check_transfers(pid, transfers, None)?;
                if !super::endpoint::fits(bytes.len(), transfers.len()) {
                    return Err(Error::TooLarge);
                }
                let bytes = bytes.to_vec();
                self.pending(reply).ok_or(Error::PeerClosed)?;
                let handles = self.take_transfers(pid, transfers, &mut sent.wake);
                let answer = Message { sender: pid, bytes, handles, reply: None };
                self.in_flight += answer.handle_count();
                if let Some(call) = self.pending(reply) {
                    call.answer = Some(answer);
                    sent.receiver = call.waiter.take();
                }
                // Answered: closing the handle leaves nothing to do.
                self.table_mut(pid)?.remove(handle)?;
            }
            // Unreachable: grant handles are made without SEND.
            Object::Grant(_) => return Err(Error::InvalidArgument),
        }
        Ok(sent)
    }

    /// Gives `pid` a handle with `rights` to grant `grant`.
    pub fn insert_grant(&mut self, pid: Pid, grant: GrantRef, rights: HandleRights) -> Result<Handle, Error> {
        Ok(self.table_mut(pid)?.insert(Object::Grant(grant), rights)?)
    }

    /// The grant `pid`'s `handle` names, if it has `needed` (a handle to
    /// anything else is `InvalidArgument`, whatever its rights).
    pub fn grant(&self, pid: Pid, handle: Handle, needed: HandleRights) -> Result<GrantRef, Error> {
        let table = self.table(pid)?;
        let Object::Grant(grant) = table.get(handle, HandleRights::empty())?.object else { return Err(Error::InvalidArgument) };
        table.get(handle, needed)?;
        Ok(grant)
    }

    /// The call `reply` answers, if it is still waiting for its answer.
    fn pending(&mut self, reply: ReplyId) -> Option<&mut Call<W>> {
        let call = self.processes.get_mut(&reply.caller)?.call.as_mut()?;
        (call.id == reply.call && call.answer.is_none() && !call.abandoned).then_some(call)
    }

    /// Takes the oldest message on `pid`'s `handle`: its handles join
    /// `pid`'s table. With none queued: `PeerClosed` if none can come,
    /// else `WouldBlock`, after registering `waiter` (if given) to be woken
    /// by the next send. A message whose handles do not fit in the table
    /// stays queued (`TooLarge`).
    pub fn receive(&mut self, pid: Pid, handle: Handle, waiter: Option<W>) -> Result<Received, Error> {
        let object = self.table(pid)?.get(handle, HandleRights::RECEIVE)?.object;
        let Object::Endpoint(id) = object else { return Err(Error::InvalidArgument) };
        let room = self.table(pid)?.room();
        let endpoint = self.endpoints.get_mut(&id).ok_or(Error::BadHandle)?;
        if endpoint.next_handle_count().is_some_and(|count| count > room) {
            return Err(Error::TooLarge);
        }
        let message = endpoint.receive(waiter)?;
        self.in_flight -= message.handle_count();
        self.deliver(pid, message)
    }

    /// Sends like [`Ipc::send`] with a one-shot reply handle, on an
    /// endpoint (not a reply) handle; `pid` then waits for the answer
    /// with [`Ipc::answer`]. Returns the receiver the message woke, to run
    /// at once. `pid`'s table must have room for an answer's handles.
    pub fn call(&mut self, pid: Pid, handle: Handle, bytes: &[u8], transfers: &[HandleTransfer]) -> Result<Sent<W>, Error> {
        let process = self.processes.get(&pid).ok_or(Error::InvalidArgument)?;
        if process.call.is_some() {
            return Err(Error::InvalidArgument);
        }
        if process.table.room() < MAX_HANDLES {
            return Err(Error::TooLarge);
        }
        let object = process.table.get(handle, HandleRights::SEND)?.object;
        let Object::Endpoint(id) = object else { return Err(Error::InvalidArgument) };
        self.check_send(pid, id, bytes.len(), transfers)?;
        let bytes = bytes.to_vec();
        let call = self.next_call;
        self.next_call += 1;
        let mut sent = Sent { receiver: None, wake: Vec::new() };
        let handles = self.take_transfers(pid, transfers, &mut sent.wake);
        let reply = Entry { object: Object::Reply(ReplyId { caller: pid, call }), rights: HandleRights::SEND | HandleRights::TRANSFER };
        if let Some(process) = self.processes.get_mut(&pid) {
            process.call = Some(Call { id: call, waiter: None, answer: None, abandoned: false });
        }
        sent.receiver = self.enqueue(id, Message { sender: pid, bytes, handles, reply: Some(reply) })?;
        Ok(sent)
    }

    /// The answer to `pid`'s call in progress, as [`Ipc::receive`] takes a
    /// message: `WouldBlock` (with `waiter` registered) until it comes,
    /// `PeerClosed` if the reply handle was closed unanswered. Either way
    /// but `WouldBlock` the call is over.
    pub fn answer(&mut self, pid: Pid, waiter: Option<W>) -> Result<Received, Error> {
        let process = self.processes.get_mut(&pid).ok_or(Error::InvalidArgument)?;
        let call = process.call.as_mut().ok_or(Error::InvalidArgument)?;
        if let Some(message) = call.answer.take() {
            process.call = None;
            self.in_flight -= message.handle_count();
            return self.deliver(pid, message);
        }
        if call.abandoned {
            process.call = None;
            return Err(Error::PeerClosed);
        }
        if waiter.is_some() {
            call.waiter = waiter;
        }
        Err(Error::WouldBlock)
    }


    fn table(&self, pid: Pid) -> Result<&HandleTable<Object>, Error> {
        self.processes.get(&pid).map(|process| &process.table).ok_or(Error::InvalidArgument)
    }

    fn table_mut(&mut self, pid: Pid) -> Result<&mut HandleTable<Object>, Error> {
        self.processes.get_mut(&pid).map(|process| &mut process.table).ok_or(Error::InvalidArgument)
    }

    fn new_endpoint(&mut self) -> Result<EndpointId, Error> {
        if self.endpoints.len() >= MAX_ENDPOINTS {
            // Nobody waits on an unreachable endpoint: nothing to wake.
            self.collect(&mut Vec::new());
        }
        if self.endpoints.len() >= MAX_ENDPOINTS {
            return Err(Error::OutOfMemory);
        }
        let id = EndpointId(self.next_endpoint);
        self.next_endpoint += 1;
        self.endpoints.insert(id, Endpoint::new());
        Ok(id)
    }

    /// Counts a new handle to `object` with `rights`.
    fn opened(&mut self, object: Object, rights: HandleRights) {
        if let Some(endpoint) = object.endpoint().and_then(|id| self.endpoints.get_mut(&id)) {
            endpoint.opened(rights);
        }
    }

    /// Everything a send on endpoint `id` by `pid` checks, changing nothing.
    fn check_send(&self, pid: Pid, id: EndpointId, bytes: usize, transfers: &[HandleTransfer]) -> Result<(), Error> {
        self.check_transfers(pid, transfers, Some(id))?;
        let endpoint = self.endpoints.get(&id).ok_or(Error::BadHandle)?;
        Ok(endpoint.check(bytes, transfers.len())?)
    }

    /// Checks that `pid` may pass on what `transfers` name (over endpoint
    /// `over`, if a message carries them), changing nothing.
    fn check_transfers(&self, pid: Pid, transfers: &[HandleTransfer], over: Option<EndpointId>) -> Result<(), Error> {
        if transfers.len() > MAX_HANDLES {
            return Err(Error::TooLarge);
        }
        let table = self.table(pid)?;
        for (i, transfer) in transfers.iter().enumerate() {
            if transfers[..i].iter().any(|earlier| earlier.handle == transfer.handle) {
                return Err(Error::InvalidArgument);
            }
            let needed = match transfer.how {
                Transfer::Move => HandleRights::TRANSFER,
                Transfer::Duplicate => HandleRights::TRANSFER | HandleRights::DUPLICATE,
            };
            let entry = table.get(Handle::from_raw(transfer.handle), needed)?;
            if !entry.rights.contains(transfer.rights) {
                return Err(Error::PermissionDenied);
            }
            if over.is_some() && entry.object.endpoint() == over {
                return Err(Error::InvalidArgument);
            }
        }
        Ok(())
    }

    /// Takes what `transfers` name from `pid`'s table (checked by
    /// [`Ipc::check_transfers`]) and recounts them.
    fn take_transfers(&mut self, pid: Pid, transfers: &[HandleTransfer], wake: &mut Vec<W>) -> Vec<Entry<Object>> {
        let mut taken = Vec::with_capacity(transfers.len());
        let mut closing = Vec::new();
        for transfer in transfers {
            let Ok(table) = self.table_mut(pid) else { break };
            let handle = Handle::from_raw(transfer.handle);
            let original = table.get(handle, HandleRights::empty()).map(|entry| entry.rights);
            let Ok(entry) = table.take(handle, transfer.rights, transfer.how) else { continue };
            if let Object::Reply(_) = entry.object {
                // One reply handle exists (no DUPLICATE): moved, not recounted.
                taken.push(entry);
                continue;
            }
            // The new handle is counted before the old one is uncounted, so
            // a move never passes through zero.
            self.opened(entry.object, entry.rights);
            if let (Transfer::Move, Ok(rights)) = (transfer.how, original) {
                closing.push(Entry { object: entry.object, rights });
            }
            taken.push(entry);
        }
        self.close_all(closing, wake);
        taken
    }

    /// Queues `message` on endpoint `id` (checked by [`Ipc::check_send`]).
    fn enqueue(&mut self, id: EndpointId, message: Message<Object>) -> Result<Option<W>, Error> {
        let endpoint = self.endpoints.get_mut(&id).ok_or(Error::BadHandle)?;
        let carried = message.handle_count();
        match endpoint.send(message) {
            Ok(receiver) => {
                self.in_flight += carried;
                Ok(receiver)
            }
            Err(refused) => {
                // Unreachable after `check_send`; the handles are closed
                // rather than lost.
                let error = refused.error.into();
                let mut wake = Vec::new();
                self.close_all(refused.message.into_handles(), &mut wake);
                Err(error)
            }
        }
    }

    /// Puts `message`'s handles in `pid`'s table (room was checked) and
    /// describes it.
    fn deliver(&mut self, pid: Pid, message: Message<Object>) -> Result<Received, Error> {
        let mut received = Received { sender: message.sender, byte_count: message.bytes.len(), ..Received::default() };
        received.bytes[..message.bytes.len()].copy_from_slice(&message.bytes);
        let table = self.table_mut(pid)?;
        for (slot, entry) in received.handles.iter_mut().zip(&message.handles) {
            let handle = table.insert(entry.object, entry.rights).map_err(|_: HandleError| Error::TooLarge)?;
            *slot = Some(ReceivedHandle { handle: handle.raw(), rights: entry.rights, kind: entry.object.kind() });
        }
        if let Some(reply) = &message.reply {
            received.reply = table.insert(reply.object, reply.rights).map_err(|_: HandleError| Error::TooLarge)?.raw();
        }
        Ok(received)
    }

    /// Uncounts every handle in `closing` (and, in turn, those of the
    /// messages that leaves nobody to receive), frees endpoints nothing
    /// refers to and collects the tasks to wake.
    fn close_all(&mut self, closing: impl IntoIterator<Item = Entry<Object>>, wake: &mut Vec<W>) {
        // The handles of dropped messages are closed in turn (rarely any:
        // the worklist allocates only then).
        let mut closing = closing.into_iter();
        let mut more: Vec<Entry<Object>> = Vec::new();
        while let Some(entry) = closing.next().or_else(|| more.pop()) {
            let id = match entry.object {
                Object::Endpoint(id) => id,
                Object::Reply(reply) => {
                    // Closed unanswered: the caller's wait ends.
                    if let Some(call) = self.pending(reply) {
                        call.abandoned = true;
                        wake.extend(call.waiter.take());
                    }
                    continue;
                }
                // A grant lives in its ACL, not in its handles.
                Object::Grant(_) => continue,
            };
            let Some(endpoint) = self.endpoints.get_mut(&id) else { continue };
            let closed = endpoint.closed(entry.rights);
            if endpoint.unreferenced() {
                self.endpoints.remove(&id);
            }
            wake.extend(closed.wake);
            for message in closed.dropped {
                self.in_flight -= message.handle_count();
                more.extend(message.into_handles());
            }
        }
    }

    /// Whether the in-flight count is the handles the queues and the
    /// unread answers hold.
    #[cfg(test)]
    fn in_flight_is_counted(&self) -> bool {
        let queued: usize = self.endpoints.values().flat_map(|endpoint| endpoint.messages()).map(Message::handle_count).sum();
        let answers: usize = self.processes.values().flat_map(|process| &process.call).flat_map(|call| &call.answer).map(Message::handle_count).sum();
        queued + answers == self.in_flight
    }
}

#[cfg(test)]
mod tests;
