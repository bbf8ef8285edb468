#!/usr/bin/env python3
"""Writes the fuzz seed corpus: tiny valid images (PNG variants, BMP, TGA; JPEG seeds come from
stb_image_write, see docs/fuzzing.md), tiny safetensors files and tiny MATLAB v5 models (VDSR's
struct of cells, SRCNN's arrays; plain and zlib-compressed) into tests/fuzz/corpus/."""
import json
import struct
import zlib
from pathlib import Path

IMG = Path("corpus/image")
ST = Path("corpus/safetensors")
MAT = Path("corpus/mat")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, depth, color, rows, extra=b"", interlace=0):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write(path, data):
    path.write_bytes(data)


def images():
    IMG.mkdir(parents=True, exist_ok=True)
    write(IMG / "grey8.png", png(3, 2, 8, 0, [bytes([0, 128, 255]), bytes([10, 20, 30])]))
    write(IMG / "rgb8.png", png(2, 2, 8, 2, [bytes(range(6)), bytes(range(6, 12))]))
    write(IMG / "rgba16.png", png(1, 2, 16, 6, [bytes(range(8)), bytes(range(8, 16))]))
    write(IMG / "greyalpha8.png", png(2, 1, 8, 4, [bytes([1, 2, 3, 4])]))
    write(IMG / "grey1.png", png(9, 1, 1, 0, [bytes([0xA5, 0x80])]))
    write(IMG / "palette_trns.png",
          png(2, 2, 4, 3, [bytes([0x01]), bytes([0x10])],
              extra=chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0])) + chunk(b"tRNS", bytes([0, 255]))))
    write(IMG / "grey_trns16.png",
          png(2, 1, 16, 0, [bytes([0, 1, 0, 2])], extra=chunk(b"tRNS", bytes([0, 1]))))
    # Adam7-interlaced 3x3 grey: each pass's sub-image filtered and compressed in turn.
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    w = h = 3
    raw = b""
    for x0, y0, dx, dy in passes:
        xs = range(x0, w, dx)
        ys = range(y0, h, dy)
        if not xs or not ys:
            continue
        for y in ys:
            raw += b"\x00" + bytes((x * 40 + y * 7) & 255 for x in xs)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)
    write(IMG / "interlaced.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
          chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

    # BMP: 2x2 24-bit (rows padded to 4 bytes, bottom-up) and 32-bit with a BITFIELDS V4 header.
    pix24 = bytes([0, 0, 255, 0, 255, 0, 0, 0]) + bytes([255, 0, 0, 9, 9, 9, 0, 0])
    hdr = struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(pix24), 2835, 2835, 0, 0)
    write(IMG / "rgb24.bmp", b"BM" + struct.pack("<IHHI", 14 + 40 + len(pix24), 0, 0, 54) + hdr + pix24)
    pix32 = bytes(range(16))
    v4 = struct.pack("<IiiHHIIiiII", 108, 2, -2, 1, 32, 3, len(pix32), 0, 0, 0, 0)
    v4 += struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000) + b"BGRs" + bytes(36 + 12)
    write(IMG / "rgba32_v4.bmp", b"BM" + struct.pack("<IHHI", 14 + 108 + len(pix32), 0, 0, 122) + v4 + pix32)
    # 8-bit palette BMP 2x1.
    pal = bytes([0, 0, 0, 0, 255, 255, 255, 0])
    pix8 = bytes([0, 1, 0, 0])
    hdr8 = struct.pack("<IiiHHIIiiII", 40, 2, 1, 1, 8, 0, 4, 0, 0, 2, 0)
    write(IMG / "pal8.bmp", b"BM" + struct.pack("<IHHI", 14 + 40 + 8 + 4, 0, 0, 62) + hdr8 + pal + pix8)

    # TGA: uncompressed RGB 2x2, RLE RGBA 2x1, colour-mapped 2x1, grey 2x1.
    def tga(kind, w, h, bpp, data, cmap=b"", cmap_bits=0, desc=0):
        ncol = len(cmap) // ((cmap_bits + 7) // 8) if cmap else 0
        return struct.pack("<BBBHHBHHHHBB", 0, 1 if cmap else 0, kind, 0, ncol, cmap_bits, 0, 0,
                           w, h, bpp, desc) + cmap + data
    write(IMG / "rgb.tga", tga(2, 2, 2, 24, bytes(range(12))))
    write(IMG / "rle_rgba.tga", tga(10, 2, 1, 32, bytes([0x81, 1, 2, 3, 4]), desc=8))
    write(IMG / "cmap.tga", tga(1, 2, 1, 8, bytes([0, 1]), cmap=bytes([0, 0, 255, 0, 255, 0]), cmap_bits=24))
    write(IMG / "grey.tga", tga(3, 2, 1, 8, bytes([7, 200])))


def safetensors(tensors, metadata=None):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def st_files():
    ST.mkdir(parents=True, exist_ok=True)
    # A depth-2, 1-channel VDSR with biases (our names) and without (PyTorch names).
    w = f32(*[0.1 * i for i in range(9)])
    write(ST / "vdsr_d2_c1.safetensors", safetensors(
        [("layers.0.weight", "F32", [1, 1, 3, 3], w), ("layers.0.bias", "F32", [1], f32(0.5)),
         ("layers.1.weight", "F32", [1, 1, 3, 3], w), ("layers.1.bias", "F32", [1], f32(-0.5))],
        {"arch": "vdsr", "depth": "2", "channels": "1", "bias": "true"}))
    write(ST / "torch_d3_c1.safetensors", safetensors(
        [("input.weight", "F32", [1, 1, 3, 3], w), ("residual_layer.0.conv.weight", "F32", [1, 1, 3, 3], w),
         ("output.weight", "F32", [1, 1, 3, 3], w)]))
    write(ST / "checkpoint.safetensors", safetensors(
        [("layers.0.weight", "F32", [1, 1, 3, 3], w), ("layers.1.weight", "F32", [1, 1, 3, 3], w),
         ("optim.momentum.layers.0.weight", "F32", [1, 1, 3, 3], w), ("state.step", "I64", [], struct.pack("<q", 7)),
         ("state.rng", "U8", [4], bytes([1, 2, 3, 4])), ("state.empty", "F16", [0], b"")],
        {"kind": "checkpoint", "depth": "2"}))
    write(ST / "mixed_dtypes.safetensors", safetensors(
        [("a", "F64", [1], struct.pack("<d", 1.5)), ("b", "BF16", [2], bytes(4)), ("c", "BOOL", [1, 1], b"\x01"),
         ("d", "I32", [1], bytes(4)), ("e", "I16", [1], bytes(2)), ("f", "I8", [1], bytes(1))], {}))


# MATLAB v5 (little-endian): a 128-byte header, then data elements, each an 8-byte tag (type, bytes)
# and its bytes padded to 8; a variable is a miMATRIX (14) element, or a miCOMPRESSED (15) one
# holding the zlib of a whole miMATRIX element.
MI_INT8, MI_INT32, MI_UINT32, MI_SINGLE, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 5, 6, 7, 9, 14, 15
MX_CELL, MX_STRUCT, MX_DOUBLE, MX_SINGLE = 1, 2, 6, 7


def element(kind, data):
    return struct.pack("<II", kind, len(data)) + data + bytes((8 - len(data) % 8) % 8)


def matrix(name, cls, dims, body):
    head = element(MI_UINT32, struct.pack("<II", cls, 0)) + element(MI_INT32, struct.pack("<%di" % len(dims), *dims))
    return element(MI_MATRIX, head + element(MI_INT8, name.encode()) + body)


def numeric(name, dims, values, single=False):
    n = 1
    for d in dims:
        n *= d
    assert len(values) == n
    if single:
        return matrix(name, MX_SINGLE, dims, element(MI_SINGLE, struct.pack("<%df" % n, *values)))
    return matrix(name, MX_DOUBLE, dims, element(MI_DOUBLE, struct.pack("<%dd" % n, *values)))


def cell(name, items):
    return matrix(name, MX_CELL, [1, len(items)], b"".join(items))


def struct_var(name, fields):
    width = 32
    names = b"".join(f.encode().ljust(width, b"\0") for f, _ in fields)
    # The field name length is a small data element (type and size in one 4-byte tag), as MATLAB writes it.
    body = struct.pack("<HHi", MI_INT32, 4, width) + element(MI_INT8, names) + b"".join(v for _, v in fields)
    return matrix(name, MX_STRUCT, [1, 1], body)


def mat_file(variables, compress=False):
    header = b"MATLAB 5.0 MAT-file, vdsr fuzz seed".ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0100) + b"IM"
    if compress:
        variables = [struct.pack("<II", MI_COMPRESSED, len(z)) + z for z in (zlib.compress(v) for v in variables)]
    return header + b"".join(variables)


def mat_files():
    MAT.mkdir(parents=True, exist_ok=True)
    # VDSR, depth 2, 1 channel: weight {[3,3] (the 1s squeezed), [3,3]}, bias {[1,1], [1,1]}.
    w = [0.1 * i - 0.4 for i in range(9)]
    for single in (False, True):
        for compress in (False, True):
            model = struct_var("model", [
                ("weight", cell("", [numeric("", [3, 3], w, single), numeric("", [3, 3], w[::-1], single)])),
                ("bias", cell("", [numeric("", [1, 1], [0.5], single), numeric("", [1, 1], [-0.5], single)]))])
            name = "vdsr_d2_%s%s.mat" % ("single" if single else "double", "_z" if compress else "")
            write(MAT / name, mat_file([model], compress))
    # SRCNN 3-1-3 with n1 = 2, n2 = 1: weights_conv2 2-D [n1, n2] as the 1x1 releases store it.
    srcnn = [numeric("weights_conv1", [9, 2], [0.01 * i for i in range(18)]),
             numeric("biases_conv1", [2, 1], [0.1, -0.1]),
             numeric("weights_conv2", [2, 1], [0.5, 0.25]),
             numeric("biases_conv2", [1, 1], [0.0]),
             numeric("weights_conv3", [1, 9], [0.1] * 9),
             numeric("biases_conv3", [1, 1], [0.05])]
    write(MAT / "srcnn_313_x3.mat", mat_file(srcnn))
    write(MAT / "srcnn_313_x3_z.mat", mat_file(srcnn, compress=True))


if __name__ == "__main__":
    import os
    os.chdir(Path(__file__).resolve().parent)
    images()
    st_files()
    mat_files()
