#!/usr/bin/env python3
"""Makes a challenge-format 3D case from the installed demo (Colin27 MR + AAL atlas).

Run: python3 tools/eval/make_demo_case.py OUT.npz [--regions N]
Writes imgs (D,H,W) uint8, gts (labels 1..N: the N largest AAL regions), boxes (N,6) as
[x0, y0, z0, x1, y1, z1] (each region's bounding box, inclusive) and spacing. Needs numpy only:
the two NIfTI files are read by hand (uint8, no scaling, as the Debian package ships them).
"""
import argparse, gzip, os, struct
import numpy as np

def read_nifti(path):
    raw = gzip.open(path).read()
    dims = struct.unpack("<8h", raw[40:56])
    dtype = struct.unpack("<h", raw[70:72])[0]
    offset = int(struct.unpack("<f", raw[108:112])[0])
    pixdim = struct.unpack("<8f", raw[76:108])
    nx, ny, nz = dims[1:4]
    np_type = {2: np.uint8, 4: np.int16, 512: np.uint16}[dtype]
    data = np.frombuffer(raw, dtype=np_type, count=nx * ny * nz, offset=offset).reshape(nz, ny, nx)
    return data, (pixdim[3], pixdim[2], pixdim[1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--regions", type=int, default=6)
    a = ap.parse_args()
    home = os.environ.get("MEDSEG_HOME") or os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "medseg")
    img, spacing = read_nifti(os.path.join(home, "demo", "ch2.nii.gz"))
    aal, _ = read_nifti(os.path.join(home, "demo", "aal.nii.gz"))
    labels, counts = np.unique(aal[aal > 0], return_counts=True)
    chosen = labels[np.argsort(-counts)[: a.regions]]
    gts = np.zeros(aal.shape, np.uint8)
    boxes = []
    for i, l in enumerate(chosen, start=1):
        m = aal == l
        gts[m] = i
        z, y, x = np.nonzero(m)
        boxes.append([x.min(), y.min(), z.min(), x.max(), y.max(), z.max()])
    np.savez_compressed(a.out, imgs=img.astype(np.uint8), gts=gts, boxes=np.array(boxes, np.int64),
                        spacing=np.array(spacing, np.float64))
    print(f"{a.out}: imgs {img.shape}, AAL regions {list(map(int, chosen))} as labels 1..{len(chosen)}")

if __name__ == "__main__":
    main()
