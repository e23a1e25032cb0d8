"""Open and read a large movie in each TIFF flavour (and .raw, NDTiff) through open_movie.

For each flavour a movie of ``--size-gb`` is written (256x256 uint16 frames of camera-like
noise), then measured in this process:

- open time: ``open_movie(path)`` until the Movie is ready;
- read throughput: every frame read in chunks of ``--chunk`` frames, MB/s, against a plain
  ``numpy.fromfile`` of the same number of bytes from the same file, in the same chunk
  sizes, run right after it (the baseline; both read from the page cache once the file
  has just been written, so the ratio compares the readers, not the disk);
- peak memory: the largest Python/numpy allocation (tracemalloc) while opening and while
  reading, and the process RSS growth (a second open and read: tracemalloc would slow
  the timed pass).

The files are deleted afterwards. Usage::

    python benchmarks/bench_readers.py --size-gb 2 --folder /tmp
"""

import argparse
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import tifffile

from napari_picasso.io.movies import open_movie
from napari_picasso.io.raw import write_raw_info

HEIGHT = WIDTH = 256
MM_FRAME_TAG = 51123


def _noise(n_frames, seed):
    rng = np.random.default_rng(seed)
    return rng.poisson(110, (n_frames, HEIGHT, WIDTH)).astype(np.uint16)


def _chunks(n_frames, per_write=512):
    block = _noise(per_write, 0)
    for start in range(0, n_frames, per_write):
        stop = min(n_frames, start + per_write)
        frames = block[: stop - start].copy()
        frames[:, 0, 0] = np.arange(start, stop) % 65536
        yield frames


def write_flavour(flavour, folder, n_frames):
    """Write the movie; return the path to open and the file(s) it occupies."""
    if flavour == "raw":
        path = folder / "movie.raw"
        with open(path, "wb") as f:
            for frames in _chunks(n_frames):
                frames.astype("<u2").tofile(f)
        write_raw_info(path, WIDTH, HEIGHT, n_frames, "uint16", "<")
        return path
    if flavour == "ndtiff":
        import contextlib
        import io

        import ndstorage

        dataset = ndstorage.NDTiffDataset(str(folder), name="movie", writable=True)
        dataset.initialize({"Core-Camera": "Camera"})
        with contextlib.redirect_stdout(io.StringIO()):
            i = 0
            for frames in _chunks(n_frames):
                for frame in frames:
                    dataset.put_image({"time": i}, frame, {"Camera": "Camera"})
                    i += 1
            dataset.finish()
        return folder / "movie_1"
    if flavour == "mmstack-pages":
        # one IFD per frame with Micro-Manager's per-frame JSON tag: frames not contiguous
        # and OME-XML listing one TiffData per plane, as Micro-Manager writes them
        path = folder / "movie_MMStack_Pos0.ome.tif"
        tag = json.dumps({"Camera": "Camera", "Camera-Gain": "1", "Exposure-ms": 10.0})
        planes = "".join(f'<TiffData FirstT="{t}" IFD="{t}" PlaneCount="1"/>' for t in range(n_frames))
        ome = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
            '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
            f'SizeX="{WIDTH}" SizeY="{HEIGHT}" SizeZ="1" SizeC="1" SizeT="{n_frames}">'
            f'<Channel ID="Channel:0:0" SamplesPerPixel="1"/>{planes}</Pixels></Image></OME>'
        )
        with tifffile.TiffWriter(path, bigtiff=n_frames * HEIGHT * WIDTH * 2 > 2**31 - 2**24) as tif:
            for i, frames in enumerate(_chunks(n_frames)):
                for j, frame in enumerate(frames):
                    tif.write(
                        frame,
                        photometric="minisblack",
                        metadata=None,
                        description=ome if i == j == 0 else None,
                        extratags=[(MM_FRAME_TAG, "s", 0, tag, True)],
                    )
        return path
    options = {
        "plain": dict(name="plain.tif"),
        "imagej": dict(name="imagej.tif", imagej=True),
        "ome": dict(name="movie.ome.tif", ome=True),
        "bigtiff": dict(name="big.tif", bigtiff=True),
    }[flavour]
    path = folder / options.pop("name")
    if flavour in ("imagej", "ome"):
        # ImageJ and OME series of many frames are written in one call (one series)
        data = np.lib.format.open_memmap(
            folder / "scratch.npy", mode="w+", dtype=np.uint16, shape=(n_frames, HEIGHT, WIDTH)
        )
        start = 0
        for frames in _chunks(n_frames):
            data[start : start + len(frames)] = frames
            start += len(frames)
        tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "TYX"}, **options)
        del data
        (folder / "scratch.npy").unlink()
        return path
    bigtiff = options.pop("bigtiff", False) or n_frames * HEIGHT * WIDTH * 2 > 2**31 - 2**24
    with tifffile.TiffWriter(path, bigtiff=bigtiff, **options) as tif:
        for frames in _chunks(n_frames):
            tif.write(frames, contiguous=True, photometric="minisblack")
    return path


def _files_of(path):
    return sorted(path.rglob("*")) if path.is_dir() else [path]


def _read_all(movie, chunk):
    check = 0
    for start in range(0, movie.shape[0], chunk):
        frames = movie.read_frames(start, start + chunk)
        check += int(frames[:, 0, 0].astype(np.int64).sum())
    return check


def measure(path, chunk):
    # timings without tracemalloc (it slows allocation-heavy Python several-fold) ...
    t0 = time.perf_counter()
    movie = open_movie(path)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    check = _read_all(movie, chunk)
    read_s = time.perf_counter() - t0
    n_bytes = movie.nbytes
    shape = movie.shape
    movie.close()
    expected = int((np.arange(shape[0]) % 65536).sum())
    assert check == expected, "frames out of order"
    # ... then memory, in a second pass
    process = psutil.Process()
    rss0 = process.memory_info().rss
    tracemalloc.start()
    movie = open_movie(path)
    _, open_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    _read_all(movie, chunk)
    _, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = process.memory_info().rss - rss0
    movie.close()
    # baseline: numpy.fromfile of as many bytes, same chunk sizes, from the same file(s)
    files = [f for f in _files_of(path) if f.is_file() and f.suffix in (".tif", ".raw")]
    chunk_items = chunk * HEIGHT * WIDTH
    remaining = n_bytes // 2
    t0 = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            while remaining > 0:
                data = np.fromfile(fh, dtype=np.uint16, count=min(chunk_items, remaining))
                if data.size == 0:
                    break
                remaining -= data.size
    base_s = time.perf_counter() - t0
    return {
        "shape": shape,
        "open_s": open_s,
        "read_mb_s": n_bytes / 1e6 / read_s,
        "fromfile_mb_s": n_bytes / 1e6 / base_s,
        "open_peak_mb": open_peak / 1e6,
        "read_peak_mb": read_peak / 1e6,
        "rss_growth_mb": rss_growth / 1e6,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="movie size (default 2 GB)")
    parser.add_argument("--chunk", type=int, default=500, help="frames per read")
    parser.add_argument("--folder", default=None, help="where to write the movies (a temp folder)")
    parser.add_argument("--flavours", default="plain,imagej,ome,bigtiff,mmstack-pages,raw,ndtiff")
    args = parser.parse_args(argv)
    n_frames = int(args.size_gb * 1e9 // (HEIGHT * WIDTH * 2))
    print(
        f"movie: {n_frames} frames of {WIDTH}x{HEIGHT} uint16 = "
        f"{n_frames * HEIGHT * WIDTH * 2 / 1e9:.2f} GB; reads of {args.chunk} frames"
    )
    header = (
        f"{'flavour':<14}{'open s':>8}{'read MB/s':>11}{'fromfile MB/s':>15}{'ratio':>7}"
        f"{'open peak MB':>14}{'read peak MB':>14}{'RSS +MB':>9}"
    )
    print(header)
    for flavour in args.flavours.split(","):
        folder = Path(tempfile.mkdtemp(prefix=f"bench_{flavour}_", dir=args.folder))
        try:
            path = write_flavour(flavour, folder, n_frames)
            for f in _files_of(path):
                if f.is_file():  # flush before measuring: writeback would slow the reads
                    with open(f, "rb+") as fh:
                        os.fsync(fh.fileno())
            r = measure(path, args.chunk)
            print(
                f"{flavour:<14}{r['open_s']:>8.3f}{r['read_mb_s']:>11.0f}{r['fromfile_mb_s']:>15.0f}"
                f"{r['read_mb_s'] / r['fromfile_mb_s']:>7.2f}{r['open_peak_mb']:>14.1f}"
                f"{r['read_peak_mb']:>14.1f}{r['rss_growth_mb']:>9.1f}",
                flush=True,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
