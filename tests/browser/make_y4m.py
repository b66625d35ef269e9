#!/usr/bin/env python3
"""Writes the fake camera feeds for chromium's --use-file-for-fake-video-capture (YUV4MPEG2, 4:2:0).

    make_y4m.py face  PHOTO OUT.y4m [--png FRAME.png]   a photo, cropped to 4:3 around the face, as a camera sees it
    make_y4m.py dim   PHOTO OUT.y4m [--png FRAME.png]   the same face in a dark room (an eighth of the light)
    make_y4m.py black OUT.y4m                           a covered camera: every pixel black

640x480, 30 fps, 10 frames (chromium loops the file). The face frames differ by a pixel of drift, so
that the stream is not one frozen picture. Needs Pillow.
"""
import argparse
import sys

from PIL import Image

W, H, FRAMES = 640, 480, 10
# The head of data/test-fixtures/faces/fr_obama2.jpg (626x1200), leaving out the second person at the
# right edge; other photos: the top half. The crop is centred on a 4:3 frame, the sides a plain wall.
CROPS = {"fr_obama2.jpg": ((20, 100, 548, 720), 350)}  # (box, x of the face's centre in it)
WALL = (92, 96, 110)


def yuv420(img):
    """JPEG-range (full swing) Y, Cb, Cr planes; chroma averaged over 2x2 blocks (C420jpeg siting)."""
    y, cb, cr = img.convert("YCbCr").split()
    half = (W // 2, H // 2)
    return y.tobytes(), cb.resize(half, Image.BOX).tobytes(), cr.resize(half, Image.BOX).tobytes()


def write(out, frames):
    with open(out, "wb") as f:
        f.write(b"YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n" % (W, H))
        for planes in frames:
            f.write(b"FRAME\n")
            for p in planes:
                f.write(p)


def face_frames(photo):
    src = Image.open(photo).convert("RGB")
    name = photo.rsplit("/", 1)[-1]
    w, h = src.size
    box, centre = CROPS.get(name, ((0, 0, w, min(h, w)), w // 2))
    head = src.crop(box)
    # a 4:3 canvas around the crop, with a margin, then scaled to the frame (plus a little for the drift)
    ch = int(max(head.height, head.width * 3 / 4) * 1.05)
    cw = ch * 4 // 3
    canvas = Image.new("RGB", (cw, ch), WALL)
    canvas.paste(head, (cw // 2 - centre, ch - head.height))  # the face in the middle, like the SDK's oval asks
    base = canvas.resize((W + 8, H + 6), Image.LANCZOS)
    frames = []
    for i in range(FRAMES):
        dx, dy = (i % 5) - 2 + 4, (i % 3) - 1 + 3  # a pixel or two of drift, like a hand-held phone
        frames.append(base.crop((dx, dy, dx + W, dy + H)))
    return frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["face", "dim", "black"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--png", help="also save the first frame, decoded back from the y4m planes, as PNG")
    a = ap.parse_args()
    if a.kind in ("face", "dim"):
        if len(a.args) != 2:
            sys.exit(f"usage: make_y4m.py {a.kind} PHOTO OUT.y4m")
        photo, out = a.args
        images = face_frames(photo)
        if a.kind == "dim":
            images = [im.point(lambda v: v // 8) for im in images]
    else:
        if len(a.args) != 1:
            sys.exit("usage: make_y4m.py black OUT.y4m")
        (out,) = a.args
        images = [Image.new("RGB", (W, H), (0, 0, 0))] * FRAMES
    frames = [yuv420(im) for im in images]
    write(out, frames)
    if a.png:
        png_from_y4m(out, a.png)
    print(f"wrote {out}: {len(frames)} frames {W}x{H}")


def png_from_y4m(path, png):
    """Reads the first frame back from the file (a check that the planes are where a player expects)."""
    with open(path, "rb") as f:
        header = f.readline()
        assert header.startswith(b"YUV4MPEG2 "), header
        assert f.readline() == b"FRAME\n"
        y = Image.frombytes("L", (W, H), f.read(W * H))
        u = Image.frombytes("L", (W // 2, H // 2), f.read(W * H // 4)).resize((W, H))
        v = Image.frombytes("L", (W // 2, H // 2), f.read(W * H // 4)).resize((W, H))
    Image.merge("YCbCr", (y, u, v)).convert("RGB").save(png)


if __name__ == "__main__":
    main()
