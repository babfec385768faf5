"""The panes of the main screen, in tab order; number keys follow this order.

Reports first (what arrived), then Sources (what needs action: the screen an admin opens
dmarctui for) and Readiness (can the policy be tightened), then the rarer Failures and TLS
reports, and Problems last. To add a pane: write its module (a ``Pane`` subclass) and add one
line here.
"""

from __future__ import annotations

from dmarctui.tui.pane import Pane
from dmarctui.tui.screens.failures import FailuresPane
from dmarctui.tui.screens.problems import ProblemsPane
from dmarctui.tui.screens.readiness import ReadinessPane
from dmarctui.tui.screens.reports import ReportsPane
from dmarctui.tui.screens.sources import SourcesPane
from dmarctui.tui.screens.tls import TlsPane

PANES: tuple[type[Pane], ...] = (
    ReportsPane,
    SourcesPane,
    ReadinessPane,
    FailuresPane,
    TlsPane,
    ProblemsPane,
)
