"""The admission pipeline and what is built from endpoint declarations: routes, shortcuts, OpenAPI."""
