"""The built-in sandbox target: the console pretending to be the systems it pushes to.

Mounted at /sandbox/ by config/urls.py, one module per protocol (e-cology, E10, Landray SOAP,
webhook), each reading a request the way the real system reads it and answering in that
system's shape. `views.handle` applies the protocol's `SandboxBehaviour` (succeed, refuse,
error, slow, fail the first N calls) and stores every arrival (`store`). No login and no CSRF:
it is for trying configurations; `settings.SANDBOX_ENABLED` switches it off.
"""
