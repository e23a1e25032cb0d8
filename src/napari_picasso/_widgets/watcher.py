"""Watcher dock widget: start folder watchers, list them, show their logs live, stop them.

Thin: it collects folders, parameter groups and commands, and runs
:class:`napari_picasso.watcher.Watcher` in its own background thread (napari stays
responsive, the watcher keeps running while the user works). A timer reads the selected
watcher's log file as it grows.
"""

from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout, QWidget,
)

from ..commands.watch import load_groups
from ._compute import ComputeSection
from ..pipeline import LocalizeParameters
from ..watcher import Watcher
from ..watcher.log import default_log_path, parse_line

LOCALIZE_WIDGET_NAMES = ("Localize", "Localize (napari-picasso)")
MAX_LOG_CHARS = 200_000


class WatcherWidget(QWidget):
    """Choose folders, parameter groups and commands; run, list, watch and stop watchers."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.watchers = []
        self._log_offsets = {}

        # -- what to watch -----------------------------------------------------------
        self.folder_list = QListWidget()
        self.folder_list.setMaximumHeight(90)
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._browse_folder)
        remove_folder = QPushButton("Remove")
        remove_folder.clicked.connect(self._remove_folder)
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(add_folder)
        folder_buttons.addWidget(remove_folder)
        self.recursive = QCheckBox("Include sub-folders")
        self.settle = QDoubleSpinBox()
        self.settle.setRange(0.1, 3600.0)
        self.settle.setValue(5.0)
        self.settle.setSuffix(" s")
        self.settle.setToolTip("A movie starts once its files have not changed for this long.")

        self.groups_path = QLineEdit()
        self.groups_path.setPlaceholderText("groups.yaml (empty: the Localize panel's parameters)")
        self.groups_path.textChanged.connect(self._update_groups_label)
        browse_groups = QPushButton("…")
        browse_groups.setMaximumWidth(30)
        browse_groups.clicked.connect(self._browse_groups)
        groups_row = QHBoxLayout()
        groups_row.addWidget(self.groups_path)
        groups_row.addWidget(browse_groups)
        self.groups_label = QLabel()
        self.groups_label.setWordWrap(True)

        self.commands = QPlainTextEdit()
        self.commands.setPlaceholderText("one command per line, e.g.\nnapari-picasso undrift $FILENAME")
        self.commands.setMaximumHeight(70)
        self.command_timeout = QDoubleSpinBox()
        self.command_timeout.setRange(0.0, 7 * 24 * 3600.0)
        self.command_timeout.setDecimals(0)
        self.command_timeout.setValue(3600.0)
        self.command_timeout.setSuffix(" s")
        self.command_timeout.setSpecialValueText("no limit")
        self.command_timeout.setToolTip("A command running longer is killed (with all it started), "
                                        "logged, and the watcher goes on. 0: no limit.")
        self.db_path = QLineEdit()
        self.db_path.setPlaceholderText("default database")
        self.log_path = QLineEdit()
        self.log_path.setPlaceholderText("watcher-<time>.log in the first folder")

        form = QFormLayout()
        form.addRow("Settle time", self.settle)
        form.addRow("Groups", groups_row)
        form.addRow("", self.groups_label)
        form.addRow("Commands", self.commands)
        form.addRow("Command timeout", self.command_timeout)
        form.addRow("Database", self.db_path)
        form.addRow("Log file", self.log_path)
        # Where movies are localized; each watcher keeps its cluster until it stops.
        self.compute = ComputeSection()

        self.start_button = QPushButton("Start watching")
        self.start_button.clicked.connect(self._start_clicked)
        self.message = QLabel()
        self.message.setWordWrap(True)

        setup = QWidget()
        setup_layout = QVBoxLayout(setup)
        setup_layout.addWidget(QLabel("Folders"))
        setup_layout.addWidget(self.folder_list)
        setup_layout.addLayout(folder_buttons)
        setup_layout.addWidget(self.recursive)
        setup_layout.addLayout(form)
        setup_layout.addWidget(self.compute.native)
        setup_layout.addWidget(self.start_button)
        setup_layout.addWidget(self.message)
        setup_layout.addStretch(1)

        # -- running watchers ----------------------------------------------------------
        self.watcher_list = QListWidget()
        self.watcher_list.setMaximumHeight(90)
        self.watcher_list.currentRowChanged.connect(self._selection_changed)
        self.stop_button = QPushButton("Stop selected")
        self.stop_button.clicked.connect(self._stop_clicked)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        running = QWidget()
        running_layout = QVBoxLayout(running)
        running_layout.addWidget(self.watcher_list)
        running_layout.addWidget(self.stop_button)
        running_layout.addWidget(QLabel("Log of the selected watcher"))
        running_layout.addWidget(self.log_view, stretch=1)

        self.setMinimumWidth(380)
        self.tabs = QTabWidget()
        self.tabs.addTab(setup, "New watcher")
        self.tabs.addTab(running, "Watchers")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        self._timer = QTimer(self)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.destroyed.connect(self._timer.stop)
        # Closing the viewer destroys the panel: its watchers stop with it (no Qt in the lambda).
        self.destroyed.connect(lambda *_, watchers=self.watchers: [w.stop(wait=False) for w in watchers])
        self._update_groups_label()

    # -- inputs ----------------------------------------------------------------------
    def folders(self):
        return [Path(self.folder_list.item(i).text()) for i in range(self.folder_list.count())]

    def add_folder(self, path):
        if str(path) not in [str(f) for f in self.folders()]:
            self.folder_list.addItem(str(path))

    def _browse_folder(self):
        path = QFileDialog.getExistingDirectory(self, "Folder to watch")
        if path:
            self.add_folder(path)

    def _remove_folder(self):
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))

    def _browse_groups(self):
        path, _ = QFileDialog.getOpenFileName(self, "Parameter groups", "", "YAML (*.yaml *.yml)")
        if path:
            self.groups_path.setText(path)

    def _localize_panel(self):
        """The docked Localize widget (if any): its ``parameters()`` are the current ones."""
        try:
            docked = self.viewer.window.dock_widgets
        except AttributeError:
            return None
        for name, widget in docked.items():
            if any(name.startswith(n) for n in LOCALIZE_WIDGET_NAMES) and callable(getattr(widget, "parameters", None)):
                return widget
        return None

    def groups(self):
        """The parameter groups a new watcher would use (raises InputFileError for a bad file)."""
        text = self.groups_path.text().strip()
        if text:
            return load_groups(Path(text).expanduser())
        panel = self._localize_panel()
        if panel is not None:
            return [panel.parameters()]
        return [LocalizeParameters()]

    def _update_groups_label(self, *_):
        if self.groups_path.text().strip():
            self.groups_label.setText("each movie is localized with every group in the file")
        elif self._localize_panel() is not None:
            self.groups_label.setText("using the Localize panel's current parameters")
        else:
            self.groups_label.setText("no groups file and no Localize panel: default parameters")

    def command_lines(self):
        return [line.strip() for line in self.commands.toPlainText().splitlines() if line.strip()]

    # -- actions ----------------------------------------------------------------------
    def start_watcher(self):
        """Start a watcher with the current inputs; returns it (errors are raised)."""
        folders = self.folders()
        if not folders:
            raise ValueError("add a folder to watch first.")
        log_text = self.log_path.text().strip()
        db_text = self.db_path.text().strip()
        watcher = Watcher(
            folders, self.groups(), self.command_lines(), recursive=self.recursive.isChecked(),
            settle_seconds=self.settle.value(), command_timeout_s=self.command_timeout.value(),
            db_path=Path(db_text).expanduser() if db_text else None,
            log_path=Path(log_text).expanduser() if log_text else default_log_path(folders[0]),
            compute=self.compute.choice(),
        )
        watcher.start()
        self.watchers.append(watcher)
        self._log_offsets[id(watcher)] = 0
        self.watcher_list.addItem(self._describe(watcher))
        self.watcher_list.item(len(self.watchers) - 1).setToolTip(f"{watcher.name}\nlog: {watcher.log_path}")
        self.watcher_list.setCurrentRow(len(self.watchers) - 1)
        self.tabs.setCurrentIndex(1)
        self.tabs.setTabText(1, f"Watchers ({len(self.watchers)})")
        return watcher

    def _start_clicked(self):
        try:
            watcher = self.start_watcher()
        except ValueError as error:  # InputFileError and ParameterError are ValueErrors
            self.message.setText(f"Not started: {error}")
            return
        self.message.setText(f"Watching; log: {watcher.log_path}")

    def selected_watcher(self):
        row = self.watcher_list.currentRow()
        return self.watchers[row] if 0 <= row < len(self.watchers) else None

    def stop_watcher(self, watcher):
        """Ask a watcher to stop (returns at once; the list shows when it has stopped)."""
        watcher.stop(wait=False)
        self.refresh()

    def _stop_clicked(self):
        watcher = self.selected_watcher()
        if watcher is not None:
            self.stop_watcher(watcher)

    def stop_all(self, wait=True):
        for watcher in self.watchers:
            watcher.stop(wait=False)
        if wait:
            for watcher in self.watchers:
                watcher.stop(wait=True, timeout=30)

    # -- display ----------------------------------------------------------------------
    @staticmethod
    def _describe(watcher):
        if watcher.running:
            state = "stopping" if watcher.stopping else "running"
        else:
            state = "ended with an error" if watcher.error else "stopped"
        counts = watcher.counts
        current = f", now: {watcher.current.name}" if watcher.current is not None else ""
        progress = watcher.progress
        if current and progress is not None:
            current += f" ({progress[0]}/{progress[1]} frames)"
        folders = ", ".join(f.name for f in watcher.folders)
        return f"{state}, {counts['finished']} done, {counts['failed']} failed{current}: {folders}"

    def _selection_changed(self, row):
        self.log_view.clear()
        watcher = self.selected_watcher()
        if watcher is not None:
            self._log_offsets[id(watcher)] = 0
        self.refresh()

    def refresh(self):
        """Update the list's states and append new lines of the selected watcher's log."""
        for row, watcher in enumerate(self.watchers):
            item = self.watcher_list.item(row)
            text = self._describe(watcher)
            if item is not None and item.text() != text:
                item.setText(text)
        if not self.groups_path.text().strip():
            self._update_groups_label()  # a Localize panel may have been opened meanwhile
        watcher = self.selected_watcher()
        self.stop_button.setEnabled(watcher is not None and watcher.running and not watcher.stopping)
        if watcher is None or watcher.log_path is None or not watcher.log_path.exists():
            return
        offset = self._log_offsets.get(id(watcher), 0)
        with open(watcher.log_path, "rb") as f:
            f.seek(offset)
            new = f.read()
        cut = new.rfind(b"\n") + 1  # whole lines only
        if cut == 0:
            return
        self._log_offsets[id(watcher)] = offset + cut
        lines = new[:cut].decode("utf-8", "replace").splitlines()
        self.log_view.appendPlainText("\n".join(_short_line(line) for line in lines if line.strip()))
        document = self.log_view.document()
        if document.characterCount() > MAX_LOG_CHARS:
            self.log_view.setPlainText(self.log_view.toPlainText()[-MAX_LOG_CHARS // 2:])

    def closeEvent(self, event):
        self.stop_all(wait=False)
        super().closeEvent(event)


def _short_line(line):
    """A log line for the panel: time of day, event, file name, message (full paths in the file)."""
    stamp, event, path, message = parse_line(line)
    name = Path(path).name if path else ""
    message = message.replace(path, name) if path else message
    return f"{stamp[11:19]} {event:<8} {name}  {message}".rstrip()
