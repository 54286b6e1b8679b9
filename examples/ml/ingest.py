"""Ingest: produce the raw customer table.

Simulates pulling a day's customer snapshot from a source system: a seeded synthetic
population whose churn follows a logistic model of tenure, price, support calls, contract
and internet service. With --simulate-outage the source "fails" on the first attempt, so
the orchestrator's retry is visible (attempt number comes from $PIPELINE_ATTEMPT).
"""
import argparse
import math
import os
import random

from common import write_csv

p = argparse.ArgumentParser()
p.add_argument("--rows", type=int, required=True)
p.add_argument("--seed", type=int, default=7)
p.add_argument("--out", required=True)
p.add_argument("--drift", type=float, default=0.0, help="shift the population (for monitoring)")
p.add_argument("--simulate-outage", default="false")
a = p.parse_args()

attempt = int(os.environ.get("PIPELINE_ATTEMPT", "1"))
if a.simulate_outage == "true" and attempt == 1:
    print("source system unavailable (simulated outage on attempt 1); the orchestrator will retry")
    raise SystemExit(75)  # EX_TEMPFAIL

if a.rows < 10:
    raise SystemExit(f"--rows must be at least 10, got {a.rows}")

rng = random.Random(a.seed)
rows = []
for i in range(a.rows):
    tenure = max(0, int(rng.expovariate(1 / 24)))
    charges = round(max(15.0, rng.gauss(65 + 10 * a.drift, 20)), 2)
    calls = min(10, int(rng.expovariate(1 / (1.5 + a.drift))))
    annual = 1 if rng.random() < 0.4 else 0
    internet = 1 if rng.random() < 0.7 else 0
    z = -1.2 - 0.05 * tenure + 0.03 * (charges - 65) + 0.45 * calls - 1.3 * annual + 0.4 * internet
    churn = 1 if rng.random() < 1 / (1 + math.exp(-z)) else 0
    rows.append({"customer_id": f"C{a.seed:03d}{i:06d}", "tenure_months": tenure, "monthly_charges": charges,
                 "support_calls": calls, "contract": "annual" if annual else "monthly",
                 "has_internet": internet, "churn": churn})

write_csv(a.out, rows, list(rows[0].keys()))
print(f"ingested {len(rows)} customers into {a.out} (churn rate {sum(r['churn'] for r in rows) / len(rows):.3f})")
