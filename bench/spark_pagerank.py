"""PySpark peer for `strata run pagerank`: the classic RDD PageRank (links cached, joined with
ranks each iteration; dangling mass not redistributed, as in Spark's example).
Usage: spark_pagerank.py EDGES_DIR OUT_DIR ITERATIONS PARTITIONS (master: $SPARK_MASTER or local[2])"""
import os, sys, time
from pyspark.sql import SparkSession

spark = (SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]")).appName("pagerank")
         .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
sc = spark.sparkContext
sc.setLogLevel("ERROR")
t = time.time()
parts = int(sys.argv[4])
edges = (sc.textFile(sys.argv[1])
           .filter(lambda l: l and not l.startswith("#"))
           .map(lambda l: tuple(int(x) for x in l.split()[:2])))
links = edges.distinct(parts).groupByKey(parts).cache()
ranks = links.mapValues(lambda _: 1.0)
for _ in range(int(sys.argv[3])):
    contribs = links.join(ranks).flatMap(
        lambda kv: [(d, kv[1][1] / len(kv[1][0])) for d in kv[1][0]])
    ranks = contribs.reduceByKey(lambda a, b: a + b, parts).mapValues(lambda r: 0.15 + 0.85 * r)
ranks.map(lambda kv: f"{kv[0]}\t{kv[1]}").saveAsTextFile(sys.argv[2])
print(f"spark pagerank: {time.time() - t:.2f}s")
spark.stop()
