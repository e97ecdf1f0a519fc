"""QApplication set-up: app identity (for QSettings), stylesheet, icon, main window."""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from core import __version__

ORGANIZATION = "WanStudio"
APPLICATION = "Wan Studio"


def settings() -> QSettings:
    """Small UI state (geometry, last folders, output folder) as an INI file in the app's
    config folder, so WAN_STUDIO_HOME isolates it like every other user file (tests rely on it)."""
    from core import paths

    return QSettings(str(paths.config_dir() / "ui.ini"), QSettings.Format.IniFormat)


def configure_application(app: QApplication) -> None:
    """Identity for QSettings plus the packaged stylesheet and icon."""
    from importlib import resources

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    res = resources.files("resources")
    qss = res.joinpath("style.qss")
    if qss.is_file():
        app.setStyleSheet(qss.read_text("utf-8"))
    icon = res.joinpath("icons/wan-studio.svg")
    if icon.is_file():
        with resources.as_file(icon) as path:
            app.setWindowIcon(QIcon(str(path)))


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop (torch is imported only after it shows)."""
    from core.commands.quiet import quiet_libraries
    from gui.qt_logging import quiet_qt_multimedia

    quiet_qt_multimedia()  # before Qt reads its logging rules
    quiet_libraries()  # the window shows progress; library bars and warnings only add noise
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    configure_application(app)
    from gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
