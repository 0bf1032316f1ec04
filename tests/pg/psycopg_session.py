"""A psycopg 3 session against `strata sql-server`, as an application would run one.

Usage: python psycopg_session.py HOST PORT PASSWORD DATA_CSV

Checks: connecting with the password (and refusal without it), transactions as psycopg
opens them (BEGIN/COMMIT implicit), CREATE/INSERT with server-side parameters of many
types, executemany, prepared statements, text and binary results decoded to Python
types, PostgreSQL error classes, the connection usable after an error, cancel of a long
query, and a table registered from a CSV file. Exits non-zero on the first failure.
"""

import datetime
import decimal
import sys
import threading
import time

import psycopg
from psycopg import errors

host, port, password, _csv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
dsn = f"host={host} port={port} user=app dbname=strata"


def check(what, got, want):
    if got != want:
        print(f"FAIL {what}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {what}")


# A wrong password is refused.
try:
    psycopg.connect(dsn + " password=wrong", connect_timeout=10).close()
    print("FAIL a wrong password was accepted")
    sys.exit(1)
except psycopg.OperationalError as e:
    check("wrong password refused", "password" in str(e).lower(), True)

conn = psycopg.connect(dsn + f" password={password}", connect_timeout=10)
check("server_version reported", conn.info.server_version >= 160000, True)

# Default psycopg: statements run inside an implicit transaction, committed here.
with conn.cursor() as cur:
    cur.execute(
        "CREATE TABLE orders (id BIGINT NOT NULL, customer VARCHAR, amount DECIMAL(10,2), "
        "ratio DOUBLE, placed DATE, at TIMESTAMP, paid BOOLEAN)"
    )
    cur.execute(
        "INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            1,
            "ann's shop",
            decimal.Decimal("12.50"),
            0.25,
            datetime.date(2024, 2, 29),
            datetime.datetime(2024, 3, 1, 12, 30, 5),
            True,
        ),
    )
    check("INSERT rowcount", cur.rowcount, 1)
    cur.executemany(
        "INSERT INTO orders (id, customer, amount, paid) VALUES (%s, %s, %s, %s)",
        [(2, "bob", decimal.Decimal("-3.10"), False), (3, None, None, None), (4, "x'); DROP TABLE orders; --", decimal.Decimal("7"), True)],
    )
conn.commit()

with conn.cursor() as cur:
    cur.execute("SELECT count(*) FROM orders")
    check("rows after executemany", cur.fetchone()[0], 4)
    cur.execute(
        "SELECT id, customer, amount, ratio, placed, at, paid FROM orders WHERE id = %s", (1,)
    )
    row = cur.fetchone()
    check(
        "text-format row decoded",
        row,
        (
            1,
            "ann's shop",
            decimal.Decimal("12.50"),
            0.25,
            datetime.date(2024, 2, 29),
            datetime.datetime(2024, 3, 1, 12, 30, 5),
            True,
        ),
    )
    check(
        "column names",
        [d.name for d in cur.description],
        ["id", "customer", "amount", "ratio", "placed", "at", "paid"],
    )
    cur.execute("SELECT customer FROM orders WHERE customer = %s", ("x'); DROP TABLE orders; --",))
    check("a quote in a parameter stays data", cur.fetchall(), [("x'); DROP TABLE orders; --",)])
    cur.execute("SELECT id FROM orders WHERE customer IS NULL")
    check("NULL round trip", cur.fetchall(), [(3,)])
    cur.execute("SELECT id FROM orders WHERE amount > %s ORDER BY id", (decimal.Decimal("0"),))
    check("decimal parameter", cur.fetchall(), [(1,), (4,)])
    cur.execute("SELECT id FROM orders WHERE placed = %s", (datetime.date(2024, 2, 29),))
    check("date parameter", cur.fetchall(), [(1,)])
    cur.execute("SELECT id FROM orders WHERE id = %s", ("2",))
    check("string parameter compared with a number", cur.fetchall(), [(2,)])
    cur.execute("SELECT id FROM orders WHERE id < %s ORDER BY id LIMIT %s", (10, 2))
    check("two parameters, LIMIT parameter", cur.fetchall(), [(1,), (2,)])
conn.commit()

# Binary results: every type decoded from PostgreSQL's binary format.
with conn.cursor(binary=True) as cur:
    cur.execute("SELECT id, amount, ratio, placed, at, paid, customer FROM orders WHERE id = 1")
    check(
        "binary-format row decoded",
        cur.fetchone(),
        (
            1,
            decimal.Decimal("12.50"),
            0.25,
            datetime.date(2024, 2, 29),
            datetime.datetime(2024, 3, 1, 12, 30, 5),
            True,
            "ann's shop",
        ),
    )
conn.commit()

# Prepared statements: the same statement run many times.
with conn.cursor() as cur:
    got = []
    for i in range(1, 5):
        cur.execute("SELECT count(*) FROM orders WHERE id <= %s", (i,), prepare=True)
        got.append(cur.fetchone()[0])
    check("prepared statement executed 4 times", got, [1, 2, 3, 4])
conn.commit()

# Errors arrive with PostgreSQL's SQLSTATE classes; the connection goes on.
conn.autocommit = True
for sql, cls in [
    ("SELEC 1", errors.SyntaxError),
    ("SELECT * FROM no_such_table", errors.UndefinedTable),
    ("SELECT no_such_column FROM orders", errors.UndefinedColumn),
    ("SELECT 1 / 0", errors.DivisionByZero),
]:
    try:
        conn.execute(sql)
        print(f"FAIL {sql!r} did not fail")
        sys.exit(1)
    except cls as e:
        check(f"{sql!r} -> {cls.__name__} ({e.sqlstate})", True, True)
check("connection usable after errors", conn.execute("SELECT 41 + 1").fetchone()[0], 42)

# An empty result still says what its columns are.
cur = conn.execute("SELECT id, customer FROM orders WHERE id > 100")
check("empty result", (cur.fetchall(), [d.name for d in cur.description]), ([], ["id", "customer"]))

# A table registered from CSV, joined with a created one.
cur = conn.execute(
    "SELECT p.name, count(o.id) FROM people p LEFT JOIN orders o ON o.id = p.id "
    "GROUP BY p.name ORDER BY p.name"
)
check("CSV table joined with a created one", cur.fetchall(), [("ann", 1), ("bob", 1), ("cyd", 0)])

# ROLLBACK cannot undo a committed statement: it ends the transaction and says so.
conn.autocommit = False
conn.execute("INSERT INTO orders (id) VALUES (99)")
try:
    conn.rollback()
    print("FAIL rollback of a change did not report")
    sys.exit(1)
except psycopg.Error as e:
    check("ROLLBACK after a change reports that it stayed", "autocommit" in str(e), True)
conn.rollback()
check("a second ROLLBACK ends the transaction", conn.info.transaction_status, psycopg.pq.TransactionStatus.IDLE)
conn.autocommit = True
check("the change stayed", conn.execute("SELECT count(*) FROM orders WHERE id = 99").fetchone()[0], 1)

# Cancel: a long query stops with QueryCanceled soon after conn.cancel().
long_query = "SELECT count(*) FROM big a, big b WHERE a.x + b.x = -1"
conn.execute("CREATE TABLE big AS SELECT x FROM (VALUES (1)) AS v(x)")
for _ in range(12):
    conn.execute("INSERT INTO big SELECT x + (SELECT max(x) FROM big) FROM big")
n = conn.execute("SELECT count(*) FROM big").fetchone()[0]
check("big has 4096 rows", n, 4096)
for _ in range(4):
    conn.execute("INSERT INTO big SELECT x + (SELECT max(x) FROM big) FROM big")
timer = threading.Timer(1.0, conn.cancel)
timer.start()
start = time.time()
try:
    conn.execute(long_query)
    print("FAIL the long query was not cancelled")
    sys.exit(1)
except errors.QueryCanceled:
    check("long query cancelled", True, True)
timer.cancel()
check("connection usable after cancel", conn.execute("SELECT 7").fetchone()[0], 7)
conn.close()
print("psycopg session: all checks passed")
