"""Watcher dock widget: start folder watchers, list them, show their logs live, stop them.

Thin: it collects folders, parameter groups and commands, and runs
:class:`napari_picasso.watcher.Watcher` in its own background thread (napari stays
responsive, the watcher keeps running while the user works). A timer reads the selected
watcher's log file as it grows.
"""

import atexit
import threading
from pathlib import Path

from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..db import default_database_path, open_database
from ..groups import load_groups
from ..parameters import LocalizeParameters
from ..watcher import Watcher
from ..watcher.log import default_log_path, parse_line
from ..watcher.status import log_folders, watchers_of
from ._compute import ComputeSection
from ._layout import scrolled, tab_with_other_docks

LOCALIZE_WIDGET_NAMES = ("Localize", "Localize (napari-picasso)")


def localize_panel(viewer):
    """The viewer's docked Localize widget, or None when it is not open."""
    try:
        docked = viewer.window.dock_widgets
    except AttributeError:
        return None
    for name, widget in docked.items():
        if any(name.startswith(n) for n in LOCALIZE_WIDGET_NAMES) and callable(getattr(widget, "parameters", None)):
            return widget
    return None


MAX_LOG_CHARS = 200_000
OTHERS_REFRESH_MS = 2000
STOP_TEXT, KEEP_TEXT = "Stop watching", "Keep running"
# Watchers the user kept running when closing the panel: a reopened panel lists them
# (with Stop); the ones still running when the program ends are stopped then.
KEPT_WATCHERS = []


@atexit.register
def _stop_kept_watchers():
    for watcher in KEPT_WATCHERS:
        watcher.stop(wait=False)
    for watcher in KEPT_WATCHERS:
        watcher.stop(wait=True, timeout=5)


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
        self.command_timeout.setToolTip(
            "A command running longer is killed (with all it started), logged, and the watcher goes on. 0: no limit."
        )
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

        form_page = QWidget()
        setup_layout = QVBoxLayout(form_page)
        setup_layout.addWidget(QLabel("Folders"))
        setup_layout.addWidget(self.folder_list)
        setup_layout.addLayout(folder_buttons)
        setup_layout.addWidget(self.recursive)
        setup_layout.addLayout(form)
        setup_layout.addWidget(self.compute.native)
        setup_layout.addStretch(1)
        # The form scrolls (the dock fits a small screen); Start and its message stay in sight.
        setup = QWidget()
        setup_outer = QVBoxLayout(setup)
        setup_outer.setContentsMargins(0, 0, 0, 0)
        setup_outer.addWidget(scrolled(form_page), stretch=1)
        setup_outer.addWidget(self.start_button)
        setup_outer.addWidget(self.message)

        # -- running watchers ----------------------------------------------------------
        self.watcher_list = QListWidget()
        self.watcher_list.setMaximumHeight(90)
        self.watcher_list.currentRowChanged.connect(self._selection_changed)
        self.stop_button = QPushButton("Stop selected")
        self.stop_button.clicked.connect(self._stop_clicked)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        # Watchers of other processes (the command line, another napari) writing to the same
        # database, read from their log files like the browser app's Watchers page.
        self.other_list = QListWidget()
        self.other_list.setMaximumHeight(90)
        self.other_list.currentRowChanged.connect(self._other_selected)
        self.other_watchers = []  # watcher.status.watcher_state dicts
        self._other_shown = None
        running = QWidget()
        running_layout = QVBoxLayout(running)
        running_layout.addWidget(self.watcher_list)
        running_layout.addWidget(self.stop_button)
        running_layout.addWidget(QLabel("Other watchers of the database (from their logs)"))
        running_layout.addWidget(self.other_list)
        running_layout.addWidget(QLabel("Log of the selected watcher"))
        running_layout.addWidget(self.log_view, stretch=1)

        self.setMinimumWidth(380)
        self.tabs = QTabWidget()
        self.tabs.addTab(setup, "New watcher")
        self.tabs.addTab(scrolled(running), "Watchers")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        tab_with_other_docks(self)

        self._timer = QTimer(self)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self._others_timer = QTimer(self)
        self._others_timer.setInterval(OTHERS_REFRESH_MS)
        self._others_worker = None
        self._others_timer.timeout.connect(self.refresh_others_in_background)
        self._others_timer.start()
        # Closing the viewer destroys the panel: its watchers stop with it (no Qt in the
        # lambda); its timers are its children and go with it.
        self.destroyed.connect(lambda *_, watchers=self.watchers: [w.stop(wait=False) for w in watchers])
        self._docked = False
        self._closed = False
        self._update_groups_label()
        # The watchers an earlier panel kept running: listed here, with Stop.
        while KEPT_WATCHERS:
            self._list_watcher(KEPT_WATCHERS.pop(0))

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
        return localize_panel(self.viewer)

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
            folders,
            self.groups(),
            self.command_lines(),
            recursive=self.recursive.isChecked(),
            settle_seconds=self.settle.value(),
            command_timeout_s=self.command_timeout.value(),
            db_path=Path(db_text).expanduser() if db_text else None,
            log_path=Path(log_text).expanduser() if log_text else default_log_path(folders[0]),
            compute=self.compute.choice(),
        )
        watcher.start()
        self._list_watcher(watcher)
        return watcher

    def _list_watcher(self, watcher):
        self.watchers.append(watcher)
        self._log_offsets[id(watcher)] = 0
        self.watcher_list.addItem(self._describe(watcher))
        self.watcher_list.item(len(self.watchers) - 1).setToolTip(f"{watcher.name}\nlog: {watcher.log_path}")
        self.watcher_list.setCurrentRow(len(self.watchers) - 1)
        self.tabs.setCurrentIndex(1)
        self.tabs.setTabText(1, f"Watchers ({len(self.watchers)})")

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
        if row >= 0:
            self.other_list.setCurrentRow(-1)
            self._other_shown = None
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
            self.log_view.setPlainText(self.log_view.toPlainText()[-MAX_LOG_CHARS // 2 :])

    def _discover_others(self, db_path, folders):
        """The watchers of other processes writing to this panel's database (their states).

        Reads the database's rows and the log files: slow on a large database, so the
        panel's timer runs it in a worker thread (:meth:`refresh_others_in_background`).
        """
        self.others_discovered_in = threading.current_thread().name  # the tests check the thread
        db = None
        if db_path.is_file():
            try:
                db = open_database(db_path, readonly=True)
            except Exception:  # an unusable file: the panel's own watchers report it
                db = None
        try:
            folders = log_folders(db, folders)
        except Exception:  # e.g. a database being created right now: no table yet
            pass
        finally:
            if db is not None:
                db.close()
        found, _ = watchers_of(db_path, folders)
        return found

    def _others_inputs(self):
        db_text = self.db_path.text().strip()
        db_path = Path(db_text).expanduser() if db_text else default_database_path()
        return db_path, self.folders()

    def refresh_others(self):
        """List the watchers of other processes that write to this panel's database, now.

        Their logs are looked for in the panel's folders and the folders of the database's
        rows; a watcher whose process is gone (killed) shows as ``stopped (process gone)``.
        """
        self._show_others(self._discover_others(*self._others_inputs()))

    def refresh_others_in_background(self):
        """What the timer calls: :meth:`refresh_others` with the reading in a worker thread
        (one at a time), the list updated on the GUI thread when it returns."""
        if self._others_worker is not None:
            return
        from napari.qt.threading import create_worker

        worker = create_worker(self._discover_others, *self._others_inputs())
        worker.returned.connect(self._show_others)
        worker.finished.connect(self._others_finished)
        self._others_worker = worker
        worker.start()

    def _others_finished(self):
        self._others_worker = None

    def _show_others(self, found):
        if self._closed:
            return
        own = {str(w.log_path) for w in self.watchers if w.log_path is not None}
        states = [state for state in found if state["log"] not in own]
        selected = self.other_list.currentRow()
        selected_log = self.other_watchers[selected]["log"] if 0 <= selected < len(self.other_watchers) else None
        texts = [_describe_state(state) for state in states]
        if texts != [self.other_list.item(i).text() for i in range(self.other_list.count())]:
            self.other_list.blockSignals(True)
            self.other_list.clear()
            for text, state in zip(texts, states):
                self.other_list.addItem(text)
                self.other_list.item(self.other_list.count() - 1).setToolTip(f"log: {state['log']}")
            logs = [state["log"] for state in states]
            self.other_list.setCurrentRow(logs.index(selected_log) if selected_log in logs else -1)
            self.other_list.blockSignals(False)
        self.other_watchers = states
        self._show_other()

    def _other_selected(self, row):
        if row < 0:
            return
        self.watcher_list.setCurrentRow(-1)
        self._other_shown = None
        self._show_other()

    def _show_other(self):
        row = self.other_list.currentRow()
        if not 0 <= row < len(self.other_watchers):
            return
        state = self.other_watchers[row]
        shown = (state["log"], state["last_time"], len(state["events"]), state["state"])
        if shown == self._other_shown:
            return
        self._other_shown = shown
        lines = [_short_event(event) for event in state["events"]]
        if state["error"]:
            lines.append(state["error"])
        self.log_view.setPlainText("\n".join(lines))
        self.log_view.moveCursor(self.log_view.textCursor().MoveOperation.End)

    # -- closing ----------------------------------------------------------------------
    def event(self, event):
        # Napari's x on the dock takes the panel out of the window (its parent becomes None):
        # that is the user closing it; the viewer closing destroys it instead.
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif getattr(self, "_docked", False) and not self._closed:
                QTimer.singleShot(0, self.closed_by_user)
        return super().event(event)

    def running_watchers(self):
        return [w for w in self.watchers if w.running and not w.stopping]

    def ask_keep_running(self, count):
        """Ask whether the running watchers go on without the panel; True: keep them."""
        box = QMessageBox(QApplication.activeWindow())
        box.setWindowTitle("Close the Watcher panel")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(f"{count} watcher{'s are' if count != 1 else ' is'} running.")
        box.setInformativeText(
            "Stop watching now, or keep watching in the background? Reopen the Watcher panel "
            "(Plugins menu) to see it and stop it."
        )
        stop = box.addButton(STOP_TEXT, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(KEEP_TEXT, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stop)
        box.exec()
        return box.clickedButton() is not stop

    def closed_by_user(self):
        """The panel was closed: ask about its running watchers, stop its timers, go."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self._others_timer.stop()
        running = self.running_watchers()
        if running and self.ask_keep_running(len(running)):
            KEPT_WATCHERS.extend(running)
            # Not this panel's any more: its destruction does not stop them.
            self.watchers[:] = [w for w in self.watchers if w not in running]
        self.stop_all(wait=False)
        self.deleteLater()

    def closeEvent(self, event):  # noqa: N802
        self.stop_all(wait=False)
        super().closeEvent(event)


def _describe_state(state):
    """A list entry for another process's watcher (:func:`watcher.status.watcher_state`)."""
    process = f" (process {state['pid']} on {state['host']})" if state["pid"] is not None else ""
    name = ", ".join(Path(f).name for f in (state["name"] or "?").split(", "))
    return f"{state['state']}, {state['finished']} done, {state['failed']} failed: {name}{process}"


def _short_line(line):
    """A log line for the panel: time of day, event, file name, message (full paths in the file)."""
    return _short_event(parse_line(line))


def _short_event(event):
    stamp, event, path, message = event
    name = Path(path).name if path else ""
    message = message.replace(path, name) if path else message
    return f"{stamp[11:19]} {event:<8} {name}  {message}".rstrip()
