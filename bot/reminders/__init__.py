"""Reminders: DM owners about overdue follow-ups and stalled postmortems, exactly once.

`bot.reminders.sweep.sweep` is the entry point (the scheduler and `remind --once` call it).
"""
