"""The repack wizard (msmodelslim export -> Diffusers folder) and the helpers it shares with
the Models workspace: background work (background.py), Qt-free checks (findings.py), reports
(report.py) and small widgets (widgets.py)."""

from gui.wizard.repack import RepackWizard

__all__ = ["RepackWizard"]
