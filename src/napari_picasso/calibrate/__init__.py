"""Calibrations made from bead or dark movies, used by later localization runs.

Modules
-------
astigmatism
    3D astigmatism: bead z-stack -> width curves (Picasso's ``_3d_calib.yaml``).
"""
