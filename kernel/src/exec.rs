//! Executable validation: turns ELF bytes into a checked load plan.
