"""strata sql-server and federation beside PostgreSQL, on TPC-H data.

Usage: python bench/sql_server_vs_postgres.py STRATA_BINARY SF

Generates TPC-H at scale factor SF (Parquet for Strata, CSV loaded into PostgreSQL's
schema strata_bench in database `test` at 127.0.0.1:5432), then times, each server on its
own storage, through psycopg 3 (text format, the default):
  A. fetching all of lineitem (rows/s through the wire protocol),
  B. TPC-H Q1 (an aggregate over lineitem),
  C. 300 small prepared queries on nation (per-statement overhead),
and federation: the same Q1 and a selective query run by `strata sql` over the
PostgreSQL table (postgres:// URL), beside PostgreSQL running them itself.
Each timing is the best of 3. Prints a Markdown table.
"""

import os
import subprocess
import sys
import tempfile
import time

import psycopg

strata, sf = sys.argv[1], sys.argv[2]
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"
work = tempfile.mkdtemp(prefix="strata-bench-")

LINEITEM = """l_orderkey bigint, l_partkey bigint, l_suppkey bigint, l_linenumber integer,
 l_quantity numeric(15,2), l_extendedprice numeric(15,2), l_discount numeric(15,2),
 l_tax numeric(15,2), l_returnflag text, l_linestatus text, l_shipdate date,
 l_commitdate date, l_receiptdate date, l_shipinstruct text, l_shipmode text, l_comment text"""
NATION = "n_nationkey integer, n_name text, n_regionkey integer, n_comment text"

Q1 = """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
 sum(l_extendedprice) AS sum_base_price,
 sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
 avg(l_quantity) AS avg_qty, count(*) AS count_order
FROM {t} WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus"""
SELECTIVE = "SELECT count(*), sum(l_quantity) FROM {t} WHERE l_orderkey < 2000 AND l_shipmode = 'MAIL'"


def best(f, n=3):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def gen(fmt):
    out = os.path.join(work, fmt)
    subprocess.run([strata, "gen", "tpch", "--sf", sf, "--format", fmt, "--out", out],
                   check=True, capture_output=True)
    return out


parquet, csv = gen("parquet"), gen("csv")
with psycopg.connect(PG, autocommit=True) as pg:
    pg.execute("DROP SCHEMA IF EXISTS strata_bench CASCADE")
    pg.execute("CREATE SCHEMA strata_bench")
    for name, cols in [("lineitem", LINEITEM), ("nation", NATION)]:
        pg.execute(f"CREATE TABLE strata_bench.{name} ({cols})")
        with pg.cursor().copy(f"COPY strata_bench.{name} FROM STDIN (FORMAT csv)") as cp:
            for f in sorted(os.listdir(os.path.join(csv, name))):
                with open(os.path.join(csv, name, f), "rb") as fh:
                    fh.readline()  # each file has its own header line
                    while chunk := fh.read(1 << 20):
                        cp.write(chunk)
        pg.execute(f"ANALYZE strata_bench.{name}")
    rows = pg.execute("SELECT count(*) FROM strata_bench.lineitem").fetchone()[0]

server = subprocess.Popen(
    [strata, "sql-server", "--listen", "127.0.0.1:0",
     "--table", f"lineitem={parquet}/lineitem", "--table", f"nation={parquet}/nation"],
    stderr=subprocess.PIPE, text=True)
line = server.stderr.readline()
port = line.split("listening on ")[1].split()[0].rsplit(":", 1)[1]
STRATA = f"host=127.0.0.1 port={port} user=bench dbname=strata"


def timings(dsn, lineitem, nation):
    with psycopg.connect(dsn, autocommit=True) as c:
        fetch = best(lambda: c.execute(f"SELECT * FROM {lineitem}").fetchall())
        q1 = best(lambda: c.execute(Q1.format(t=lineitem)).fetchall())

        def small():
            for i in range(300):
                c.execute(f"SELECT n_name FROM {nation} WHERE n_nationkey = %s", (i % 25,),
                          prepare=True).fetchall()
        per = best(small) / 300
    return fetch, q1, per


s_fetch, s_q1, s_small = timings(STRATA, "lineitem", "nation")
p_fetch, p_q1, p_small = timings(PG, "strata_bench.lineitem", "strata_bench.nation")
server.kill()

url = f"postgres://postgres@127.0.0.1:5432/test/strata_bench.lineitem"


def strata_sql(q):
    subprocess.run([strata, "--quiet", "sql", "--table", f"l={url}", q], check=True,
                   capture_output=True)


def pg_sql(q):
    with psycopg.connect(PG) as c:
        c.execute(q).fetchall()


f_q1 = best(lambda: strata_sql(Q1.format(t="l")))
f_sel = best(lambda: strata_sql(SELECTIVE.format(t="l")))
pg_q1 = best(lambda: pg_sql(Q1.format(t="strata_bench.lineitem")))
pg_sel = best(lambda: pg_sql(SELECTIVE.format(t="strata_bench.lineitem")))

print(f"TPC-H SF {sf}: lineitem {rows} rows; best of 3; ratio = Strata / PostgreSQL time\n")
print("| measurement | Strata | PostgreSQL | ratio |")
print("|---|---|---|---|")
print(f"| A. fetch all lineitem via psycopg (rows/s) | {rows / s_fetch:,.0f} | {rows / p_fetch:,.0f} | {s_fetch / p_fetch:.2f} |")
print(f"| B. TPC-H Q1 via psycopg (s) | {s_q1:.3f} | {p_q1:.3f} | {s_q1 / p_q1:.2f} |")
print(f"| C. small prepared query on nation (ms each) | {s_small * 1e3:.2f} | {p_small * 1e3:.2f} | {s_small / p_small:.2f} |")
print(f"| D. federation: Q1 over the PostgreSQL table, whole `strata sql` process (s) | {f_q1:.3f} | {pg_q1:.3f} | {f_q1 / pg_q1:.2f} |")
print(f"| E. federation: selective filter, pushed (s) | {f_sel:.3f} | {pg_sel:.3f} | {f_sel / pg_sel:.2f} |")
with psycopg.connect(PG, autocommit=True) as pg:
    pg.execute("DROP SCHEMA IF EXISTS strata_bench CASCADE")
