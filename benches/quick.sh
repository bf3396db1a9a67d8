#!/usr/bin/env bash
# The benchmarks' quick mode, for CI: proves that every benchmark and the load test still
# build and run, in a few seconds each. It measures nothing; figures come from
# `cargo bench -p hebra-benches` and `echo_load` without `--quick` (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# criterion's test mode: each benchmark function runs once.
cargo bench -p hebra-benches -- --test

# 200 connections from a client process, 200 round trips each, against every server.
cargo run --release -p hebra-benches --bin echo_load -- --quick

# The file server's coroutine and reactors engines through every scenario of the
# comparison with nginx and hyper, about a second each (installs wrk if it can, skips
# with a message if it cannot); results go to a temporary directory.
cargo run --release -p hebra-benches --bin compare -- --quick
