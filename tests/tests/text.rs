//! Program text, shared and private. With `text=shared` (the default) the
//! read-only pieces of a program's image are the kernel's text store's,
//! mapped into every instance (`share::text`; the kernel's own tests compare
//! two instances' frames); with `text=private` each instance loads its own
//! copy, which it owns and may grant. These boots check what a process sees
//! of each: its counters (text is charged to the store, not the process)
//! and `test-share`'s code test, which under `text=private` grants the
//! program's own code read+execute to another program that runs it.

use std::time::Duration;
use tests::*;

/// What `hello` loaded (pages the loader committed for it), booted with `text`.
fn hello_loaded(text: &str) -> u64 {
    let outcome = boot(&format!("text-{text}-hello"), Bios, &format!("mode=run text={text} init=bin/hello"));
    assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
    assert_output_contains(&outcome, &format!("text {text}"));
    let stats = memstats(&outcome);
    let hello = stats.iter().find(|stat| stat.name == "hello").expect("a memstat for hello");
    hello.counters.loaded
}

#[test]
fn shared_text_is_charged_to_the_store_and_private_text_to_the_process() {
    let shared = hello_loaded("shared");
    let private = hello_loaded("private");
    // The difference is the image's read-only pieces: at least the code.
    assert!(private > shared, "private {private}, shared {shared}");
    assert!(shared > 0, "the writable data and the stack are still the process's own");
}

#[test]
fn with_private_text_a_program_grants_its_own_code_and_another_runs_it() {
    // Its other tests swap: a swap disk as `cargo xtask test` gives.
    let outcome = boot_with_swap("text-private-share", Bios, "mode=run text=private init-args=test,test-share", Duration::from_secs(180), kernel::dev::TEST_SWAP_PAGES, &[]);
    assert_eq!(outcome.verdict, Verdict::Success, "{}", outcome.serial);
    assert_output_contains(&outcome, "utest test-share::code_is_shared_read_and_execute ... ok");
    assert_eq!(program_tally(&outcome, Some("test-share")).map(|(_, failed)| failed), Some(0));
}
