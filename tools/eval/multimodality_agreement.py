#!/usr/bin/env python3
"""int8 against fp32 on real images of several modalities, without ground truth.

Fetches the sample images bundled in two PyPI wheels (scikit-image: fundus photographs `retina`
and `microaneurysms`, microscopy `cell` and immunohistochemistry `ihc`, the Shepp-Logan CT
phantom; pydicom: `CT_small` and `MR_small`, real CT and MR slices), boxes the largest bright
structures of each (Otsu threshold, connected components), writes 2D challenge npz cases, runs
`medseg segment` with --precision int8 and fp32 and prints the per-object DSC between the two.

Run: <python with numpy and opencv> tools/eval/multimodality_agreement.py [--medseg PATH] [--work DIR]
(the peers' virtual environment of ../shared/bench/peers.sh has both).
"""
import argparse, glob, io, os, subprocess, sys, zipfile
import numpy as np, cv2

ap = argparse.ArgumentParser()
ap.add_argument("--medseg", default=os.path.join(os.path.dirname(__file__), "../../.build/release/medseg"))
ap.add_argument("--work", default="/tmp/medseg-multimodality")
ap.add_argument("--boxes", type=int, default=4)
a = ap.parse_args()
os.makedirs(a.work, exist_ok=True)

def wheel(pkg):
    d = os.path.join(a.work, "wheels")
    found = glob.glob(os.path.join(d, pkg.replace("-", "_") + "-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d, pkg], check=True)
        found = glob.glob(os.path.join(d, pkg.replace("-", "_") + "-*.whl"))
    return zipfile.ZipFile(found[0])

def decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)

def dicom_pixels(data):
    sys.path.insert(0, os.path.join(a.work, "pydicom"))
    import pydicom
    ds = pydicom.dcmread(io.BytesIO(data))
    return ds.pixel_array

sk = wheel("scikit-image")
images = {n: decode(sk.read(f"skimage/data/{f}")) for n, f in
          [("fundus_retina", "retina.jpg"), ("fundus_microaneurysms", "microaneurysms.png"),
           ("microscopy_cell", "cell.png"), ("microscopy_ihc", "ihc.png"), ("ct_phantom", "phantom.png")]}
pd = wheel("pydicom")
if not os.path.isdir(os.path.join(a.work, "pydicom")):
    pd.extractall(os.path.join(a.work, "pydicom"))
for n, f in [("ct_small", "CT_small.dcm"), ("mr_small", "MR_small.dcm")]:
    px = dicom_pixels(pd.read(f"pydicom/data/test_files/{f}")).astype(np.float64)
    images[n] = ((px - px.min()) / max(px.max() - px.min(), 1) * 255).astype(np.uint8)

cases = os.path.join(a.work, "cases")
os.makedirs(cases, exist_ok=True)
for old in glob.glob(os.path.join(cases, "*.npz")):
    os.remove(old)
for name, img in images.items():
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3:
        img = img[:, :, ::-1].copy()  # BGR -> RGB
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    order = []
    for flag in (cv2.THRESH_BINARY, cv2.THRESH_BINARY_INV):  # bright structures, else dark ones
        _, mask = cv2.threshold(gray, 0, 255, flag + cv2.THRESH_OTSU)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        order = [i for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1
                 if 0.001 * h * w <= stats[i, cv2.CC_STAT_AREA] < 0.5 * h * w][: a.boxes]
        if order:
            break
    if not order:
        print(f"{name}: no structure to box; skipped")
        continue
    boxes = []
    for i in order:
        x, y, bw, bh = stats[i, :4]
        m = max(2, int(0.05 * max(bw, bh)))
        boxes.append([max(0, x - m), max(0, y - m), min(w - 1, x + bw + m), min(h - 1, y + bh + m)])
    np.savez_compressed(os.path.join(cases, f"2DBox_{name}.npz"), imgs=img, boxes=np.array(boxes, np.int64))

for p in ["int8", "fp32"]:
    subprocess.run([a.medseg, "segment", cases, "--output-dir", os.path.join(a.work, p), "--precision", p],
                   check=True, stdout=subprocess.DEVNULL)
all_dsc = []
for f in sorted(glob.glob(os.path.join(cases, "*.npz"))):
    n = os.path.basename(f)
    s8 = np.load(os.path.join(a.work, "int8", n))["segs"]
    s32 = np.load(os.path.join(a.work, "fp32", n))["segs"]
    dsc = []
    for l in range(1, len(np.load(f)["boxes"]) + 1):
        x, y = s8 == l, s32 == l
        t = x.sum() + y.sum()
        dsc.append(1.0 if t == 0 else 2 * (x & y).sum() / t)
    all_dsc += dsc
    print(f"{n:40s} {np.load(f)['imgs'].shape!s:16s} objects {len(dsc)}  DSC int8 vs fp32: mean {np.mean(dsc):.4f} min {np.min(dsc):.4f}")
print(f"all {len(all_dsc)} objects: mean DSC {np.mean(all_dsc):.4f}, min {np.min(all_dsc):.4f}")
