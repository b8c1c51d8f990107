"""The web portals: server-rendered pages (Jinja2) over the same services and access decisions as the API.

docs/web.md says what exists and how to sign in; :mod:`carnet.web.routes` holds the router the app includes.
"""
