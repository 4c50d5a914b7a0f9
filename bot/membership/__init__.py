"""Who is in each incident channel, and what the channel is (private, shared), kept from
Slack's events so that bot.core.visibility can decide who sees a private incident."""
