"""TPC-DS 99 through `strata sql`, each answer compared with DuckDB's.

Usage: python bench/tpcds.py STRATA_BINARY SF WORKDIR [QUERY_NUMBERS...]

Needs duckdb==1.5.5 with the TPC-DS extension from PyPI (no download at run time):
  pip install "duckdb==1.5.5" duckdb-extensions duckdb-extension-tpcds
DuckDB generates the data (dsdgen) into WORKDIR/data/<table>.parquet, gives the 99 query
texts (tpcds_queries()) and runs each for its answer; Strata runs each query text as is
over the Parquet files (a process per query, 120 s limit). Cells compare as numbers with a
relative tolerance of 1e-6 (absolute 0.01 for money-like values), else as text; rows in
order when the query ends with ORDER BY, else as sorted lists. Prints per-query outcome
and the totals with the geometric mean of the time ratios; writes WORKDIR/results.csv.
"""

import csv
import io
import os
import re
import subprocess
import sys
import time

import duckdb
import duckdb_extensions

strata, sf, work = sys.argv[1], float(sys.argv[2]), sys.argv[3]
only = {int(q) for q in sys.argv[4:]}
data = os.path.join(work, "data")
os.makedirs(data, exist_ok=True)

con = duckdb.connect()
duckdb_extensions.import_extension("tpcds", con=con)
con.execute("LOAD tpcds")
stamp = os.path.join(data, f".sf{sf}")
if not os.path.exists(stamp):
    con.execute(f"CALL dsdgen(sf={sf})")
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall():
        con.execute(f"COPY {t} TO '{data}/{t}.parquet' (FORMAT parquet)")
    open(stamp, "w").close()
else:
    for f in os.listdir(data):
        if f.endswith(".parquet"):
            con.execute(f"CREATE VIEW {f[:-8]} AS SELECT * FROM '{data}/{f}'")
names = sorted(f[:-8] for f in os.listdir(data) if f.endswith(".parquet"))
table_args = []
for t in names:
    table_args += ["--table", f"{t}={data}/{t}.parquet"]
queries = con.execute("SELECT query_nr, query FROM tpcds_queries() ORDER BY 1").fetchall()


def norm(v):
    if v is None or v == "" or v == "NULL":
        return None
    if isinstance(v, bool):
        return str(v).lower()
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v).strip()


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(1e-6 * max(abs(a), abs(b)), 0.011)
    return str(a) == str(b)


def rows_equal(got, want, ordered):
    if len(got) != len(want):
        return False, f"{len(got)} rows, want {len(want)}"
    if not ordered:
        key = lambda r: [("" if c is None else str(c)) for c in r]
        got, want = sorted(got, key=key), sorted(want, key=key)
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            return False, f"{len(g)} columns, want {len(w)}"
        for j, (x, y) in enumerate(zip(g, w)):
            if not same(x, y):
                return False, f"row {i} column {j}: {x!r}, want {y!r}"
    return True, ""


results = []
for nr, text in queries:
    if only and nr not in only:
        continue
    t0 = time.time()
    rows = con.execute(text).fetchall()
    duck = time.time() - t0
    want = [[norm(c.isoformat() if hasattr(c, "isoformat") else c) for c in r] for r in rows]
    ordered = bool(re.search(r"order\s+by[^)]*$", text.strip().rstrip(";"), re.I | re.S))
    start = time.time()
    try:
        p = subprocess.run([strata, "--quiet", "sql", *table_args, "--format", "csv", text],
                           capture_output=True, text=True, timeout=120)
        took = time.time() - start
        if p.returncode != 0:
            err = (p.stderr.strip().splitlines() or ["?"])[-1][:160]
            outcome, detail = "error", err
        else:
            lines = list(csv.reader(io.StringIO(p.stdout)))
            got = [[norm(c) for c in r] for r in lines[1:]]
            ok, why = rows_equal(got, want, ordered)
            outcome, detail = ("match", "") if ok else ("wrong", why)
    except subprocess.TimeoutExpired:
        took, outcome, detail = 120.0, "timeout", ""
    results.append((nr, outcome, took, duck, detail))
    print(f"q{nr:02d} {outcome:8s} strata {took:6.2f}s duckdb {duck:6.2f}s {detail}", flush=True)

with open(os.path.join(work, "results.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["query", "outcome", "strata_seconds", "duckdb_seconds", "detail"])
    w.writerows(results)
total = {k: sum(1 for r in results if r[1] == k) for k in ["match", "wrong", "error", "timeout"]}
print(f"TPC-DS SF {sf}: {len(results)} queries: {total}")
# Time ratios over the queries that match: Strata as a whole process per query (start,
# plan, read Parquet) against DuckDB's run of the same query in a warm in-process database.
ok = [r for r in results if r[1] == "match" and r[3] > 0]
if ok:
    import math
    geo = math.exp(sum(math.log(r[2] / max(r[3], 1e-4)) for r in ok) / len(ok))
    print(f"geometric mean of Strata/DuckDB time over {len(ok)} matching queries: {geo:.2f}")
