//! The layout proposals of the programs the PAE served ([`super::proposal`]):
//! recorded when a process under `pae` ends, handed to the next launch of
//! the same program, readable by user space (`pae_layout`).

#![forbid(unsafe_code)]

use super::proposal::{Layouts, ProgramLayout};
use crate::sync::IrqMutex;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// The layout proposals recorded when processes under `pae` ended.
static LAYOUTS: IrqMutex<Layouts> = IrqMutex::new(Layouts::new());

/// Records the layout a process under `pae` left when it ended, for the
/// next launch of its program.
pub fn record_layout(layout: ProgramLayout) {
    log::debug!(
        "pae: layout of {} ({:#018x}) recorded: {} partitions, {} hot pages",
        layout.name,
        layout.identity,
        layout.partitions.len(),
        layout.hot_pages()
    );
    LAYOUTS.lock().record(layout);
}

/// The layout proposal recorded for the program with `identity`, if any.
pub fn layout_for(identity: u64) -> Option<Arc<ProgramLayout>> {
    LAYOUTS.lock().get(identity).cloned()
}

/// The `index`th recorded layout (oldest first) as `abi::layout` words.
pub fn layout_words(index: u64) -> Option<Vec<u64>> {
    let layouts = LAYOUTS.lock();
    layouts.nth(usize::try_from(index).ok()?).map(|layout| layout.to_words())
}
