"""Features: turn raw rows into standardized model inputs; keep the scaler for serving."""
import sys

from common import FEATURES, read_csv, write_csv, write_json

src, out, scaler_out = sys.argv[1], sys.argv[2], sys.argv[3]
rows = read_csv(src)
table = []
for r in rows:
    table.append({
        "tenure_months": float(r["tenure_months"]),
        "monthly_charges": float(r["monthly_charges"]),
        "support_calls": float(r["support_calls"]),
        "contract_annual": 1.0 if r["contract"] == "annual" else 0.0,
        "has_internet": float(r["has_internet"]),
        "churn": int(r["churn"]),
    })
scaler = {}
for f in FEATURES:
    xs = [t[f] for t in table]
    mean = sum(xs) / len(xs)
    std = (sum((x - mean) ** 2 for x in xs) / len(xs)) ** 0.5 or 1.0
    scaler[f] = {"mean": mean, "std": std}
    for t in table:
        t[f] = round((t[f] - mean) / std, 6)
write_csv(out, table, FEATURES + ["churn"])
write_json(scaler_out, scaler)
print(f"wrote {len(table)} feature rows ({len(FEATURES)} features) to {out}")
