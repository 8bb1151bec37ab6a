#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The figure of issue 13's "Done when": how many runs of lines the files of
two different patterns share.

Runs `duplicates --repo SRC --most 200 --seconds 120` (the `duplicates` tool
must be on PATH) and, of the pairs it lists, keeps those whose two files
belong to different patterns under SRC/patterns/ (pubsub, queue, rpc, event,
channel: a file belongs to the pattern its name starts with). Prints each such
pair with its number of runs (1 + its "(+N more runs)"), then the sum:

    cross-pattern runs: N

The issue asks for N <= 20. Run it from the repository root:

    python3 scripts/cross-pattern-dups.py src

Pairs within one pattern, and pairs with a file outside src/patterns/ (the
service layer, say), are not counted: glue that appears once is the point.
"""
import re
import subprocess
import sys

PATTERN = re.compile(r"patterns/(pubsub|queue|rpc|event|channel)")
ROW = re.compile(r"D\d+ (\S+?):\d+-\d+ ~ (\S+?):\d+-\d+(.*)")


def pattern_of(path):
    m = PATTERN.match(path)
    return m.group(1) if m else None


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else "src"
    out = subprocess.run(
        ["duplicates", "--repo", repo, "--most", "200", "--seconds", "120"],
        capture_output=True, text=True, check=False).stdout
    total = 0
    for line in out.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        a, b, rest = m.groups()
        pa, pb = pattern_of(a), pattern_of(b)
        if pa and pb and pa != pb:
            runs = 1
            more = re.search(r"\+(\d+) more run", rest)
            if more:
                runs += int(more.group(1))
            total += runs
            print(runs, line)
        elif line.startswith("incomplete:"):
            print(line)
    print("cross-pattern runs:", total)


if __name__ == "__main__":
    main()
