#!/usr/bin/env python3
"""Checks Strata's TPC-H answers against DuckDB's checked-in ones at any scale factor.
Usage: tpch_check.py STRATA_BIN DATA_DIR ANSWERS_DIR   (e.g. .../answers/sf1)"""
import csv, io, os, subprocess, sys

strata, data, answers = sys.argv[1:4]
queries = os.path.join(os.path.dirname(__file__), "..", "crates", "strata-sql", "tests", "tpch", "queries")
tables = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
args = [strata, "sql", "--format", "csv"]
for t in tables:
    args += ["--table", f"{t}={data}/{t}"]

def same(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1.0)

bad = 0
for n in range(1, 23):
    out = subprocess.run(args + ["-f", f"{queries}/q{n}.sql"], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"q{n}: error: {out.stderr.strip()[:120]}"); bad += 1; continue
    got = list(csv.reader(io.StringIO(out.stdout)))[1:]
    want = list(csv.reader(open(f"{answers}/q{n}.csv")))[1:]
    ok = len(got) == len(want) and all(len(g) == len(w) and all(same(x, y) for x, y in zip(g, w)) for g, w in zip(got, want))
    print(f"q{n}: {'ok' if ok else 'DIFFERS'} ({len(got)} rows)")
    bad += not ok
sys.exit(1 if bad else 0)
