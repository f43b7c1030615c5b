//! A test program that fails on purpose, to check that a failing user test
//! makes the run fail. It is not named `test-*`, so only runs when asked.

#![no_std]
#![no_main]

runtime::tests! {
    fn passes() {
        runtime::check!(true);
    }

    fn fails_on_purpose() {
        runtime::check_eq!(1 + 1, 3, "one plus one is not three");
    }
}
