"""Appointment statuses. An active appointment keeps its place in the slot."""

BOOKED = "booked"
CONFIRMED = "confirmed"
UNCONFIRMED = "unconfirmed"
CANCELLED = "cancelled"
ACTIVE_STATUSES = (BOOKED, CONFIRMED, UNCONFIRMED)
STATUSES = (*ACTIVE_STATUSES, CANCELLED)
