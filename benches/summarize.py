#!/usr/bin/env python3
"""Tabulates the last `cargo bench -p hebra-benches` run from criterion's raw samples.

For every group and runtime: the median time per iteration over the samples, the
interquartile range (p25-p75) and the min-max as the spread, and the ratios of hebra's
median to tokio's, may's, crossbeam-channel's (between threads) and std's within the
group (all measured in the same run).

Usage: python3 benches/summarize.py [CRITERION_DIR]
CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion.
"""

import json
import os
import statistics
import sys
from pathlib import Path

GROUPS = [
    "yield_now",
    "spawn_join",
    "spawn_batch_10k",
    "park_unpark",
    "tcp_echo",
    "tcp_echo_std_client",
    "chan_ping_pong/one_worker",
    "chan_ping_pong/two_workers",
    "chan_throughput/bounded_64",
    "chan_throughput/unbounded",
    "mutex/uncontended",
    "mutex/contended",
]

# The rows hebra's is divided by, in the ratio table.
OTHERS = ["tokio", "may", "crossbeam_threads", "std_thread"]


def directory(group):
    """criterion's directory for a group: '/' (and a few others) become '_'."""
    return group.replace("/", "_")


def per_iteration_ns(sample_file):
    sample = json.loads(sample_file.read_text())
    return sorted(t / n for t, n in zip(sample["times"], sample["iters"]))


def quantile(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"


def main():
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if not root.is_dir():
        sys.exit(f"no criterion results in {root}: run `cargo bench -p hebra-benches` first")
    ratios = []
    print("| group | runtime | median | p25 - p75 | min - max |")
    print("|---|---|---:|---:|---:|")
    for group in GROUPS:
        medians = {}
        for sample_file in sorted((root / directory(group)).glob("*/new/sample.json")):
            runtime = sample_file.parent.parent.name
            times = per_iteration_ns(sample_file)
            medians[runtime] = statistics.median(times)
            spread = f"{fmt(quantile(times, 25))} - {fmt(quantile(times, 75))}"
            extremes = f"{fmt(times[0])} - {fmt(times[-1])}"
            print(f"| {group} | {runtime} | {fmt(medians[runtime])} | {spread} | {extremes} |")
        if "hebra" in medians:
            ratio = lambda other: f"{medians['hebra'] / medians[other]:.2f}" if other in medians else "-"
            ratios.append(f"| {group} | " + " | ".join(ratio(other) for other in OTHERS) + " |")
    print()
    print("| group | " + " | ".join(f"hebra / {other}" for other in OTHERS) + " |")
    print("|---|" + "---:|" * len(OTHERS))
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
