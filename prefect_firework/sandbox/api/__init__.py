"""The sandbox's Firework API: routes, request validation, response views and errors.

A FastAPI app with every endpoint of the spec, the OAuth token endpoint and the private
``/_sandbox`` prefix for tests. Each error the API answers is a class of its own. Nothing here
is public: ``Sandbox`` builds and serves the app.
"""
