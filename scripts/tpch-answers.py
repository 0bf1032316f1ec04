#!/usr/bin/env python3
"""Reference answers for the TPC-H queries, computed by DuckDB (from PyPI) over the data
`strata gen tpch` wrote.

Usage: tpch-answers.py DATA_DIR OUT_DIR [QUERIES_DIR]
  DATA_DIR   what `strata gen tpch --format parquet --out DATA_DIR` produced
  OUT_DIR    receives qN.csv (header row, DuckDB's text form of each value)
  QUERIES_DIR defaults to crates/strata-sql/tests/tpch/queries

Needs: ../shared/peers/setup.sh sql (duckdb in /tmp/strata-peers/venv)."""
import os, sys, duckdb

data, out = sys.argv[1], sys.argv[2]
queries = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
    os.path.dirname(__file__), "..", "crates", "strata-sql", "tests", "tpch", "queries")
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
for t in ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]:
    con.execute(f"create view {t} as select * from read_parquet('{data}/{t}/*.parquet')")
for n in range(1, 23):
    sql = open(os.path.join(queries, f"q{n}.sql")).read().strip().rstrip(";")
    con.execute(f"copy ({sql}) to '{out}/q{n}.csv' (header, delimiter ',')")
    print(f"q{n}: {sum(1 for _ in open(f'{out}/q{n}.csv')) - 1} rows")
