"""TPC-H with Spark SQL (PySpark from PyPI), beside bench/sql_cluster.sh.

    python bench/spark_tpch.py [MASTER] [RUNS]     MASTER: local-cluster[3,1,2048] (default),
                                                   local[2], ...

Reads the Parquet of `strata gen tpch` from $TPCH (default /tmp/tpch-sf1), registers each
table as a view, and runs Strata's query texts (crates/strata-sql/tests/tpch/queries);
prints the fastest of RUNS per query, in a session already started (Spark's start-up is
not counted; Strata's runs are whole processes). Answers go to $OUT/spark-qN.csv.
"""
import os
import sys
import time

from pyspark.sql import SparkSession

master = sys.argv[1] if len(sys.argv) > 1 else "local-cluster[3,1,2048]"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
tpch = os.environ.get("TPCH", "/tmp/tpch-sf1")
out = os.environ.get("OUT", "/tmp/strata-spark-bench")
here = os.path.dirname(os.path.abspath(__file__))
queries = os.path.join(here, "..", "crates", "strata-sql", "tests", "tpch", "queries")
os.makedirs(out, exist_ok=True)

spark = (
    SparkSession.builder.master(master)
    .appName("tpch")
    .config("spark.driver.memory", "2g")
    .config("spark.executor.memory", "2g")
    .config("spark.sql.shuffle.partitions", "6")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
for t in sorted(os.listdir(tpch)):
    spark.read.parquet(os.path.join(tpch, t)).createOrReplaceTempView(t)
print(f"{'query':5} {'spark':>9}")
for q in range(1, 23):
    sql = open(os.path.join(queries, f"q{q}.sql")).read().strip().rstrip(";")
    best = float("inf")
    for _ in range(runs):
        start = time.time()
        rows = spark.sql(sql).collect()
        best = min(best, time.time() - start)
    with open(os.path.join(out, f"spark-q{q}.csv"), "w") as f:
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")
    print(f"q{q:<4} {best:9.3f}", flush=True)
spark.stop()
