"""Where a dock's localizations run: in this process, a local Dask cluster or a scheduler.

A form only: :meth:`ComputeSection.choice` returns the
:class:`~napari_picasso.distributed.ComputeChoice` the Localize and Watcher docks hand to
:class:`~napari_picasso.distributed.ComputeSession` and
:func:`~napari_picasso.distributed.localize_file_distributed`.
"""

from magicgui.widgets import ComboBox, Container, LineEdit, SpinBox

from ..distributed.cluster import ComputeChoice, available_cores
from ..io.errors import ParameterError
from ._fields import whole_numbers

MODES = (("this process (threads)", "threads"), ("local cluster", "local-cluster"), ("Dask scheduler", "scheduler"))


class ComputeSection(Container):
    """Compute mode, workers of a local cluster, scheduler address."""

    def __init__(self):
        self.mode = ComboBox(
            label="compute on",
            choices=list(MODES),
            value="threads",
            tooltip="local cluster / scheduler need dask[distributed] (the 'distributed' extra)",
        )
        self.workers = whole_numbers(
            SpinBox(
                label="workers",
                value=max(1, available_cores()),
                min=1,
                max=1024,
                tooltip="worker processes of the local cluster",
            )
        )
        self.address = LineEdit(
            label="scheduler",
            value="",
            tooltip="tcp://host:8786 or a scheduler file; the movie must be on a file system the workers share",
        )
        super().__init__(widgets=[self.mode, self.workers, self.address], labels=True)
        self.mode.changed.connect(self._mode_changed)
        self._mode_changed()

    def _mode_changed(self, *_):
        self.workers.visible = self.mode.value == "local-cluster"
        self.address.visible = self.mode.value == "scheduler"

    def choice(self):
        """The :class:`ComputeChoice` of the form.

        Raises
        ------
        ParameterError
            When the scheduler address is missing.
        """
        try:
            if self.mode.value == "local-cluster":
                return ComputeChoice("local-cluster", workers=int(self.workers.value))
            if self.mode.value == "scheduler":
                return ComputeChoice("scheduler", address=self.address.value.strip() or None)
            return ComputeChoice("threads")
        except ValueError as error:
            raise ParameterError(str(error)) from None

    def settings(self):
        return {
            "compute_mode": self.mode.value,
            "compute_workers": int(self.workers.value),
            "compute_address": self.address.value,
        }

    def apply_settings(self, settings):
        for key, widget in (
            ("compute_mode", self.mode),
            ("compute_workers", self.workers),
            ("compute_address", self.address),
        ):
            if key in settings:
                try:
                    widget.value = settings[key]
                except (ValueError, TypeError):
                    pass
