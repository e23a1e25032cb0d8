"""napari dock widgets (thin front ends over the pipeline and the core functions)."""
