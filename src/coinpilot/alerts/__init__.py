"""Alerts: what went wrong, sent through Apprise (Slack, Discord, Telegram, e-mail, JSON webhooks…).

:mod:`.dispatch` de-duplicates, rate-limits and delivers in a background thread (never on the
order path); :mod:`.watch` finds what to alert on by reading the database, so an alert follows a
change whichever process or person made it.
"""
