"""Bismarck in Strata SQL beside scikit-learn, on the same data in one run.

    python -m venv v && v/bin/pip install scikit-learn
    v/bin/python bench/bismarck.py target/release/strata [ROWS]

1. The UCI digits (data/digits, scikit-learn's own copy): "is the digit below 5?" from 64
   pixels, trained on the rows with id % 5 != 0, scored on the others. Strata:
   `train_logistic` in one `strata sql` process (whole process timed) and
   `predict_logistic` on the held-out rows; scikit-learn: LogisticRegression (lbfgs, C=1,
   the default) and SGDClassifier(loss="log_loss") on the same split.
2. A synthetic set of ROWS rows (default 1,000,000) x 20 features drawn from a known
   logistic model, as Parquet: training time and held-out accuracy, Strata with 1 and 2
   threads beside both scikit-learn estimators.
"""

import gzip
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression, SGDClassifier

STRATA = os.path.abspath(sys.argv[1])
ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
HERE = os.path.dirname(os.path.abspath(__file__))


def strata(args, query):
    t = time.perf_counter()
    out = subprocess.run(
        [STRATA, *args[:2], "sql", *args[2:], "--format", "csv", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out, time.perf_counter() - t


def scores(y, p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    acc = float(np.mean((p > 0.5) == (y == 1)))
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return acc, loss


def row(name, fit_s, y, p):
    acc, loss = scores(y, p)
    print(f"| {name} | {fit_s:.3f} | {acc:.4f} | {loss:.4f} |")


def run(table_args, feats, train_where, test_where, label, y_test, sk_train, sk_test, threads):
    cols = ", ".join(feats)
    train = f"SELECT train_logistic({label}, {cols}) FROM t WHERE {train_where}"
    print("| system | training (s) | held-out accuracy | held-out log loss |")
    print("|---|---|---|---|")
    for t in threads:
        out, secs = strata(["--threads", str(t), *table_args], train)
        model = out.splitlines()[1]
        predict = (
            f"SELECT predict_logistic(({train}), {cols}) AS p FROM t WHERE {test_where}"
        )
        out, _ = strata(["--threads", str(t), *table_args], predict)
        p = np.array([float(v) for v in out.splitlines()[1:]])
        row(f"Strata train_logistic, {t} thread(s), whole process", secs, y_test, p)
        assert '"logistic_regression"' in model
    x, y = sk_train
    for name, est in [
        ("scikit-learn LogisticRegression (lbfgs)", LogisticRegression(max_iter=2000)),
        ("scikit-learn SGDClassifier (log_loss)", SGDClassifier(loss="log_loss", random_state=7)),
    ]:
        t = time.perf_counter()
        est.fit(x, y)
        secs = time.perf_counter() - t
        row(name, secs, y_test, est.predict_proba(sk_test)[:, 1])


def digits(tmp):
    rows = [
        [int(v) for v in line.split(",")]
        for line in gzip.open(os.path.join(HERE, "..", "data", "digits", "digits.csv.gz"), "rt")
    ]
    path = os.path.join(tmp, "digits.csv")
    with open(path, "w") as f:
        f.write("id," + ",".join(f"p{j}" for j in range(64)) + ",digit\n")
        for i, r in enumerate(rows):
            f.write(f"{i}," + ",".join(map(str, r)) + "\n")
    a = np.array(rows, dtype=float)
    ids = np.arange(len(rows))
    tr, te = ids % 5 != 0, ids % 5 == 0
    x, y = a[:, :64], (a[:, 64] < 5).astype(float)
    print(f"\n## digits ({tr.sum()} training rows, {te.sum()} held out)\n")
    run(
        ["--table", f"t={path}"],
        [f"p{j}" for j in range(64)],
        "id % 5 <> 0",
        "id % 5 = 0",
        "digit < 5",
        y[te],
        (x[tr], y[tr]),
        x[te],
        [1, 2],
    )


def synthetic(tmp):
    rng = np.random.default_rng(11)
    d = 20
    w = rng.normal(size=d)
    x = rng.normal(size=(ROWS, d)) * rng.uniform(0.5, 20, size=d)
    z = (x / x.std(axis=0)) @ w - 0.3
    y = (rng.uniform(size=ROWS) < 1 / (1 + np.exp(-z))).astype(np.int64)
    ids = np.arange(ROWS)
    cols = {"id": ids, "y": y}
    cols.update({f"x{j}": x[:, j] for j in range(d)})
    path = os.path.join(tmp, "synthetic")
    os.makedirs(path)
    table = pa.table(cols)
    for k in range(4):
        part = table.slice(k * ROWS // 4, ROWS // 4)
        pq.write_table(part, os.path.join(path, f"part-{k}.parquet"))
    tr, te = ids % 10 != 0, ids % 10 == 0
    print(f"\n## synthetic ({tr.sum()} training rows x {d} features, {te.sum()} held out)\n")
    run(
        ["--table", f"t={path}"],
        [f"x{j}" for j in range(d)],
        "id % 10 <> 0",
        "id % 10 = 0",
        "y",
        y[te].astype(float),
        (x[tr], y[tr]),
        x[te],
        [1, 2],
    )


with tempfile.TemporaryDirectory() as tmp:
    digits(tmp)
    synthetic(tmp)
