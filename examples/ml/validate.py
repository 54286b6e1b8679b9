"""Validate: check the raw table's schema and values before anything learns from it.

Writes a small report (row count, churn rate) so the check is an artifact in the lineage.
"""
import sys

from common import die, read_csv, write_json

SCHEMA = {
    "customer_id": str,
    "tenure_months": int,
    "monthly_charges": float,
    "support_calls": int,
    "contract": str,
    "has_internet": int,
    "churn": int,
}

path = sys.argv[1]
report = sys.argv[2] if len(sys.argv) > 2 else None
rows = read_csv(path)
if not rows:
    die(f"{path}: no rows")
missing = [c for c in SCHEMA if c not in rows[0]]
if missing:
    die(f"{path}: missing columns {missing}")
problems = []
ids = set()
for n, r in enumerate(rows, start=2):
    for col, typ in SCHEMA.items():
        try:
            typ(r[col])
        except (TypeError, ValueError):
            problems.append(f"line {n}: {col}={r[col]!r} is not {typ.__name__}")
    if r["contract"] not in ("monthly", "annual"):
        problems.append(f"line {n}: contract={r['contract']!r}")
    if r["churn"] not in ("0", "1") or r["has_internet"] not in ("0", "1"):
        problems.append(f"line {n}: churn/has_internet must be 0 or 1")
    if float(r["monthly_charges"]) <= 0 or int(r["tenure_months"]) < 0:
        problems.append(f"line {n}: negative or zero amounts")
    if r["customer_id"] in ids:
        problems.append(f"line {n}: duplicate customer_id {r['customer_id']}")
    ids.add(r["customer_id"])
if problems:
    for p in problems[:20]:
        print(p, file=sys.stderr)
    die(f"{path}: {len(problems)} problems")
rate = sum(int(r["churn"]) for r in rows) / len(rows)
if not 0.02 < rate < 0.98:
    die(f"{path}: churn rate {rate:.3f} is degenerate; refusing to train on it")
if report:
    write_json(report, {"rows": len(rows), "columns": list(SCHEMA), "churn_rate": rate, "valid": True})
print(f"{path}: {len(rows)} rows, {len(SCHEMA)} columns valid; churn rate {rate:.3f}")
