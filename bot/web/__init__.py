"""The bot's HTTP surface: the WSGI app served by waitress, request ids and request metrics."""
