//! Commit policies in the kernel: each one, chosen with `policy_set`, faced
//! with a sequential and a strided scan of a fresh partition, faults and
//! commits ahead as it should (the same decisions its host tests expect).

#![no_std]
#![no_main]

use abi::{CommitPolicy, Error, MemoryCounters, PartitionKind, Rights};
use runtime::{check, check_eq, sys};

use abi::PAGE_SIZE as PAGE;
const PAGES: u64 = 512;

/// What a scan of `PAGES` pages (every `stride`th) cost under `policy`:
/// (demand faults, pages committed ahead, hits, waste).
fn scan(policy: CommitPolicy, stride: u64) -> (u64, u64, u64, u64) {
    let (counts, _) = scan_counting(policy, stride);
    counts
}

/// As [`scan`], with the counters' change over the whole scan.
fn scan_counting(policy: CommitPolicy, stride: u64) -> ((u64, u64, u64, u64), MemoryCounters) {
    let _ = sys::policy_set(policy);
    let before = sys::memory_counters();
    let Ok(partition) = sys::partition_create(PAGES * PAGE, PartitionKind::Buffer, Rights::READ | Rights::WRITE) else {
        return ((u64::MAX, 0, 0, 0), MemoryCounters::default());
    };
    for page in (0..PAGES).step_by(stride as usize) {
        // SAFETY: inside the read-write partition just created.
        unsafe { core::ptr::write_volatile((partition.base + page * PAGE) as *mut u8, 1) };
    }
    let _ = sys::partition_destroy(partition.id);
    let _ = sys::policy_set(CommitPolicy::Demand);
    let after = sys::memory_counters();
    let delta = |f: fn(&MemoryCounters) -> u64| f(&after) - f(&before);
    let mut change = MemoryCounters::from_words(core::array::from_fn(|i| after.to_words()[i].wrapping_sub(before.to_words()[i])));
    change.pid = after.pid;
    ((delta(|c| c.faults_demand), delta(|c| c.ahead_commits), delta(|c| c.hits), delta(|c| c.waste)), change)
}

runtime::tests! {
    fn demand_faults_on_every_page() {
        check_eq!(scan(CommitPolicy::Demand, 1), (PAGES, 0, 0, 0));
    }

    fn eager_commits_the_partition_at_creation() {
        let (faults, ahead, hits, waste) = scan(CommitPolicy::Eager, 1);
        check_eq!((faults, ahead, hits, waste), (0, PAGES, PAGES, 0));
        // A 2 MiB page (if the partition holds an aligned block) has one
        // accessed bit for all its pages, so count at least the touched ones.
        let (faults, ahead, hits, waste) = scan(CommitPolicy::Eager, 4);
        check_eq!((faults, ahead, hits + waste), (0, PAGES, PAGES));
        check!(hits >= PAGES / 4, "hits {hits}");
    }

    fn readahead_follows_a_sequential_scan_only() {
        let (faults, ahead, hits, waste) = scan(CommitPolicy::Readahead, 1);
        check!(faults < PAGES / 8, "faults {faults}");
        check_eq!(faults + hits, PAGES);
        check_eq!(ahead, hits + waste);
        check_eq!(scan(CommitPolicy::Readahead, 3), (PAGES.div_ceil(3), 0, 0, 0), "a stride is no stream");
    }

    fn leap_follows_sequential_and_strided_scans() {
        for stride in [1, 3] {
            let touched = PAGES.div_ceil(stride);
            let (faults, ahead, hits, waste) = scan(CommitPolicy::Leap, stride);
            check!(faults < touched / 4, "stride {stride}: faults {faults} of {touched}");
            check_eq!(faults + hits, touched, "stride {stride}");
            check_eq!(ahead, hits + waste);
        }
    }

    fn pae_learned_model_follows_sequential_and_strided_scans() {
        // The kernel's PAE task steps the boot model once per fault and
        // commits what it predicts before the access is retried.
        for stride in [1, 3] {
            let touched = PAGES.div_ceil(stride);
            let ((faults, ahead, hits, waste), change) = scan_counting(CommitPolicy::Pae, stride);
            // A sequential scan leaves about one fault in 16, a stride of 3
            // about one in 3 (the default model; demand: every page).
            let most = if stride == 1 { touched / 8 } else { touched / 2 };
            check!(faults < most, "stride {stride}: faults {faults} of {touched}");
            check_eq!(faults + hits, touched, "stride {stride}");
            check_eq!(ahead, hits + waste);
            check!(change.pae_steps >= faults, "stride {stride}: {} model steps for {faults} faults", change.pae_steps);
            check!(change.pae_cycles > 0);
            check_eq!(change.pae_lost, 0);
        }
    }

    fn policy_set_reports_the_previous_policy_and_refuses_unknown_ones() {
        check_eq!(sys::policy_set(CommitPolicy::Leap), Ok(CommitPolicy::Demand));
        check_eq!(sys::policy_set(CommitPolicy::Readahead), Ok(CommitPolicy::Leap));
        check_eq!(sys::policy_set(CommitPolicy::Pae), Ok(CommitPolicy::Readahead));
        check_eq!(sys::policy_set(CommitPolicy::Demand), Ok(CommitPolicy::Pae));
        // SAFETY: no pointers are passed.
        let raw = unsafe { sys::syscall6(abi::Syscall::PolicySet as u64, 6, 0, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::InvalidArgument), "no policy 6");
        // SAFETY: as above.
        let raw = unsafe { sys::syscall6(abi::Syscall::PolicySet as u64, CommitPolicy::Oracle as u64, 0, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::InvalidArgument), "the oracle needs a replay file");
        // SAFETY: a pointer with a length for a policy that takes none.
        let raw = unsafe { sys::syscall6(abi::Syscall::PolicySet as u64, CommitPolicy::Leap as u64, 0x1000, 4, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::InvalidArgument));
        check_eq!(sys::policy_set_oracle("replay/no-such-trace.vrpl"), Err(Error::NotFound));
        check_eq!(sys::policy_set_oracle("boot/cmdline"), Err(Error::InvalidArgument), "not a replay file");
        check_eq!(sys::policy_set(CommitPolicy::Demand), Ok(CommitPolicy::Demand), "refused calls change nothing");
    }

    fn only_init_may_swap_the_model() {
        check!(sys::getpid() != 1, "this test runs as a child of init");
        let model = sys::read_whole_file("pae/model.onnx");
        check!(model.is_ok(), "the ramdisk has the default model");
        let model = model.unwrap_or_default();
        check_eq!(sys::pae_model_set(&model), Err(Error::PermissionDenied), "a valid model, but not from init");
        check_eq!(sys::pae_model_set(b"not a model"), Err(Error::PermissionDenied), "identity is checked first");
        // SAFETY: the kernel must refuse before it reads the bad pointer.
        let raw = unsafe { sys::syscall6(abi::Syscall::PaeModelSet as u64, 8, 1 << 40, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::PermissionDenied));
        // The pae policy still runs the model in service.
        let (faults, ahead, _, _) = scan(CommitPolicy::Pae, 1);
        check!(ahead > 0 && faults < PAGES, "pae still commits ahead: {faults} faults, {ahead} ahead");
    }

    fn layout_proposals_read_back_well_formed_and_end_with_not_found() {
        // A child that ends under pae leaves a proposal.
        let _ = sys::policy_set(CommitPolicy::Pae);
        let ran = sys::run("bin/exit-code", &["0"]);
        let _ = sys::policy_set(CommitPolicy::Demand);
        check_eq!(ran, Ok(abi::ExitReason::Exited(0)));
        let (mut index, mut found) = (0, false);
        while let Ok(words) = sys::pae_layout(index) {
            let view = abi::layout::LayoutView::new(&words);
            check!(view.is_some(), "proposal {index} is well formed ({} words)", words.len());
            found |= view.is_some_and(|view| view.name() == b"exit-code" && view.partition_count() > 0);
            index += 1;
        }
        check!(found, "exit-code's proposal is among the {index}");
        check_eq!(sys::pae_layout(index), Err(Error::NotFound));
        check_eq!(sys::pae_layout(u64::MAX), Err(Error::NotFound));
        {
            // A buffer too small is left alone; the size comes back.
            let mut word = [0xabu64; 1];
            // SAFETY: `word` is writable; the call writes at most its capacity.
            let raw = unsafe { sys::syscall6(abi::Syscall::PaeLayout as u64, 0, word.as_mut_ptr() as u64, 1, 0, 0, 0) };
            check!(abi::decode(raw).is_ok_and(|words| words > 1), "{raw:#x}");
            check_eq!(word, [0xab]);
            // SAFETY: a kernel address the call must refuse to write to.
            let raw = unsafe { sys::syscall6(abi::Syscall::PaeLayout as u64, 0, 0xffff_8000_0000_0000, 1 << 20, 0, 0, 0) };
            check_eq!(abi::decode(raw), Err(Error::BadAddress));
        }
    }
}
