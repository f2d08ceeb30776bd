"""Build the compiled core of wsl.metrics (everything else is in pyproject.toml).

The extension is optional: without a C compiler the install still succeeds and
wsl.metrics.boxes falls back to its pure-Python/OpenCV path (same numbers, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("wsl.metrics._cam_levels", sources=["wsl/metrics/_cam_levels.c"], optional=True),
    ]
)
