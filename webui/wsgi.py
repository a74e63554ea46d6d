"""A WSGI entry point for other servers: `gunicorn webui.wsgi:app`.

The index folder comes from $MEDSEARCH_INDEX (default `index`).
"""

from . import create_app

app = create_app()
