"""The private web view under `/app/`: an incident archive, one page per incident and the
insights page, behind Sign in with Slack (README, "Web view").

`app.py` builds the Flask app the WSGI server mounts at `/app/`; `auth.py` is the sign-in,
the session and logout; `slack_access.py` asks Slack who someone is and who is in a channel
(cached briefly); `service.py` and `insights.py` read the database; `charts.py` draws the
insights as inline SVG; `views.py` are the pages.
"""
