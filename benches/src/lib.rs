//! Shared helpers of the hebra benchmarks.
