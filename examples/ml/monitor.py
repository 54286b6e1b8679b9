"""Monitor: score a fresh batch with the deployed model and measure drift (PSI) against
the training profile. PSI > 0.2 on a feature is the usual "investigate" threshold."""
import argparse
import math
import os

from common import FEATURES, read_csv, read_json, report_metrics, write_json

p = argparse.ArgumentParser()
p.add_argument("live")
p.add_argument("profile")
p.add_argument("deploy_dir")
p.add_argument("out")
a = p.parse_args()

live = read_csv(a.live)
profile = read_json(a.profile)
if not os.path.exists(a.deploy_dir + "/model.json"):
    write_json(a.out, {"rows": len(live), "deployed": False})
    print(f"no model deployed in {a.deploy_dir}/ yet; nothing to monitor")
    raise SystemExit(0)
model = read_json(a.deploy_dir + "/model.json")
scaler = read_json(a.deploy_dir + "/scaler.json")


def value(r, f):
    if f == "contract_annual":
        return 1.0 if r["contract"] == "annual" else 0.0
    return float(r[f])


def psi(column, xs):
    # Population stability index over the baseline's bins: sum (a - e) * ln(a / e).
    edges, expected = column["edges"], column["shares"]
    counts = [0] * len(expected)
    for x in xs:
        counts[sum(1 for e in edges if x > e)] += 1
    total = 0.0
    for c, e in zip(counts, expected):
        a_, e_ = max(c / len(xs), 1e-4), max(e, 1e-4)
        total += (a_ - e_) * math.log(a_ / e_)
    return total


drift = {f: round(psi(profile["columns"][f], [value(r, f) for r in live]), 4) for f in FEATURES}
scores = []
correct = 0
for r in live:
    z = model["bias"] + sum(model["weights"][f] * (value(r, f) - scaler[f]["mean"]) / scaler[f]["std"]
                            for f in FEATURES)
    pr = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
    scores.append(pr)
    correct += (pr >= 0.5) == (r["churn"] == "1")
report = {"rows": len(live), "live_accuracy": correct / len(live), "mean_score": sum(scores) / len(scores),
          "psi": drift, "max_psi": max(drift.values()), "drifted": [f for f, v in drift.items() if v > 0.2]}
write_json(a.out, report)
report_metrics({"live_accuracy": report["live_accuracy"], "max_psi": report["max_psi"]})
print(f"live accuracy {report['live_accuracy']:.3f}, max PSI {report['max_psi']:.3f}"
      + (f"; drift in {', '.join(report['drifted'])}" if report["drifted"] else "; no drift"))
