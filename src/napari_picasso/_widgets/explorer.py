"""The experiment explorer dock widget: the database's History, Compare, Preview and Drift in napari.

Thin by design: every query is a :mod:`napari_picasso.db` function, every plot's data a
:mod:`napari_picasso.db.views` / :mod:`~napari_picasso.db.compare` function and every
drawing a :mod:`napari_picasso.plots` function, shared with the browser app.
"""

import json
from pathlib import Path

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import db as database
from .. import plots
from ..db import compare, views
from ..io.errors import InputFileError
from ._layout import CANVAS_MIN_HEIGHT_PX, scrolled, tab_with_other_docks

try:
    from napari.qt.threading import create_worker
except ImportError:  # napari without Qt: the widget cannot exist anyway
    create_worker = None

BAR_ROLE = Qt.ItemDataRole.UserRole + 1
VALUE_ROLE = Qt.ItemDataRole.UserRole + 2
ALL_GROUPS = "All groups"
NO_GROUP = "(no group)"
POLL_MS = 1500
TIME_COLUMNS = ("entered", "file_created")


class RowsModel(QAbstractTableModel):
    """Database rows for a table view: text, the raw value and the bar fraction per cell."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = []
        self.columns = []
        self.maxima = {}

    def set_rows(self, rows, columns):
        self.beginResetModel()
        self.rows = list(rows)
        self.columns = list(columns)
        self.maxima = views.column_maxima(self.rows, [c for c in self.columns if c != "id"])
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = self.rows[index.row()].get(column)
        if role == Qt.ItemDataRole.DisplayRole:
            return views.format_time(value) if column in TIME_COLUMNS else views.format_value(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return None if value is None else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and views.is_number(value):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == BAR_ROLE:
            return views.bar_fraction(value, self.maxima.get(column))
        if role == VALUE_ROLE:
            return value
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section]
        return str(section + 1)

    def sort(self, column, order=Qt.SortOrder.AscendingOrder):
        if not 0 <= column < len(self.columns):
            return
        name = self.columns[column]

        def key(row):
            value = row.get(name)
            if value is None:
                return (2, 0, "")
            if views.is_number(value):
                return (0, value, "")
            return (1, 0, str(value))

        self.layoutAboutToBeChanged.emit()
        missing = [r for r in self.rows if r.get(name) is None]
        present = sorted(
            (r for r in self.rows if r.get(name) is not None), key=key, reverse=order == Qt.SortOrder.DescendingOrder
        )
        self.rows = present + missing  # empty cells last either way
        self.layoutChanged.emit()


class BarDelegate(QStyledItemDelegate):
    """Draws a bar under each numeric cell, its length relative to the column's maximum."""

    color = QColor(60, 140, 230, 110)

    def paint(self, painter, option, index):
        fraction = index.data(BAR_ROLE) or 0.0
        if fraction > 0:
            rect = option.rect.adjusted(1, 2, -1, -2)
            rect.setWidth(max(1, int(rect.width() * fraction)))
            painter.fillRect(rect, self.color)
        super().paint(painter, option, index)


def _canvas(n_axes=1):
    figure = Figure(figsize=(5, 2.4 * n_axes), layout="constrained")
    axes = [figure.add_subplot(n_axes, 1, i + 1) for i in range(n_axes)]
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(CANVAS_MIN_HEIGHT_PX * n_axes)
    return canvas, axes


class ExplorerWidget(QWidget):
    """History (table, scatter, daily boxes), Compare and Preview of the experiment database.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    db_path : path-like, optional
        Database file; default :func:`napari_picasso.db.default_database_path`.
    """

    def __init__(self, napari_viewer, db_path=None):
        super().__init__()
        self.viewer = napari_viewer
        self.db = None
        self._version = None
        self.rows = []
        self._workers = []
        self._compare_request = 0
        self._unchecked_paths = set()  # Compare files the user unchecked (by path)

        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Database…")
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.check_button = QPushButton("Check files")
        self.check_button.setToolTip("mark rows whose file was moved or deleted as missing")
        self.add_group_edit = QLineEdit()
        self.add_group_edit.setPlaceholderText("group for added files (optional)")
        self.add_status = QLabel()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("filter by file name or folder")
        self.filter_edit.setClearButtonEnabled(True)
        self.group_combo = QComboBox()
        self.count_label = QLabel()

        # Table
        self.model = RowsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegate(BarDelegate(self.table))
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.export_button = QPushButton("Export CSV…")
        self.preview_button = QPushButton("Preview selected")
        self.preview_button.setToolTip("open the localizations of the selected rows as layers")
        self.estimate_button = QPushButton("Estimate selected")
        self.estimate_button.setToolTip("compute the quality figures of the selected rows' files again")

        # Scatter, Box
        self.x_combo, self.y_combo, self.box_combo = QComboBox(), QComboBox(), QComboBox()
        self.scatter_canvas, (self.scatter_ax,) = _canvas()
        self.box_canvas, (self.box_ax,) = _canvas()

        # Compare
        self.family_combo = QComboBox()
        self.family_files = QListWidget()
        self.field_combo = QComboBox()
        self.field_combo.addItems(list(compare.PREFERRED_FIELDS))  # until a file says what it holds
        self.compare_button = QPushButton("Compare")
        self.compare_canvas, (self.frames_ax, self.hist_ax) = _canvas(2)
        self.compare_message = QLabel()

        # Drift of the selected (undrifted) file
        self.drift_canvas, (self.drift_ax,) = _canvas()
        self.drift_message = QLabel("select an undrifted file in the table")

        self.tabs = QTabWidget()
        self.tabs.addTab(
            self._page(self.table, _row(self.export_button, self.preview_button, self.estimate_button)), "Table"
        )
        self.tabs.addTab(
            self._page(_row(QLabel("x"), self.x_combo, QLabel("y"), self.y_combo), self.scatter_canvas), "Scatter"
        )
        self.tabs.addTab(self._page(_row(QLabel("metric"), self.box_combo), self.box_canvas), "Box")
        self.tabs.addTab(
            self._page(
                _row(QLabel("movie"), self.family_combo),
                self.family_files,
                _row(QLabel("histogram of"), self.field_combo, self.compare_button),
                self.compare_message,
                self.compare_canvas,
            ),
            "Compare",
        )
        self.tabs.addTab(self._page(self.drift_message, self.drift_canvas), "Drift")

        # Everything scrolls inside the dock: it never makes the window taller than the screen.
        content = QWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(content)
        layout.addWidget(self.path_label)
        layout.addLayout(_row(self.open_button, self.add_files_button, self.add_folder_button, self.check_button))
        layout.addLayout(_row(self.add_group_edit, self.add_status))
        layout.addLayout(_row(self.filter_edit, self.group_combo))
        layout.addWidget(self.count_label)
        layout.addWidget(self.tabs, stretch=1)
        outer.addWidget(scrolled(content))
        self.setMinimumWidth(380)
        tab_with_other_docks(self)

        self.open_button.clicked.connect(self._choose_database)
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.check_button.clicked.connect(self.check_files)
        self.filter_edit.textChanged.connect(lambda _: self.refresh())
        self.group_combo.currentIndexChanged.connect(lambda _: self.refresh())
        self.export_button.clicked.connect(self._choose_csv)
        self.preview_button.clicked.connect(lambda: self.preview_selected())
        self.estimate_button.clicked.connect(lambda: self.estimate_selected())
        self.x_combo.currentIndexChanged.connect(lambda _: self.draw_scatter())
        self.y_combo.currentIndexChanged.connect(lambda _: self.draw_scatter())
        self.box_combo.currentIndexChanged.connect(lambda _: self.draw_boxes())
        self.family_combo.currentIndexChanged.connect(lambda _: self._fill_family_files())
        self.compare_button.clicked.connect(lambda: self.draw_compare())
        self.field_combo.currentIndexChanged.connect(lambda _: self.draw_compare())

        self.table.selectionModel().selectionChanged.connect(lambda *_: self.draw_drift())

        self.set_database(db_path)
        # Rows written by other widgets, the command line or a watcher process appear by polling
        # SQLite's change counter (cheap: no query when nothing changed).
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    @staticmethod
    def _page(*items):
        page = QWidget()
        layout = QVBoxLayout(page)
        for item in items:
            (layout.addLayout if isinstance(item, QHBoxLayout) else layout.addWidget)(item)
        return page

    # --- database ------------------------------------------------------------------------
    def set_database(self, path=None, remember=False):
        """Open another database file (default: :func:`napari_picasso.db.default_database_path`).

        ``remember``: make it the default database of every front end (the setting
        ``napari-picasso db use`` writes), as the panel's Open button does.
        """
        if self.db is not None:
            self.db.close()
            self.db = None
        try:
            self.db = database.open_database(path)
        except InputFileError as error:
            self.path_label.setText(f"Database: {error}")
            return
        source = ""
        if remember:
            database.set_database_setting(self.db.path)
        if path is None or remember:
            chosen, source = database.database_path_source()
            source = f" ({source})" if source != "default" and Path(chosen) == Path(self.db.path) else ""
        self.path_label.setText(f"Database: {self.db.path}{source}")
        self._version = None
        self.poll()

    def poll(self):
        """Refresh when the database changed since the last look."""
        if self.db is None:
            return
        version = database.data_version(self.db)
        if version != self._version:
            self._version = version
            self.refresh()

    def current_group(self):
        text = self.group_combo.currentText()
        return None if text in ("", ALL_GROUPS) else ("" if text == NO_GROUP else text)

    def filters(self):
        """The active filters as :func:`~napari_picasso.db.query_rows` takes them (table and Compare)."""
        return {"text": self.filter_edit.text() or None, "group": self.current_group()}

    def refresh(self):
        """Re-read the rows with the current filters and redraw every view."""
        if self.db is None:
            return
        self._fill_combo(self.group_combo, [ALL_GROUPS, NO_GROUP] + database.groups(self.db))
        self.rows = database.query_rows(self.db, **self.filters())
        columns = database.display_columns(self.db)
        header = self.table.horizontalHeader()
        sort_column, sort_order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        sort_name = self.model.columns[sort_column] if 0 <= sort_column < len(self.model.columns) else None
        self.model.set_rows(self.rows, columns)
        if sort_name in columns:
            self.model.sort(columns.index(sort_name), sort_order)
        if len(self.rows) <= 2000:  # sizing to contents reads every cell
            self.table.resizeColumnsToContents()
        summary = database.summary(self.db)
        self.count_label.setText(
            f"{len(self.rows)} of {summary['rows']} files shown · {summary['missing']} missing · "
            f"{summary['failed']} failed"
        )
        numeric = database.numeric_columns(self.db)
        axes = database.numeric_columns(self.db, with_time=True)
        self._fill_combo(self.x_combo, axes, default=_first(["file_created", "locs_per_frame"], axes))
        self._fill_combo(self.y_combo, axes, default=_first(["nena_nm", "mean_lpx"], axes))
        self._fill_combo(self.box_combo, numeric, default=numeric[0] if numeric else None)
        self._fill_combo(self.family_combo, [f for f, _ in database.families(self.db, **self.filters())])
        self._fill_family_files()  # the family may be the same, its files shown may not
        self.draw_scatter()
        self.draw_boxes()

    @staticmethod
    def _fill_combo(combo, items, default=None):
        current = combo.currentText()
        if [combo.itemText(i) for i in range(combo.count())] == list(items):
            return
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(list(items))
        keep = current if current in items else default
        if keep in items:
            combo.setCurrentIndex(list(items).index(keep))
        combo.blockSignals(False)

    def add_paths(self, paths, group=None, refresh=False, block=True, done=None):
        """Import files or folders (``Add files…``/``Add folder…``).

        ``block=False`` (the buttons) reads the files in a worker thread on its own
        connection, so napari stays responsive while a folder of large files is estimated;
        ``done(result)`` is then called on the GUI thread. ``refresh`` computes the figures
        of unchanged files again (``Estimate selected``).

        Returns
        -------
        AddResult or worker
            The result (``block=True``) or the started worker.
        """
        if self.db is None:
            return None
        if block:
            result = database.add_paths(self.db, paths, group=group, refresh=refresh)
            self._added(result)
            return result
        db_path = self.db.path
        paths = [str(p) for p in paths]

        def work():
            # a generator worker: yields (files done, files) for the label, returns the AddResult
            connection = database.open_database(db_path)
            try:
                return (yield from database.iter_add_paths(connection, paths, group=group, refresh=refresh))
            finally:
                connection.close()

        self.add_status.setText(f"reading {len(paths)} path(s)…")
        worker = create_worker(work)
        worker.yielded.connect(lambda step: self.add_status.setText(f"estimating {step[0]} of {step[1]} files…"))
        worker.returned.connect(self._added)
        if done is not None:
            worker.returned.connect(done)
        worker.errored.connect(lambda error: self.add_status.setText(f"not added: {error}"))
        worker.start()
        self._workers.append(worker)
        worker.finished.connect(lambda: self._workers.remove(worker))
        return worker

    def _added(self, result):
        self.add_status.setText(
            f"{len(result.added)} added, {len(result.unchanged)} unchanged, {len(result.skipped)} skipped"
        )
        if result.skipped:
            self.viewer.status = f"skipped {len(result.skipped)}: {result.skipped[0][1]}"
        self.poll()

    def added_group(self):
        """The group typed for added files (None: keep/none)."""
        return self.add_group_edit.text().strip() or None

    def estimate_selected(self, block=False, done=None):
        """Compute the quality figures of the selected rows' files again (in a worker thread
        unless ``block``); rows keep their group."""
        paths = [row["locs_path"] for row in self.selected_rows()]
        if not paths:
            return None
        return self.add_paths(paths, refresh=True, block=block, done=done)

    def check_files(self):
        """Mark moved files missing."""
        result = database.mark_missing(self.db)
        self.poll()
        return result

    def export_csv(self, path):
        """Write the rows shown (filters and sort applied) as CSV."""
        return views.rows_to_csv(self.model.rows, self.model.columns, path)

    # --- plots ---------------------------------------------------------------------------
    def draw_scatter(self):
        x, y = self.x_combo.currentText(), self.y_combo.currentText()
        if x and y:
            plots.draw_scatter(self.scatter_ax, views.scatter_with_trend(self.rows, x, y), x, y)
        else:
            self.scatter_ax.clear()
        self.scatter_canvas.draw_idle()

    def draw_boxes(self):
        metric = self.box_combo.currentText()
        if metric:
            plots.draw_daily_boxes(self.box_ax, views.daily_values(self.rows, metric), metric)
        else:
            self.box_ax.clear()
        self.box_canvas.draw_idle()

    def draw_drift(self):
        """The per-frame drift (x, y, z) the first selected row's file was corrected for."""
        rows = self.selected_rows()
        trace = None
        if rows:
            row = rows[0]
            try:
                info = json.loads(row["info_json"]) if row.get("info_json") else None
                trace = compare.drift_trace(row["locs_path"], info)
            except (InputFileError, OSError, ValueError) as error:
                self.drift_message.setText(str(error))
                return None
            if trace is None:
                self.drift_message.setText(f"{row['filename']}: not undrifted (or its drift file is gone)")
            else:
                self.drift_message.setText(f"{row['filename']}: {trace['method']} drift")
        if trace is None:
            plots.draw_drift(self.drift_ax, None)
        else:
            plots.draw_drift(self.drift_ax, trace["drift"], trace["pixelsize_nm"], f"{trace['method']} drift")
        self.drift_canvas.draw_idle()
        return trace

    def _fill_family_files(self):
        # Refilled on every refresh and filter change: a file the user unchecked stays
        # unchecked, also after a filter hid it for a while.
        for item in (self.family_files.item(i) for i in range(self.family_files.count())):
            path = item.data(Qt.ItemDataRole.UserRole)
            if item.checkState() == Qt.CheckState.Checked:
                self._unchecked_paths.discard(path)
            else:
                self._unchecked_paths.add(path)
        unchecked = self._unchecked_paths
        self.family_files.clear()
        family = self.family_combo.currentText()
        if not family or self.db is None:
            return
        rows = database.family_rows(self.db, family, **self.filters())
        self._fill_fields(rows)
        for row in rows:
            item = QListWidgetItem(row["filename"])
            item.setData(Qt.ItemDataRole.UserRole, row["locs_path"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if row["locs_path"] in unchecked else Qt.CheckState.Checked)
            self.family_files.addItem(item)

    def _fill_fields(self, rows):
        """Offer the fields the family's files hold (a 3D file adds z, lpz ...)."""
        for row in rows:
            try:
                fields = compare.histogram_fields(row["locs_path"])
            except (InputFileError, OSError):
                continue  # missing or unreadable: the next file says
            self._fill_combo(self.field_combo, fields, default=fields[0] if fields else None)
            return

    def checked_files(self):
        items = [self.family_files.item(i) for i in range(self.family_files.count())]
        return [(i.text(), i.data(Qt.ItemDataRole.UserRole)) for i in items if i.checkState() == Qt.CheckState.Checked]

    def draw_compare(self, block=False):
        """Localizations per frame and the chosen field's histograms of the checked files.

        The files are read in a worker thread (a 10-million-localization file takes a
        moment); ``block=True`` reads them here. Returns the worker (or None).
        """
        if self.family_files.count() == 0:
            self._fill_family_files()
        files = self.checked_files()
        names, paths = [n for n, _ in files], [p for _, p in files]
        field = self.field_combo.currentText()
        self._compare_request += 1
        request = self._compare_request

        def load():
            series = [compare.locs_per_frame(p) for p in paths]
            histograms = compare.field_histograms(paths, field) if paths else None
            return request, names, field, series, histograms

        if block:
            try:
                self._show_compare(load())
            except InputFileError as error:
                self.compare_message.setText(str(error))
            return None
        self.compare_message.setText(f"reading {len(paths)} files…")
        worker = create_worker(load)
        worker.returned.connect(self._show_compare)
        worker.errored.connect(lambda error: self.compare_message.setText(str(error)))
        worker.start()
        self._workers.append(worker)
        worker.finished.connect(lambda: self._workers.remove(worker))
        return worker

    def _show_compare(self, result):
        request, names, field, series, histograms = result
        if request != self._compare_request:
            return  # a newer choice is being read
        self.compare_message.setText("")
        plots.draw_locs_per_frame(self.frames_ax, series, names)
        plots.draw_histograms(self.hist_ax, histograms, names if histograms else [], field)
        self.compare_canvas.draw_idle()

    # --- preview -------------------------------------------------------------------------
    def selected_rows(self):
        indexes = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return [self.model.rows[i.row()] for i in indexes]

    def preview(self, row):
        """Add a row's localizations as layers (read here): a rendered image and the points."""
        try:
            data = compare.preview_data(row["locs_path"])
        except InputFileError as error:
            self.viewer.status = str(error)
            return []
        return self._add_preview_layers(data)

    def _add_preview_layers(self, data):
        name = data["name"]
        if data["oversampling"] < data["requested_oversampling"]:
            self.viewer.status = (
                f"{name}: rendered with {data['oversampling']:.3g} instead of "
                f"{data['requested_oversampling']:.3g} output px per camera px "
                f"(at most {compare.MAX_PREVIEW_SIDE_PX} px a side)"
            )
        image = self.viewer.add_image(
            data["image"],
            name=f"{name} render",
            scale=data["image_scale"],
            translate=data["image_translate"],
            colormap="magma",
            blending="additive",
            contrast_limits=plots.contrast_limits(data["image"]),
        )
        points = self.viewer.add_points(
            data["points_yx"],
            name=f"{name} localizations",
            size=0.3,
            face_color="cyan",
            border_width=0,
            opacity=0.6,
            visible=False,
        )
        return [image, points]

    def preview_selected(self):
        """Read the selected rows' files in a worker thread, then add their layers. Returns the worker."""
        paths = [row["locs_path"] for row in self.selected_rows()]
        if not paths:
            return None

        def load():
            for path in paths:
                try:
                    yield compare.preview_data(path)
                except InputFileError as error:
                    yield error

        def show(item):
            if isinstance(item, Exception):
                self.viewer.status = str(item)
            else:
                self._add_preview_layers(item)

        worker = create_worker(load)
        worker.yielded.connect(show)
        worker.start()
        self._workers.append(worker)
        worker.finished.connect(lambda: self._workers.remove(worker))
        return worker

    # --- dialogs (thin wrappers the tests bypass) ----------------------------------------
    def _choose_database(self):
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Experiment database",
            str(getattr(self.db, "path", "")),
            "SQLite (*.db *.sqlite);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.set_database(path, remember=True)

    def _choose_files(self):
        paths, _ = QFileDialog.getOpenFileNames(self, "Add localization files", "", "Localizations (*.hdf5)")
        if paths:
            self.add_paths(paths, group=self.added_group(), block=False, done=self._report)

    def _choose_folder(self):
        folder = QFileDialog.getExistingDirectory(self, "Add every *_locs*.hdf5 in a folder")
        if folder:
            self.add_paths([folder], group=self.added_group(), block=False, done=self._report)

    def _report(self, result):
        text = f"{len(result.added)} files added, {len(result.unchanged)} unchanged, {len(result.skipped)} skipped"
        if result.skipped:
            text += "\n\n" + "\n".join(f"{p}: {r}" for p, r in result.skipped[:20])
        QMessageBox.information(self, "Add to database", text)

    def _choose_csv(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export rows", "experiments.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def closeEvent(self, event):  # noqa: N802
        self.timer.stop()
        if self.db is not None:
            self.db.close()
            self.db = None
        super().closeEvent(event)


def _row(*widgets):
    layout = QHBoxLayout()
    for widget in widgets:
        (layout.addLayout if isinstance(widget, QHBoxLayout) else layout.addWidget)(widget)
    return layout


def _first(preferred, available):
    return next((c for c in preferred if c in available), available[0] if available else None)
