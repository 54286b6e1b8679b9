"""Profile: summary statistics of the raw data; the monitoring baseline (runs beside features)."""
import sys

from common import FEATURES, read_csv, write_json

src, out = sys.argv[1], sys.argv[2]
rows = read_csv(src)
cols = {
    "tenure_months": [float(r["tenure_months"]) for r in rows],
    "monthly_charges": [float(r["monthly_charges"]) for r in rows],
    "support_calls": [float(r["support_calls"]) for r in rows],
    "contract_annual": [1.0 if r["contract"] == "annual" else 0.0 for r in rows],
    "has_internet": [float(r["has_internet"]) for r in rows],
}
profile = {"rows": len(rows), "columns": {}}
for name in FEATURES:
    xs = sorted(cols[name])
    # Decile edges (deduplicated for discrete columns) and the baseline's share per bin:
    # monitoring bins live data the same way and compares the shares (PSI).
    edges = sorted({xs[min(len(xs) - 1, int(len(xs) * q / 10))] for q in range(1, 10)})
    shares = [0.0] * (len(edges) + 1)
    for x in xs:
        shares[sum(1 for e in edges if x > e)] += 1 / len(xs)
    profile["columns"][name] = {"min": xs[0], "max": xs[-1], "mean": sum(xs) / len(xs), "edges": edges,
                                "shares": shares}
write_json(out, profile)
print(f"profiled {len(rows)} rows x {len(FEATURES)} columns into {out}")
