//! The `bitswarm` command line.
fn main() {}
