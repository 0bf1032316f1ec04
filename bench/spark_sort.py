"""PySpark peer for `strata run sort`: 100-byte records sorted by their 10-byte key, local[2] or $SPARK_MASTER.
Usage: spark_sort.py INPUT_DIR OUT_DIR PARTITIONS"""
import os, sys, time
from pyspark.sql import SparkSession

spark = (SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]")).appName("sort")
         .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
sc = spark.sparkContext
sc.setLogLevel("ERROR")
t = time.time()
records = sc.binaryRecords(sys.argv[1], 100)
(records.map(lambda r: (bytes(r[:10]), bytes(r)))
   .sortByKey(True, int(sys.argv[3]))
   .values()
   .saveAsPickleFile(sys.argv[2]))
print(f"spark sort: {time.time() - t:.2f}s")
spark.stop()
