"""Corrupted input files: a clear ``InputFileError`` or correct frames, never a crash.

Small files are written by the formats' own writers (tifffile, ndstorage, h5py, numpy) and
then damaged in many deterministic ways: truncated at many offsets, bytes overwritten in
the header, in the IFDs and after them, IFD offsets zeroed, IFD chains looped back. For
every damaged copy, opening it (``open_movie``, the napari reader, ``load_locs``) and
reading every frame must either work, with frames of the size the movie reports, or raise
``InputFileError`` naming the file; any other exception (IndexError, struct.error,
KeyError, OSError ... from deep inside a reader) or a hang fails the test, which lists
every failing corruption.
"""

import contextlib
import gzip
import io
import shutil
import signal
import struct
import traceback

import h5py
import numpy as np
import pytest
import tifffile
from mm_writers import write_mmstack

from napari_picasso import _reader
from napari_picasso.io.errors import InputFileError
from napari_picasso.io.locs import load_locs, save_locs
from napari_picasso.io.movies import open_movie
from napari_picasso.io.raw import write_raw_info

SHAPE = (6, 16, 12)  # frames, height, width: small, so hundreds of cases stay fast
HANG_SECONDS = 10


class Hang(BaseException):
    """Raised by the alarm: BaseException, so no reader's ``except Exception`` hides it."""


@contextlib.contextmanager
def hang_guard(seconds=HANG_SECONDS):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s (endless loop?)")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _frames(seed=0):
    frames = np.random.default_rng(seed).integers(100, 3000, SHAPE, dtype=np.uint16)
    frames[:, 0, 0] = np.arange(SHAPE[0])
    return frames


# -- TIFF structure, parsed independently of the readers under test ----------------------------
def tiff_layout(data):
    """``(byteorder, bigtiff, first-IFD pointer position, [ifd dicts])`` of a TIFF's bytes.

    Each IFD dict holds ``offset``, ``n_tags``, ``entries`` (tag -> entry position) and
    ``next_at`` (position of its next-IFD pointer).
    """
    bo = "<" if data[:2] == b"II" else ">"
    bigtiff = struct.unpack_from(bo + "H", data, 2)[0] == 43
    count_fmt, entry_size, pointer_fmt, first_at = ("Q", 20, "Q", 8) if bigtiff else ("H", 12, "I", 4)
    ifd = struct.unpack_from(bo + pointer_fmt, data, first_at)[0]
    ifds, seen = [], set()
    while ifd and ifd not in seen:
        seen.add(ifd)
        n_tags = struct.unpack_from(bo + count_fmt, data, ifd)[0]
        start = ifd + struct.calcsize(count_fmt)
        entries = {
            struct.unpack_from(bo + "H", data, start + k * entry_size)[0]: start + k * entry_size for k in range(n_tags)
        }
        next_at = start + n_tags * entry_size
        ifds.append({"offset": ifd, "n_tags": n_tags, "entries": entries, "next_at": next_at})
        ifd = struct.unpack_from(bo + pointer_fmt, data, next_at)[0]
    return bo, bigtiff, first_at, ifds


def _put(data, position, raw):
    data = bytearray(data)
    data[position : position + len(raw)] = raw
    return bytes(data[: len(data)])


def tiff_structure_corruptions(data, seed):
    """Zeroed and looped IFD pointers, impossible tag counts and values."""
    rng = np.random.default_rng(seed)
    bo, bigtiff, first_at, ifds = tiff_layout(data)
    pointer = (lambda v: struct.pack(bo + "Q", v)) if bigtiff else (lambda v: struct.pack(bo + "I", v))
    count = (lambda v: struct.pack(bo + "Q", v)) if bigtiff else (lambda v: struct.pack(bo + "H", v))
    value_at = 4 + (8 if bigtiff else 4)  # value field inside an entry
    last = ifds[-1]
    cases = [
        ("first IFD offset zeroed", _put(data, first_at, pointer(0))),
        ("first IFD offset beyond the end", _put(data, first_at, pointer(len(data) + 1000))),
        ("first IFD offset odd, inside the header", _put(data, first_at, pointer(1))),
        ("last IFD loops to the first", _put(data, last["next_at"], pointer(ifds[0]["offset"]))),
        ("first IFD loops to itself", _put(data, ifds[0]["next_at"], pointer(ifds[0]["offset"]))),
        ("first IFD's next points beyond the end", _put(data, ifds[0]["next_at"], pointer(len(data) + 7))),
        (
            "first IFD's next points into its own entries",
            _put(data, ifds[0]["next_at"], pointer(ifds[0]["offset"] + 2)),
        ),
        ("first IFD holds 65535 tags", _put(data, ifds[0]["offset"], count(0xFFFF))),
        ("first IFD holds 0 tags", _put(data, ifds[0]["offset"], count(0))),
    ]
    if len(ifds) > 2:
        middle = ifds[len(ifds) // 2]
        cases += [
            ("middle IFD's next offset zeroed", _put(data, middle["next_at"], pointer(0))),
            ("middle IFD loops back to the second", _put(data, middle["next_at"], pointer(ifds[1]["offset"]))),
            ("middle IFD holds 65535 tags", _put(data, middle["offset"], count(0xFFFF))),
        ]
    for k, ifd in enumerate(ifds[:: max(1, len(ifds) // 3)]):
        for tag, label in (
            (273, "strip offsets"),
            (279, "strip byte counts"),
            (256, "width"),
            (257, "height"),
            (258, "bits per sample"),
            (259, "compression"),
            (277, "samples per pixel"),
        ):
            if tag not in ifd["entries"]:
                continue
            entry = ifd["entries"][tag]
            for value in (0, 0xFFFFFFFF, int(rng.integers(1, 1 << 31))):
                # entry count and value both damaged: a list of strips far beyond the end
                cases.append(
                    (
                        f"IFD {k} {label} count/value = {value}",
                        _put(data, entry + 4, struct.pack(bo + ("Q" if bigtiff else "I"), value)),
                    )
                )
                cases.append(
                    (
                        f"IFD {k} {label} value = {value}",
                        _put(data, entry + value_at, struct.pack(bo + "I", value & 0xFFFFFFFF)),
                    )
                )
            cases.append((f"IFD {k} {label} type = 99", _put(data, entry + 2, struct.pack(bo + "H", 99))))
    return cases


def byte_corruptions(data, seed, regions=(), n_truncations=14, n_overwrites=10):
    """Truncations at many offsets and overwritten bytes in the header and ``regions``."""
    rng = np.random.default_rng(seed)
    n = len(data)
    cuts = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, n // 2, n - 1, n - 2, n - 100}
    cuts |= {int(c) for c in rng.integers(1, n, n_truncations)}
    cases = [(f"truncated at {c}", data[:c]) for c in sorted(c for c in cuts if 0 <= c < n)]
    regions = [("header", 0, min(16, n)), *regions, ("after the header", 16, n)]
    for name, lo, hi in regions:
        if hi <= lo:
            continue
        for _ in range(n_overwrites):
            position = int(rng.integers(lo, hi))
            length = int(rng.integers(1, 9))
            kind = rng.integers(3)
            raw = (
                bytes(length)
                if kind == 0
                else b"\xff" * length
                if kind == 1
                else rng.integers(0, 256, length, dtype=np.uint8).tobytes()
            )
            cases.append((f"{name}: {length} bytes at {position} = {raw.hex()}", _put(data, position, raw)))
    return cases


def tiff_corruptions(data, seed):
    _, _, _, ifds = tiff_layout(data)
    regions = [(f"IFD at {ifd['offset']}", ifd["offset"], ifd["next_at"] + 8) for ifd in ifds[:2]]
    return byte_corruptions(data, seed, regions) + tiff_structure_corruptions(data, seed + 1)


# -- sources: (folder, path to open, choices, files to corrupt) ---------------------------------
def _tiff_source(kind):
    def build(folder):
        path = folder / ("movie.ome.tif" if kind == "ome" else "movie.tif")
        frames = _frames()
        if kind == "pages":
            with tifffile.TiffWriter(path) as tif:
                for frame in frames:
                    tif.write(frame, metadata=None, description="frame", photometric="minisblack")
        else:
            tifffile.imwrite(
                path,
                frames,
                imagej=kind == "imagej",
                ome=kind == "ome",
                bigtiff=kind == "bigtiff",
                photometric="minisblack",
            )
        return path, {}, [path]

    return build


def _mmstack(folder):
    paths = write_mmstack(folder, _frames(), frames_per_file=4)
    return paths[0], {}, paths


def _micromanager_14(folder, shared_data):
    packed = sorted((shared_data / "mmstack-1.4").glob("*Pos_000_000.ome.tif.gz"))[0]
    path = folder / packed.name[:-3]
    with gzip.open(packed, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path, {"channel": 0, "z": 0}, [path]


def _nd2(folder, shared_data):
    """The real NIS-Elements file of the shared data (T3 Z10 C2), z as the frame axis."""
    path = folder / "cluster.nd2"
    shutil.copy(shared_data / "nd2" / "cluster.nd2", path)
    return path, {"channel": 0, "time": 0, "frame_axis": "z"}, [path]


def _raw(folder):
    path = folder / "movie.raw"
    _frames().astype("<u2").tofile(path)
    write_raw_info(path, SHAPE[2], SHAPE[1], SHAPE[0])
    return path, {}, [path, path.with_suffix(".yaml")]


def _ims(folder):
    """The Imaris layout (as ImarisWriter stores it), written with h5py."""
    path = folder / "movie.ims"

    def text(value):
        return np.array(list(str(value)), dtype="S1")

    frames = _frames()
    with h5py.File(path, "w") as f:
        level = f.create_group("DataSet/ResolutionLevel 0")
        for t, frame in enumerate(frames):
            group = level.create_group(f"TimePoint {t}/Channel 0")
            padded = np.zeros((1, 16, 16), dtype=np.uint16)
            padded[0, :, : SHAPE[2]] = frame
            group.create_dataset("Data", data=padded, chunks=(1, 16, 16), compression="gzip")
            for key, value in (("ImageSizeX", SHAPE[2]), ("ImageSizeY", SHAPE[1]), ("ImageSizeZ", 1)):
                group.attrs[key] = text(value)
        info = f.create_group("DataSetInfo/Image")
        for key, value in (("X", SHAPE[2]), ("Y", SHAPE[1]), ("Z", 1), ("ExtMin0", 0), ("ExtMax0", 1.56)):
            info.attrs[key] = text(value)
    return path, {}, [path]


def _ndtiff(folder):
    import ndstorage

    dataset = ndstorage.NDTiffDataset(str(folder), name="paint", writable=True)
    dataset.initialize({"Core-Camera": "Andor"})
    with contextlib.redirect_stdout(io.StringIO()):
        for i, frame in enumerate(_frames()):
            dataset.put_image({"time": i}, frame, {"Camera": "Andor", "Exposure-ms": 100})
        dataset.finish()
    root = folder / "paint_1"
    return root, {}, [root / "paint_NDTiffStack.tif", root / "NDTiff.index"]


def _locs(folder):
    path = folder / "movie_locs.hdf5"
    rng = np.random.default_rng(4)
    dtype = [("frame", "u4"), ("x", "f4"), ("y", "f4"), ("photons", "f4")]
    locs = np.zeros(50, dtype=dtype)
    locs["frame"] = np.sort(rng.integers(0, 100, 50))
    locs["x"], locs["y"], locs["photons"] = rng.uniform(0, 32, 50), rng.uniform(0, 32, 50), 1000
    save_locs(path, locs, [{"Width": 32, "Height": 32, "Frames": 100}, {"Generated by": "test"}])
    return path, {}, [path, path.with_suffix(".yaml")]


MOVIE_SOURCES = {
    "plain": _tiff_source("plain"),
    "imagej": _tiff_source("imagej"),
    "ome": _tiff_source("ome"),
    "bigtiff": _tiff_source("bigtiff"),
    "pages": _tiff_source("pages"),
    "mmstack": _mmstack,
    "micromanager-1.4": _micromanager_14,
    "nd2": _nd2,
    "raw": _raw,
    "ims": _ims,
    "ndtiff": _ndtiff,
}


SHARED_SOURCES = ("micromanager-1.4", "nd2")  # real files from ../shared/data


def corruptions_of(path, seed):
    data = path.read_bytes()
    if data[:2] in (b"II", b"MM") and path.suffix.lower() in (".tif", ".tiff"):
        return tiff_corruptions(data, seed)
    return byte_corruptions(data, seed, n_truncations=20, n_overwrites=25)


# -- the checks ----------------------------------------------------------------------------------
def _check_error(error, names, case):
    message = str(error)
    assert any(name in message for name in names), f"{case}: the message names no file: {message}"


def read_everything(path, choices):
    """Open and read every frame (in chunks and singly); returns the shape read."""
    with open_movie(path, **choices) as movie:
        n, height, width = movie.shape
        assert height > 0 and width > 0, f"frame size {height}x{width}"
        for start in range(0, n, 4):
            chunk = movie.read_frames(start, start + 4)
            assert chunk.shape == (min(4, n - start), height, width), chunk.shape
        if n:
            assert movie[n - 1].shape == (height, width)
        return movie.shape


def run_cases(tmp_path, source, seed, check):
    """Apply every corruption of every file of ``source`` and collect what fails."""
    clean = tmp_path / "clean"
    clean.mkdir()
    target, choices, files = source(clean)
    names = {p.name for p in files} | {target.name}
    failures, outcomes = [], {"ok": 0, "error": 0}
    for k, original in enumerate(files):
        for case, damaged in corruptions_of(original, seed + k):
            work = tmp_path / "work"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(clean, work)
            relative = original.relative_to(clean)
            (work / relative).write_bytes(damaged)
            label = f"{relative}: {case}"
            try:
                with hang_guard():
                    outcome = check(work / target.relative_to(clean), choices, names, label)
                outcomes[outcome] += 1
            except InputFileError as error:
                failures.append(f"{label}: InputFileError escaped the check: {error}")
            except (Exception, Hang) as error:
                where = traceback.extract_tb(error.__traceback__)[-1]
                failures.append(
                    f"{label}: {type(error).__name__}: {error} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
                )
    return failures, outcomes


def check_movie(path, choices, names, case):
    try:
        read_everything(path, choices)
    except InputFileError as error:
        _check_error(error, names, case)
        return "error"
    return "ok"


def check_napari_reader(path, choices, names, case):
    """The npe2 reader gives the same clear error (napari shows it as a notification)."""
    reader = _reader.get_movie_reader(str(path))
    if reader is None:
        return "error"
    try:
        layers = reader(str(path))
    except InputFileError as error:
        _check_error(error, names, case)
        return "error"
    for data, kwargs, kind in layers:
        assert kind == "image" and len(kwargs["contrast_limits"]) == 2
        data.close()
    return "ok"


@pytest.mark.parametrize("name", sorted(MOVIE_SOURCES))
def test_corrupted_movies(tmp_path, request, name):
    source = MOVIE_SOURCES[name]
    if name in SHARED_SOURCES:
        shared = request.getfixturevalue("shared_data")
        source = lambda folder: MOVIE_SOURCES[name](folder, shared)  # noqa: E731
    seed = sorted(MOVIE_SOURCES).index(name) * 100
    failures, outcomes = run_cases(tmp_path, source, seed, check_movie)
    assert not failures, f"{len(failures)} corruptions of {name} crashed:\n" + "\n".join(failures)
    # the corruptions really damage the files: most of them are refused
    assert outcomes["error"] > outcomes["ok"] / 4, outcomes


@pytest.mark.parametrize("name", ["pages", "ome", "raw", "ndtiff"])
def test_corrupted_movies_in_the_napari_reader(tmp_path, name):
    failures, outcomes = run_cases(tmp_path, MOVIE_SOURCES[name], 7, check_napari_reader)
    assert not failures, f"{len(failures)} corruptions of {name} crashed:\n" + "\n".join(failures)
    assert outcomes["error"] > 0, outcomes


def check_locs(path, choices, names, case):
    try:
        locs, info = load_locs(path)
        layers = _reader.read_locs(str(path))
    except InputFileError as error:
        _check_error(error, names, case)
        return "error"
    assert {"frame", "x", "y"} <= set(locs.dtype.names)
    assert isinstance(info, list) and all(isinstance(doc, dict) for doc in info)
    assert layers[0][0].shape == (len(locs), 3)
    return "ok"


def test_corrupted_locs_files(tmp_path):
    failures, outcomes = run_cases(tmp_path, _locs, 900, check_locs)
    assert not failures, f"{len(failures)} corruptions crashed:\n" + "\n".join(failures)
    assert outcomes["error"] > 0, outcomes


def test_clean_sources_read_back(tmp_path, shared_data):
    """Without damage every source opens with the frames written (the cases start valid)."""
    for name, source in MOVIE_SOURCES.items():
        folder = tmp_path / name
        folder.mkdir()
        if name in SHARED_SOURCES:
            target, choices, _ = source(folder, shared_data)
            with open_movie(target, **choices) as movie:
                assert movie.shape == {"nd2": (10, 31, 38)}.get(name, (2, 64, 64))
            continue
        target, choices, _ = source(folder)
        with open_movie(target, **choices) as movie:
            np.testing.assert_array_equal(movie[:], _frames(), err_msg=name)
    locs, info = load_locs(_locs(tmp_path)[0])
    assert len(locs) == 50 and info[0]["Width"] == 32


def test_damaged_tiff_in_a_napari_viewer(make_napari_viewer, tmp_path):
    """The case that once gave a bare IndexError from the page walker, opened in napari."""
    path, _, _ = _tiff_source("pages")(tmp_path)
    data = path.read_bytes()
    bo, _, _, ifds = tiff_layout(data)
    entry = ifds[1]["entries"][273]  # the second page lists no strips at all
    path.write_bytes(_put(data, entry + 4, struct.pack(bo + "I", 0)))
    with pytest.raises(InputFileError, match=r"movie.tif: is damaged: the image directory \(IFD\) at byte "):
        open_movie(path)
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match="movie.tif: is damaged") as error:
        viewer.open(path, plugin="napari-picassosr")
    assert not isinstance(error.value, IndexError)
    assert len(viewer.layers) == 0


def test_damaged_files_on_the_command_line(tmp_path, capsys):
    """The CLI reports each damaged movie in one line and goes on with the next."""
    from napari_picasso.cli import main

    tiff, _, _ = _tiff_source("bigtiff")(tmp_path)
    data = tiff.read_bytes()
    tiff.write_bytes(data[:8] + struct.pack("<Q", len(data) + 4096) + data[16:])  # first IFD beyond the end
    (tmp_path / "raw").mkdir()  # movie.raw beside movie.tif would have the same output (refused)
    raw, _, _ = _raw(tmp_path / "raw")
    raw.with_suffix(".yaml").write_bytes(b"Width: \xff\xfe\n")
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, _frames(), photometric="minisblack")
    code = main(["localize", "-q", str(tiff), str(raw), str(good), "--gradient", "1e9"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "movie.tif: is damaged: it starts like a TIFF but its first image directory (IFD)" in captured.err
    assert "raw/movie.yaml: is not a text file" in captured.err
    assert (tmp_path / "good_locs.hdf5").exists()


@pytest.mark.parametrize(
    "damage, match",
    [
        ("loop", r"movie.tif: is damaged: the image directory \(IFD\) at byte \d+ is reached again after 4 images"),
        ("beyond", r"movie.tif: is truncated: image directory 4 would start at byte \d+, beyond the end"),
    ],
)
def test_page_chain_damage_is_named_not_silently_shortened(tmp_path, damage, match):
    """A looping or cut IFD chain is an error, not a movie with fewer frames."""
    path, _, _ = _tiff_source("pages")(tmp_path)
    data = path.read_bytes()
    bo, _, _, ifds = tiff_layout(data)
    target = ifds[1]["offset"] if damage == "loop" else len(data) + 64
    at = ifds[3]["next_at"] if damage == "loop" else ifds[2]["next_at"]
    path.write_bytes(_put(data, at, struct.pack(bo + "I", target)))
    with pytest.raises(InputFileError, match=match):
        open_movie(path)
