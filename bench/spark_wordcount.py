"""PySpark peer for `strata run wordcount`: same word definition (maximal runs of Unicode
alphanumerics, lowercased), local[2] or $SPARK_MASTER. Usage: spark_wordcount.py INPUT_DIR OUT_DIR"""
import os, re, sys, time
from pyspark.sql import SparkSession

spark = (SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]")).appName("wc")
         .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
sc = spark.sparkContext
sc.setLogLevel("ERROR")
word = re.compile(r"[^\W_]+")
t = time.time()
(sc.textFile(sys.argv[1])
   .flatMap(lambda line: [w.lower() for w in word.findall(line)])
   .map(lambda w: (w, 1))
   .reduceByKey(lambda a, b: a + b)
   .map(lambda kv: f"{kv[0]}\t{kv[1]}")
   .saveAsTextFile(sys.argv[2]))
print(f"spark wordcount: {time.time() - t:.2f}s")
spark.stop()
