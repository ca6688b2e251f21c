"""Posterior diagnostics of a fitted run: an ArviZ ``InferenceData`` and a readable report.

The modules follow the data flow, run -> InferenceData -> numbers -> figures -> report:

- ``inference_data``: a run (or fitted model and screen table) as ``arviz.InferenceData``;
- ``summaries``: calibration curve, weight rankings, switched-off weights;
- ``plots``: one ``matplotlib`` figure per diagnostic, no pyplot;
- ``report``: the HTML page;
- ``driver``: ``diagnose``, which writes all of it into ``<run>/diagnostics/``.
"""

from .driver import DIAGNOSTICS_WRITES, diagnose
from .inference_data import keep_site, predictive_arrays, to_inference_data, var_dims
from .report import SECTIONS, report_html
from .summaries import calibration_agreement, calibration_curve, switched_off

__all__ = [
    "DIAGNOSTICS_WRITES",
    "SECTIONS",
    "calibration_agreement",
    "calibration_curve",
    "diagnose",
    "keep_site",
    "predictive_arrays",
    "report_html",
    "switched_off",
    "to_inference_data",
    "var_dims",
]
