"""What every feature shares and that is not Slack: settings, the clock, user-readable errors,
dates and times people type, logs and metrics, and once-per-slot job claims."""
