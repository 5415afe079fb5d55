"""Imports every module that registers workflow tasks or answers, in one place."""

from chalicelib.workflows import surveys, waits  # noqa: F401
