//! Benchmark harness (see BENCHMARKS.md).
