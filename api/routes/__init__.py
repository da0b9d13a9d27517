"""The API's routers, one module-level ``router`` per resource; ``api.app.create_app`` mounts them."""
