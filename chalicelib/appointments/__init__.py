"""Appointments: slots with a capacity, bookings on a case, and the reminder workflow."""
