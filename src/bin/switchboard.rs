//! The `switchboard` command-line tool (placeholder while the module lands).
fn main() {}
