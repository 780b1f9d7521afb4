#!/usr/bin/python3
"""Makes the committed fixtures of tests/data (tests/fixtures/data/), offline.

The C++ data pipeline (data/) must reproduce torchvision 0.14 + Pillow 9.4 bit for bit on
PNG/BMP/JPEG input. Only they can say what the right tensors are, so this script, run once with
Debian's python3-pil / python3-torchvision, writes:
  img/*            small synthetic test images in many layouts (RGB, gray, palette with
                   transparency, RGBA, LA, 1-bit, 4-bit and 16-bit PNGs, an interlaced PNG,
                   BMPs of 1/8/24/32 bits, JPEGs 4:2:0 / 4:2:2 / 4:4:4 / gray / progressive,
                   down to 1 pixel wide);
  expect/*.rgb.png what PIL's Image.open(f).convert("RGB") decodes (stored losslessly as PNG);
  expect/*.f32.z   torchvision's Resize(32)/CenterCrop(32)/ToTensor/Normalize(CIFAR) tensor,
                   3x32x32 little-endian float32, zlib-compressed;
  expect/*.in.png  the uint8 image after Resize(256)/CenterCrop(224) (the ImageNet geometry;
                   a float tensor would be 600 kB each: ToTensor/Normalize are checked apart,
                   exhaustively, by normalize_table.f32);
  expect/resize_*  PIL Image.resize((w, h), BILINEAR) of an image to odd sizes (down, up, one
                   axis unchanged, mixed, 1x1);
  normalize_table.f32  [preset cifar|imagenet][channel][value 0..255] of ToTensor+Normalize;
  cifar_py/*       CIFAR python batches in the real format: a Python 2 cPickle-style file
                   assembled opcode by opcode (as the official cifar-10-batches-py files are,
                   with its batches.meta), and Python 3 pickles of protocols 2, 4 and 5 (CIFAR-10
                   and CIFAR-100 layouts). Pixels and labels follow formulas the tests recompute.
  manifest.txt     one line per check: what to load, how, and what to compare with.
Everything is generated from fixed seeds; nothing comes from ../shared/assets. Total < 1 MB.
Run from the repository root:  /usr/bin/python3 scripts/make_data_fixtures.py
"""
import os
import pickle
import shutil
import struct
import zlib

import warnings

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.datasets.folder import pil_loader

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "data")
CIFAR = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
rng = np.random.default_rng(20220717)
manifest = []


def path(*p):
    full = os.path.join(OUT, *p)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


# ---------------------------------------------------------------- test images
def natural(w, h, noise=12):
    """Gradients, a few shapes and some noise: detail at all scales, compresses acceptably."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / (3 + w / 15)) * np.cos(y / (4 + h / 11))
    g = 255 * x / max(w - 1, 1)
    b = 255 * ((x // 7 + y // 5) % 2)
    img = np.stack([r, g, b], -1)
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def noise(w, h, c=3):
    shape = (h, w) if c == 1 else (h, w, c)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def png_bytes(w, h, depth, ctype, rows, interlace=False, extra=()):
    """A minimal PNG writer for layouts PIL cannot save (4-bit gray, 16-bit RGB, Adam7, ...).
    extra: (type, data) chunks placed before IDAT (PLTE, tRNS)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(chunk(t, d) for t, d in extra)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def pack_bits(values, depth):
    """Packs small ints MSB first, depth bits each, into bytes (one PNG row)."""
    out, acc, n = bytearray(), 0, 0
    for v in values:
        acc = acc << depth | int(v)
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def adam7_rows(a):
    """Row bytes of the 7 Adam7 passes of an 8-bit RGB array, in file order."""
    rows = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        sub = a[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            rows += [sub[j].tobytes() for j in range(sub.shape[0])]
    return rows


def make_images():
    imgs = {}  # name -> (file, kind) with kind "exact" or "jpeg"

    def save(name, im, **kw):
        f = "img/" + name
        im.save(path(f), **kw)
        imgs[name] = f

    save("rgb_50x37.png", Image.fromarray(noise(50, 37)))
    save("rgb_32x32.png", Image.fromarray(natural(32, 32)))
    save("rgb_300x41.png", Image.fromarray(natural(300, 41)))
    save("tall_24x70.png", Image.fromarray(natural(24, 70)))
    save("large_640x480.png", Image.fromarray(natural(640, 480, noise=0)))
    save("gray_64x48.png", Image.fromarray(natural(64, 48)[..., 1]))
    pal = Image.fromarray(natural(40, 30)).quantize(colors=60)
    pal.info["transparency"] = 3
    save("palette_trns_40x30.png", pal, transparency=3)
    rgba = np.concatenate([natural(33, 47), noise(33, 47, 1)[..., None]], -1)
    save("rgba_33x47.png", Image.fromarray(rgba, "RGBA"))
    la = np.stack([natural(20, 20)[..., 0], noise(20, 20, 1)], -1)
    save("la_20x20.png", Image.fromarray(la, "LA"))
    save("bit1_29x13.png", Image.fromarray(noise(29, 13, 1) > 127))
    g16 = (rng.integers(0, 65536, (19, 31))).astype(np.uint16)
    g16[:5] = rng.integers(0, 300, (5, 31))  # values on both sides of PIL's clip at 255
    save("gray16_31x19.png", Image.fromarray(g16, "I;16"))
    # Layouts PIL cannot write: 4-bit gray, 16-bit RGB, interlaced RGB.
    g4 = noise(23, 17, 1) >> 4
    rows = [bytes((int(r[2 * i]) << 4) | (int(r[2 * i + 1]) if 2 * i + 1 < len(r) else 0) for i in range((len(r) + 1) // 2)) for r in g4]
    with open(path("img/gray4_23x17.png"), "wb") as f:
        f.write(png_bytes(23, 17, 4, 0, rows))
    imgs["gray4_23x17.png"] = "img/gray4_23x17.png"
    c16 = rng.integers(0, 65536, (15, 21, 3)).astype(">u2")
    with open(path("img/rgb16_21x15.png"), "wb") as f:
        f.write(png_bytes(21, 15, 16, 2, [r.tobytes() for r in c16]))
    imgs["rgb16_21x15.png"] = "img/rgb16_21x15.png"
    def write(name, data):
        with open(path("img/" + name), "wb") as f:
            f.write(data)
        imgs[name] = "img/" + name
    # 2-bit gray; 4-bit palette with a partial tRNS; 16-bit gray+alpha; 16-bit gray with tRNS.
    write("gray2_13x11.png", png_bytes(13, 11, 2, 0, [pack_bits(r, 2) for r in noise(13, 11, 1) >> 6]))
    pal = noise(16, 1, 3).tobytes()
    write("palette4_15x9.png", png_bytes(15, 9, 4, 3, [pack_bits(r, 4) for r in noise(15, 9, 1) >> 4],
                                         extra=((b"PLTE", pal), (b"tRNS", bytes([0, 128, 255, 7])))))
    la16 = rng.integers(0, 65536, (10, 14, 2)).astype(">u2")
    write("la16_14x10.png", png_bytes(14, 10, 16, 4, [r.tobytes() for r in la16]))
    g16t = rng.integers(0, 400, (8, 12)).astype(">u2")
    write("gray16_trns_12x8.png", png_bytes(12, 8, 16, 0, [r.tobytes() for r in g16t],
                                            extra=((b"tRNS", struct.pack(">H", int(g16t[0, 0]))),)))
    ia = natural(27, 19)
    with open(path("img/interlaced_27x19.png"), "wb") as f:
        f.write(png_bytes(27, 19, 8, 2, adam7_rows(ia), interlace=True))
    imgs["interlaced_27x19.png"] = "img/interlaced_27x19.png"

    save("rgb_45x31.bmp", Image.fromarray(natural(45, 31)))
    save("palette_37x29.bmp", Image.fromarray(natural(37, 29)).quantize(colors=200))
    save("gray_26x22.bmp", Image.fromarray(natural(26, 22)[..., 2]))
    save("bit1_33x9.bmp", Image.fromarray(noise(33, 9, 1) > 100))
    save("rgba_19x21.bmp", Image.fromarray(np.concatenate([natural(19, 21), noise(19, 21, 1)[..., None]], -1), "RGBA"))

    jpegs = {
        "jpeg420_96x72.jpg": (Image.fromarray(natural(96, 72, noise=10)), dict(quality=90)),
        "jpeg444_61x47.jpg": (Image.fromarray(natural(61, 47, noise=10)), dict(quality=95, subsampling=0)),
        "jpeg422_80x60.jpg": (Image.fromarray(natural(80, 60, noise=10)), dict(quality=85, subsampling=1)),
        "jpeg_gray_50x50.jpg": (Image.fromarray(natural(50, 50, noise=10)[..., 0]), dict(quality=90)),
        "jpeg_prog_120x90.jpg": (Image.fromarray(natural(120, 90, noise=10)), dict(quality=75, progressive=True)),
        "jpeg420_400x300.jpg": (Image.fromarray(natural(400, 300, noise=0)), dict(quality=80)),
    }
    # Tiny ones: libjpeg replaces fancy upsampling by replication when the chroma is <= 2 wide.
    for w, h, sub in ((4, 6, 2), (5, 7, 2), (3, 5, 1), (2, 2, 1), (1, 9, 2), (9, 1, 2), (6, 3, 1)):
        jpegs[f"jpeg{('444', '422', '420')[sub]}_{w}x{h}.jpg"] = (Image.fromarray(noise(w, h)), dict(quality=90, subsampling=sub))
    for name, (im, kw) in jpegs.items():
        save(name, im, **kw)
    # CMYK JPEGs: PIL writes Adobe-inverted CMYK with an APP14 marker (transform 0) and reads any
    # 4-component JPEG as inverted CMYK, then converts with Convert.c's cmyk2rgb. Own generator,
    # so the fixtures above stay byte-identical.
    crng = np.random.default_rng(4)
    for w, h, sub in ((23, 17, 0), (40, 30, 2)):
        base = natural(w, h, noise=0).astype(np.int64)
        k = crng.integers(0, 120, (h, w, 1))
        cmyk = np.clip(np.concatenate([255 - base, k], -1) + crng.integers(-8, 9, (h, w, 4)), 0, 255)
        save(f"jpeg_cmyk{('444', '422', '420')[sub]}_{w}x{h}.jpg",
             Image.fromarray(cmyk.astype(np.uint8), "CMYK"), quality=92, subsampling=sub)
    return imgs


# ---------------------------------------------------------------- expectations
def write_z(fname, t):
    """float32 little-endian, zlib-compressed (the values come from 768 distinct floats)."""
    with open(fname, "wb") as f:
        f.write(zlib.compress(np.ascontiguousarray(t, "<f4").tobytes(), 9))


def tv_tensor(f, resize, crop, mean_std):
    tf = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(*mean_std)])
    return tf(pil_loader(f)).numpy()


def tv_geometry(f, resize, crop):
    return T.Compose([T.Resize(resize), T.CenterCrop(crop)])(pil_loader(f))


def make_expectations(imgs):
    for name, f in sorted(imgs.items()):
        kind = "jpeg" if name.endswith(".jpg") else "exact"
        src = path(f)
        im = Image.open(src)
        # An 8-bit RGB PNG decodes to its own pixels (checked through the tensors below); a
        # large JPEG's decode would cost 250 kB: the other layouts get a decode check.
        if name not in ("rgb_50x37.png", "rgb_32x32.png", "rgb_300x41.png", "tall_24x70.png",
                        "large_640x480.png", "jpeg420_400x300.jpg"):
            e = "expect/" + name + ".rgb.png"
            rgb = im.convert("RGB")
            rgb.info.pop("transparency", None)  # kept from mode I, and unsavable as an int
            rgb.save(path(e))
            manifest.append(f"decode {f} {e} {kind}")
        t = tv_tensor(src, 32, 32, CIFAR)
        assert t.shape == (3, 32, 32) and t.dtype == np.float32
        e = "expect/" + name + ".f32.z"
        write_z(path(e), t)
        manifest.append(f"cifar {f} {e} {kind}")
    # ImageNet geometry on two: a large downscale, and a long thin image (upscaled by 6).
    for name in ("large_640x480.png", "rgb_300x41.png"):
        kind = "jpeg" if name.endswith(".jpg") else "exact"
        im = tv_geometry(path(imgs[name]), 256, 224)
        assert im.size == (224, 224)
        e = "expect/" + name + ".in.png"
        im.save(path(e))
        manifest.append(f"imagenet {imgs[name]} {e} {kind}")
    # Raw resizes of one RGB image: both axes down, one axis unchanged (PIL skips that pass),
    # up, mixed up/down, degenerate sizes.
    src = Image.open(path(imgs["rgb_50x37.png"])).convert("RGB")
    for w, h in ((17, 23), (50, 20), (20, 37), (80, 60), (51, 36), (49, 90), (1, 1), (7, 100), (3, 37)):
        e = f"expect/resize_{w}x{h}.png"
        src.resize((w, h), Image.BILINEAR).save(path(e))
        manifest.append(f"resize img/rgb_50x37.png {w} {h} {e}")
    big = Image.open(path(imgs["large_640x480.png"])).convert("RGB")
    for w, h in ((33, 29), (640, 31), (100, 480)):
        e = f"expect/resize_large_{w}x{h}.png"
        big.resize((w, h), Image.BILINEAR).save(path(e))
        manifest.append(f"resize img/large_640x480.png {w} {h} {e}")
    # ToTensor + Normalize of every value, per channel, per preset.
    table = np.zeros((2, 3, 256), np.float32)
    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, 2))
    for p, ms in enumerate((CIFAR, IMAGENET)):
        table[p] = T.Compose([T.ToTensor(), T.Normalize(*ms)])(ramp).numpy()[:, 0, :]
    table.astype("<f4").tofile(path("normalize_table.f32"))


# ---------------------------------------------------------------- CIFAR python batches
N_PY = 6


def cifar_pixels(n):
    """data[i][j] = (i*31 + j*7 + 50*(j // 1024)) % 256, as uint8 (N, 3072): tests recompute it."""
    i = np.arange(n)[:, None]
    j = np.arange(3072)[None, :]
    return ((i * 31 + j * 7 + 50 * (j // 1024)) % 256).astype(np.uint8)


def labels10(n):
    return [(3 * i + 1) % 10 for i in range(n)]


def labels100(n):
    return [(7 * i + 3) % 100 for i in range(n)]


class Py2Pickler:
    """Writes the opcodes Python 2's cPickle (protocol 2) emits for the official CIFAR batches."""

    def __init__(self):
        self.b = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.memo += 1
        self.b += b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)

    def str_(self, s):  # a Python 2 str: SHORT_BINSTRING / BINSTRING
        s = s if isinstance(s, bytes) else s.encode()
        self.b += (b"U" + bytes([len(s)]) if len(s) < 256 else b"T" + struct.pack("<i", len(s))) + s
        self.put()

    def int_(self, v):
        if 0 <= v < 256:
            self.b += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.b += b"M" + struct.pack("<H", v)
        else:
            self.b += b"J" + struct.pack("<i", v)

    def global_(self, mod, name):
        self.b += b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
        self.put()

    def ndarray_u8(self, a):
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.global_("numpy", "ndarray")
        self.int_(0)
        self.b += b"\x85"
        self.put()
        self.str_("b")
        self.b += b"\x87R"
        self.put()
        self.b += b"("
        self.int_(1)
        for d in a.shape:
            self.int_(d)
        self.b += b"\x86"
        self.put()
        self.global_("numpy", "dtype")
        self.str_("u1")
        self.int_(0)
        self.int_(1)
        self.b += b"\x87R"
        self.put()
        self.b += b"("
        self.int_(3)
        self.str_("|")
        self.b += b"NNN"
        self.int_(-1)
        self.int_(-1)
        self.int_(0)
        self.b += b"tb\x89"
        self.put()
        self.str_(a.tobytes())
        self.b += b"tb"

    def list_(self, items):
        self.b += b"]"
        self.put()
        self.b += b"("
        for x in items:
            self.int_(x) if isinstance(x, int) else self.str_(x)
        self.b += b"e"

    def dict_(self, entries):  # entries: (key, writer) pairs
        self.b += b"}"
        self.put()
        self.b += b"("
        for k, write in entries:
            self.str_(k)
            write()
        self.b += b"u."
        return bytes(self.b)


def make_cifar_python():
    data = cifar_pixels(N_PY)
    names10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    # 1. Python 2 style (the official cifar-10-batches-py layout), with batches.meta.
    p = Py2Pickler()
    blob = p.dict_([
        ("batch_label", lambda: p.str_("testing batch 1 of 1")),
        ("labels", lambda: p.list_(labels10(N_PY))),
        ("data", lambda: p.ndarray_u8(data)),
        ("filenames", lambda: p.list_([f"img_{i}.png" for i in range(N_PY)])),
    ])
    with open(path("cifar_py/py2/test_batch"), "wb") as f:
        f.write(blob)
    p = Py2Pickler()
    meta = p.dict_([("num_cases_per_batch", lambda: p.int_(10000)),
                    ("label_names", lambda: p.list_(names10)),
                    ("num_vis", lambda: p.int_(3072))])
    with open(path("cifar_py/py2/batches.meta"), "wb") as f:
        f.write(meta)
    # What torchvision's loader gets from it must be what the tests expect.
    with open(path("cifar_py/py2/test_batch"), "rb") as f:
        d = pickle.load(f, encoding="bytes")
    assert (d[b"data"] == data).all() and d[b"labels"] == labels10(N_PY)
    with open(path("cifar_py/py2/batches.meta"), "rb") as f:
        assert pickle.load(f, encoding="latin1")["label_names"] == names10
    # 2. Python 3 pickles: bytes keys under protocol 2 (bytes become _codecs.encode calls),
    #    str keys under 4, and protocol 5 (numpy's _frombuffer with an in-band bytearray).
    d10 = {b"batch_label": b"testing batch 1 of 1", b"labels": labels10(N_PY), b"data": data}
    with open(path("cifar_py/p2/data_batch_1"), "wb") as f:
        pickle.dump(d10, f, protocol=2)
    d100 = {"filenames": [f"x{i}.png" for i in range(N_PY)], "batch_label": "testing batch 1 of 1",
            "fine_labels": labels100(N_PY), "coarse_labels": [v // 5 for v in labels100(N_PY)], "data": data}
    with open(path("cifar_py/p4/test"), "wb") as f:
        pickle.dump(d100, f, protocol=4)
    with open(path("cifar_py/p5/test_batch"), "wb") as f:
        pickle.dump({"labels": labels10(N_PY), "data": data}, f, protocol=5)
    # Expected tensors of two images, through the CIFAR10 dataset's own conversion.
    for i in (1, 4):
        im = Image.fromarray(data[i].reshape(3, 32, 32).transpose(1, 2, 0))
        t = T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor(), T.Normalize(*CIFAR)])(im).numpy()
        write_z(path(f"cifar_py/expect_{i}.f32.z"), t)


def main():
    warnings.filterwarnings("ignore", "Palette images with Transparency")  # PIL on palette4_15x9
    print("Pillow", PIL.__version__, "torchvision", torchvision.__version__, "torch", torch.__version__)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    imgs = make_images()
    make_expectations(imgs)
    make_cifar_python()
    with open(path("manifest.txt"), "w") as f:
        f.write("# Generated by scripts/make_data_fixtures.py (Pillow %s, torchvision %s). Lines:\n"
                "#   decode <image> <expected RGB png> <exact|jpeg>\n"
                "#   cifar <image> <expected 3x32x32 f32, zlib> <exact|jpeg>\n"
                "#   imagenet <image> <expected 224x224 RGB png after Resize(256)/CenterCrop(224)> <exact|jpeg>\n"
                "#   resize <image> <w> <h> <expected png>\n" % (PIL.__version__, torchvision.__version__))
        f.write("\n".join(manifest) + "\n")
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"{len(manifest)} checks, {total} bytes in {OUT}")
    assert total < 1_000_000, "fixtures must stay under 1 MB"


if __name__ == "__main__":
    main()
