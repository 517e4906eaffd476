//! Simulation and staffing benchmarks (placeholder while the module lands).
fn main() {}
