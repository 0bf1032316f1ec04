"""TPC-H hot runs of the peers over the same Parquet files: DuckDB, DataFusion and Polars
(SQL front-ends). Prints `engine qN seconds` (fastest of RUNS) or `engine qN error`.
Usage: tpch_peers.py DATA_DIR QUERIES_DIR [RUNS]"""
import sys, time, glob, os

data, qdir = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
tables = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
queries = {n: open(f"{qdir}/q{n}.sql").read().strip().rstrip(";") for n in range(1, 23)}

def bench(name, run):
    for n, sql in queries.items():
        best = None
        try:
            for _ in range(runs):
                t = time.time(); run(sql); d = time.time() - t
                best = d if best is None else min(best, d)
            print(f"{name}\tq{n}\t{best:.4f}", flush=True)
        except Exception as e:
            print(f"{name}\tq{n}\terror\t{str(e).splitlines()[0][:80]}", flush=True)

import duckdb
con = duckdb.connect()
con.execute("set threads to 2")
for t in tables:
    con.execute(f"create view {t} as select * from read_parquet('{data}/{t}/*.parquet')")
bench("duckdb", lambda s: con.execute(s).to_arrow_table())

import datafusion
ctx = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(2))
for t in tables:
    ctx.register_parquet(t, f"{data}/{t}/")
bench("datafusion", lambda s: ctx.sql(s).collect())

import polars as pl
pctx = pl.SQLContext({t: pl.scan_parquet(f"{data}/{t}/*.parquet") for t in tables})
bench("polars", lambda s: pctx.execute(s).collect())
