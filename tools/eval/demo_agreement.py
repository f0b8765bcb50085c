#!/usr/bin/env python3
"""Low-precision masks against fp32 masks on the demo 3D case, each slice boxed on its own.

Makes the demo case (tools/eval/make_demo_case.py: the Colin27 MR, its six largest AAL regions),
runs `medseg segment --3d per-slice` with --precision fp32 and each precision of --precisions
(default int8), and prints per object the 3D DSC between that precision's masks and fp32's, and
the mean DSC over the object-slices either mask covers. Each slice uses the object's own box, so
a difference on one slice does not move the boxes of the next (as propagation would), which makes
this a steadier measure of the engines' agreement than 2D cases with a few boxes.

Run: <python with numpy> tools/eval/demo_agreement.py [--medseg PATH] [--work DIR] [--precisions int8,bf16]
"""
import argparse, os, subprocess, sys
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--medseg", default=os.path.join(here, "../../.build/release/medseg"))
ap.add_argument("--work", default="/tmp/medseg-demo-agreement")
ap.add_argument("--precisions", default="int8", help="comma-separated, each compared with fp32")
a = ap.parse_args()
os.makedirs(a.work, exist_ok=True)
case = os.path.join(a.work, "3DBox_MR_demo.npz")
if not os.path.exists(case):
    subprocess.run([sys.executable, os.path.join(here, "make_demo_case.py"), case], check=True)

def segs(precision):
    out = os.path.join(a.work, precision)
    subprocess.run([a.medseg, "segment", case, "--output-dir", out, "--precision", precision, "--3d", "per-slice"],
                   check=True, stdout=subprocess.DEVNULL)
    return np.load(os.path.join(out, os.path.basename(case)))["segs"]

def dice(x, y):
    t = x.sum() + y.sum()
    return 1.0 if t == 0 else 2 * (x & y).sum() / t

ref = segs("fp32")
labels = range(1, len(np.load(case)["boxes"]) + 1)
for p in a.precisions.split(","):
    s = segs(p)
    per_object = [dice(s == l, ref == l) for l in labels]
    per_slice = [dice(s[z] == l, ref[z] == l) for l in labels for z in range(ref.shape[0])
                 if (s[z] == l).any() or (ref[z] == l).any()]
    print(f"{p} vs fp32, per object (3D DSC): " + " ".join(f"{d:.4f}" for d in per_object)
          + f"  mean {np.mean(per_object):.4f}")
    print(f"{p} vs fp32, {len(per_slice)} object-slices: mean DSC {np.mean(per_slice):.4f}, min {np.min(per_slice):.4f}")
