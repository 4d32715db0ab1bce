"""Dashboard panels defined once (``panels``) and their renderers: Grafana provisioning (``grafana``),
the live local page (``server`` + ``static/``) and PNG images (``png``)."""
