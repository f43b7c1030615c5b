//! The kernel's virtual address layout.
//!
//! Every region below sits in its own level-4 page-table slot (512 GiB), so
//! regions never share upper-level tables and a process address space can
//! share the kernel half by copying the upper 256 level-4 entries.
//!
//! | region | start | size |
//! | --- | --- | --- |
//! | user space | `0x0000_0000_0000_0000` | 128 TiB (lower half) |
//! | bootloader mappings (physical memory, kernel image, boot stack, boot info, ramdisk) | `0xffff_8000_0000_0000` | 32 TiB, placed by the bootloader |
//! | kernel heap | `0xffff_c000_0000_0000` | grows up to [`HEAP_MAX_SIZE`] |
//! | device memory (MMIO) | `0xffff_d000_0000_0000` | bump-allocated windows |
//! | kernel stacks (with guard pages) | `0xffff_e000_0000_0000` | 512 GiB |
//! | scratch (tests and temporary mappings) | `0xffff_f000_0000_0000` | 512 GiB |
//! | kernel image | `0xffff_ffff_8000_0000` | the top 2 GiB (fixed, so debuggers find symbols) |

#![forbid(unsafe_code)]

/// A half-open range of virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
}

impl Region {
    /// Size in bytes.
    pub const fn size(&self) -> u64 {
        self.end - self.start
    }

    /// Whether `address` lies in the region.
    pub const fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }

    /// Whether the two regions share any address.
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Bytes covered by one level-4 page-table entry.
pub const L4_ENTRY_SPAN: u64 = 1 << 39;

/// The lower half, for user processes.
pub const USER: Region = Region { start: 0, end: 0x0000_8000_0000_0000 };
/// Where a program's ELF segments may be loaded (above 64 KiB, so the first
/// pages stay unmapped and catch null-pointer accesses).
pub const USER_IMAGE: Region = Region { start: 0x0000_0000_0001_0000, end: 0x0000_1000_0000_0000 };
/// Where the partitions a program creates are placed (its heap among them).
pub const USER_HEAP: Region = Region { start: 0x0000_2000_0000_0000, end: 0x0000_3000_0000_0000 };
/// The user stack region; the stack grows down from `USER_STACK.end`.
pub const USER_STACK: Region = Region { start: 0x0000_7fff_0000_0000, end: 0x0000_7fff_ffff_0000 };

/// Where the bootloader may place its dynamic mappings.
pub const BOOTLOADER: Region = Region { start: 0xffff_8000_0000_0000, end: 0xffff_a000_0000_0000 };
/// The kernel heap's reserved range; only the first part is mapped.
pub const HEAP: Region = Region { start: 0xffff_c000_0000_0000, end: 0xffff_c000_0000_0000 + L4_ENTRY_SPAN };
/// Device memory windows.
pub const MMIO: Region = Region { start: 0xffff_d000_0000_0000, end: 0xffff_d000_0000_0000 + L4_ENTRY_SPAN };
/// Kernel stacks of tasks, each below an unmapped guard page.
pub const KERNEL_STACKS: Region = Region { start: 0xffff_e000_0000_0000, end: 0xffff_e000_0000_0000 + L4_ENTRY_SPAN };
/// Temporary mappings, used by tests.
pub const SCRATCH: Region = Region { start: 0xffff_f000_0000_0000, end: 0xffff_f000_0000_0000 + L4_ENTRY_SPAN };

/// Where the bootloader loads the kernel image (a position-independent ELF
/// linked at 0), so symbol addresses are link addresses plus this.
pub const KERNEL_IMAGE_BASE: u64 = 0xffff_ffff_8000_0000;

/// Size of the heap mapped at boot.
pub const HEAP_INITIAL_SIZE: u64 = 1 << 20;
/// The heap never grows beyond this.
pub const HEAP_MAX_SIZE: u64 = 1 << 30;

// The heap limits must fit the heap region and be whole pages.
const _: () = {
    assert!(HEAP_INITIAL_SIZE <= HEAP_MAX_SIZE);
    assert!(HEAP_MAX_SIZE <= HEAP.size());
    assert!(HEAP_INITIAL_SIZE.is_multiple_of(4096) && HEAP_MAX_SIZE.is_multiple_of(4096));
};

/// Every kernel region, for overlap checks.
pub const KERNEL_REGIONS: [Region; 5] = [BOOTLOADER, HEAP, MMIO, KERNEL_STACKS, SCRATCH];

/// Kernel regions the kernel maps into itself after boot. Their level-4
/// entries are filled at boot, so process address spaces, which copy the
/// kernel half once, see every later kernel mapping.
pub const KERNEL_OWNED_REGIONS: [Region; 4] = [HEAP, MMIO, KERNEL_STACKS, SCRATCH];

/// Level-4 index of an address.
pub const fn l4_index(address: u64) -> usize {
    ((address >> 39) & 0x1ff) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_regions_are_in_the_upper_half_and_disjoint() {
        for (i, region) in KERNEL_REGIONS.iter().enumerate() {
            assert!(l4_index(region.start) >= 256, "{region:?} is not in the upper half");
            assert!(!region.overlaps(&USER));
            for other in &KERNEL_REGIONS[i + 1..] {
                assert!(!region.overlaps(other), "{region:?} overlaps {other:?}");
            }
        }
    }

    #[test]
    fn kernel_image_is_outside_every_other_region() {
        assert!(KERNEL_REGIONS.iter().all(|region| !region.contains(KERNEL_IMAGE_BASE)));
        assert_eq!(l4_index(KERNEL_IMAGE_BASE), 511);
    }

    #[test]
    fn regions_start_on_level4_boundaries() {
        for region in KERNEL_REGIONS.iter().chain([&USER]) {
            assert_eq!(region.start % L4_ENTRY_SPAN, 0, "{region:?}");
            assert_eq!(region.end % L4_ENTRY_SPAN, 0, "{region:?}");
        }
    }

    #[test]
    fn user_regions_are_inside_user_space_and_disjoint() {
        let regions = [USER_IMAGE, USER_HEAP, USER_STACK];
        for (i, region) in regions.iter().enumerate() {
            assert!(USER.contains(region.start) && USER.contains(region.end - 1), "{region:?}");
            assert!(region.start >= 0x1_0000, "{region:?} reaches the null page");
            for other in &regions[i + 1..] {
                assert!(!region.overlaps(other), "{region:?} overlaps {other:?}");
            }
        }
    }

    #[test]
    fn region_predicates() {
        let region = Region { start: 0x1000, end: 0x3000 };
        assert!(region.contains(0x1000) && region.contains(0x2fff));
        assert!(!region.contains(0x3000) && !region.contains(0xfff));
        assert!(region.overlaps(&Region { start: 0x2fff, end: 0x4000 }));
        assert!(!region.overlaps(&Region { start: 0x3000, end: 0x4000 }));
        assert_eq!(region.size(), 0x2000);
    }
}
