#!/usr/bin/env python3
"""Tabulates the last `cargo bench -p hebra-benches` run from criterion's raw samples.

For every group and runtime: the median time per iteration over the samples, the
interquartile range (p25-p75) and the min-max as the spread, and the ratios of hebra to
tokio and to may within the group (both measured in the same run).

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
]


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
        for sample_file in sorted((root / group).glob("*/new/sample.json")):
            runtime = sample_file.parent.parent.name
            times = per_iteration_ns(sample_file)
            medians[runtime] = statistics.median(times)
            spread = f"{fmt(quantile(times, 25))} - {fmt(quantile(times, 75))}"
            extremes = f"{fmt(times[0])} - {fmt(times[-1])}"
            print(f"| {group} | {runtime} | {fmt(medians[runtime])} | {spread} | {extremes} |")
        if "hebra" in medians:
            ratio = lambda other: f"{medians['hebra'] / medians[other]:.2f}" if other in medians else "-"
            ratios.append(f"| {group} | {ratio('tokio')} | {ratio('may')} |")
    print()
    print("| group | hebra / tokio | hebra / may |")
    print("|---|---:|---:|")
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
