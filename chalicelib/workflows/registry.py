"""Imports every module that registers workflow tasks or answers, in one place."""

from chalicelib.appointments import answers, reminders  # noqa: F401
from chalicelib.workflows import complaints, surveys, waits  # noqa: F401
