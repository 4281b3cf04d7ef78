"""The local web console for installers and crews (docs/console.md; issue 15).

Off unless ``console:`` is configured. Nothing is imported from here at start-up otherwise:
agent/app.py loads :mod:`agent.console.tap` and :mod:`agent.console.server` by name, so
aiohttp stays out of a gateway without the console. :mod:`agent.console.auth` is standard
library only (``edge-agent console passwd`` uses it without the ``console`` extra).
"""
