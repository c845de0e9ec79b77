//! Placeholder until the xtask lands.
fn main() {}
