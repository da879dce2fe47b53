"""The HTTP API (Starlette): ``api.app.create_app`` builds it; one module per concept."""
