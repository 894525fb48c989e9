"""The dashboard: server-rendered HTML pages over the same service functions as the JSON API.

Public API::

    router          FastAPI router: /ui/ (overview), /ui/runs, /ui/facilities, /ui/governance,
                    /ui/evaluations, /ui/detection (and /ui/detection/non-parties), /ui/log,
                    their detail pages, /ui/static, and / -> /ui/

Pages are Jinja2 templates (autoescaped) whose tables need no JavaScript; charts are plotly
figures drawn by the plotly.js that the ``plotly`` package ships, served from ``/ui/static``.
"""

from pausewatch.web.routes import router

__all__ = ["router"]
