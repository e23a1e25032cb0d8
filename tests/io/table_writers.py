"""Files in other tools' documented layouts, for formats with no small published sample
that could be kept here (binary files: DECODE ``.h5``, SMAP v7.3 ``_sml.mat``, PYME
``.h5r``, ``.smlm``). Each follows the layout its tool writes, as its own code and
documentation describe it; none uses napari-picasso's writers.
"""

import json
import zipfile

import h5py
import numpy as np


def write_decode_h5(path, xyz_px, frame_ix, phot, bg, xyz_sig, prob, px_size=(100.0, 100.0), xy_unit="px"):
    """DECODE's ``emitter_io.save_h5`` layout: groups meta (attrs xy_unit, px_size), decode
    (attr version) and data (xyz, xyz_sig, phot, frame_ix, id, prob, bg; the bounds not
    computed stored as empty datasets)."""
    with h5py.File(path, "w") as f:
        meta = f.create_group("meta")
        meta.attrs["xy_unit"] = xy_unit
        meta.attrs["px_size"] = np.asarray(px_size, dtype=np.float32)
        f.create_group("decode").attrs["version"] = "0.10.0"
        data = f.create_group("data")
        data.create_dataset("xyz", data=np.asarray(xyz_px, dtype=np.float32))
        data.create_dataset("xyz_sig", data=np.asarray(xyz_sig, dtype=np.float32))
        data.create_dataset("xyz_cr", data=h5py.Empty("f"))
        data.create_dataset("phot", data=np.asarray(phot, dtype=np.float32))
        data.create_dataset("phot_cr", data=h5py.Empty("f"))
        data.create_dataset("phot_sig", data=h5py.Empty("f"))
        data.create_dataset("frame_ix", data=np.asarray(frame_ix, dtype=np.int64))
        data.create_dataset("id", data=np.arange(len(phot), dtype=np.int64))
        data.create_dataset("prob", data=np.asarray(prob, dtype=np.float32))
        data.create_dataset("bg", data=np.asarray(bg, dtype=np.float32))
        data.create_dataset("bg_cr", data=h5py.Empty("f"))
        data.create_dataset("bg_sig", data=h5py.Empty("f"))


MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def write_smap_v73(path, loc, cam_pixelsize_um=(0.1, 0.1)):
    """A MATLAB v7.3 ``_sml.mat`` as SMAP saves it: HDF5 with MATLAB's 512-byte user block,
    struct ``saveloc`` with ``loc`` (one column vector per field: HDF5 shape (1, N), MATLAB
    stores arrays transposed) and ``file.info.cam_pixelsize_um``."""
    with h5py.File(path, "w", userblock_size=512) as f:
        saveloc = f.create_group("saveloc")
        saveloc.attrs["MATLAB_class"] = np.bytes_("struct")
        group = saveloc.create_group("loc")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for name, values in loc.items():
            dataset = group.create_dataset(name, data=np.asarray(values, dtype=np.float64)[None, :])
            dataset.attrs["MATLAB_class"] = np.bytes_("double")
        info = saveloc.create_group("file").create_group("info")
        size = info.create_dataset("cam_pixelsize_um", data=np.asarray(cam_pixelsize_um, dtype=np.float64)[:, None])
        size.attrs["MATLAB_class"] = np.bytes_("double")
    header = MATLAB_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as f:
        f.write(header.ljust(512, b"\x00"))


# PYME's LatGaussFitFR result dtype (PYME/localization/FitFactories/LatGaussFitFR.py).
PYME_FIT_DTYPE = [
    ("tIndex", "<i4"),
    ("fitResults", [(n, "<f4") for n in ("A", "x0", "y0", "sigma", "background", "bx", "by")]),
    ("fitError", [(n, "<f4") for n in ("A", "x0", "y0", "sigma", "background", "bx", "by")]),
    ("resultCode", "<i4"),
    ("slicesUsed", [(a, [("start", "<i4"), ("stop", "<i4"), ("step", "<i4")]) for a in "xyz"]),
    ("subtractedBackground", "<f4"),
    ("nchi2", "<f4"),
]


def write_pyme_h5r(path, rows, voxelsize_um=(0.1, 0.1)):
    """A PYME ``.h5r`` as PYME writes it, with PyTables: table ``FitResults`` and group
    ``MetaData`` whose ``voxelsize`` group carries the attributes x, y (µm)."""
    import tables

    with tables.open_file(str(path), "w") as h5:
        table = h5.create_table("/", "FitResults", description=np.dtype(PYME_FIT_DTYPE))
        table.append(rows)
        metadata = h5.create_group("/", "MetaData")
        voxelsize = h5.create_group(metadata, "voxelsize")
        voxelsize._v_attrs.x = float(voxelsize_um[0])
        voxelsize._v_attrs.y = float(voxelsize_um[1])
        voxelsize._v_attrs.units = "um"
        camera = h5.create_group(metadata, "Camera")
        camera._v_attrs.ADOffset = 100.0


def write_smlm_by_spec(path, tables, pixel_size=None, manifest_text=None):
    """An ``.smlm`` following the format's specification 0.2: a ZIP with ``manifest.json``
    and one binary table per entry of ``tables`` (rows one after the other, columns in
    order, little-endian). ``tables`` is a list of ``(name, channel, structured array,
    units)``."""
    first = tables[0][2]
    kinds = {"u4": "uint32", "f4": "float32", "f8": "float64", "u2": "uint16"}
    format_ = {
        "name": "smlm-table(binary)",
        "type": "table",
        "mode": "binary",
        "extension": ".bin",
        "columns": len(first.dtype.names),
        "headers": list(first.dtype.names),
        "dtype": [kinds[first.dtype[n].str[1:]] for n in first.dtype.names],
        "shape": [1] * len(first.dtype.names),
        "units": tables[0][3],
    }
    files = []
    for name, channel, rows, _ in tables:
        entry = {"name": name, "type": "table", "format": "smlm-table(binary)", "channel": channel}
        entry.update({"rows": len(rows), "offset": {}})
        if pixel_size is not None:
            entry["pixel_size"] = pixel_size
        files.append(entry)
    manifest = {"format_version": "0.2", "formats": {"smlm-table(binary)": format_}, "files": files}
    manifest.update({"name": "test", "description": "written by the test suite from the specification"})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest_text if manifest_text is not None else json.dumps(manifest))
        for name, _, rows, _ in tables:
            archive.writestr(name, rows.astype(rows.dtype.newbyteorder("<")).tobytes())
