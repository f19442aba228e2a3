"""The portals: server-rendered HTML over aiohttp, in radmfa's own event loop.

The foundation here is shared by every portal: the application factory and
its security middleware (security.py: CSP and the other headers, the CSRF
check), sessions kept in the store (sessions.py), Jinja2 templates with
gettext catalogs (render.py, i18n.py), static assets served by radmfa
itself (static/), SVG QR codes (qr.py) and phone numbers (phones.py).
Each portal is a package beside it (user/: the user portal) that adds its
routes and templates.
"""
