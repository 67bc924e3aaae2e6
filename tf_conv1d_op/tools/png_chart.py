"""A grouped horizontal bar chart as PNG bytes, from NumPy and zlib alone.

The benchmark's only picture; not worth a plotting dependency. Text uses a
built-in 5x7 pixel font (upper case, digits, a little punctuation).
"""
import struct
import zlib

import numpy as np

# 5x7 glyphs: seven rows of five bits each, most significant bit leftmost.
_FONT = {
    "A": (14, 17, 17, 31, 17, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14), "D": (30, 17, 17, 17, 17, 17, 30),
    "E": (31, 16, 16, 30, 16, 16, 31), "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14), "J": (7, 2, 2, 2, 2, 18, 12),
    "K": (17, 18, 20, 24, 20, 18, 17), "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14), "P": (30, 17, 17, 30, 16, 16, 16),
    "Q": (14, 17, 17, 17, 21, 18, 13), "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14), "V": (17, 17, 17, 17, 17, 10, 4),
    "W": (17, 17, 17, 21, 21, 21, 10), "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 10, 4, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31),
    "0": (14, 17, 19, 21, 25, 17, 14), "1": (4, 12, 4, 4, 4, 4, 14),
    "2": (14, 17, 1, 2, 4, 8, 31), "3": (30, 1, 1, 14, 1, 1, 30),
    "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14), "7": (31, 1, 2, 4, 8, 8, 8),
    "8": (14, 17, 17, 14, 17, 17, 14), "9": (14, 17, 17, 15, 1, 2, 12),
    ".": (0, 0, 0, 0, 0, 12, 12), "-": (0, 0, 0, 31, 0, 0, 0),
    "_": (0, 0, 0, 0, 0, 0, 31), "(": (2, 4, 8, 8, 8, 4, 2),
    ")": (8, 4, 2, 2, 2, 4, 8), ":": (0, 12, 12, 0, 12, 12, 0),
    "/": (1, 1, 2, 4, 8, 16, 16), "%": (24, 25, 2, 4, 8, 19, 3),
    " ": (0,) * 7,
}
SCALE = 2  # font pixels per glyph pixel
CHAR_W, CHAR_H = 6 * SCALE, 7 * SCALE


def _text(canvas, x, y, text, color=(0, 0, 0)):
    """Draws text with its top-left corner at (x, y); unknown characters as blanks."""
    for ch in text.upper():
        rows = _FONT.get(ch, _FONT[" "])
        for r, bits in enumerate(rows):
            for c in range(5):
                if bits >> (4 - c) & 1:
                    y0, x0 = y + r * SCALE, x + c * SCALE
                    canvas[y0:y0 + SCALE, x0:x0 + SCALE] = color
        x += CHAR_W


def _rect(canvas, x0, y0, x1, y1, color):
    canvas[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = color


def encode_png(rgb):
    """PNG bytes of an (height, width, 3) uint8 array."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))  # filter 0 per row

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def horizontal_bar_chart(title, labels, series, reference=None):
    """PNG bytes: one group of bars per label, one bar per (name, values, rgb) series.

    Values are drawn from 0; a dashed vertical line marks `reference`.
    """
    bar_h, gap = 16, 14
    label_w = CHAR_W * (max(len(l) for l in labels) + 1) + 10
    plot_w, value_w = 520, CHAR_W * 7
    top = 3 * CHAR_H + 20
    group_h = bar_h * len(series) + gap
    width = label_w + plot_w + value_w + 20
    height = top + group_h * len(labels) + 2 * CHAR_H + 10
    canvas = np.full((height, width, 3), 255, np.uint8)
    values = [v for _, vals, _ in series for v in vals] + [reference or 0.0]
    vmax = max(max(values), 1e-9) * 1.05
    scale = plot_w / vmax

    _text(canvas, 10, 8, title)
    x = 10
    for name, _, color in series:  # legend
        _rect(canvas, x, 14 + CHAR_H, x + CHAR_H, 14 + 2 * CHAR_H, color)
        _text(canvas, x + CHAR_H + 6, 14 + CHAR_H, name)
        x += CHAR_H + 6 + CHAR_W * (len(name) + 2)
    for g, label in enumerate(labels):
        y = top + g * group_h
        _text(canvas, 10, y + (bar_h * len(series) - CHAR_H) // 2, label)
        for s, (_, vals, color) in enumerate(series):
            y0 = y + s * bar_h
            _rect(canvas, label_w, y0 + 1, label_w + int(vals[g] * scale), y0 + bar_h - 1,
                  color)
            _text(canvas, label_w + int(vals[g] * scale) + 4, y0 + 1, f"{vals[g]:.2f}X")
    bottom = top + group_h * len(labels)
    _rect(canvas, label_w - 1, top - 4, label_w, bottom, (0, 0, 0))  # axis
    if reference is not None:
        xr = label_w + int(reference * scale)
        for y in range(top - 4, bottom, 6):
            _rect(canvas, xr, y, xr + 1, y + 3, (200, 0, 0))
        _text(canvas, xr - CHAR_W * 2, bottom + 6, f"{reference:.1f}X", (200, 0, 0))
    return encode_png(canvas)
