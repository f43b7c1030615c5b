//! A process's handle table: the kernel objects it may name, each under
//! a [`Handle`] with [`HandleRights`].
//!
//! A handle is a slot index and the slot's generation, packed into one
//! word (`generation << 32 | index + 1`: never zero, and, as generations
//! have 31 bits, never negative as an `i64`, so a system call returning
//! one is never read as an error). Closing a handle
//! bumps its slot's generation, so a stale or forged value names nothing
//! (`BadHandle`) even once the slot holds another object (until that slot
//! has been closed 2^31 times and its generation wraps); the table is
//! bounded ([`MAX_HANDLES`]), and freed slots are reused lowest first so
//! the table stays dense. Each table starts its slots' generations at
//! its own salt ([`HandleTable::with_salt`]), so the same value in two
//! processes' tables names different slots' generations: a handle copied
//! out of another process is `BadHandle` rather than, by coincidence, one
//! of the caller's own.
//!
//! Rights only shrink along the way: a duplicate or a handle passed on in
//! a message carries at most the rights of the one it came from, and
//! passing one on needs [`HandleRights::TRANSFER`] (duplicating, or
//! passing on a duplicate, [`HandleRights::DUPLICATE`] as well).
//!
//! The table is generic over what a handle names (`O`) so it is tested on
//! the host with plain values; the kernel stores its object references.

#![forbid(unsafe_code)]

use abi::HandleRights;
use alloc::vec::Vec;

/// The most handles one process holds at once.
pub const MAX_HANDLES: usize = 256;

/// The bits of a slot's generation a handle carries.
const GENERATION_MASK: u32 = u32::MAX >> 1;

/// A process's name for one of its table's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(u64);

impl Handle {
    /// The handle a system call passed as `raw` (checked only on use).
    pub const fn from_raw(raw: u64) -> Handle {
        Handle(raw)
    }

    /// The word a system call returns for it.
    pub const fn raw(self) -> u64 {
        self.0
    }

    const fn new(index: usize, generation: u32) -> Handle {
        Handle((((generation & GENERATION_MASK) as u64) << 32) | (index as u64 + 1))
    }

    /// The slot it names, if the value can name one at all.
    fn index(self) -> Option<usize> {
        let low = (self.0 & u64::from(u32::MAX)) as usize;
        low.checked_sub(1).filter(|&index| index < MAX_HANDLES)
    }

    const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Why a handle operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleError {
    /// The value names no live entry (never issued, closed, or forged).
    BadHandle,
    /// The handle lacks a right the operation needs, or asks to pass on
    /// rights it does not have.
    NoRights,
    /// The table holds [`MAX_HANDLES`] handles already.
    TableFull,
}

impl From<HandleError> for abi::Error {
    fn from(error: HandleError) -> abi::Error {
        match error {
            HandleError::BadHandle => abi::Error::BadHandle,
            HandleError::NoRights => abi::Error::PermissionDenied,
            HandleError::TableFull => abi::Error::TooLarge,
        }
    }
}

/// An object and the rights a handle gives to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<O> {
    /// What the handle names.
    pub object: O,
    /// What its holder may do with it.
    pub rights: HandleRights,
}

/// One slot: its generation, and its entry while a handle is live.
#[derive(Debug)]
struct Slot<O> {
    generation: u32,
    entry: Option<Entry<O>>,
}

/// How a handle leaves for another process ([`HandleTable::take`]).
pub use abi::ipc::Transfer;

/// A process's handles.
#[derive(Debug)]
pub struct HandleTable<O> {
    slots: Vec<Slot<O>>,
    live: usize,
    salt: u32,
}

impl<O> Default for HandleTable<O> {
    fn default() -> Self {
        HandleTable { slots: Vec::new(), live: 0, salt: 0 }
    }
}

impl<O: Clone> HandleTable<O> {
    /// An empty table.
    pub fn new() -> HandleTable<O> {
        HandleTable::default()
    }

    /// An empty table whose slots' generations start at `salt`.
    pub fn with_salt(salt: u32) -> HandleTable<O> {
        HandleTable { slots: Vec::new(), live: 0, salt: salt & GENERATION_MASK }
    }

    /// How many more handles it can hold.
    pub fn room(&self) -> usize {
        MAX_HANDLES - self.live
    }

    /// Handles held.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// A new handle to `object` with `rights`.
    pub fn insert(&mut self, object: O, rights: HandleRights) -> Result<Handle, HandleError> {
        let entry = Some(Entry { object, rights });
        let index = match self.slots.iter().position(|slot| slot.entry.is_none()) {
            Some(index) => index,
            None if self.slots.len() < MAX_HANDLES => {
                self.slots.push(Slot { generation: self.salt, entry: None });
                self.slots.len() - 1
            }
            None => return Err(HandleError::TableFull),
        };
        let slot = &mut self.slots[index];
        slot.entry = entry;
        self.live += 1;
        Ok(Handle::new(index, slot.generation))
    }

    /// The entry `handle` names, if it has every right in `needed`.
    pub fn get(&self, handle: Handle, needed: HandleRights) -> Result<&Entry<O>, HandleError> {
        let entry = self.slot(handle)?.entry.as_ref().ok_or(HandleError::BadHandle)?;
        if entry.rights.contains(needed) { Ok(entry) } else { Err(HandleError::NoRights) }
    }

    /// Closes `handle`: its value names nothing from now on.
    pub fn remove(&mut self, handle: Handle) -> Result<Entry<O>, HandleError> {
        let index = handle.index().ok_or(HandleError::BadHandle)?;
        self.slot(handle)?;
        let slot = &mut self.slots[index];
        let entry = slot.entry.take().ok_or(HandleError::BadHandle)?;
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        self.live -= 1;
        Ok(entry)
    }

    /// A second handle to what `handle` names, with `rights` (which it
    /// must hold, and [`HandleRights::DUPLICATE`] too).
    pub fn duplicate(&mut self, handle: Handle, rights: HandleRights) -> Result<Handle, HandleError> {
        let entry = self.get(handle, HandleRights::DUPLICATE)?;
        if !entry.rights.contains(rights) {
            return Err(HandleError::NoRights);
        }
        let object = entry.object.clone();
        self.insert(object, rights)
    }

    /// What `handle` gives another process, with `rights` (which it must
    /// hold, and [`HandleRights::TRANSFER`] too): moved (closed here) or
    /// duplicated (kept here, which needs [`HandleRights::DUPLICATE`]).
    pub fn take(&mut self, handle: Handle, rights: HandleRights, how: Transfer) -> Result<Entry<O>, HandleError> {
        let needed = match how {
            Transfer::Move => HandleRights::TRANSFER,
            Transfer::Duplicate => HandleRights::TRANSFER | HandleRights::DUPLICATE,
        };
        let entry = self.get(handle, needed)?;
        if !entry.rights.contains(rights) {
            return Err(HandleError::NoRights);
        }
        let object = entry.object.clone();
        if how == Transfer::Move {
            self.remove(handle)?;
        }
        Ok(Entry { object, rights })
    }

    /// Every live entry.
    pub fn entries(&self) -> impl Iterator<Item = &Entry<O>> {
        self.slots.iter().filter_map(|slot| slot.entry.as_ref())
    }

    /// Closes every handle (the process ends) and returns what they named,
    /// so the objects can learn their holders went.
    pub fn drain(&mut self) -> Vec<Entry<O>> {
        let entries: Vec<Entry<O>> = self.slots.iter_mut().filter_map(|slot| slot.entry.take()).collect();
        self.slots.clear();
        self.live = 0;
        entries
    }

    /// The slot `handle` names, if its generation is the slot's.
    fn slot(&self, handle: Handle) -> Result<&Slot<O>, HandleError> {
        let slot = self.slots.get(handle.index().ok_or(HandleError::BadHandle)?).ok_or(HandleError::BadHandle)?;
        if slot.generation == handle.generation() { Ok(slot) } else { Err(HandleError::BadHandle) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const ALL: HandleRights = HandleRights::all();

    #[test]
    fn a_closed_handle_names_nothing_even_when_its_slot_is_reused() {
        let mut table = HandleTable::new();
        let first = table.insert('a', ALL).unwrap();
        assert_eq!(table.get(first, HandleRights::SEND).unwrap().object, 'a');
        assert_eq!(table.remove(first).unwrap().object, 'a');
        assert_eq!(table.get(first, HandleRights::empty()), Err(HandleError::BadHandle));
        assert_eq!(table.remove(first), Err(HandleError::BadHandle), "closed twice");
        let second = table.insert('b', ALL).unwrap();
        assert_ne!(first, second, "the reused slot has a new generation");
        assert_eq!(table.get(first, HandleRights::empty()), Err(HandleError::BadHandle));
        assert_eq!(table.get(second, HandleRights::empty()).unwrap().object, 'b');
        assert_ne!(second.raw(), 0, "zero is never a handle");
        let salted = HandleTable::with_salt(u32::MAX).insert('c', ALL).unwrap();
        assert!((salted.raw() as i64) > 0, "a handle never reads as an error");
    }

    #[test]
    fn tables_with_different_salts_give_different_values() {
        let mut mine = HandleTable::with_salt(0x1234);
        let mut theirs = HandleTable::with_salt(0x9876);
        let (a, b) = (mine.insert('m', ALL).unwrap(), theirs.insert('t', ALL).unwrap());
        assert_ne!(a, b);
        assert_eq!(mine.get(b, HandleRights::empty()), Err(HandleError::BadHandle), "another table's value");
        assert_eq!(mine.room(), MAX_HANDLES - 1);
    }

    #[test]
    fn passing_on_a_duplicate_needs_the_duplicate_right() {
        let mut table = HandleTable::new();
        let handle = table.insert((), HandleRights::SEND | HandleRights::TRANSFER).unwrap();
        assert_eq!(table.take(handle, HandleRights::SEND, Transfer::Duplicate), Err(HandleError::NoRights));
        assert!(table.take(handle, HandleRights::SEND, Transfer::Move).is_ok());
    }

    #[test]
    fn forged_values_are_refused() {
        let mut table = HandleTable::new();
        let handle = table.insert(1u32, ALL).unwrap();
        for raw in [0, u64::MAX, handle.raw() + 1, handle.raw() ^ (1 << 40), MAX_HANDLES as u64 + 1, 1 << 63] {
            assert_eq!(table.get(Handle::from_raw(raw), HandleRights::empty()), Err(HandleError::BadHandle), "{raw:#x}");
        }
    }

    #[test]
    fn rights_only_shrink() {
        let mut table = HandleTable::new();
        let send = HandleRights::SEND | HandleRights::DUPLICATE | HandleRights::TRANSFER;
        let handle = table.insert((), send).unwrap();
        assert_eq!(table.get(handle, HandleRights::RECEIVE), Err(HandleError::NoRights));
        assert_eq!(table.duplicate(handle, send | HandleRights::RECEIVE), Err(HandleError::NoRights));
        let weaker = table.duplicate(handle, HandleRights::SEND).unwrap();
        assert_eq!(table.get(weaker, HandleRights::empty()).unwrap().rights, HandleRights::SEND);
        assert_eq!(table.duplicate(weaker, HandleRights::SEND), Err(HandleError::NoRights), "no DUPLICATE right");
        assert_eq!(table.take(weaker, HandleRights::SEND, Transfer::Move), Err(HandleError::NoRights), "no TRANSFER right");
        let given = table.take(handle, HandleRights::SEND, Transfer::Duplicate).unwrap();
        assert_eq!(given.rights, HandleRights::SEND);
        assert!(table.get(handle, HandleRights::empty()).is_ok(), "a duplicate leaves the sender's handle");
        table.take(handle, send, Transfer::Move).unwrap();
        assert_eq!(table.get(handle, HandleRights::empty()), Err(HandleError::BadHandle), "a move closes it");
    }

    #[test]
    fn the_table_is_bounded_and_drains_at_exit() {
        let mut table = HandleTable::new();
        let handles: Vec<Handle> = (0..MAX_HANDLES).map(|index| table.insert(index, ALL).unwrap()).collect();
        assert_eq!(table.insert(MAX_HANDLES, ALL), Err(HandleError::TableFull));
        table.remove(handles[7]).unwrap();
        assert!(table.insert(99, ALL).is_ok(), "a closed slot is free again");
        let drained = table.drain();
        assert_eq!(drained.len(), MAX_HANDLES);
        assert!(table.is_empty());
        assert!(handles.iter().all(|&handle| table.get(handle, HandleRights::empty()).is_err()));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8),
        Remove(usize),
        Duplicate(usize, u32),
        Take(usize, u32, bool),
        Forge(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u8>().prop_map(Op::Insert),
            (0..64usize).prop_map(Op::Remove),
            (0..64usize, 0..32u32).prop_map(|(handle, rights)| Op::Duplicate(handle, rights)),
            (0..64usize, 0..32u32, any::<bool>()).prop_map(|(handle, rights, moved)| Op::Take(handle, rights, moved)),
            any::<u64>().prop_map(Op::Forge),
        ]
    }

    proptest! {
        /// Against a model (a map from live handles to entries): every
        /// handle ever issued names exactly its model entry or nothing, and
        /// rights never grow.
        #[test]
        fn the_table_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut table: HandleTable<u8> = HandleTable::new();
            let mut model: BTreeMap<Handle, Entry<u8>> = BTreeMap::new();
            let mut issued: Vec<Handle> = Vec::new();
            for op in ops {
                let pick = |index: usize| issued.get(index % issued.len().max(1)).copied();
                match op {
                    Op::Insert(object) => {
                        let handle = table.insert(object, ALL).unwrap();
                        prop_assert!(!model.contains_key(&handle));
                        model.insert(handle, Entry { object, rights: ALL });
                        issued.push(handle);
                    }
                    Op::Remove(index) => {
                        let Some(handle) = pick(index) else { continue };
                        prop_assert_eq!(table.remove(handle).ok(), model.remove(&handle));
                    }
                    Op::Duplicate(index, bits) => {
                        let Some(handle) = pick(index) else { continue };
                        let rights = HandleRights::from_bits_truncate(bits);
                        match table.duplicate(handle, rights) {
                            Ok(new) => {
                                let from = model[&handle].clone();
                                prop_assert!(from.rights.contains(HandleRights::DUPLICATE | rights));
                                model.insert(new, Entry { object: from.object, rights });
                                issued.push(new);
                            }
                            Err(_) => prop_assert!(model.get(&handle).is_none_or(|entry| !entry.rights.contains(HandleRights::DUPLICATE | rights))),
                        }
                    }
                    Op::Take(index, bits, moved) => {
                        let Some(handle) = pick(index) else { continue };
                        let rights = HandleRights::from_bits_truncate(bits);
                        let how = if moved { Transfer::Move } else { Transfer::Duplicate };
                        match table.take(handle, rights, how) {
                            Ok(entry) => {
                                let from = model[&handle].clone();
                                prop_assert!(from.rights.contains(HandleRights::TRANSFER) && from.rights.contains(rights));
                                prop_assert!(moved || from.rights.contains(HandleRights::DUPLICATE));
                                prop_assert_eq!(entry, Entry { object: from.object, rights });
                                if moved {
                                    model.remove(&handle);
                                }
                            }
                            Err(_) => {
                                let needed = if moved { HandleRights::TRANSFER } else { HandleRights::TRANSFER | HandleRights::DUPLICATE };
                                prop_assert!(model.get(&handle).is_none_or(|entry| !entry.rights.contains(needed | rights)))
                            }
                        }
                    }
                    Op::Forge(raw) => {
                        let handle = Handle::from_raw(raw);
                        prop_assert_eq!(table.get(handle, HandleRights::empty()).ok(), model.get(&handle));
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                for &handle in &issued {
                    prop_assert_eq!(table.get(handle, HandleRights::empty()).ok(), model.get(&handle));
                }
            }
        }
    }
}
