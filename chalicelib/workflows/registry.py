"""Imports every module that registers workflow tasks or answers, in one place."""

from chalicelib.workflows import (
    complaints,  # noqa: F401
    surveys,  # noqa: F401
    waits,  # noqa: F401
)
