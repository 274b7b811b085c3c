"""The sandbox's Firework API: the FastAPI app, its route table and handlers, the operations
behind them (auth, uploads, creates, videos), request validation, response views and errors
(one class per status). Nothing here is public: ``Sandbox`` builds and serves the app.
"""
