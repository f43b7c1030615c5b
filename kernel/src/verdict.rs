//! The verdicts the kernel reports to QEMU's `isa-debug-exit` device, shared
//! with the host tools that turn QEMU's exit status back into a verdict.

#![forbid(unsafe_code)]

/// Value written for success.
pub const SUCCESS: u32 = 0x10;
/// Value written for failure (a failed test or a fatal kernel error).
pub const FAILURE: u32 = 0x11;

/// QEMU's exit status after the kernel writes `value`: `(value << 1) | 1`.
/// Both verdicts are odd and non-zero, unlike QEMU's status after a triple
/// fault (0), so a crash can never look like success.
pub const fn qemu_status(value: u32) -> i32 {
    ((value << 1) | 1) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_odd_and_nonzero() {
        assert_eq!(qemu_status(SUCCESS), 33);
        assert_eq!(qemu_status(FAILURE), 35);
    }
}
