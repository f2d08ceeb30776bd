"""What a benchmark measures: the compared metrics (key in ``results.json``, column title, unit) and the
BoxAcc curves it averages per entry.
"""

from __future__ import annotations

__all__ = ["CURVES", "METRICS"]

# (key, column title, unit): "%" fractions shown in percent, "s" seconds, "img/s" a rate.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("map", "mAP", "%"),
    ("top1_acc", "Top-1 acc", "%"),
    ("pointing_game", "Pointing game", "%"),
    ("maxboxacc", "MaxBoxAcc", "%"),
    ("maxboxacc_v2", "MaxBoxAccV2", "%"),
    ("pxap", "PxAP", "%"),
    ("top1_loc", "Top-1 Loc", "%"),
    ("train_seconds", "train time (s)", "s"),
    ("train_images_per_s", "train img/s", "img/s"),
)
# (key in results.json's test_curves, panel title).
CURVES = (
    ("maxboxacc", "MaxBoxAcc curve (IoU 50, largest contour)"),
    ("maxboxacc_v2_30", "all contours, IoU 30"),
    ("maxboxacc_v2_50", "all contours, IoU 50"),
    ("maxboxacc_v2_70", "all contours, IoU 70"),
)
