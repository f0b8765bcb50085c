#!/usr/bin/env python3
"""Makes the two synthetic challenge cases behind the memory and many-box figures of issue 5.

Run: python3 tools/eval/make_bench_cases.py OUT_DIR
Writes OUT_DIR/3DBox_CT_big.npz: imgs (300, 512, 512) uint8, a body-like ellipse with six
ellipsoidal "organs" and noise, boxes (6, 6) [x0, y0, z0, x1, y1, z1] around the organs, spacing;
and OUT_DIR/2DBox_Microscope_many.npz: imgs (1024, 1024, 3) uint8 with 250 round "cells",
boxes (250, 4) [x0, y0, x1, y1], each cell's box widened by 2 px. Seeded, so the same files come
out every time. Their content is simple on purpose: they measure time and memory at the sizes the
issue names (`medseg segment` against `../shared/bench/peers_case.sh`), not accuracy. Needs numpy.
"""
import argparse, os
import numpy as np

def ct_volume(rng):
    d, h, w = 300, 512, 512
    z, y, x = np.ogrid[:d, :h, :w]
    body = ((y - 256) / 200.0) ** 2 + ((x - 256) / 230.0) ** 2 < 1
    img = np.zeros((d, h, w), np.uint8)
    img[:] = np.where(body, 90, 0).astype(np.uint8)
    boxes = []
    for i in range(6):
        cz, cy, cx = rng.integers(60, 240), rng.integers(150, 360), rng.integers(150, 360)
        rz, ry, rx = rng.integers(20, 50), rng.integers(20, 50), rng.integers(20, 50)
        img[((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1] = 130 + 20 * i
        boxes.append([cx - rx, cy - ry, cz - rz, cx + rx, cy + ry, cz + rz])
    noisy = img.astype(np.int16) + rng.integers(-8, 8, img.shape, dtype=np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8), np.array(boxes, np.int64)

def cell_image(rng, cells=250):
    h = w = 1024
    yy, xx = np.ogrid[:h, :w]
    img = np.full((h, w, 3), 30, np.uint8)
    boxes = []
    for _ in range(cells):
        cy, cx, r = rng.integers(20, h - 20), rng.integers(20, w - 20), rng.integers(6, 16)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = [200, 120, 160]
        boxes.append([cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2])
    return img, np.array(boxes, np.int64)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    img, boxes = ct_volume(rng)
    np.savez_compressed(os.path.join(a.out_dir, "3DBox_CT_big.npz"), imgs=img, boxes=boxes,
                        spacing=np.array([1.0, 0.8, 0.8]))
    img, boxes = cell_image(rng)
    np.savez_compressed(os.path.join(a.out_dir, "2DBox_Microscope_many.npz"), imgs=img, boxes=boxes)
    print(f"wrote {a.out_dir}/3DBox_CT_big.npz and {a.out_dir}/2DBox_Microscope_many.npz")

if __name__ == "__main__":
    main()
