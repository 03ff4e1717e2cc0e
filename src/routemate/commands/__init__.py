"""The CLI's command groups beyond the core ones in ``cli.py``, registered by ``cli._register``.

Each module here parses options and renders results; the work is done by the library it calls
(``routing``, ``eval``, ``server``, ``service``). Heavy imports stay inside command bodies.
"""
