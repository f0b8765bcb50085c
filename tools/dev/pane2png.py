#!/usr/bin/env python3
"""Turn `tmux capture-pane -e -p` output (half-block frames) into a PNG for eyeballing.
Each cell becomes 4x8 pixels: upper half fg, lower half bg for U+2580, else bg with a text mark."""
import re, sys
from PIL import Image
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
W = max(len(re.sub(r"\x1b\[[0-9;]*m", "", l)) for l in lines); H = len(lines)
img = Image.new("RGB", (W * 4, H * 8))
px = img.load()
for r, line in enumerate(lines):
    fg, bg, c = (229, 229, 229), (0, 0, 0), 0
    for tok in re.findall(r"\x1b\[[0-9;]*m|.", line):
        if tok.startswith("\x1b["):
            p = [int(x) if x else 0 for x in tok[2:-1].split(";")]; i = 0
            while i < len(p):
                if p[i] == 0: fg, bg = (229, 229, 229), (0, 0, 0)
                elif p[i] in (38, 48) and i + 4 < len(p) + 0 and p[i + 1] == 2:
                    col = tuple(p[i + 2:i + 5]); i += 4
                    if p[i - 4] == 38: fg = col
                    else: bg = col
                elif p[i] == 39: fg = (229, 229, 229)
                elif p[i] == 49: bg = (0, 0, 0)
                i += 1
            continue
        top = fg if tok == "\u2580" else bg
        bot = bg if tok == "\u2580" else bg
        if tok not in ("\u2580", " "): top = bot = tuple((a + b) // 2 for a, b in zip(fg, bg))
        for y in range(8):
            for x in range(4):
                px[c * 4 + x, r * 8 + y] = top if y < 4 else bot
        c += 1
img.save(sys.argv[2])
