""" "Compare…": choose the variants of a comparison and its report folder.

The dialog only builds variant strings (core.compare.variants' grammar) and checks them with
core's parser, so the GUI and ``wan-studio compare --variants`` accept exactly the same things.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

REFERENCES = (("bf16", "Unquantized (BF16; FP32 on the CPU)"), ("mxfp8-online", "MXFP8 online"))
ONLINE = (
    ("floor", "MXFP8 online, FLOOR scales (the NPU's dynamic rule)"),
    ("rceil", "MXFP8 online, RCEIL scales"),
    ("mse", "MXFP8 online, mse scales (per-block search; the default)"),
)


class CompareDialog(QDialog):
    """Pick the reference, the variants, the MXFP8 backend and the report folder."""

    def __init__(
        self, default_folder: Path, has_loras: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare variants")
        self.reference = QComboBox()
        for key, text in REFERENCES:
            self.reference.addItem(text, key)
        self.checks: dict[str, QCheckBox] = {}
        for key, text in ONLINE:
            self.checks[key] = QCheckBox(text)
            self.checks[key].setChecked(key in ("floor", "mse"))
        self.offline = QCheckBox("MXFP8 offline folder:")
        self.offline_path = QLineEdit()
        self.offline_path.setPlaceholderText("a folder made by wan-studio quantize or repack")
        self.offline_path.textChanged.connect(lambda t: self.offline.setChecked(bool(t.strip())))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_offline)
        self.no_lora = QCheckBox("Reference without its LoRAs")
        self.no_lora.setVisible(has_loras)
        self.has_loras = has_loras
        self.backend = QComboBox()
        self.backend.addItems(["auto", "reference", "npu"])
        self.backend.setToolTip("The MXFP8 kernel backend of the MXFP8 variants")
        self.folder = QLineEdit(str(default_folder / time.strftime("compare-%Y%m%d-%H%M%S")))
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)

        offline_row = QHBoxLayout()
        offline_row.addWidget(self.offline)
        offline_row.addWidget(self.offline_path, 1)
        offline_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Reference", self.reference)
        variants = QVBoxLayout()
        for check in self.checks.values():
            variants.addWidget(check)
        variants.addLayout(offline_row)
        variants.addWidget(self.no_lora)
        form.addRow("Variants", variants)
        form.addRow("MXFP8 backend", self.backend)
        form.addRow("Report folder", self.folder)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run comparison")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "Every variant runs the form's request with the same seed, one model at a "
                "time; the first is the reference the others are measured against."
            )
        )
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _browse_offline(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "MXFP8 model folder")
        if path:
            self.offline_path.setText(path)

    def specs(self) -> list[str]:
        """The chosen variants in core.compare's grammar, the reference first."""
        backend = self.backend.currentText()
        suffix = f":backend={backend}" if backend != "auto" else ""
        reference = self.reference.currentData()
        out = [reference + (suffix if reference != "bf16" else "")]
        out += [f"{key}{suffix}" for key, check in self.checks.items() if check.isChecked()]
        if self.offline.isChecked() and self.offline_path.text().strip():
            out.append(f"mxfp8-offline={self.offline_path.text().strip()}{suffix}")
        if self.has_loras and self.no_lora.isChecked():
            out.append(out[0].split(":")[0] + ":nolora")
        return out

    def accept(self) -> None:
        from core.compare.run import CompareError, check_output
        from core.compare.variants import VariantError, parse_variants

        try:
            parse_variants(self.specs())
            check_output(Path(self.folder.text().strip()).expanduser())
        except (VariantError, CompareError) as exc:
            self.error.setText(str(exc))
            return
        super().accept()
