"""Deploy: publish the model and its scaler to deploy/.

The decision to deploy is the pipeline's `when:` gate (accuracy bar, not worse than
production); --min-accuracy is a last line of defence when the script is run by hand."""
import argparse
import os
import shutil

from common import die, read_json, write_json

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("scaler")
p.add_argument("deploy_dir")
p.add_argument("--min-accuracy", type=float, default=0.0)
a = p.parse_args()

model = read_json(a.model)
acc = model["metrics"]["accuracy"]
if acc < a.min_accuracy:
    die(f"model accuracy {acc:.3f} is below the bar {a.min_accuracy:.3f}; not deploying")
os.makedirs(a.deploy_dir, exist_ok=True)
run_id = os.environ.get("PIPELINE_RUN_ID", "manual")
shutil.copyfile(a.model, os.path.join(a.deploy_dir, "model.json.tmp"))
os.replace(os.path.join(a.deploy_dir, "model.json.tmp"), os.path.join(a.deploy_dir, "model.json"))
shutil.copyfile(a.scaler, os.path.join(a.deploy_dir, "scaler.json"))
write_json(os.path.join(a.deploy_dir, "release.json"), {"run_id": run_id, "accuracy": acc})
print(f"deployed model (accuracy {acc:.3f}) from run {run_id} to {a.deploy_dir}/model.json")
