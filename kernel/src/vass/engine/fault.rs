//! Resolving a page fault: one VASM lookup, the rights check, the thrash
//! guard, the commit (fresh or from swap), the per-partition and per-space
//! fault counters.
//!
//! The thrash guard: [`THRASH_LIMIT`] major faults in a row, each on one of
//! the space's last [`RECENT_EVICTIONS`] evicted pages, with the swap
//! device full, fail as `OutOfFrames` (the process dies out of memory)
//! instead of faulting forever.

use super::*;

impl Vass {
    /// Handles a page fault at `page` of `space`: commits it if a
    /// partition covers it and allows `access`; says what became of it and
    /// where the page lies (the fault's one VASM lookup).
    pub fn fault(
        &mut self,
        space: SpaceId,
        page: Page,
        access: Access,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Resolution {
        let placement = self.placement(space, page);
        let outcome = match placement {
            Some(placement) => self.resolve(space, placement.partition, page, access, table, frames),
            None => FaultOutcome::NotInPartition,
        };
        self.count_fault(space, placement.map(|placement| placement.partition), access, outcome);
        Resolution { outcome, placement }
    }

    /// Counts a fault the processor raised on a page mapped without the
    /// rights the access needed (the page tables already say no, so the
    /// engine has nothing to resolve; see [`Vass::protection_fault`] for
    /// the one exception).
    pub fn refuse(&mut self, space: SpaceId, page: Page, access: Access) -> Resolution {
        let placement = self.placement(space, page);
        self.count_fault(space, placement.map(|placement| placement.partition), access, FaultOutcome::RightsViolation);
        Resolution { outcome: FaultOutcome::RightsViolation, placement }
    }

    /// Where `page` of `space` lies, if a partition holds it.
    pub(super) fn placement(&self, space: SpaceId, page: Page) -> Option<Placement> {
        let partition = self.lookup(space, page)?;
        Some(Placement { partition: partition.id, range: partition.range_of(page)?, kind: partition.kind })
    }

    pub(super) fn count_fault(&mut self, space: SpaceId, id: Option<PartitionId>, access: Access, outcome: FaultOutcome) {
        let now = self.now;
        if let Some(partition) = id.and_then(|id| self.partitions.get_mut(&id)) {
            partition.counters.faults += 1;
            partition.recent_faults.record(now, 1);
            partition.idle_scans = 0;
        }
        let counters = &mut self.space_mut(space).counters;
        counters.faults += 1;
        match access {
            Access::Read => counters.fault_reads += 1,
            Access::Write => counters.fault_writes += 1,
            Access::Execute => counters.fault_executes += 1,
        }
        match outcome {
            FaultOutcome::Committed => counters.faults_demand += 1,
            FaultOutcome::AlreadyCommitted => counters.faults_spurious += 1,
            FaultOutcome::NotInPartition => counters.faults_unmapped += 1,
            FaultOutcome::RightsViolation => counters.faults_violation += 1,
            FaultOutcome::OutOfFrames => counters.faults_oom += 1,
            FaultOutcome::SwappedIn => counters.faults_major += 1,
            FaultOutcome::SwapFailed => counters.faults_swap_failed += 1,
            FaultOutcome::Mapped => counters.faults_shared += 1,
            FaultOutcome::Revoked => counters.faults_revoked += 1,
            FaultOutcome::Replicated => counters.faults_replica += 1,
            FaultOutcome::Invalidated => counters.replica_invalidations += 1,
        }
    }

    /// Counts a fault at `page` of partition `id` toward `space`'s
    /// refaults (a major fault on a page it evicted among its last
    /// [`RECENT_EVICTIONS`]) and says whether the space is thrashing
    /// without a way out: [`THRASH_LIMIT`] refaults in a row with no swap
    /// slot free (with one, a dirty page could go instead).
    pub(super) fn thrashing(&mut self, space: SpaceId, id: PartitionId, page: Page) -> bool {
        let swapped = self.partitions.get(&id).is_some_and(|partition| partition.swapped.contains_key(&page));
        let full = self.slots.used() + self.slots.quarantined() >= self.slots.total();
        let state = self.space_mut(space);
        if swapped && state.recently_evicted.contains(&page) {
            state.refaults = state.refaults.saturating_add(1);
        } else {
            state.refaults = 0;
        }
        state.refaults > THRASH_LIMIT && full
    }

    /// Resolves a fault at `page` of partition `id` (which holds it).
    pub(super) fn resolve(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        page: Page,
        access: Access,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> FaultOutcome {
        let Some(partition) = self.partitions.get(&id) else { return FaultOutcome::NotInPartition };
        if partition.view.is_some() {
            return self.resolve_in_view(space, id, page, access, table, frames);
        }
        if !partition.rights_at(page).contains(access.right()) {
            return FaultOutcome::RightsViolation;
        }
        if partition.committed.contains_key(&page) {
            self.touch(id, page);
            return FaultOutcome::AlreadyCommitted;
        }
        if let Some(partition) = self.partitions.get_mut(&id) {
            // In use after all.
            partition.cold.clear(PageRange::new(page, page + 1));
        }
        if self.thrashing(space, id, page) {
            return FaultOutcome::OutOfFrames;
        }
        self.space_mut(space).fault_on_declined(page);
        match self.commit_page(id, page, Need::Now, table, frames) {
            Ok(false) => {
                if let Some(mut ledger) = self.ledger(id) {
                    ledger.demand_commit();
                }
                self.promote(id, block_of(page), table, frames);
                FaultOutcome::Committed
            }
            Ok(true) => {
                // The swap-in itself was counted with the commit.
                if let Some(mut ledger) = self.ledger(id) {
                    ledger.major_fault();
                }
                self.promote(id, block_of(page), table, frames);
                FaultOutcome::SwappedIn
            }
            Err(VassError::SwapFailed) => FaultOutcome::SwapFailed,
            Err(_) => FaultOutcome::OutOfFrames,
        }
    }
}
