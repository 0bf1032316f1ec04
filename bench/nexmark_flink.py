"""Nexmark on Apache Flink (PyFlink, Flink SQL in streaming mode) over the JSON-lines event
files `strata gen nexmark` writes: the queries of Nexmark's Flink SQL (nexmark-flink's
queries/*.sql) over views that give the flat events the standard person/auction/bid tables,
a blackhole sink, checkpoints every 10 s. Prints `query,events,seconds` per query.

usage: python nexmark_flink.py [--out DIR] INPUT_DIR EVENTS PARALLELISM q0 q1 ...
With --out, results go to CSV files under DIR/qN instead of a blackhole (to compare answers).
"""
import sys
import time

from pyflink.table import EnvironmentSettings, TableEnvironment

SOURCE = """
CREATE TABLE events (
  `type` STRING, id BIGINT, name STRING, emailAddress STRING, creditCard STRING,
  city STRING, state STRING, itemName STRING, description STRING, initialBid BIGINT,
  reserve BIGINT, expires STRING, seller BIGINT, category BIGINT, auction BIGINT,
  bidder BIGINT, price BIGINT, channel STRING, url STRING, extra STRING, `dateTime` STRING,
  ts AS TO_TIMESTAMP(`dateTime`, 'yyyy-MM-dd HH:mm:ss.SSS'),
  WATERMARK FOR ts AS ts - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')
"""
VIEWS = [
    "CREATE VIEW person AS SELECT id, name, emailAddress, creditCard, city, state, ts AS `dateTime`, extra FROM events WHERE `type` = 'person'",
    "CREATE VIEW auction AS SELECT id, itemName, description, initialBid, reserve, ts AS `dateTime`, TO_TIMESTAMP(expires, 'yyyy-MM-dd HH:mm:ss.SSS') AS expires, seller, category, extra FROM events WHERE `type` = 'auction'",
    "CREATE VIEW bid AS SELECT auction, bidder, price, channel, url, ts AS `dateTime`, extra FROM events WHERE `type` = 'bid'",
]

QUERIES = {
    "q0": "SELECT auction, bidder, price, `dateTime`, extra FROM bid",
    "q1": "SELECT auction, bidder, 0.908 * price AS price, `dateTime`, extra FROM bid",
    "q2": "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
    "q3": """SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P
             ON A.seller = P.id WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')""",
    "q4": """SELECT Q.category, AVG(Q.final) FROM (
               SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
               WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
               GROUP BY A.id, A.category) Q GROUP BY Q.category""",
    "q5": """SELECT AuctionBids.auction, AuctionBids.num FROM (
               SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
               FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
               GROUP BY auction, window_start, window_end) AS AuctionBids
             JOIN (
               SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM (
                 SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
                 FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
                 GROUP BY auction, window_start, window_end) AS CountBids
               GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
             ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
                AND AuctionBids.num >= MaxBids.maxn""",
    "q7": """SELECT B.auction, B.price, B.bidder, B.`dateTime`, B.extra FROM bid B
             JOIN (SELECT MAX(price) AS maxprice, window_end AS `dateTime`
                   FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
                   GROUP BY window_start, window_end) B1
             ON B.price = B1.maxprice
             WHERE B.`dateTime` BETWEEN B1.`dateTime` - INTERVAL '10' SECOND AND B1.`dateTime`""",
    "q8": """SELECT P.id, P.name, P.starttime FROM (
               SELECT id, name, window_start AS starttime, window_end AS endtime
               FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
               GROUP BY id, name, window_start, window_end) P
             JOIN (
               SELECT seller, window_start AS starttime, window_end AS endtime
               FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
               GROUP BY seller, window_start, window_end) A
             ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime""",
    "q11": """SELECT B.bidder, count(*) AS bid_count,
                SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) AS starttime,
                SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) AS endtime
              FROM bid B GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND)""",
}


def run(path, parallelism, q, out=None):
    t = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    c = t.get_config()
    c.set("parallelism.default", str(parallelism))
    c.set("execution.checkpointing.interval", "10s")
    c.set("table.exec.source.idle-timeout", "5s")
    t.execute_sql(SOURCE.format(path=path))
    for v in VIEWS:
        t.execute_sql(v)
    sink_cols = t.sql_query(QUERIES[q]).get_schema()
    cols = ", ".join(
        f"`{n}` {ty}" for n, ty in zip(sink_cols.get_field_names(), [str(d) for d in sink_cols.get_field_data_types()])
    )
    if out:
        t.execute_sql(
            f"CREATE TABLE sink ({cols}) WITH ('connector' = 'filesystem', 'path' = '{out}/{q}', "
            "'format' = 'csv')"
        )
    else:
        t.execute_sql(f"CREATE TABLE sink ({cols}) WITH ('connector' = 'blackhole')")
    start = time.time()
    t.execute_sql(f"INSERT INTO sink {QUERIES[q]}").wait()
    return time.time() - start


if __name__ == "__main__":
    args = sys.argv[1:]
    out = None
    if args[0] == "--out":
        out, args = args[1], args[2:]
    path, events, parallelism = args[0], int(args[1]), int(args[2])
    for q in args[3:]:
        secs = run(path, parallelism, q, out)
        print(f"{q},{events},{secs:.2f}", flush=True)
